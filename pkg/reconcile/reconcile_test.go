package reconcile_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/bedrock-warden/warden/pkg/heartbeat"
	"github.com/bedrock-warden/warden/pkg/history"
	"github.com/bedrock-warden/warden/pkg/reconcile"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func TestConfigFromEnv(t *testing.T) {
	c, err := reconcile.ConfigFromEnv(func(string) string { return "" }, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Window != 15*time.Minute || c.Overlap != 20*time.Minute || c.Lookback() != 35*time.Minute || !slices.Equal(c.Regions, []string{"eu-west-1"}) {
		t.Fatalf("defaults %+v", c)
	}
	env := map[string]string{reconcile.EnvWindow: "30m", reconcile.EnvOverlap: "1h", reconcile.EnvRegions: "us-east-1,us-west-2"}
	c, err = reconcile.ConfigFromEnv(func(k string) string { return env[k] }, "eu-west-1")
	if err != nil || c.Lookback() != 90*time.Minute || len(c.Regions) != 2 {
		t.Fatalf("overrides %+v %v", c, err)
	}
	for k, v := range map[string]string{reconcile.EnvWindow: "10", reconcile.EnvOverlap: "-5m", reconcile.EnvRegions: "nowhere", "x": "91d"} {
		bad := map[string]string{k: v}
		if k == "x" {
			bad = map[string]string{reconcile.EnvWindow: "91d"}
		}
		if _, err := reconcile.ConfigFromEnv(func(key string) string { return bad[key] }, "eu-west-1"); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
	if _, err := reconcile.ConfigFromEnv(func(k string) string { return map[string]string{reconcile.EnvWindow: "30s"}[k] }, "eu-west-1"); err == nil {
		t.Error("window under a minute accepted")
	}
}

type fakeScanner struct {
	events     []history.Event
	err        error
	start, end time.Time
	regions    []string
}

func (f *fakeScanner) Scan(_ context.Context, regions []string, start, end time.Time, fn func(history.Event) error) (history.Stats, error) {
	f.start, f.end, f.regions = start, end, regions
	st := history.Stats{Latest: map[string]time.Time{}}
	for _, e := range f.events {
		if e.Time.After(st.Latest[e.Region]) {
			st.Latest[e.Region] = e.Time
		}
		if err := fn(e); err != nil {
			return st, err
		}
	}
	return st, f.err
}

type fakePipeline struct {
	batches [][]string // event ids per call
	err     error
}

func (p *fakePipeline) Handle(_ context.Context, payload json.RawMessage) (*events.SQSEventResponse, error) {
	var file struct {
		Records []struct {
			EventID string `json:"eventID"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(payload, &file); err != nil {
		return nil, fmt.Errorf("payload is not a log file: %w", err)
	}
	var ids []string
	for _, r := range file.Records {
		ids = append(ids, r.EventID)
	}
	p.batches = append(p.batches, ids)
	return nil, p.err
}

type fakeHeartbeat struct{ got []time.Time }

func (h *fakeHeartbeat) Check(_ context.Context, t time.Time) (heartbeat.Decision, error) {
	h.got = append(h.got, t)
	return heartbeat.Decision{}, nil
}

func hev(i int, region string, at time.Time) history.Event {
	id := fmt.Sprintf("e%03d", i)
	return history.Event{ID: id, Region: region, Time: at, Record: `{"eventID":"` + id + `","eventSource":"bedrock.amazonaws.com"}`}
}

func quiet() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

func TestRunSendsEverythingInBatches(t *testing.T) {
	sc := &fakeScanner{}
	for i := range 250 {
		region := "us-east-1"
		if i%2 == 1 {
			region = "eu-west-1"
		}
		sc.events = append(sc.events, hev(i, region, now.Add(-time.Duration(i+1)*time.Second)))
	}
	sc.events[7].Time = now.Add(-time.Second / 2) // newest, in eu-west-1
	p := &fakePipeline{}
	hb := &fakeHeartbeat{}
	r := &reconcile.Reconciler{
		Config:  reconcile.Config{Window: 15 * time.Minute, Overlap: 20 * time.Minute, Regions: []string{"us-east-1", "eu-west-1"}},
		History: sc, Pipeline: p, Heartbeat: hb, Now: func() time.Time { return now }, Log: quiet(),
	}
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !sc.start.Equal(now.Add(-35*time.Minute)) || !sc.end.Equal(now) || len(sc.regions) != 2 {
		t.Fatalf("scanned %v..%v %v", sc.start, sc.end, sc.regions)
	}
	if len(p.batches) != 3 || len(p.batches[0]) != 100 || len(p.batches[2]) != 50 || res.Batches != 3 || res.Events != 250 {
		t.Fatalf("batches %d (%d, …), result %+v", len(p.batches), len(p.batches[0]), res)
	}
	var all []string
	for _, b := range p.batches {
		all = append(all, b...)
	}
	if len(all) != 250 || all[0] != "e000" || all[249] != "e249" {
		t.Fatalf("records sent %d", len(all))
	}
	if len(hb.got) != 1 || !hb.got[0].Equal(now.Add(-time.Second/2)) || !res.LastActivity.Equal(hb.got[0]) {
		t.Fatalf("heartbeat got %v, result %v", hb.got, res.LastActivity)
	}
}

func TestRunReportsEveryFailureAfterDoingTheRest(t *testing.T) {
	sc := &fakeScanner{events: []history.Event{
		hev(1, "us-east-1", now.Add(-time.Minute)),
		{ID: "broken", Region: "us-east-1", Time: now, Record: `{"eventID":`},
		hev(2, "us-east-1", now.Add(-2*time.Minute)),
	}, err: &history.RegionError{Region: "eu-west-1", Source: "bedrock.amazonaws.com", Err: errors.New("AccessDenied")}}
	p := &fakePipeline{}
	hb := &fakeHeartbeat{}
	r := &reconcile.Reconciler{Config: reconcile.Config{Window: 15 * time.Minute}, History: sc, Pipeline: p, Heartbeat: hb,
		Now: func() time.Time { return now }, Log: quiet()}
	res, err := r.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "broken") || !strings.Contains(err.Error(), "eu-west-1") {
		t.Fatalf("err %v", err)
	}
	if len(p.batches) != 1 || !slices.Equal(p.batches[0], []string{"e001", "e002"}) || res.Rejected != 1 {
		t.Fatalf("batches %v result %+v", p.batches, res)
	}
	if len(hb.got) != 1 {
		t.Fatal("heartbeat skipped after a scan error")
	}
	p.err = errors.New("sns down")
	sc.err = nil
	if err := r.Handle(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "sns down") {
		t.Fatalf("pipeline failure not returned: %v", err)
	}
}
