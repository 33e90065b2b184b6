// Package sqspub keeps the log events the usage function rejects: it sends
// each, as a usage.Rejected (where it came from and why, never its
// content), to the function's dead-letter queue, so a person can look at
// what was not counted.
package sqspub

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/bedrock-warden/warden/pkg/usage"
)

// maxBatch is SendMessageBatch's limit of entries.
const maxBatch = 10

// API is the part of the SQS client DeadLetters uses.
type API interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// DeadLetters sends rejected events to one queue.
type DeadLetters struct {
	client API
	queue  string
}

var _ usage.DeadLetters = (*DeadLetters)(nil)

// New returns DeadLetters sending to the queue at queueURL.
func New(cfg aws.Config, queueURL string, opts ...func(*sqs.Options)) *DeadLetters {
	return &DeadLetters{client: sqs.NewFromConfig(cfg, opts...), queue: queueURL}
}

// NewFromClient returns DeadLetters on client.
func NewFromClient(client API, queueURL string) *DeadLetters {
	return &DeadLetters{client: client, queue: queueURL}
}

// Send implements usage.DeadLetters: one JSON message per rejected event,
// ten to a SendMessageBatch. Any entry that fails fails the call (the
// batch is retried; a duplicate dead letter is harmless).
func (d *DeadLetters) Send(ctx context.Context, rs []usage.Rejected) error {
	for i := 0; i < len(rs); i += maxBatch {
		chunk := rs[i:min(i+maxBatch, len(rs))]
		entries := make([]types.SendMessageBatchRequestEntry, len(chunk))
		for j, r := range chunk {
			body, err := json.Marshal(struct {
				Kind string `json:"kind"`
				usage.Rejected
			}{"bedrock-warden/usage-rejected-event", r})
			if err != nil {
				return fmt.Errorf("sqspub: %w", err)
			}
			entries[j] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), MessageBody: aws.String(string(body))}
		}
		out, err := d.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(d.queue), Entries: entries})
		if err != nil {
			return fmt.Errorf("sqspub: send %d dead letters: %w", len(entries), err)
		}
		if len(out.Failed) > 0 {
			f := out.Failed[0]
			return fmt.Errorf("sqspub: %d of %d dead letters not sent (%s: %s)", len(out.Failed), len(entries), aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	return nil
}
