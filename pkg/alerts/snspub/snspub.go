// Package snspub publishes alert messages to an SNS topic with
// PublishBatch: at most 10 entries and 256 KiB a call, every entry's
// outcome checked.
package snspub

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/bedrock-warden/warden/pkg/alerts"
)

// API is the part of the SNS client the publisher uses.
type API interface {
	PublishBatch(ctx context.Context, in *sns.PublishBatchInput, opts ...func(*sns.Options)) (*sns.PublishBatchOutput, error)
}

// Limits of one PublishBatch call.
const (
	MaxBatchEntries = 10
	MaxBatchBytes   = alerts.MaxMessageBytes
)

// Publisher publishes to one topic.
type Publisher struct {
	client API
	topic  string
}

// New returns a Publisher for topicARN.
func New(client API, topicARN string) *Publisher { return &Publisher{client: client, topic: topicARN} }

// NewFromConfig builds the SNS client from cfg (optFns tune it, e.g. for
// tests) and returns a Publisher for topicARN.
func NewFromConfig(cfg aws.Config, topicARN string, optFns ...func(*sns.Options)) *Publisher {
	return New(sns.NewFromConfig(cfg, optFns...), topicARN)
}

// EntryError is the failure SNS reported for one batch entry.
type EntryError struct {
	Code        string
	Message     string
	SenderFault bool
}

func (e *EntryError) Error() string {
	who := "server"
	if e.SenderFault {
		who = "sender"
	}
	return fmt.Sprintf("sns rejected entry (%s fault): %s: %s", who, e.Code, e.Message)
}

// Publish sends msgs and returns one error per message (nil: published),
// in msgs' order. A whole-call failure (after the SDK's retries) is that
// error for every message of the call.
func (p *Publisher) Publish(ctx context.Context, msgs []alerts.Message) []error {
	errs := make([]error, len(msgs))
	if p.topic == "" {
		for i := range errs {
			errs[i] = errors.New("sns publish: no topic ARN configured")
		}
		return errs
	}
	for _, group := range batches(msgs) {
		entries := make([]types.PublishBatchRequestEntry, len(group))
		for j, i := range group {
			m := &msgs[i]
			attrs := make(map[string]types.MessageAttributeValue, len(m.Attributes))
			for k, v := range m.Attributes {
				attrs[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
			}
			entries[j] = types.PublishBatchRequestEntry{
				Id:                aws.String("m" + strconv.Itoa(j)),
				Message:           aws.String(m.Body),
				MessageAttributes: attrs,
			}
			if m.Subject != "" {
				entries[j].Subject = aws.String(m.Subject)
			}
		}
		out, err := p.client.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: aws.String(p.topic), PublishBatchRequestEntries: entries})
		if err != nil {
			for _, i := range group {
				errs[i] = fmt.Errorf("sns publish batch to %s: %w", p.topic, err)
			}
			continue
		}
		ok := map[string]bool{}
		for _, s := range out.Successful {
			ok[aws.ToString(s.Id)] = true
		}
		failed := map[string]*EntryError{}
		for _, f := range out.Failed {
			failed[aws.ToString(f.Id)] = &EntryError{Code: aws.ToString(f.Code), Message: aws.ToString(f.Message), SenderFault: f.SenderFault}
		}
		for j, i := range group {
			id := "m" + strconv.Itoa(j)
			switch {
			case failed[id] != nil:
				errs[i] = fmt.Errorf("sns publish %s: %w", msgs[i].Fingerprint, failed[id])
			case !ok[id]:
				errs[i] = fmt.Errorf("sns publish %s: entry %s neither successful nor failed in the response", msgs[i].Fingerprint, id)
			}
		}
	}
	return errs
}

// batches groups message indexes into calls of at most MaxBatchEntries
// entries and MaxBatchBytes total.
func batches(msgs []alerts.Message) [][]int {
	var out [][]int
	var cur []int
	size := 0
	for i := range msgs {
		n := msgs[i].Size()
		if len(cur) == MaxBatchEntries || (len(cur) > 0 && size+n > MaxBatchBytes) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, i)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}
