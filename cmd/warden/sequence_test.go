package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/history"
	"github.com/bedrock-warden/warden/pkg/history/trailtest"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
)

// sequenceRecords returns the records of the recon-then-invoke sample, in
// time order.
func sequenceRecords(t *testing.T) []json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("../../events/sequences/llmjacking-recon-then-invoke.json")
	if err != nil {
		t.Fatal(err)
	}
	var log struct{ Records []json.RawMessage }
	if err := json.Unmarshal(b, &log); err != nil || len(log.Records) < 2 {
		t.Fatalf("sample: %v", err)
	}
	return log.Records
}

func countRule(fs []findings.Finding, rule string) int {
	n := 0
	for _, f := range fs {
		if f.Rule == rule {
			n++
		}
	}
	return n
}

// TestCheckSequenceAcrossFiles: the recon calls and the invocation in
// separate files, given invocation first, still make one recon-then-invoke
// finding; the invocation alone makes none.
func TestCheckSequenceAcrossFiles(t *testing.T) {
	recs := sequenceRecords(t)
	dir := t.TempDir()
	invoke := filepath.Join(dir, "a-invoke.json")
	recon := filepath.Join(dir, "b-recon.json")
	write := func(path string, rs []json.RawMessage) {
		b, _ := json.Marshal(map[string]any{"Records": rs})
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(invoke, recs[len(recs)-1:])
	write(recon, recs[:len(recs)-1])

	_, stdout, stderr := runCLI(t, "", "check", "--format", "json", invoke, recon)
	fs := decodeFindings(t, stdout)
	if countRule(fs, findings.RuleReconThenInvoke) != 1 {
		t.Fatalf("findings %v (stderr %s)", rulesOfFindings(fs), stderr)
	}
	_, stdout, _ = runCLI(t, "", "check", "--format", "json", invoke)
	if n := countRule(decodeFindings(t, stdout), findings.RuleReconThenInvoke); n != 0 {
		t.Fatalf("invocation alone: %d recon-then-invoke findings", n)
	}
	// Turned off by policy: none.
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte("rules:\n  recon-then-invoke: {enabled: false}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stdout, _ = runCLI(t, "", "check", "--format", "json", "--policy", pol, invoke, recon)
	if n := countRule(decodeFindings(t, stdout), findings.RuleReconThenInvoke); n != 0 {
		t.Fatalf("disabled rule: %d findings", n)
	}
}

func rulesOfFindings(fs []findings.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule)
	}
	return out
}

// TestScanSequenceNewestFirst: event history answers newest first; the scan
// still sees the recon before the invocation.
func TestScanSequenceNewestFirst(t *testing.T) {
	recs := sequenceRecords(t)
	var records []string
	for _, r := range recs {
		records = append(records, string(r))
	}
	slices.Reverse(records)
	s := &history.Scanner{Lookup: func(string) (history.Lookup, error) { return sampleLookup{records}, nil }, Clock: trailtest.NewClock(scanNow)}
	res := scanHistory(context.Background(), policy.Default(), s, []string{"us-east-1"}, scanNow.Add(-7*24*time.Hour), scanNow)
	if len(res.errors) != 0 {
		t.Fatalf("errors: %v", res.errors)
	}
	if countRule(res.findings, findings.RuleReconThenInvoke) != 1 || res.findings[0].Rule != findings.RuleReconThenInvoke {
		t.Fatalf("findings %v", rulesOfFindings(res.findings))
	}
}

// TestSequencesSpillAgrees: with room in memory for one invocation, the
// rest go through the overflow file and come back whole (addresses, times,
// keys): the findings are the ones judged all in memory.
func TestSequencesSpillAgrees(t *testing.T) {
	recs := sequenceRecords(t)
	engine := rules.New(policy.Default())
	var events []normalize.Event
	core := &detector.Core{Rules: engine}
	// The invocation first, then the recon calls, then the invocation
	// again an hour and a half later and once more within the window.
	order := append(append([]json.RawMessage{recs[len(recs)-1]}, recs[:len(recs)-1]...), recs[len(recs)-1])
	core.Each(decode.Bytes("t", []byte(`{"Records":[`+string(bytesJoin(order))+`]}`)), func(r *detector.Result, err error) {
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, r.Event.Detach())
	})
	late := events[0]
	late.Time = late.Time.Add(90 * time.Minute)
	late.ID = "late"
	events = append(events, late)

	judge := func(memory int) ([]findings.Finding, *sequences) {
		old := sequenceMemory
		sequenceMemory = memory
		defer func() { sequenceMemory = old }()
		s := newSequences(engine)
		t.Cleanup(s.close)
		for i := range events {
			s.add(&events[i])
		}
		fs, err := s.findings()
		if err != nil {
			t.Fatal(err)
		}
		return fs, s
	}
	want, inMem := judge(1 << 20)
	got, spilled := judge(1)
	if inMem.file != nil || spilled.file == nil {
		t.Fatalf("overflow file: in memory %v, spilled %v", inMem.file != nil, spilled.file != nil)
	}
	if countRule(want, findings.RuleReconThenInvoke) != 1 {
		t.Fatalf("in memory: %v", rulesOfFindings(want))
	}
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(got)
	if string(a) != string(b) {
		t.Fatalf("spilled:\n%s\nin memory:\n%s", b, a)
	}
	if want[0].SourceIP == "" || want[0].AccessKeyID == "" {
		t.Errorf("finding lost the caller: %+v", want[0])
	}
}

func bytesJoin(rs []json.RawMessage) []byte {
	var out []byte
	for i, r := range rs {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, r...)
	}
	return out
}
