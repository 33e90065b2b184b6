// Command rss runs one SQS batch (a file holding the Lambda SQS event)
// through the detector handler with local sinks — the spike analyzer on
// in-memory counters, alerts deduplicated in the in-memory state store and
// counted instead of published, EMF metrics written to io.Discard — and
// prints the process's peak resident set size
// (VmHWM, Linux only) as JSON. It runs as its own process so that nothing else (benchmark
// harness, corpus generation) is in its memory.
//
//	rss BATCH.json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/alerts"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
	"github.com/bedrock-warden/warden/pkg/spikes"
	"github.com/bedrock-warden/warden/pkg/state"
)

// Report is what rss prints.
type Report struct {
	PayloadBytes int   `json:"payloadBytes"`
	BaselineKB   int64 `json:"baselineKB"` // peak RSS after reading the payload, before handling it
	PeakKB       int64 `json:"peakKB"`     // peak RSS at the end
	Records      int   `json:"records"`
	Failed       int   `json:"failed"`
	Published    int   `json:"published"`
	HandleNanos  int64 `json:"handleNanos"`
	// AllocBytes is what the Go heap allocated during Handle, and
	// HeapSysBytes the heap memory obtained from the OS by the end.
	AllocBytes   uint64 `json:"allocBytes"`
	HeapSysBytes uint64 `json:"heapSysBytes"`
}

// counter is a Publisher that counts messages and publishes nothing.
type counter struct{ n int }

func (c *counter) Publish(_ context.Context, msgs []alerts.Message) []error {
	c.n += len(msgs)
	return make([]error, len(msgs))
}

// peakRSS returns the process's resident-set high-water mark in KB: VmHWM
// from /proc/self/status. getrusage's ru_maxrss is not used: on Linux it
// carries over the high-water mark of the parent's address space when the
// process was started by vfork+exec (as os/exec does), so a large parent
// (the benchmark harness) would be reported as this process's peak.
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read /proc/self/status: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM %q: %w", v, err)
			}
			return kb, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}

func run(path string) (*Report, error) {
	payload, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read batch: %w", err)
	}
	rep := &Report{PayloadBytes: len(payload)}
	if rep.BaselineKB, err = peakRSS(); err != nil {
		return nil, err
	}
	quiet := slog.New(slog.DiscardHandler)
	p := policy.Default()
	pub := &counter{}
	h := &detector.Handler{
		Core: &detector.Core{Rules: rules.New(p)},
		Sinks: []detector.Sink{
			&outputs.Alerter{Store: state.NewMemory(), Publisher: pub, Policy: p, Log: quiet},
			&outputs.Metrics{Out: io.Discard},
		},
		Analyzers: []detector.Analyzer{spikes.New(spikes.NewMemoryStore(), p, time.Now, quiet)},
		Log:       quiet,
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	resp, err := h.Handle(context.Background(), payload)
	rep.HandleNanos = time.Since(start).Nanoseconds()
	runtime.ReadMemStats(&after)
	rep.AllocBytes = after.TotalAlloc - before.TotalAlloc
	rep.HeapSysBytes = after.HeapSys
	if err != nil {
		return nil, fmt.Errorf("handle: %w", err)
	}
	if resp != nil {
		rep.Failed = len(resp.BatchItemFailures)
	}
	var probe struct {
		Records []json.RawMessage `json:"Records"`
	}
	rep.Published = pub.n
	if rep.PeakKB, err = peakRSS(); err != nil {
		return nil, err
	}
	// Counted after the peak is read, so the count costs nothing above.
	if err := json.Unmarshal(payload, &probe); err != nil {
		return nil, fmt.Errorf("count records: %w", err)
	}
	rep.Records = len(probe.Records)
	return rep, nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: rss BATCH.json")
		os.Exit(2)
	}
	rep, err := run(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "rss:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		fmt.Fprintln(os.Stderr, "rss:", err)
		os.Exit(1)
	}
}
