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

	// spare is the last invocation's state, emptied: its arrays (a chunk
	// of events is some 700 KB), maps and bound functions serve the next
	// one instead of being made again.
	spare atomic.Pointer[invocation]
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
	return respond(h.handle(ctx, nil, payload))
}

// null is the response to an EventBridge invocation.
var null = []byte("null")

func respond(resp *events.SQSEventResponse, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return null, nil
	}
	return json.Marshal(resp)
}

// Handle processes one invocation payload: an EventBridge event (answered
// with an error so Lambda retries and then sends it to the on-failure
// destination) or an SQS batch (answered with batchItemFailures).
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) (*events.SQSEventResponse, error) {
	return h.handle(ctx, decode.Bytes("lambda", payload), nil)
}

// handle is Handle's and InvokeReader's answer to a Lambda payload: items,
// or when nil the payload read from payload.
func (h *Handler) handle(ctx context.Context, items iter.Seq[decode.Item], payload io.Reader) (*events.SQSEventResponse, error) {
	inv := h.begin(ctx, false)
	defer h.end(inv)
	err := inv.run(items, payload)
	if !inv.sqs {
		return nil, err
	}
	resp := &events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, id := range slices.Sorted(maps.Keys(inv.failed)) {
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
	inv := h.begin(ctx, true)
	defer h.end(inv)
	err = inv.run(items, nil)
	if err == nil && len(inv.failed) > 0 {
		err = fmt.Errorf("%d records failed", len(inv.failed))
	}
	return inv.others, err
}

// invocation is the state of one run of the handler over an input (a
// Lambda payload, or a log file for Stream): the chunk being judged and
// what must be answered. The Handler keeps one for the next run, so an
// invocation of one event allocates nothing of its own.
type invocation struct {
	h          *Handler
	ctx        context.Context
	skipOthers bool
	size       int
	// sqs reports that the input is an SQS batch; failed holds the SQS
	// message ids that must come back; errs what cannot be answered per
	// message; others the records of other services skipped (only with
	// skipOthers; otherwise they are rejected).
	sqs    bool
	failed map[string]bool
	errs   []error
	others int
	b      Batch
	r      Result
	// yield is feed, bound once.
	yield func(decode.Item) bool
}

// maxSpareFailed is the size past which an invocation's failed map is not
// kept for the next one (a batch that failed for many messages).
const maxSpareFailed = 64

// begin returns the state of a new run: the last run's, emptied, when no
// other run holds it.
func (h *Handler) begin(ctx context.Context, skipOthers bool) *invocation {
	inv := h.spare.Swap(nil)
	if inv == nil {
		inv = &invocation{h: h, failed: map[string]bool{}}
		inv.yield = inv.feed
	}
	inv.ctx, inv.skipOthers = ctx, skipOthers
	inv.size = h.ChunkSize
	if inv.size <= 0 {
		inv.size = DefaultChunkSize
	}
	return inv
}

// end empties inv and keeps it for the next run: nothing of this run's
// events, findings or context stays reachable from it.
func (h *Handler) end(inv *invocation) {
	inv.b.reset()
	clear(inv.r.Findings)
	inv.r = Result{Findings: inv.r.Findings[:0]}
	if len(inv.failed) > maxSpareFailed {
		inv.failed = map[string]bool{}
	}
	clear(inv.failed)
	clear(inv.errs)
	inv.errs = inv.errs[:0]
	inv.ctx, inv.sqs, inv.others = nil, false, 0
	h.spare.Store(inv)
}

// run feeds the input's items through the core, delivering a chunk at a
// time: items, or when nil the Lambda payload decoded from payload. It
// returns the errors of what cannot be answered per message.
func (inv *invocation) run(items iter.Seq[decode.Item], payload io.Reader) error {
	if items != nil {
		items(inv.yield)
	} else {
		decode.Read("lambda", payload, inv.yield)
	}
	inv.flush()
	return errors.Join(inv.errs...)
}

// feed judges one item into the chunk, delivering the chunk once full.
func (inv *invocation) feed(it decode.Item) bool {
	b := &inv.b
	err := inv.h.Core.Judge(&it, &inv.r)
	if err != nil && inv.skipOthers && errors.Is(err, ErrNotBedrock) {
		inv.others++
		return true
	}
	if err != nil {
		var de *decode.Error
		if !errors.As(err, &de) {
			de = &decode.Error{Source: "lambda", Err: err}
		}
		inv.sqs = inv.sqs || de.Shape == decode.ShapeSQS
		b.Errors = append(b.Errors, de)
	} else {
		inv.sqs = inv.sqs || inv.r.Event.Origin.Shape == decode.ShapeSQS
		b.Events = append(b.Events, inv.r.Event)
		b.Findings = append(b.Findings, inv.r.Findings...)
	}
	if len(b.Events)+len(b.Errors) >= inv.size {
		inv.flush()
	}
	return true
}

// flush delivers the chunk, if it holds anything, and empties it.
func (inv *invocation) flush() {
	b := &inv.b
	if len(b.Events) == 0 && len(b.Errors) == 0 {
		return
	}
	b.SQS = inv.sqs
	if err := inv.h.deliver(inv.ctx, b, inv.failed); err != nil {
		inv.errs = append(inv.errs, err)
	}
	b.reset()
}

// reset empties b for the next chunk, keeping its arrays; what they held
// is cleared, so that it is not kept alive.
func (b *Batch) reset() {
	clear(b.Events)
	clear(b.Findings)
	clear(b.Errors)
	*b = Batch{Events: b.Events[:0], Findings: b.Findings[:0], Errors: b.Errors[:0]}
}

// deliver runs the analyzers and sinks over one chunk. It adds the SQS
// message ids that must come back to failed, and returns an error for a
// chunk that cannot be answered per message (EventBridge, or records
// without a message id).
func (h *Handler) deliver(ctx context.Context, b *Batch, failed map[string]bool) error {
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
	whole := func(err error) error {
		if !b.SQS {
			return err
		}
		// Every message of the chunk comes back; a chunk whose records
		// name no message fails as a whole.
		named := false
		for _, ev := range b.Events {
			if id := ev.Origin.MessageID; id != "" {
				failed[id], named = true, true
			}
		}
		for _, e := range b.Errors {
			if e.MessageID != "" {
				failed[e.MessageID], named = true, true
			}
		}
		if !named {
			return err
		}
		return nil
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
	return errors.Join(errs...)
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}
