package detector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/aws/aws-lambda-go/events"

	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
)

// recordingSink keeps a copy of every batch and returns err.
type recordingSink struct {
	batches []detector.Batch
	err     func(b *detector.Batch) error
}

func (s *recordingSink) Deliver(_ context.Context, b *detector.Batch) error {
	// The handler reuses b's arrays after Deliver.
	c := *b
	c.Events, c.Findings, c.Errors = slices.Clone(b.Events), slices.Clone(b.Findings), slices.Clone(b.Errors)
	s.batches = append(s.batches, c)
	if s.err != nil {
		return s.err(b)
	}
	return nil
}

type analyzerFunc func(ctx context.Context, evs []normalize.Event) ([]findings.Finding, error)

func (f analyzerFunc) Analyze(ctx context.Context, evs []normalize.Event) ([]findings.Finding, error) {
	return f(ctx, evs)
}

func newHandler(sinks ...detector.Sink) *detector.Handler {
	p := &policy.Policy{Models: policy.ModelRules{Allow: []string{"anthropic.claude-3-5-sonnet*"}}}
	return &detector.Handler{Core: &detector.Core{Rules: rules.New(p)}, Sinks: sinks}
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sqsEvent(t *testing.T, bodies ...string) []byte {
	t.Helper()
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: "msg-" + string(rune('a'+i)), Body: b, EventSource: "aws:sqs", AWSRegion: "us-east-1",
		})
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func failures(resp *events.SQSEventResponse) []string {
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	slices.Sort(ids)
	return ids
}

func TestHandlerEventBridgeViolation(t *testing.T) {
	sink := &recordingSink{}
	h := newHandler(sink)
	resp, err := h.Handle(t.Context(), sample(t, "invoke-model-unapproved-opus.json"))
	if err != nil || resp != nil {
		t.Fatalf("Handle = %v, %v; want nil, nil for EventBridge", resp, err)
	}
	if len(sink.batches) != 1 {
		t.Fatalf("sink saw %d batches", len(sink.batches))
	}
	b := sink.batches[0]
	if b.SQS || len(b.Events) != 1 || len(b.Errors) != 0 {
		t.Fatalf("batch = %+v", b)
	}
	if len(b.Findings) != 1 || b.Findings[0].Rule != findings.RuleUnauthorizedModel ||
		b.Findings[0].EventID != "b22f7ece-583d-429c-ae0b-5f2f8b38fcb2" {
		t.Errorf("findings = %+v", b.Findings)
	}
}

func TestHandlerSQSBatchReportsOnlyBadMessages(t *testing.T) {
	sink := &recordingSink{}
	h := newHandler(sink)
	payload := sqsEvent(t,
		string(sample(t, "invoke-model-allowed-sonnet.json")),
		`{"detail": {not json`,
		string(sample(t, "non-bedrock/s3-create-bucket.json")),
		string(sample(t, "invoke-model-unapproved-opus.json")),
	)
	resp, err := h.Handle(t.Context(), payload)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if got := failures(resp); !slices.Equal(got, []string{"msg-b", "msg-c"}) {
		t.Errorf("batchItemFailures = %v, want the malformed and the non-Bedrock message", got)
	}
	b := sink.batches[0]
	if !b.SQS || len(b.Events) != 2 || len(b.Findings) != 1 || len(b.Errors) != 2 {
		t.Fatalf("batch: sqs %v events %d findings %d errors %d", b.SQS, len(b.Events), len(b.Findings), len(b.Errors))
	}
	var notBedrock int
	for _, e := range b.Errors {
		if errors.Is(e, detector.ErrNotBedrock) {
			notBedrock++
		}
	}
	if notBedrock != 1 {
		t.Errorf("%d errors wrap ErrNotBedrock, want 1: %v", notBedrock, b.Errors)
	}
}

func TestHandlerMalformedEventBridgePayloadIsAnError(t *testing.T) {
	h := newHandler(&recordingSink{})
	for name, payload := range map[string]string{
		"truncated":  `{"version":"0","detail":{"eventSource":"bedrock.amazonaws.com"`,
		"not object": `[1,2,3]`,
		"empty":      ``,
	} {
		resp, err := h.Handle(t.Context(), json.RawMessage(payload))
		if err == nil {
			t.Errorf("%s: Handle = %v, nil; want an error so Lambda retries / dead-letters", name, resp)
		}
		var de *decode.Error
		if err != nil && !errors.As(err, &de) {
			t.Errorf("%s: error %v is not a *decode.Error", name, err)
		}
	}
}

