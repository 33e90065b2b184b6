package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bedrock-warden/warden/internal/corpus"
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
