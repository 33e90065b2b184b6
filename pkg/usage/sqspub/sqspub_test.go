package sqspub

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/usage"
)

func TestSendAgainstMoto(t *testing.T) {
	srv := motoserver.Start(t)
	cfg := srv.Config(t)
	client := sqs.NewFromConfig(cfg)
	ctx := context.Background()
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("usage-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	var rs []usage.Rejected
	for i := range 13 {
		rs = append(rs, usage.Rejected{LogGroup: "/aws/bedrock/invocations", LogStream: "s", EventID: fmt.Sprint("e", i),
			Time: time.Date(2026, 11, 24, 10, 0, i, 0, time.UTC), Reason: usage.ReasonNotJSON, Error: "not JSON"})
	}
	if err := New(cfg, aws.ToString(q.QueueUrl)).Send(ctx, rs); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 5 {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			var got struct {
				Kind string `json:"kind"`
				usage.Rejected
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &got); err != nil || got.Kind != "bedrock-warden/usage-rejected-event" || got.Reason != usage.ReasonNotJSON {
				t.Fatalf("message %s: %+v %v", aws.ToString(m.Body), got, err)
			}
			seen[got.EventID] = true
		}
	}
	if len(seen) != 13 {
		t.Errorf("received %d distinct dead letters, want 13", len(seen))
	}
}
