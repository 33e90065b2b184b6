package detector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/aws/aws-lambda-go/events"

	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
)

// Batch is what one Lambda invocation carried, after the core ran.
type Batch struct {
	// Events are the Bedrock events, in input order.
	Events []normalize.Event
	// Findings are the rule findings of Events, then the analyzers'.
	Findings []findings.Finding
	// Errors are the records that could not be processed (undecodable, or
	// not a Bedrock event). They are retried or dead-lettered, never
	// dropped.
	Errors []*decode.Error
	// SQS reports that the batch came from SQS (answered with
	// batchItemFailures) rather than straight from EventBridge.
	SQS bool
	// AlertsSent and AlertsSuppressed are filled by the alert sink for the
	// sinks after it (metrics): alerts published, and findings folded
	// into an alert (repeats inside a suppression window) instead.
	AlertsSent       int
	AlertsSuppressed int
}

// Analyzer looks at a whole batch of events, e.g. to count invocations for
// spike detection, and may return further findings.
//
// Analyzers and Sinks must not keep the Batch or its slices once they have
// returned: the Handler reuses their arrays for the next chunk (strings
// and findings taken from them may be kept).
type Analyzer interface {
	Analyze(ctx context.Context, events []normalize.Event) ([]findings.Finding, error)
}

// Sink receives every batch: alerts, metrics, state. A Sink that fails for
// some SQS messages only returns a *PartialFailure naming them; any other
// error fails the whole batch.
type Sink interface {
	Deliver(ctx context.Context, b *Batch) error
}

// PartialFailure names the SQS messages whose delivery failed.
type PartialFailure struct {
	MessageIDs []string
	Err        error
}

func (e *PartialFailure) Error() string {
	return fmt.Sprintf("%d messages failed: %v", len(e.MessageIDs), e.Err)
}

func (e *PartialFailure) Unwrap() error { return e.Err }

// Handler is the detector Lambda's handler.
type Handler struct {
	Core      *Core
	Analyzers []Analyzer
	Sinks     []Sink
	Log       *slog.Logger
	// ChunkSize bounds how many events go through the analyzers and sinks
	// at once (DefaultChunkSize when 0): a large SQS batch is judged and
	// delivered a chunk at a time, so memory does not grow with the batch.
	ChunkSize int

	// spare is the last invocation's Batch, emptied: its arrays (a chunk
	// of events is some 700 KB) serve the next one instead of being
	// grown again.
	spare atomic.Pointer[Batch]
}

// DefaultChunkSize is the default Handler.ChunkSize: larger than the
// template's SQS batch (100), so a normal batch is one chunk.
const DefaultChunkSize = 1000

// Invoke is the detector Lambda's entry point: it implements aws-lambda-go's
// lambda.Handler, so the payload arrives as the bytes the runtime client
// read — not copied into a json.RawMessage, and not parsed by
// encoding/json first. A payload that is not JSON (truncated, binary,
// nested past any limit) therefore reaches the decoder like any other
// input: it is logged as a rejected record, counted in the DecodeErrors
// metric and answered with an error, so Lambda retries it and then sends
// it to the on-failure destination. The response is Handle's, as JSON
// ("null" for an EventBridge invocation).
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return respond(h.Handle(ctx, payload))
}

// InvokeReader is Invoke on a payload read as it is decoded: the Lambda
// runtime loop (lambdaenv.Serve) hands it the Runtime API's response body,
// so the payload is never held whole — memory is bounded by a chunk of
// events (ChunkSize), not by the batch. Items, errors and the response are
// Invoke's on the same bytes; a payload that ends early (the connection
// fails) is an error for the invocation, so Lambda retries it.
func (h *Handler) InvokeReader(ctx context.Context, payload io.Reader) ([]byte, error) {
	return respond(h.handle(ctx, decode.Reader("lambda", payload)))
}

func respond(resp *events.SQSEventResponse, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return []byte("null"), nil
	}
	return json.Marshal(resp)
}

// Handle processes one invocation payload: an EventBridge event (answered
// with an error so Lambda retries and then sends it to the on-failure
// destination) or an SQS batch (answered with batchItemFailures).
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) (*events.SQSEventResponse, error) {
	return h.handle(ctx, decode.Bytes("lambda", payload))
}

// handle is Handle's and InvokeReader's answer to a Lambda payload.
func (h *Handler) handle(ctx context.Context, items iter.Seq[decode.Item]) (*events.SQSEventResponse, error) {
	sqs, failed, _, err := h.run(ctx, items, false)
	if !sqs {
		return nil, err
	}
	resp := &events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, id := range slices.Sorted(maps.Keys(failed)) {
		if id != "" {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
		}
	}
	if err != nil {
		// Something failed that no message id names (a record without
		// one, or the payload cut off by a read error): fail the
		// invocation so the whole batch comes back rather than losing
		// the records it covers. What was delivered is not repeated:
		// the alert state and the spike counters skip events they
		// have seen.
		return nil, err
	}
	return resp, nil
}

