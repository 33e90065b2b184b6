package logsrc

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/usage"
	"github.com/bedrock-warden/warden/pkg/usage/memstore"
)

// controlPayload is a CONTROL_MESSAGE as CloudWatch Logs sends it when a
// subscription is put (shape: the message type, owner "CloudwatchLogs",
// a log group and stream, one event whose message says it is a check).
const controlPayload = `{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"",` +
	`"subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1732442297000,"message":"CWL CONTROL MESSAGE: Checking health of destination Lambda function."}]}`

func gz(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

func TestDecodeRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 24, 9, 58, 17, 123e6, time.UTC)
	in := usage.Batch{LogGroup: "/aws/bedrock/invocations", LogStream: "aws/bedrock/modelinvocations",
		Events: []usage.Event{{ID: "38000000000000000000000000000000000000000000000000000000", Time: at, Message: `{"a":1}`}}}
	ev, err := Encode(in, DataMessage, "123456789012", "usage")
	if err != nil {
		t.Fatal(err)
	}
	out, control, err := Decode(ev)
	if err != nil || control || out.LogGroup != in.LogGroup || out.LogStream != in.LogStream || len(out.Events) != 1 ||
		out.Events[0] != in.Events[0] {
		t.Fatalf("decode = %+v %v %v", out, control, err)
	}
	_, control, err = Decode(events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: gz(t, controlPayload)}})
	if err != nil || !control {
		t.Errorf("control message: %v %v", control, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	var bomb bytes.Buffer
	w := gzip.NewWriter(&bomb)
	zeros := make([]byte, 1<<20)
	for range MaxDecoded/len(zeros) + 1 {
		w.Write(zeros)
	}
	w.Close()
	for name, data := range map[string]string{
		"empty":        "",
		"not base64":   "%%%",
		"not gzip":     base64.StdEncoding.EncodeToString([]byte("SECRET-PROMPT")),
		"not json":     gz(t, "SECRET-PROMPT"),
		"unknown type": gz(t, `{"messageType":"SECRET_MESSAGE","logEvents":[]}`),
		"gzip bomb":    base64.StdEncoding.EncodeToString(bomb.Bytes()),
	} {
		_, _, err := Decode(events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: data}})
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "SECRET-PROMPT") {
			t.Errorf("%s: error quotes the content: %v", name, err)
		}
	}
}

type notes struct{ got []findings.Finding }

func (n *notes) Notify(_ context.Context, fs []findings.Finding) error {
	n.got = append(n.got, fs...)
	return nil
}

func TestHandlerMetersDataAndAcknowledgesControl(t *testing.T) {
	p, _ := policy.Load("t", []byte("limits:\n  - {name: l, period: day, maxTokens: 10}\n"))
	store, n := memstore.New(), &notes{}
	h := Handler{Meter: &usage.Meter{Policy: p, Store: store, Marks: store, Notifier: n, Metrics: io.Discard,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	ctl := events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: gz(t, controlPayload)}}
	if err := h.Handle(context.Background(), ctl); err != nil || store.Adds != 0 {
		t.Fatalf("control: %v, %d writes", err, store.Adds)
	}
	rec := `{"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"2026-11-24T09:58:17Z","accountId":"123456789012",` +
		`"identity":{"arn":"arn:aws:iam::123456789012:user/dev"},"region":"us-east-1","requestId":"r1","operation":"InvokeModel",` +
		`"modelId":"amazon.nova-micro-v1:0","input":{"inputTokenCount":9},"output":{"outputTokenCount":2}}`
	ev, _ := Encode(usage.Batch{Events: []usage.Event{{ID: "1", Message: rec}}}, DataMessage, "123456789012", "usage")
	if err := h.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if len(n.got) != 1 || n.got[0].Rule != findings.RuleLimitExceeded {
		t.Errorf("findings = %+v", n.got)
	}
	if err := h.Handle(context.Background(), events.CloudwatchLogsEvent{}); err == nil {
		t.Error("an event without data must fail")
	}
}