func TestHandlerNonBedrockEventBridgeIsAnError(t *testing.T) {
	h := newHandler(&recordingSink{})
	_, err := h.Handle(t.Context(), sample(t, "non-bedrock/iam-attach-role-policy.json"))
	if !errors.Is(err, detector.ErrNotBedrock) {
		t.Fatalf("Handle = %v, want ErrNotBedrock", err)
	}
}

func TestHandlerSinkPartialFailureAndWholeFailure(t *testing.T) {
	payload := sqsEvent(t,
		string(sample(t, "invoke-model-unapproved-opus.json")),
		string(sample(t, "invoke-model-allowed-sonnet.json")),
	)
	partial := &recordingSink{err: func(*detector.Batch) error {
		return &detector.PartialFailure{MessageIDs: []string{"msg-a"}, Err: errors.New("sns down")}
	}}
	after := &recordingSink{}
	resp, err := newHandler(partial, after).Handle(t.Context(), payload)
	if err != nil || !slices.Equal(failures(resp), []string{"msg-a"}) {
		t.Fatalf("partial: %v, %v; want [msg-a]", failures(resp), err)
	}
	if len(after.batches) != 1 {
		t.Error("a partial failure stopped the later sinks")
	}

	whole := &recordingSink{err: func(*detector.Batch) error { return errors.New("dynamodb down") }}
	resp, err = newHandler(whole).Handle(t.Context(), payload)
	if err != nil || !slices.Equal(failures(resp), []string{"msg-a", "msg-b"}) {
		t.Fatalf("whole: %v, %v; want every message", failures(resp), err)
	}
	// EventBridge: the same sink error is the invocation's error.
	_, err = newHandler(whole).Handle(t.Context(), sample(t, "invoke-model-unapproved-opus.json"))
	if err == nil {
		t.Fatal("EventBridge with a failing sink: want an error")
	}
}

func TestHandlerAnalyzerFindingsReachSinks(t *testing.T) {
	sink := &recordingSink{}
	h := newHandler(sink)
	h.Analyzers = []detector.Analyzer{analyzerFunc(func(_ context.Context, evs []normalize.Event) ([]findings.Finding, error) {
		return []findings.Finding{{Rule: findings.RuleInvocationSpike, Fingerprint: "spike", Principal: "p", Details: map[string]string{"count": "1"}}}, nil
	})}
	if _, err := h.Handle(t.Context(), sample(t, "invoke-model-allowed-sonnet.json")); err != nil {
		t.Fatal(err)
	}
	fs := sink.batches[0].Findings
	if len(fs) != 1 || fs[0].Rule != findings.RuleInvocationSpike {
		t.Errorf("findings = %+v", fs)
	}
	h.Analyzers = []detector.Analyzer{analyzerFunc(func(context.Context, []normalize.Event) ([]findings.Finding, error) {
		return nil, errors.New("counter table down")
	})}
	if _, err := h.Handle(t.Context(), sample(t, "invoke-model-allowed-sonnet.json")); err == nil {
		t.Error("analyzer failure: want an error")
	}
}

// A failing analyzer does not hold back the batch's rule findings: the
// sinks still get them, and the batch fails (EventBridge: error; SQS: every
// message listed) so that it comes back for the analyzer.
func TestHandlerAnalyzerFailureStillDeliversRuleFindings(t *testing.T) {
	sink := &recordingSink{}
	h := newHandler(sink)
	h.Analyzers = []detector.Analyzer{analyzerFunc(func(context.Context, []normalize.Event) ([]findings.Finding, error) {
		return nil, errors.New("ValidationException: key too long")
	})}
	if _, err := h.Handle(t.Context(), sample(t, "invoke-model-unapproved-opus.json")); err == nil {
		t.Fatal("analyzer failure: want an error")
	}
	if len(sink.batches) != 1 || len(sink.batches[0].Findings) != 1 || sink.batches[0].Findings[0].Rule != findings.RuleUnauthorizedModel {
		t.Fatalf("rule finding not delivered: %+v", sink.batches)
	}
	resp, err := h.Handle(t.Context(), sqsEvent(t, string(sample(t, "invoke-model-unapproved-opus.json")), string(sample(t, "invoke-model-allowed-sonnet.json"))))
	if err != nil || len(failures(resp)) != 2 {
		t.Fatalf("SQS: resp %+v err %v: want both messages back", resp, err)
	}
}

