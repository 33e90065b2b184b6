package tamper

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/decode"
)

// `warden selftest` subscribes a temporary SQS queue named
// "<stack>-selftest-<id>" to the alert topic and removes the subscription
// when it is done. Unsubscribe from the alert topic is tampering in
// general (it silences alerts or the remediator), so the sentinel
// remembers the self-test's subscriptions when it sees them created and
// does not report their removal. Only subscriptions made to such a queue
// are remembered: an Unsubscribe of any other subscription (the
// remediator's, e-mail, chat) is still reported.

// SubscriptionMarks remembers self-test subscriptions (package markdb
// keeps them in the state table).
type SubscriptionMarks interface {
	Mark(ctx context.Context, subscriptionARN string, until time.Time) error
	Marked(ctx context.Context, subscriptionARN string) (bool, error)
}

// MarkTTL is how long a self-test subscription is remembered: longer than
// any self-test run.
const MarkTTL = 24 * time.Hour

// SelfTestQueuePrefix starts the name of every self-test queue of stack.
func SelfTestQueuePrefix(stack string) string { return stack + "-selftest-" }

// subscribeRecord is what the sentinel reads from an SNS Subscribe record.
type subscribeRecord struct {
	Request struct {
		TopicArn string `json:"topicArn"`
		Protocol string `json:"protocol"`
		Endpoint string `json:"endpoint"`
	}
	Response struct {
		SubscriptionArn string `json:"subscriptionArn"`
	}
}

// SelfTestSubscription returns the subscription ARN when rec is a
// successful Subscribe of one of s's self-test queues to s's topic.
func (s *Stack) SelfTestSubscription(rec *decode.Record) (string, bool) {
	if rec == nil || s.TopicARN == "" || s.Name == "" || strings.TrimSpace(rec.EventSource) != SourceSNS ||
		strings.TrimSpace(rec.EventName) != "Subscribe" || rec.ErrorCode != "" {
		return "", false
	}
	var r subscribeRecord
	if json.Unmarshal(rec.RequestParameters, &r.Request) != nil || json.Unmarshal(rec.ResponseElements, &r.Response) != nil {
		return "", false
	}
	if r.Request.TopicArn != s.TopicARN || r.Request.Protocol != "sqs" || !strings.HasPrefix(r.Response.SubscriptionArn, s.TopicARN+":") {
		return "", false
	}
	// arn:aws:sqs:region:account:<queue name>
	queue := r.Request.Endpoint[strings.LastIndexByte(r.Request.Endpoint, ':')+1:]
	if !strings.HasPrefix(queue, SelfTestQueuePrefix(s.Name)) {
		return "", false
	}
	return r.Response.SubscriptionArn, true
}

// unsubscribed returns the subscription an Unsubscribe record removed.
func unsubscribed(rec *decode.Record) string {
	if strings.TrimSpace(rec.EventSource) != SourceSNS || strings.TrimSpace(rec.EventName) != "Unsubscribe" {
		return ""
	}
	var req struct {
		SubscriptionArn string `json:"subscriptionArn"`
	}
	_ = json.Unmarshal(rec.RequestParameters, &req)
	return req.SubscriptionArn
}
