package heartbeat_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/heartbeat"
	"github.com/bedrock-warden/warden/pkg/policy"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func pol(t *testing.T, yaml string) *policy.Policy {
	t.Helper()
	p, err := policy.Load("test", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func obs(now, processed, activity time.Time) heartbeat.Observation {
	return heartbeat.Observation{Now: now, LastProcessed: processed, LastActivity: activity, Region: "us-east-1", Account: "111122223333"}
}

func TestDecideSilentWhileCloudTrailShowsActivity(t *testing.T) {
	p := pol(t, "heartbeat:\n  silentAfter: 30m\n  idleAfter: 24h\n")
	d := heartbeat.Decide(p, obs(t0, t0.Add(-45*time.Minute), t0.Add(-10*time.Minute)), heartbeat.State{})
	if d.Alert == nil || d.Status != heartbeat.KindSilent {
		t.Fatalf("decision %+v", d)
	}
	f := d.Alert
	if f.Rule != findings.RulePipelineSilent || f.Severity != findings.High || f.Principal == "" || f.Fingerprint == "" ||
		f.Details["kind"] != "silent" || f.Details["silentFor"] != "45m0s" || !strings.Contains(f.Title, "CloudTrail shows activity") {
		t.Fatalf("finding %+v", f)
	}
	if !d.Next.Open() || !d.Next.OutageStart.Equal(t0.Add(-45*time.Minute)) || d.Next.Fingerprint != f.Fingerprint {
		t.Fatalf("next state %+v", d.Next)
	}
}

func TestDecideQuietCases(t *testing.T) {
	p := pol(t, "heartbeat:\n  silentAfter: 30m\n  idleAfter: 24h\n")
	for name, o := range map[string]heartbeat.Observation{
		"recent processing":                  obs(t0, t0.Add(-5*time.Minute), t0.Add(-10*time.Minute)),
		"silent but no activity (idle acct)": obs(t0, t0.Add(-3*time.Hour), time.Time{}),
		"activity older than last processed": obs(t0, t0.Add(-3*time.Hour), t0.Add(-4*time.Hour)),
		"activity within grace":              obs(t0, t0.Add(-3*time.Hour), t0.Add(-2*time.Minute)),
		"just under silentAfter":             obs(t0, t0.Add(-29*time.Minute), t0.Add(-10*time.Minute)),
	} {
		if d := heartbeat.Decide(p, o, heartbeat.State{}); d.Alert != nil || d.Cleared != nil || d.Status != "ok" {
			t.Errorf("%s: %+v", name, d)
		}
	}
}

func TestDecideIdleIsLowerConfidence(t *testing.T) {
	p := pol(t, "heartbeat:\n  silentAfter: 30m\n  idleAfter: 24h\n")
	d := heartbeat.Decide(p, obs(t0, t0.Add(-25*time.Hour), time.Time{}), heartbeat.State{})
	if d.Alert == nil || d.Status != heartbeat.KindIdle || d.Alert.Severity != findings.Medium ||
		!strings.Contains(d.Alert.Reason, "may simply be idle") {
		t.Fatalf("decision %+v", d.Alert)
	}
	// Nothing processed in the lookback, watching for 25h: idle too.
	d = heartbeat.Decide(p, obs(t0, time.Time{}, time.Time{}), heartbeat.State{Watching: t0.Add(-25 * time.Hour)})
	if d.Alert == nil || d.Alert.Details["lastProcessed"] != "unknown" || d.Alert.Details["silentFor"] != "25h0m0s" {
		t.Fatalf("no-data decision %+v", d.Alert)
	}
}

func TestDecideFreshStackIsNotIdle(t *testing.T) {
	p := pol(t, "heartbeat:\n  silentAfter: 30m\n  idleAfter: 24h\n")
	// First check of a new stack: no metric data at all, no activity.
	d := heartbeat.Decide(p, obs(t0, time.Time{}, time.Time{}), heartbeat.State{})
	if d.Alert != nil || !d.Next.Watching.Equal(t0) {
		t.Fatalf("first check: %+v", d)
	}
	// An hour later, Bedrock used but nothing processed: silent.
	d = heartbeat.Decide(p, obs(t0.Add(time.Hour), time.Time{}, t0.Add(50*time.Minute)), d.Next)
	if d.Alert == nil || d.Status != heartbeat.KindSilent || !d.Next.Watching.Equal(t0) {
		t.Fatalf("new stack never delivering: %+v", d)
	}
	// The detector starts delivering: cleared.
	d = heartbeat.Decide(p, obs(t0.Add(2*time.Hour), t0.Add(110*time.Minute), t0.Add(100*time.Minute)), d.Next)
	if d.Cleared == nil || d.Next.Open() || !d.Next.Watching.Equal(t0) {
		t.Fatalf("clear: %+v", d)
	}
}

func TestDecideOneAlertPerOutageThenClearedOnce(t *testing.T) {
	p := pol(t, "heartbeat:\n  silentAfter: 30m\n")
	last := t0.Add(-45 * time.Minute)
	d1 := heartbeat.Decide(p, obs(t0, last, t0.Add(-10*time.Minute)), heartbeat.State{})
	if d1.Alert == nil {
		t.Fatal("no first alert")
	}
	// 15 and 30 minutes later: same outage, no alert, whatever the activity.
	st := d1.Next
	for _, o := range []heartbeat.Observation{
		obs(t0.Add(15*time.Minute), last, t0.Add(5*time.Minute)),
		obs(t0.Add(30*time.Minute), last, time.Time{}),                        // activity stopped: not a clear
		obs(t0.Add(26*time.Hour), time.Time{}, t0.Add(25*time.Hour)),          // last processed fell out of the lookback
		obs(t0.Add(27*time.Hour), time.Time{}, time.Time{}),                   // now idle too
		obs(t0.Add(28*time.Hour), last.Add(-time.Hour), t0.Add(27*time.Hour)), // older datapoint: still the outage
	} {
		d := heartbeat.Decide(p, o, st)
		if d.Alert != nil || d.Cleared != nil || !strings.HasPrefix(d.Status, "still-") {
			t.Fatalf("repeat at %v: %+v", o.Now, d)
		}
		st = d.Next
	}
	// The detector processes again: cleared, once.
	d := heartbeat.Decide(p, obs(t0.Add(29*time.Hour), t0.Add(29*time.Hour-time.Minute), t0.Add(29*time.Hour-2*time.Minute)), st)
	if d.Cleared == nil || d.Alert != nil || d.Cleared.Severity != findings.Info || d.Cleared.Details["cleared"] != "true" ||
		d.Cleared.Fingerprint == d1.Alert.Fingerprint || d.Next.Open() {
		t.Fatalf("clear %+v", d)
	}
	if d2 := heartbeat.Decide(p, obs(t0.Add(29*time.Hour+15*time.Minute), t0.Add(29*time.Hour+10*time.Minute), time.Time{}), d.Next); d2.Cleared != nil || d2.Alert != nil {
		t.Fatalf("cleared twice: %+v", d2)
	}
}

func TestDecideIdleTurningSilentAlertsOnceMore(t *testing.T) {
	p := pol(t, "heartbeat:\n  silentAfter: 30m\n  idleAfter: 24h\n")
	last := t0.Add(-25 * time.Hour)
	d1 := heartbeat.Decide(p, obs(t0, last, time.Time{}), heartbeat.State{})
	if d1.Status != heartbeat.KindIdle {
		t.Fatalf("first %+v", d1)
	}
	d2 := heartbeat.Decide(p, obs(t0.Add(15*time.Minute), last, t0.Add(5*time.Minute)), d1.Next)
	if d2.Alert == nil || d2.Status != heartbeat.KindSilent || d2.Alert.Fingerprint == d1.Alert.Fingerprint || !d2.Next.OutageStart.Equal(last) {
		t.Fatalf("upgrade %+v", d2)
	}
	if d3 := heartbeat.Decide(p, obs(t0.Add(30*time.Minute), last, t0.Add(20*time.Minute)), d2.Next); d3.Alert != nil {
		t.Fatalf("third alert %+v", d3.Alert)
	}
}

func TestDecideFingerprintStableAcrossChecks(t *testing.T) {
	p := pol(t, "")
	last := t0.Add(-2 * time.Hour)
	a := heartbeat.Decide(p, obs(t0, last, t0.Add(-time.Hour)), heartbeat.State{})
	b := heartbeat.Decide(p, obs(t0.Add(time.Hour), last, t0.Add(-10*time.Minute)), heartbeat.State{})
	if a.Alert == nil || b.Alert == nil || a.Alert.Fingerprint != b.Alert.Fingerprint || a.Alert.Fingerprint != heartbeat.Fingerprint(last, "us-east-1") {
		t.Fatal("the fingerprint of one outage changed between checks")
	}
}

func TestDecidePolicy(t *testing.T) {
	off := pol(t, "rules:\n  pipeline-silent:\n    enabled: false\n")
	if d := heartbeat.Decide(off, obs(t0, time.Time{}, t0.Add(-time.Hour)), heartbeat.State{}); d.Alert != nil || d.Status != "disabled" {
		t.Fatalf("disabled rule: %+v", d)
	}
	crit := pol(t, "rules:\n  pipeline-silent:\n    severity: critical\n")
	if d := heartbeat.Decide(crit, obs(t0, t0.Add(-time.Hour), t0.Add(-10*time.Minute)), heartbeat.State{}); d.Alert == nil || d.Alert.Severity != findings.Critical {
		t.Fatalf("severity: %+v", d.Alert)
	}
}

// fakes for Monitor

type fakeMetrics struct {
	last  time.Time
	err   error
	start time.Time
}

func (f *fakeMetrics) LastProcessed(_ context.Context, start, _ time.Time) (time.Time, error) {
	f.start = start
	return f.last, f.err
}

type notifier struct {
	got []findings.Finding
	err error
}

func (n *notifier) Notify(_ context.Context, fs []findings.Finding) error {
	if n.err != nil {
		return n.err
	}
	n.got = append(n.got, fs...)
	return nil
}

func TestMonitorFiresOnceAndClears(t *testing.T) {
	now := t0
	m := &heartbeat.Monitor{Policy: pol(t, "heartbeat:\n  silentAfter: 30m\n  idleAfter: 24h\n"), Metrics: &fakeMetrics{last: t0.Add(-time.Hour)},
		Store: &heartbeat.Memory{}, Notifier: &notifier{}, Region: "us-east-1", Now: func() time.Time { return now },
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	n := m.Notifier.(*notifier)
	if _, err := m.Check(context.Background(), t0.Add(-20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if len(n.got) != 1 || n.got[0].Severity != findings.High {
		t.Fatalf("notified %+v", n.got)
	}
	if want := t0.Add(-25 * time.Hour); !m.Metrics.(*fakeMetrics).start.Equal(want) {
		t.Fatalf("lookback start %v, want %v", m.Metrics.(*fakeMetrics).start, want)
	}
	now = t0.Add(15 * time.Minute)
	if _, err := m.Check(context.Background(), t0.Add(10*time.Minute)); err != nil || len(n.got) != 1 {
		t.Fatalf("second check: err %v, notified %d", err, len(n.got))
	}
	m.Metrics.(*fakeMetrics).last = t0.Add(20 * time.Minute)
	now = t0.Add(30 * time.Minute)
	if _, err := m.Check(context.Background(), t0.Add(25*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if len(n.got) != 2 || n.got[1].Details["cleared"] != "true" {
		t.Fatalf("clear not notified: %+v", n.got)
	}
	st, _ := m.Store.Load(context.Background())
	if st.Open() {
		t.Fatalf("state still open: %+v", st)
	}
}

func TestMonitorNotifyFailureKeepsOutageUnsaved(t *testing.T) {
	store := &heartbeat.Memory{}
	n := &notifier{err: errors.New("sns down")}
	m := &heartbeat.Monitor{Policy: pol(t, ""), Metrics: &fakeMetrics{last: t0.Add(-time.Hour)}, Store: store, Notifier: n,
		Now: func() time.Time { return t0 }, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	if _, err := m.Check(context.Background(), t0.Add(-20*time.Minute)); err == nil || !strings.Contains(err.Error(), "sns down") {
		t.Fatalf("err %v", err)
	}
	if st, _ := store.Load(context.Background()); st.Open() {
		t.Fatal("outage saved although the alert was not delivered")
	}
	n.err = nil
	if _, err := m.Check(context.Background(), t0.Add(-20*time.Minute)); err != nil || len(n.got) != 1 {
		t.Fatalf("retry: err %v notified %d", err, len(n.got))
	}
}

func TestMonitorMetricErrorIsReturned(t *testing.T) {
	m := &heartbeat.Monitor{Policy: pol(t, ""), Metrics: &fakeMetrics{err: errors.New("AccessDenied")}, Store: &heartbeat.Memory{},
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	if _, err := m.Check(context.Background(), time.Time{}); err == nil || !strings.Contains(err.Error(), "EventsProcessed") {
		t.Fatalf("err %v", err)
	}
}

func TestMemoryStoreConflicts(t *testing.T) {
	s := &heartbeat.Memory{}
	ctx := context.Background()
	if err := s.Save(ctx, heartbeat.State{Kind: "silent"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, heartbeat.State{Kind: "idle"}); !errors.Is(err, heartbeat.ErrConflict) {
		t.Fatalf("stale save: %v", err)
	}
}

// TestGraceOverride: activity 10 minutes old is missed with the default
// grace but still on its way with the S3 intake's.
func TestGraceOverride(t *testing.T) {
	p := policy.Default()
	o := obs(t0, t0.Add(-45*time.Minute), t0.Add(-10*time.Minute))
	if d := heartbeat.Decide(p, o, heartbeat.State{}); d.Alert == nil {
		t.Fatalf("default grace: %s, want an alert", d.Status)
	}
	o.Grace = heartbeat.S3Grace
	if d := heartbeat.Decide(p, o, heartbeat.State{}); d.Alert != nil {
		t.Fatalf("S3 grace: alerted (%s) for activity younger than the grace", d.Status)
	}
}
