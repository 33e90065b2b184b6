package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/internal/corpus"
	"github.com/bedrock-warden/warden/pkg/spikes"
)

func TestRunReportsABatch(t *testing.T) {
	evs, err := corpus.Generate(1, 300, corpus.Standard)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := corpus.SQSBatch(evs)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "batch.json")
	if err := os.WriteFile(path, batch, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := run(path)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 300 || rep.Failed != 0 || rep.PayloadBytes != len(batch) {
		t.Fatalf("report %+v: want 300 records, none failed, %d payload bytes", rep, len(batch))
	}
	if rep.BaselineKB <= 0 || rep.PeakKB < rep.BaselineKB {
		t.Fatalf("rss baseline %d KB, peak %d KB", rep.BaselineKB, rep.PeakKB)
	}
	// 5 % of 300 events break the default policy: some alert must go out.
	if rep.Published == 0 {
		t.Fatal("no alert counted for a batch with violations")
	}
	if _, err := run(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Fatal("a missing batch file was not an error")
	}
}

// TestCountersReplay: the in-memory spike store counts a batch once, as
// counterdb does, and keeps one alert marker per window.
func TestCountersReplay(t *testing.T) {
	c := newCounters()
	ctx := t.Context()
	start := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	inc := spikes.Increment{Key: spikes.Key{Kind: "principal", ID: "arn:aws:iam::111122223333:role/app"}, WindowStart: start, Count: 3, Token: "t1", TokenSlot: 1}
	if got, _ := c.Add(ctx, inc); got.Count != 3 || got.Replayed {
		t.Fatalf("first add: %+v", got)
	}
	if got, _ := c.Add(ctx, inc); got.Count != 3 || !got.Replayed {
		t.Fatalf("replayed add: %+v", got)
	}
	inc.Token, inc.Count = "t2", 2
	if got, _ := c.Add(ctx, inc); got.Count != 5 {
		t.Fatalf("second batch: %+v", got)
	}
	counts, _ := c.Counts(ctx, inc.Key, []time.Time{start.Add(-5 * time.Minute), start})
	if counts[0] != 0 || counts[1] != 5 {
		t.Fatalf("counts %v", counts)
	}
	at := start.Add(time.Minute)
	if ok, _ := c.MarkAlerted(ctx, inc.Key, start, at); !ok {
		t.Fatal("first mark refused")
	}
	if ok, _ := c.MarkAlerted(ctx, inc.Key, start, at); ok {
		t.Fatal("second mark accepted")
	}
	_ = c.UnmarkAlerted(ctx, inc.Key, start, at)
	if ok, _ := c.MarkAlerted(ctx, inc.Key, start, at); !ok {
		t.Fatal("mark after unmark refused")
	}
}
