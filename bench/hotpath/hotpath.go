// Package hotpath holds the throughput benchmarks that run on the same
// event bytes in one process: the encoding/json.Valid ceiling, decode only,
// the detector's hot path (decode + normalise + evaluate) and the OPA
// comparison. Each benchmark operation is one event, so ns/op is ns/event
// and allocs/op is allocations per event.
package hotpath

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/bedrock-warden/warden/bench/opa"
	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/rules"
)

// Sink keeps results alive so the compiler cannot drop the work.
var Sink int

// Valid is the ceiling: encoding/json.Valid over each event.
func Valid(events [][]byte) func(b *testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for i := 0; b.Loop(); i++ {
			if json.Valid(events[i%len(events)]) {
				n++
			}
		}
		Sink += n
	}
}

// Decode decodes each event into a CloudTrail record.
func Decode(events [][]byte) func(b *testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for i := 0; b.Loop(); i++ {
			for it := range decode.Bytes("bench", events[i%len(events)]) {
				if it.Err != nil {
					b.Fatalf("event %d: %v", i%len(events), it.Err)
				}
				n += len(it.Record.EventName)
			}
		}
		Sink += n
	}
}

// Detect is the detector's hot path: decode, normalise and evaluate each
// event against e's policy, reusing the findings buffer as the Lambda does.
func Detect(events [][]byte, e *rules.Engine) func(b *testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]findings.Finding, 0, 8)
		n := 0
		for i := 0; b.Loop(); i++ {
			for it := range decode.Bytes("bench", events[i%len(events)]) {
				if it.Err != nil {
					b.Fatalf("event %d: %v", i%len(events), it.Err)
				}
				ev := normalize.Normalize(&it.Record, it.Origin)
				buf = e.Evaluate(&ev, buf[:0])
				n += len(buf)
			}
		}
		Sink += n
	}
}

// OPA evaluates the Rego rules' prepared query on each event, parsing the
// same bytes into OPA's input.
func OPA(events [][]byte, e *opa.Engine) func(b *testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		n := 0
		for i := 0; b.Loop(); i++ {
			ids, err := e.Eval(ctx, events[i%len(events)])
			if err != nil {
				b.Fatalf("event %d: %v", i%len(events), err)
			}
			n += len(ids)
		}
		Sink += n
	}
}