// A batch larger than ChunkSize goes through the analyzers and sinks a
// chunk at a time; a failure comes back for its own chunk's messages only.
func TestHandlerChunksLargeBatches(t *testing.T) {
	sink := &recordingSink{}
	h := newHandler(sink)
	h.ChunkSize = 2
	calls := 0
	h.Analyzers = []detector.Analyzer{analyzerFunc(func(_ context.Context, evs []normalize.Event) ([]findings.Finding, error) {
		calls++
		if calls == 2 { // the second chunk: msg-c, msg-d
			return nil, errors.New("throttled")
		}
		return nil, nil
	})}
	ok := string(sample(t, "invoke-model-allowed-sonnet.json"))
	resp, err := h.Handle(t.Context(), sqsEvent(t, ok, ok, ok, ok, "{not json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := failures(resp); !slices.Equal(got, []string{"msg-c", "msg-d", "msg-e"}) {
		t.Fatalf("failures = %v, want the failed chunk and the bad message", got)
	}
	if len(sink.batches) != 3 {
		t.Fatalf("%d chunks delivered, want 3", len(sink.batches))
	}
	for i, b := range sink.batches {
		if len(b.Events)+len(b.Errors) > 2 || !b.SQS {
			t.Errorf("chunk %d: %d events, %d errors, SQS %v", i, len(b.Events), len(b.Errors), b.SQS)
		}
	}
}

// The raw entry point: payloads that are not JSON reach the decoder and
// end in a structured log line, the DecodeErrors metric and an error
// (Lambda retries, then the on-failure destination), never a panic.
func TestInvokeRejectsInvalidJSON(t *testing.T) {
	payloads := map[string][]byte{
		"truncated":     []byte(`{"version":"0","id":"e-1","detail-type":"AWS API Call via CloudTrail","source":"aws.bedrock","detail":{"eventName":"Invo`),
		"binary":        {0x00, 0xff, 0xfe, 0x01, 0x80},
		"100k deep":     bytes.Repeat([]byte("["), 100000),
		"100k deep obj": bytes.Repeat([]byte(`{"a":`), 100000),
		"empty":         nil,
	}
	for name, payload := range payloads {
		for entry, invoke := range entries {
			name := name + ", " + entry
			var logs, emf bytes.Buffer
			h := newHandler(&outputs.Metrics{Out: &emf})
			h.Log = slog.New(slog.NewJSONHandler(&logs, nil))
			out, err := invoke(h, payload)
			if err == nil || out != nil {
				t.Errorf("%s: Invoke = %q, %v; want an error", name, out, err)
			}
			var rejected map[string]any
			for line := range strings.Lines(logs.String()) {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "record rejected" {
					rejected = m
				}
			}
			if rejected == nil || rejected["level"] != "ERROR" || rejected["source"] != "lambda" || rejected["error"] == "" {
				t.Errorf("%s: no structured rejection log: %s", name, logs.String())
			}
			if !strings.Contains(emf.String(), `"DecodeErrors":1`) {
				t.Errorf("%s: DecodeErrors not counted: %s", name, emf.String())
			}
		}
	}
}

// entries are the two ways into the handler: the payload's bytes
// (lambda.Handler) and the payload as a stream (lambdaenv.Serve).
var entries = map[string]func(h *detector.Handler, payload []byte) ([]byte, error){
	"Invoke": func(h *detector.Handler, p []byte) ([]byte, error) { return h.Invoke(context.Background(), p) },
	"InvokeReader": func(h *detector.Handler, p []byte) ([]byte, error) {
		return h.InvokeReader(context.Background(), iotest.HalfReader(bytes.NewReader(p)))
	},
}

// Invoke answers an SQS batch with its batchItemFailures and an
// EventBridge event with null.
func TestInvokeResponses(t *testing.T) {
	for entry, invoke := range entries {
		h := newHandler()
		out, err := invoke(h, sample(t, "invoke-model-allowed-sonnet.json"))
		if err != nil || string(out) != "null" {
			t.Errorf("%s, EventBridge: %q, %v", entry, out, err)
		}
		out, err = invoke(h, sqsEvent(t, string(sample(t, "invoke-model-allowed-sonnet.json")), "nope"))
		if err != nil || string(out) != `{"batchItemFailures":[{"itemIdentifier":"msg-b"}]}` {
			t.Errorf("%s, SQS: %s, %v", entry, out, err)
		}
	}
}

// InvokeReader delivers what Invoke delivers on the same bytes, chunk by
// chunk; a payload cut off by a failing read is an error (a retry), after
// the chunks read before it.
func TestInvokeReaderMatchesInvoke(t *testing.T) {
	ok := string(sample(t, "invoke-model-allowed-sonnet.json"))
	bad := string(sample(t, "invoke-model-unapproved-opus.json"))
	payload := sqsEvent(t, ok, "nope", bad, ok, "{}", bad, ok)
	run := func(invoke func(h *detector.Handler) ([]byte, error)) ([]byte, error, []detector.Batch) {
		sink := &recordingSink{}
		h := newHandler(sink)
		h.ChunkSize = 2
		out, err := invoke(h)
		return out, err, sink.batches
	}
	wantOut, wantErr, want := run(func(h *detector.Handler) ([]byte, error) { return h.Invoke(context.Background(), payload) })
	gotOut, gotErr, got := run(func(h *detector.Handler) ([]byte, error) {
		return h.InvokeReader(context.Background(), iotest.OneByteReader(bytes.NewReader(payload)))
	})
	if string(gotOut) != string(wantOut) || (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("InvokeReader = %s, %v; Invoke = %s, %v", gotOut, gotErr, wantOut, wantErr)
	}
	if len(got) != len(want) {
		t.Fatalf("InvokeReader delivered %d chunks, Invoke %d", len(got), len(want))
	}
	for i := range got {
		if len(got[i].Events) != len(want[i].Events) || len(got[i].Errors) != len(want[i].Errors) || len(got[i].Findings) != len(want[i].Findings) {
			t.Errorf("chunk %d: InvokeReader %d events %d errors %d findings, Invoke %d %d %d", i,
				len(got[i].Events), len(got[i].Errors), len(got[i].Findings), len(want[i].Events), len(want[i].Errors), len(want[i].Findings))
		}
	}

	cut := io.MultiReader(bytes.NewReader(payload[:len(payload)/2]), iotest.ErrReader(io.ErrUnexpectedEOF))
	out, err := newHandler().InvokeReader(context.Background(), cut)
	if err == nil {
		t.Errorf("a payload cut off by a read error: %s, want an error", out)
	}
}

// The handler reuses a chunk's arrays for the next chunk and the next
// invocation: what each delivery sees is its own events, never a stale
// one.
func TestHandlerReusesBatchesCleanly(t *testing.T) {
	ok := string(sample(t, "invoke-model-allowed-sonnet.json"))
	bad := string(sample(t, "invoke-model-unapproved-opus.json"))
	var seen [][]string
	sink := sinkFunc(func(b *detector.Batch) {
		var ids []string
		for _, e := range b.Events {
			ids = append(ids, e.Origin.MessageID+"/"+e.Model.Raw)
		}
		seen = append(seen, ids)
	})
	h := newHandler(sink)
	h.ChunkSize = 2
	for _, p := range [][]byte{sqsEvent(t, ok, bad, ok), sqsEvent(t, bad, ok), sqsEvent(t, bad)} {
		if _, err := h.Invoke(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	const sonnet, opus = "anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-3-opus-20240229-v1:0"
	want := [][]string{
		{"msg-a/" + sonnet, "msg-b/" + opus}, {"msg-c/" + sonnet},
		{"msg-a/" + opus, "msg-b/" + sonnet},
		{"msg-a/" + opus},
	}
	if !slices.EqualFunc(seen, want, slices.Equal) {
		t.Errorf("deliveries %q, want %q", seen, want)
	}
}

type sinkFunc func(b *detector.Batch)

func (f sinkFunc) Deliver(_ context.Context, b *detector.Batch) error { f(b); return nil }

// logFile is a CloudTrail log file of the given records.
func logFile(t *testing.T, records ...[]byte) []byte {
	t.Helper()
	raw := make([]json.RawMessage, len(records))
	for i, r := range records {
		raw[i] = r
	}
	b, err := json.Marshal(map[string]any{"Records": raw})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// detail returns the CloudTrail record inside a sample envelope.
func detail(t *testing.T, name string) []byte {
	t.Helper()
	var env struct{ Detail json.RawMessage }
	if err := json.Unmarshal(sample(t, name), &env); err != nil {
		t.Fatal(err)
	}
	return env.Detail
}

// TestStreamLogFile: a log file's Bedrock records go through the sinks in
// chunks of ChunkSize; records of other services are counted, not
// rejected; an undecodable record fails the stream after everything else
// was delivered.
func TestStreamLogFile(t *testing.T) {
	opus, s3 := detail(t, "invoke-model-unapproved-opus.json"), detail(t, "non-bedrock/s3-create-bucket.json")
	sink := &recordingSink{}
	h := newHandler(sink)
	h.ChunkSize = 2
	others, err := h.Stream(context.Background(), decode.Bytes("s3://b/k.json.gz", logFile(t, opus, s3, opus, s3, opus)))
	if err != nil || others != 2 {
		t.Fatalf("others %d, err %v", others, err)
	}
	var sizes []int
	for _, b := range sink.batches {
		sizes = append(sizes, len(b.Events))
		if len(b.Errors) != 0 || b.SQS {
			t.Errorf("batch %+v", b)
		}
	}
	if !slices.Equal(sizes, []int{2, 1}) {
		t.Errorf("chunks of %v events, want [2 1]", sizes)
	}

	sink.batches = nil
	_, err = h.Stream(context.Background(), decode.Bytes("s3://b/k.json.gz", logFile(t, opus, []byte(`{"eventVersion":"1.11","eventName":7}`), opus)))
	var de *decode.Error
	if !errors.As(err, &de) || de.Source != "s3://b/k.json.gz" || de.Index != 1 {
		t.Fatalf("bad record: %v", err)
	}
	delivered := 0
	for _, b := range sink.batches {
		delivered += len(b.Events)
	}
	if delivered != 2 {
		t.Errorf("%d good records delivered, want 2", delivered)
	}
}

// The state kept from one invocation for the next must not carry its
// answer along: a batch whose messages failed is followed by one that
// fails for none, then by an EventBridge event, then by the first batch
// again.
func TestHandlerReusedStateAnswersEachInvocationAlone(t *testing.T) {
	ok := string(sample(t, "invoke-model-allowed-sonnet.json"))
	failing := true
	sink := &recordingSink{err: func(b *detector.Batch) error {
		if !failing {
			return nil
		}
		var ids []string
		for _, e := range b.Events {
			ids = append(ids, e.Origin.MessageID)
		}
		return &detector.PartialFailure{MessageIDs: ids, Err: errors.New("sns down")}
	}}
	h := newHandler(sink)
	ctx := context.Background()
	batch := sqsEvent(t, ok, "{not json", ok)
	resp, err := h.Handle(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failures(resp), []string{"msg-a", "msg-b", "msg-c"}; !slices.Equal(got, want) {
		t.Fatalf("first batch failures %q, want %q", got, want)
	}
	failing = false
	resp, err = h.Handle(ctx, sqsEvent(t, ok, ok))
	if err != nil {
		t.Fatal(err)
	}
	if got := failures(resp); len(got) != 0 {
		t.Errorf("second batch failures %q, want none: the first invocation's answer leaked", got)
	}
	out, err := h.InvokeReader(ctx, bytes.NewReader(sample(t, "invoke-model-allowed-sonnet.json")))
	if err != nil || string(out) != "null" {
		t.Errorf("EventBridge invocation answered %q, %v; want null, nil", out, err)
	}
	resp, err = h.Handle(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failures(resp), []string{"msg-b"}; !slices.Equal(got, want) {
		t.Errorf("third batch failures %q, want %q", got, want)
	}
}

// A direct (EventBridge) invocation of one benign event costs the record's
// own allocations (its bytes and its boxed parts) and nothing per
// invocation: the decoder's run, the handler's state and its answer are
// reused.
func TestInvokeReaderOneEventAllocations(t *testing.T) {
	h := newHandler(sinkFunc(func(*detector.Batch) {}))
	ev := sample(t, "invoke-model-allowed-sonnet.json")
	ctx := context.Background()
	var r bytes.Reader
	allocs := testing.AllocsPerRun(200, func() {
		r.Reset(ev)
		if out, err := h.InvokeReader(ctx, &r); err != nil || string(out) != "null" {
			t.Fatalf("answered %q, %v", out, err)
		}
	})
	if allocs > 2 && !raceEnabled {
		t.Errorf("%.1f allocations per one-event invocation, want at most 2 (the record's own)", allocs)
	}
}
