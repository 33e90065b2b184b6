package process

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

// TestSuiteSmall runs the whole suite on a small corpus: the programs
// build, warden and the Python baseline agree, and the memory runs behave
// (the bomb refused, the named pipe refused by name).
func TestSuiteSmall(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not on PATH")
	}
	res, err := RunSuite(context.Background(), Config{Root: "../..", Tmp: t.TempDir(), Seed: 1, Events: 2000, Rounds: 1, BigBytes: 8 << 20, BombBytes: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Comparisons) != 3 {
		t.Fatalf("%d comparisons", len(res.Comparisons))
	}
	for _, c := range res.Comparisons {
		if c.Findings == 0 || len(c.Rounds) != 1 || c.ValidWall.Median <= 0 || c.PyWall.Median <= 0 {
			t.Errorf("%s: %+v", c.Input, c)
		}
	}
	byName := map[string]Memory{}
	for _, m := range res.Memory {
		byName[m.Name] = m
	}
	if m := byName["file"]; m.Run.Exit != 1 || m.Run.PeakKB == 0 || !strings.Contains(m.Summary, "findings") {
		t.Errorf("big file: %+v", m)
	}
	if m := byName["stdin"]; m.Run.Exit != 1 || !strings.Contains(m.Summary, "findings") {
		t.Errorf("stdin: %+v", m)
	}
	if m := byName["gzip bomb"]; m.Run.Exit != 2 || !strings.Contains(m.Run.Stderr, "decompression bomb") {
		t.Errorf("bomb: %+v", m.Run)
	}
	if m := byName["named pipe"]; m.Run.Exit != 2 || !strings.Contains(m.Summary, "named pipe (FIFO)") {
		t.Errorf("fifo: %+v", m)
	}
}

func TestSpreadAndRatios(t *testing.T) {
	s := SpreadOf([]float64{3, 1, 2, 5})
	if s.Min != 1 || s.Median != 2 || s.Max != 5 {
		t.Errorf("spread %+v", s)
	}
	rounds := []Round{{Runs: map[string]Run{"a": {Wall: 1, CPU: 2}, "b": {Wall: 3, CPU: 4}}}}
	w, c := Ratios(rounds, "a", "b")
	if w[0] != 3 || c[0] != 2 {
		t.Errorf("ratios %v %v", w, c)
	}
}
