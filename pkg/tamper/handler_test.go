package tamper_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/tamper"
)

type recordingNotifier struct {
	got [][]findings.Finding
	err error
}

func (n *recordingNotifier) Notify(_ context.Context, fs []findings.Finding) error {
	n.got = append(n.got, fs)
	return n.err
}

func envelope(source, name, params string) string {
	return `{"version":"0","id":"x","detail-type":"AWS API Call via CloudTrail","source":"aws.` + source + `","account":"111122223333","time":"2026-11-24T10:00:00Z","region":"us-east-1","resources":[],
"detail":{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDA","arn":"arn:aws:iam::111122223333:user/mallory","accountId":"111122223333","userName":"mallory"},
"eventTime":"2026-11-24T10:00:00Z","eventSource":"` + source + `.amazonaws.com","eventName":"` + name + `","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","requestParameters":` + params + `,"eventID":"id-` + name + `","eventType":"AwsApiCall","recipientAccountId":"111122223333"}}`
}

func quiet() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

func TestHandlerNotifiesStackChanges(t *testing.T) {
	n := &recordingNotifier{}
	h := &tamper.Handler{Policy: testPolicy(t), Stack: stack, Notifier: n, Log: quiet()}
	if err := h.Handle(context.Background(), []byte(envelope("sns", "DeleteTopic", `{"topicArn":"`+stack.TopicARN+`"}`))); err != nil {
		t.Fatal(err)
	}
	if len(n.got) != 1 || len(n.got[0]) != 1 || n.got[0][0].EventID != "id-DeleteTopic" {
		t.Fatalf("notified %+v", n.got)
	}
	// Not the stack's: nothing notified, no error.
	n.got = nil
	if err := h.Handle(context.Background(), []byte(envelope("sns", "DeleteTopic", `{"topicArn":"arn:aws:sns:us-east-1:111122223333:other"}`))); err != nil || n.got != nil {
		t.Fatalf("err %v notified %+v", err, n.got)
	}
}

func TestHandlerFailsLoudly(t *testing.T) {
	n := &recordingNotifier{err: errors.New("sns down")}
	h := &tamper.Handler{Policy: testPolicy(t), Stack: stack, Notifier: n, Log: quiet()}
	err := h.Handle(context.Background(), []byte(envelope("events", "DisableRule", `{"name":"warden-bedrock-events"}`)))
	if err == nil || !strings.Contains(err.Error(), "sns down") {
		t.Fatalf("notifier failure not returned: %v", err)
	}
	n.err = nil
	if err := h.Handle(context.Background(), []byte(`{"detail-type":`)); err == nil {
		t.Fatal("undecodable payload accepted")
	}
}
