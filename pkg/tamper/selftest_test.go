package tamper_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/tamper"
)

type memMarks struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (m *memMarks) Mark(_ context.Context, arn string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]time.Time{}
	}
	m.m[arn] = until
	return nil
}

func (m *memMarks) Marked(_ context.Context, arn string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.m[arn]
	return ok, nil
}

type collect struct{ got []findings.Finding }

func (c *collect) Notify(_ context.Context, fs []findings.Finding) error {
	c.got = append(c.got, fs...)
	return nil
}

const topic = "arn:aws:sns:us-east-1:111122223333:warden-alerts"

func snsEvent(name string, req, resp map[string]any) []byte {
	detail, _ := json.Marshal(map[string]any{
		"eventVersion": "1.09", "eventSource": "sns.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
		"eventTime": "2026-11-20T10:00:00Z", "eventID": name + "-1", "eventType": "AwsApiCall", "recipientAccountId": "111122223333",
		"userIdentity":      map[string]any{"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/oncall", "accountId": "111122223333"},
		"requestParameters": req, "responseElements": resp,
	})
	ev, _ := json.Marshal(map[string]any{"version": "0", "id": "e", "detail-type": "AWS API Call via CloudTrail", "source": "aws.sns",
		"account": "111122223333", "region": "us-east-1", "time": "2026-11-20T10:00:00Z", "detail": json.RawMessage(detail)})
	return ev
}

// TestSelfTestSubscriptionsAreNotTampering: the self-test's own
// subscription may be removed quietly; any other Unsubscribe from the
// alert topic is still reported, and so is one whose queue merely looks
// like another stack's self-test queue.
func TestSelfTestSubscriptionsAreNotTampering(t *testing.T) {
	marks, out := &memMarks{}, &collect{}
	h := &tamper.Handler{Policy: policy.Default(), Stack: tamper.Stack{Name: "bw", TopicARN: topic}, Notifier: out, Marks: marks}
	ctx := context.Background()
	selftestSub := topic + ":11111111-1111-1111-1111-111111111111"
	otherSub := topic + ":22222222-2222-2222-2222-222222222222"
	for _, ev := range [][]byte{
		snsEvent("Subscribe", map[string]any{"topicArn": topic, "protocol": "sqs", "endpoint": "arn:aws:sqs:us-east-1:111122223333:bw-selftest-ab12cd34ef56"},
			map[string]any{"subscriptionArn": selftestSub}),
		snsEvent("Subscribe", map[string]any{"topicArn": topic, "protocol": "sqs", "endpoint": "arn:aws:sqs:us-east-1:111122223333:other-selftest-1"},
			map[string]any{"subscriptionArn": otherSub}),
	} {
		if err := h.Handle(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if len(out.got) != 0 {
		t.Fatalf("a Subscribe was reported: %+v", out.got)
	}
	if ok, _ := marks.Marked(ctx, otherSub); ok {
		t.Fatal("a queue of another stack's name was marked")
	}
	if err := h.Handle(ctx, snsEvent("Unsubscribe", map[string]any{"subscriptionArn": selftestSub}, nil)); err != nil {
		t.Fatal(err)
	}
	if len(out.got) != 0 {
		t.Fatalf("the self-test's unsubscribe was reported: %+v", out.got)
	}
	if err := h.Handle(ctx, snsEvent("Unsubscribe", map[string]any{"subscriptionArn": otherSub}, nil)); err != nil {
		t.Fatal(err)
	}
	if len(out.got) != 1 || out.got[0].Rule != findings.RuleMonitorTampered {
		t.Fatalf("unsubscribing another subscription: %+v", out.got)
	}
	// Without marks, every Unsubscribe is reported.
	h.Marks = nil
	if err := h.Handle(ctx, snsEvent("Unsubscribe", map[string]any{"subscriptionArn": selftestSub}, nil)); err != nil {
		t.Fatal(err)
	}
	if len(out.got) != 2 {
		t.Fatalf("without marks: %d findings", len(out.got))
	}
}
