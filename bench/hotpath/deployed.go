package hotpath

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/alerts"
	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
	"github.com/bedrock-warden/warden/pkg/spikes"
	"github.com/bedrock-warden/warden/pkg/state"
)

// The deployed paths, measured per event: Core.Each over a stream (what
// `warden check` and the history scan run) and the detector Lambda's
// handler, entered as the runtime enters it (Invoke with the payload's
// bytes), with local stand-ins for its AWS peers. Each benchmark op is one
// pass over a whole input; the figures per event are reported as custom
// metrics (ns/event, allocs/event, B/event).

// PerEvent is the metric names of the per-event figures.
const (
	NsPerEvent     = "ns/event"
	CPUNsPerEvent  = "cpu-ns/event"
	AllocsPerEvent = "allocs/event"
	BytesPerEvent  = "B/event"
)

// perEvent reports the run's figures per event; events is the number of
// events one op handles.
func perEvent(b *testing.B, events int, run func()) {
	b.ReportAllocs()
	start := time.Now()
	var ms0, ms1 runtimeMem
	ms0.read()
	cpu0 := cpuTime()
	ops := 0
	for b.Loop() {
		run()
		ops++
	}
	cpu := cpuTime() - cpu0
	ms1.read()
	n := float64(ops * events)
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/n, NsPerEvent)
	// The process's CPU time (every thread, the collector's included):
	// on a shared machine, wall time also counts the neighbours' turns.
	b.ReportMetric(float64(cpu.Nanoseconds())/n, CPUNsPerEvent)
	b.ReportMetric(float64(ms1.mallocs-ms0.mallocs)/n, AllocsPerEvent)
	b.ReportMetric(float64(ms1.bytes-ms0.bytes)/n, BytesPerEvent)
}

// EachStream runs Core.Each over events as one JSON-lines stream.
func EachStream(events [][]byte, e *rules.Engine) func(b *testing.B) {
	stream := bytes.Join(events, []byte("\n"))
	core := &detector.Core{Rules: e}
	return func(b *testing.B) {
		n := 0
		perEvent(b, len(events), func() {
			core.Each(decode.Bytes("bench", stream), func(r *detector.Result, err error) {
				if err != nil {
					b.Fatal(err)
				}
				n += len(r.Findings)
			})
		})
		Sink += n
	}
}

// LocalDetector is the detector handler as pipeline.Detector builds it,
// with local stand-ins for its AWS peers: the spike analyzer on
// spikes.MemoryStore, the alerter on the in-memory state store with a
// publisher that counts, EMF metrics to io.Discard, logs discarded.
func LocalDetector(p *policy.Policy) *detector.Handler {
	quiet := slog.New(slog.DiscardHandler)
	return &detector.Handler{
		Core: &detector.Core{Rules: rules.New(p)},
		Sinks: []detector.Sink{
			&outputs.Alerter{Store: state.NewMemory(), Publisher: &Counter{}, Policy: p, Log: quiet},
			&outputs.Metrics{Out: io.Discard},
		},
		Analyzers: []detector.Analyzer{spikes.New(spikes.NewMemoryStore(), p, time.Now, quiet)},
		Log:       quiet,
	}
}

// Counter is an alerts publisher that counts messages and sends none.
type Counter struct{ N int }

// Publish implements the alerter's publisher.
func (c *Counter) Publish(_ context.Context, msgs []alerts.Message) []error {
	c.N += len(msgs)
	return make([]error, len(msgs))
}

// LambdaBatch invokes the handler with one SQS batch payload of events,
// as the deployed runtime loop does (lambdaenv.Serve: InvokeReader on the
// payload as it arrives).
func LambdaBatch(payload []byte, events int, h *detector.Handler) func(b *testing.B) {
	return func(b *testing.B) {
		ctx := context.Background()
		var r bytes.Reader
		perEvent(b, events, func() {
			r.Reset(payload)
			if _, err := h.InvokeReader(ctx, &r); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// LambdaDirect invokes the handler once per event (EventBridge intake),
// over every event of the corpus in turn, as LambdaBatch does.
func LambdaDirect(events [][]byte, h *detector.Handler) func(b *testing.B) {
	return func(b *testing.B) {
		ctx := context.Background()
		var r bytes.Reader
		perEvent(b, len(events), func() {
			for _, ev := range events {
				r.Reset(ev)
				if _, err := h.InvokeReader(ctx, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// DecodeValid is the decoder's validation alone (decode.Valid, the walk
// that skips unused subtrees) over each event, to set beside json.Valid.
func DecodeValid(events [][]byte) func(b *testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for i := 0; b.Loop(); i++ {
			if decode.Valid(events[i%len(events)]) {
				n++
			}
		}
		Sink += n
	}
}

// Chunk returns events in slices of at most n.
func Chunk(events [][]byte, n int) [][][]byte {
	return slices.Collect(slices.Chunk(events, n))
}
