// Package sqstap subscribes a temporary SQS queue to the alert topic, so
// that `warden selftest` sees the alert arrive as any subscriber would
// (selftest.Tap). The subscription carries no filter policy: SNS takes up
// to 15 minutes to apply one, so the self-test matches its alert by
// fingerprint instead. Close unsubscribes and deletes the queue.
package sqstap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/bedrock-warden/warden/pkg/selftest"
)

// SNSAPI and SQSAPI are the calls this package makes; the SDK clients
// satisfy them.
type SNSAPI interface {
	ConfirmSubscription(ctx context.Context, in *sns.ConfirmSubscriptionInput, opts ...func(*sns.Options)) (*sns.ConfirmSubscriptionOutput, error)
	Subscribe(ctx context.Context, in *sns.SubscribeInput, opts ...func(*sns.Options)) (*sns.SubscribeOutput, error)
	Unsubscribe(ctx context.Context, in *sns.UnsubscribeInput, opts ...func(*sns.Options)) (*sns.UnsubscribeOutput, error)
}

// SQSAPI is the SQS part.
type SQSAPI interface {
	CreateQueue(ctx context.Context, in *sqs.CreateQueueInput, opts ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	SetQueueAttributes(ctx context.Context, in *sqs.SetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.SetQueueAttributesOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	DeleteQueue(ctx context.Context, in *sqs.DeleteQueueInput, opts ...func(*sqs.Options)) (*sqs.DeleteQueueOutput, error)
}

// Tap implements selftest.Tap.
type Tap struct {
	SNS SNSAPI
	SQS SQSAPI
}

var _ selftest.Tap = Tap{}

// New returns a Tap over the SDK clients built from cfg.
func New(cfg aws.Config) Tap {
	return Tap{SNS: sns.NewFromConfig(cfg), SQS: sqs.NewFromConfig(cfg)}
}

// Open creates queue name (SSE-SQS, retention one hour) whose policy lets
// only topic send to it, and subscribes it to topic.
func (t Tap) Open(ctx context.Context, topic, name string) (selftest.Subscription, error) {
	q, err := t.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{
		string(sqstypes.QueueAttributeNameMessageRetentionPeriod): "3600",
		string(sqstypes.QueueAttributeNameSqsManagedSseEnabled):   "true",
	}})
	if err != nil {
		return nil, fmt.Errorf("sqs CreateQueue %s: %w", name, err)
	}
	s := &subscription{tap: t, queueURL: aws.ToString(q.QueueUrl)}
	attrs, err := t.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sqs GetQueueAttributes %s: %w", name, err), s.Close(ctx))
	}
	queueARN := attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	policy, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid": "AlertTopicOnly", "Effect": "Allow", "Principal": map[string]any{"Service": "sns.amazonaws.com"},
			"Action": "sqs:SendMessage", "Resource": queueARN,
			"Condition": map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": topic}},
		}},
	})
	if _, err := t.SQS.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(s.queueURL),
		Attributes: map[string]string{string(sqstypes.QueueAttributeNamePolicy): string(policy)}}); err != nil {
		return nil, errors.Join(fmt.Errorf("sqs SetQueueAttributes %s (policy): %w", name, err), s.Close(ctx))
	}
	sub, err := t.SNS.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("sqs"),
		Endpoint: aws.String(queueARN), ReturnSubscriptionArn: true})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sns Subscribe %s to %s: %w", name, topic, err), s.Close(ctx))
	}
	s.arn = aws.ToString(sub.SubscriptionArn)
	return s, nil
}

type subscription struct {
	tap      Tap
	queueURL string
	arn      string
}

func (s *subscription) ARN() string { return s.arn }

// notification is the SNS envelope SQS receives (raw delivery off).
type notification struct {
	Type              string
	Token             string
	TopicArn          string
	Subject           string
	Message           string
	MessageAttributes map[string]struct {
		Type  string
		Value string
	}
}

// Receive long-polls the queue (at most 20 s a call) and deletes what it
// read.
func (s *subscription) Receive(ctx context.Context, wait time.Duration) ([]selftest.Message, error) {
	secs := int32(min(wait, 20*time.Second) / time.Second)
	out, err := s.tap.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.queueURL),
		MaxNumberOfMessages: 10, WaitTimeSeconds: max(secs, 1)})
	if err != nil {
		return nil, fmt.Errorf("sqs ReceiveMessage: %w", err)
	}
	var msgs []selftest.Message
	for _, m := range out.Messages {
		var n notification
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &n); err == nil && n.Type == "SubscriptionConfirmation" {
			// Same-account SQS subscriptions are usually confirmed at
			// once; when SNS asks, confirm.
			if _, err := s.tap.SNS.ConfirmSubscription(ctx, &sns.ConfirmSubscriptionInput{TopicArn: aws.String(n.TopicArn), Token: aws.String(n.Token)}); err != nil {
				return nil, fmt.Errorf("sns ConfirmSubscription: %w", err)
			}
		} else if err == nil {
			attrs := map[string]string{}
			for k, v := range n.MessageAttributes {
				attrs[k] = v.Value
			}
			msgs = append(msgs, selftest.Message{Subject: n.Subject, Body: n.Message, Attributes: attrs})
		}
		_, _ = s.tap.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(s.queueURL), ReceiptHandle: m.ReceiptHandle})
	}
	return msgs, nil
}

// Close unsubscribes and deletes the queue; both are attempted.
func (s *subscription) Close(ctx context.Context) error {
	var errs []error
	if s.arn != "" {
		if _, err := s.tap.SNS.Unsubscribe(ctx, &sns.UnsubscribeInput{SubscriptionArn: aws.String(s.arn)}); err != nil {
			errs = append(errs, fmt.Errorf("sns Unsubscribe %s: %w", s.arn, err))
		}
	}
	if _, err := s.tap.SQS.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(s.queueURL)}); err != nil {
		errs = append(errs, fmt.Errorf("sqs DeleteQueue %s: %w", s.queueURL, err))
	}
	return errors.Join(errs...)
}
