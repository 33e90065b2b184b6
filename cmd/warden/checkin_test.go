package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/bedrock-warden/warden/internal/corpus"
	"github.com/bedrock-warden/warden/pkg/findings"
)

// A named pipe with no writer would block a reader forever: check refuses
// it by name, whether named on the command line or met in a directory, and
// still judges the other files.
func TestCheckRefusesSpecialFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no named pipes")
	}
	chdirRoot(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "stuck.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	opus, err := os.ReadFile("events/invoke-model-unapproved-opus.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "good.json"), opus, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{dir}, {fifo, filepath.Join(dir, "good.json")}} {
		done := make(chan struct{})
		var code int
		var stdout, stderr string
		go func() {
			defer close(done)
			code, stdout, stderr = runCLI(t, "", append([]string{"check", "--format", "json"}, args...)...)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("check %v hangs on a named pipe", args)
		}
		if code != exitUsage || strings.Count(stdout, "\n") != 1 ||
			!strings.Contains(stderr, "stuck.json: a named pipe (FIFO), not a regular file: not read") {
			t.Errorf("check %v: exit %d, out %q, err %q", args, code, stdout, stderr)
		}
	}
}

// The output is the same whether the findings fit in memory or go through
// sorted runs on disk.
func TestCheckSpillsFindingsInOrder(t *testing.T) {
	evs, err := corpus.Generate(3, 3000, corpus.Mix{Violations: 0.3, ControlPlane: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	var in bytes.Buffer
	if err := corpus.WriteJSONL(&in, evs); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"json", "text"} {
		_, want, _ := runCLI(t, in.String(), "check", "--format", format, "-")
		old := spillBytes
		spillBytes = 20 << 10
		code, got, stderr := runCLI(t, in.String(), "check", "--format", format, "-")
		spillBytes = old
		if code != exitFindings || got != want || strings.Count(want, "\n") < 500 {
			t.Fatalf("%s: spilled output differs (exit %d, %d vs %d lines): %s", format, code, strings.Count(got, "\n"), strings.Count(want, "\n"), stderr)
		}
	}
	// And the order is severity, then time.
	_, out, _ := runCLI(t, in.String(), "check", "--format", "json", "-")
	var prev findings.Finding
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var f findings.Finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatal(err)
		}
		if i > 0 && (f.Severity.Rank() > prev.Severity.Rank() || f.Severity == prev.Severity && f.EventTime.Before(prev.EventTime)) {
			t.Fatalf("line %d out of order: %s after %s", i, f.Severity, prev.Severity)
		}
		prev = f
	}
}

// The table is aligned exactly as text/tabwriter aligns it.
func TestTableMatchesTabwriter(t *testing.T) {
	fs := []findings.Finding{
		{Rule: "invocation-logging-disabled", Severity: findings.Critical, Principal: "root", EventName: "DeleteModelInvocationLoggingConfiguration"},
		{Rule: "unauthorized-model", Severity: findings.High, Principal: "arn:aws:iam::1:role/app-é", Model: "m", EventName: "InvokeModel", Region: "us-east-1", InferenceRegion: "us-west-2", SourceIP: "10.0.0.1", EventTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	}
	var got bytes.Buffer
	if err := printTable(&got, fs, false, 0); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	tw := tabwriter.NewWriter(&want, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tRULE\tTIME\tPRINCIPAL\tMODEL\tREGION\tSOURCE\tEVENT")
	c := newCollector()
	for i := range fs {
		var texts []string
		for _, cell := range c.cells(&fs[i]) {
			texts = append(texts, cell.text)
		}
		fmt.Fprintln(tw, strings.Join(texts, "\t"))
	}
	tw.Flush()
	if got.String() != want.String() {
		t.Errorf("table\n%s\nwant\n%s", got.String(), want.String())
	}
}

var _ = context.Background
