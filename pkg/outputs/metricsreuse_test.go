package outputs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/metrics"
	"github.com/bedrock-warden/warden/pkg/normalize"
)

// randomSinkBatch draws a detector batch: invocations of a few models and
// regions (some refused, some with an empty region: "unknown"), control
// plane events, findings, decode errors, alert counts, and now and then
// more distinct models than the sink keeps from batch to batch, or more
// than 100 regions.
func randomSinkBatch(r *rand.Rand, n int) *detector.Batch {
	models := []string{"anthropic.claude-3", "amazon.titan", "meta.llama<&>", ""}
	regions := []string{"us-east-1", "eu-west-1", "", " "}
	accounts := []string{"111111111111", "222222222222", ""}
	b := &detector.Batch{AlertsSent: r.IntN(3), AlertsSuppressed: r.IntN(2)}
	for range r.IntN(4) {
		b.Errors = append(b.Errors, &decode.Error{})
	}
	event := func(model, region string) normalize.Event {
		ev := normalize.Event{Category: normalize.CategoryInvocation, Region: region, Account: accounts[r.IntN(len(accounts))],
			Model: normalize.Model{Raw: model}}
		if r.IntN(5) == 0 {
			ev.Outcome = normalize.Outcome{ErrorCode: "AccessDeniedException", Denied: true}
		}
		return ev
	}
	for range r.IntN(12) {
		if r.IntN(4) == 0 {
			b.Events = append(b.Events, normalize.Event{Category: normalize.CategoryControlPlane, Region: regions[r.IntN(len(regions))]})
			continue
		}
		b.Events = append(b.Events, event(models[r.IntN(len(models))], regions[r.IntN(len(regions))]))
	}
	switch r.IntN(8) {
	case 0: // more distinct metrics than the sink keeps
		for i := range 1100 {
			b.Events = append(b.Events, event(fmt.Sprintf("flood-%d-%d", n, i), "us-east-1"))
		}
	case 1: // more than 100 dimension values
		for i := range 150 {
			b.Events = append(b.Events, event("amazon.titan", fmt.Sprintf("region-%d", i)))
		}
	}
	for range r.IntN(5) {
		b.Findings = append(b.Findings, findings.Finding{
			Rule:     []string{"unapproved-model", "unapproved-region", ""}[r.IntN(3)],
			Severity: []findings.Severity{findings.High, findings.Medium, ""}[r.IntN(3)],
			Account:  accounts[r.IntN(len(accounts))],
		})
	}
	return b
}

// One sink delivering batch after batch writes, for each, exactly what
// WriteEMF writes for Collect (and CollectByAccount) of that batch alone.
func TestMetricsSinkReuseWritesWhatCollectWrites(t *testing.T) {
	ts := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	for _, byAccount := range []bool{false, true} {
		r := rand.New(rand.NewPCG(19, 2))
		var got bytes.Buffer
		m := &Metrics{Namespace: "NS", Out: &got, Now: func() time.Time { return ts }, ByAccount: byAccount}
		for n := range 200 {
			b := randomSinkBatch(r, n)
			ds := Collect(b)
			if byAccount {
				ds = append(ds, CollectByAccount(b)...)
			}
			var want bytes.Buffer
			if err := metrics.WriteEMF(&want, "NS", ts, ds); err != nil {
				t.Fatal(err)
			}
			got.Reset()
			if err := m.Deliver(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("by account %v, batch %d: the sink wrote\n%s\nWriteEMF(Collect)\n%s", byAccount, n, got.Bytes(), want.Bytes())
			}
		}
	}
}

// A warm sink delivers a one-event batch whose metrics it has seen
// without allocating, by account or not.
func TestMetricsSinkWarmDeliverAllocatesNothing(t *testing.T) {
	b := &detector.Batch{
		Events: []normalize.Event{{Category: normalize.CategoryInvocation, Region: "us-east-1", Account: "111111111111",
			Model: normalize.Model{Raw: "us.anthropic.claude-3", Base: "anthropic.claude-3"}}},
	}
	ctx := context.Background()
	for _, byAccount := range []bool{false, true} {
		var lines lineCounter
		m := &Metrics{Out: &lines, ByAccount: byAccount}
		if err := m.Deliver(ctx, b); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if err := m.Deliver(ctx, b); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("by account %v: %v allocations per warm Deliver, want 0", byAccount, allocs)
		}
		// Dimensionless, by model, by region (and by account).
		if want := 3 + bool2int(byAccount); lines.n != 102*want {
			t.Errorf("by account %v: %d lines in 102 deliveries, want %d", byAccount, lines.n, 102*want)
		}
	}
}

func bool2int(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lineCounter counts the lines written to it.
type lineCounter struct{ n int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

// lineRecorder keeps every Write, each of which must be one EMF line.
type lineRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (w *lineRecorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, string(p))
	return len(p), nil
}

// Deliveries from several goroutines at once (the S3 intake's) each write
// well-formed lines, and the lines add up to the batches' totals.
func TestMetricsSinkConcurrentDeliver(t *testing.T) {
	const goroutines, batches = 6, 200
	var out lineRecorder
	m := &Metrics{Out: &out, ByAccount: true}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range batches {
				// Each goroutine's own region and account, and now and
				// then a new model: new metrics while others deliver.
				b := &detector.Batch{Events: []normalize.Event{
					{Category: normalize.CategoryInvocation, Region: fmt.Sprintf("region-%d", g), Account: fmt.Sprint(g),
						Model: normalize.Model{Raw: fmt.Sprintf("model-%d-%d", g, i%7)}},
					{Category: normalize.CategoryControlPlane, Region: "us-east-1"},
				}}
				if err := m.Deliver(context.Background(), b); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	sums := map[string]float64{}
	if len(out.lines) != goroutines*batches {
		t.Fatalf("%d writes for %d deliveries: a delivery's lines go out in one write", len(out.lines), goroutines*batches)
	}
	var lines []string
	for _, w := range out.lines {
		if !strings.HasSuffix(w, "\n") {
			t.Fatalf("a write does not end a line: %q", w)
		}
		lines = append(lines, strings.SplitAfter(strings.TrimSuffix(w, "\n"), "\n")...)
	}
	for _, line := range lines {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		dim := "" // the line's dimension
		for _, d := range []string{metrics.DimModel, metrics.DimRegion, metrics.DimAccount} {
			if _, ok := doc[d]; ok {
				dim = d
			}
		}
		for _, name := range []string{metrics.EventsProcessed, metrics.Invocations} {
			if v, ok := doc[name].(float64); ok {
				sums[dim+" "+name] += v
			}
		}
		if _, ok := doc["_aws"]; !ok {
			t.Fatalf("no _aws directive: %s", line)
		}
	}
	const total = goroutines * batches
	want := map[string]float64{
		" " + metrics.EventsProcessed:                  2 * total,
		metrics.DimModel + " " + metrics.Invocations:   total,
		metrics.DimRegion + " " + metrics.Invocations:  total,
		metrics.DimAccount + " " + metrics.Invocations: total,
	}
	for k, v := range want {
		if sums[k] != v {
			t.Errorf("%q sums to %v, want %v (all: %v)", k, sums[k], v, sums)
		}
	}
	if n, wantLines := len(lines), total*(1+3); n != wantLines {
		t.Errorf("%d lines, want %d", n, wantLines)
	}
}

var _ io.Writer = (*lineRecorder)(nil)