// Stream runs the records of one input that is not a Lambda payload — a
// CloudTrail log file read from S3 — through the core, the analyzers and
// the sinks a chunk at a time, as Handle does. A log file holds every
// service's calls: records of other services are skipped and counted, not
// rejected. Stream fails when a record could not be decoded or a chunk
// could not be delivered; the caller then retries the whole input, which
// is safe (the alert state skips what was already alerted).
func (h *Handler) Stream(ctx context.Context, items iter.Seq[decode.Item]) (others int, err error) {
	_, failed, others, err := h.run(ctx, items, true)
	if err == nil && len(failed) > 0 {
		err = fmt.Errorf("%d records failed", len(failed))
	}
	return others, err
}

// run is handle's and Stream's loop: it returns whether the input was an
// SQS batch, the SQS message ids that must come back, how many records of
// other services were skipped (only with skipOthers; otherwise they are
// rejected), and the errors of what cannot be answered per message.
func (h *Handler) run(ctx context.Context, items iter.Seq[decode.Item], skipOthers bool) (bool, map[string]bool, int, error) {
	size := h.ChunkSize
	if size <= 0 {
		size = DefaultChunkSize
	}
	var (
		sqs    bool
		failed = map[string]bool{}
		errs   []error
		b      = h.spare.Swap(nil)
		others int
	)
	if b == nil {
		b = &Batch{}
	}
	defer func() {
		b.reset()
		h.spare.Store(b)
	}()
	flush := func() {
		if len(b.Events) == 0 && len(b.Errors) == 0 {
			return
		}
		b.SQS = sqs
		ids, err := h.deliver(ctx, b)
		for id := range ids {
			failed[id] = true
		}
		if err != nil {
			errs = append(errs, err)
		}
		b.reset()
	}
	h.Core.Each(items, func(r *Result, err error) {
		if err != nil && skipOthers && errors.Is(err, ErrNotBedrock) {
			others++
			return
		}
		if err != nil {
			var de *decode.Error
			if !errors.As(err, &de) {
				de = &decode.Error{Source: "lambda", Err: err}
			}
			sqs = sqs || de.Shape == decode.ShapeSQS
			b.Errors = append(b.Errors, de)
		} else {
			sqs = sqs || r.Event.Origin.Shape == decode.ShapeSQS
			b.Events = append(b.Events, r.Event)
			b.Findings = append(b.Findings, r.Findings...)
		}
		if len(b.Events)+len(b.Errors) >= size {
			flush()
		}
	})
	flush()
	return sqs, failed, others, errors.Join(errs...)
}

// reset empties b for the next chunk, keeping its arrays; what they held
// is cleared, so that it is not kept alive.
func (b *Batch) reset() {
	clear(b.Events)
	clear(b.Findings)
	clear(b.Errors)
	*b = Batch{Events: b.Events[:0], Findings: b.Findings[:0], Errors: b.Errors[:0]}
}

// deliver runs the analyzers and sinks over one chunk. It returns the SQS
// message ids that must come back, and for a chunk that cannot be answered
// per message (EventBridge, or records without a message id) an error.
func (h *Handler) deliver(ctx context.Context, b *Batch) (map[string]bool, error) {
	failed := map[string]bool{}
	var errs []error
	for _, e := range b.Errors {
		h.log().ErrorContext(ctx, "record rejected", "source", e.Source, "index", e.Index, "shape", e.Shape,
			"messageId", e.MessageID, "error", e.Error())
		if b.SQS && e.MessageID != "" {
			failed[e.MessageID] = true
		} else {
			errs = append(errs, e)
		}
	}
	// An analyzer that fails must not hold back the rule findings of the
	// chunk: the sinks still run, then the chunk fails so that it comes
	// back for the analyzer (the alert state skips what was already sent).
	var analyzeErr error
	for _, a := range h.Analyzers {
		fs, err := a.Analyze(ctx, b.Events)
		if err != nil {
			h.log().ErrorContext(ctx, "analyzer failed", "error", err.Error())
			analyzeErr = errors.Join(analyzeErr, fmt.Errorf("analyze batch: %w", err))
			continue
		}
		b.Findings = append(b.Findings, fs...)
	}
	for i := range b.Findings {
		// The whole finding, in the documented JSON contract
		// (docs/findings.md), as the CLI and the alert body carry it.
		h.log().WarnContext(ctx, "finding", "finding", b.Findings[i])
	}
	whole := func(err error) (map[string]bool, error) {
		if !b.SQS {
			return nil, err
		}
		// Every message of the chunk comes back.
		for _, ev := range b.Events {
			failed[ev.Origin.MessageID] = true
		}
		for _, e := range b.Errors {
			failed[e.MessageID] = true
		}
		delete(failed, "")
		if len(failed) == 0 {
			return nil, err
		}
		return failed, nil
	}
	for _, s := range h.Sinks {
		if err := s.Deliver(ctx, b); err != nil {
			var pf *PartialFailure
			if b.SQS && errors.As(err, &pf) {
				for _, id := range pf.MessageIDs {
					failed[id] = true
				}
				h.log().ErrorContext(ctx, "sink failed for some messages", "failed", len(pf.MessageIDs), "error", err.Error())
				continue
			}
			return whole(fmt.Errorf("deliver batch: %w", err))
		}
	}
	if analyzeErr != nil {
		return whole(analyzeErr)
	}
	h.log().InfoContext(ctx, "batch done", "events", len(b.Events), "findings", len(b.Findings), "rejected", len(b.Errors))
	return failed, errors.Join(errs...)
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}
