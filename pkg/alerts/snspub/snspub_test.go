package snspub_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/bedrock-warden/warden/pkg/alerts"
	"github.com/bedrock-warden/warden/pkg/alerts/snspub"
)

// fakeSNS answers PublishBatch: entries whose body contains "reject" fail,
// callErr fails whole calls.
type fakeSNS struct {
	calls   []*sns.PublishBatchInput
	callErr error
}

func (f *fakeSNS) PublishBatch(_ context.Context, in *sns.PublishBatchInput, _ ...func(*sns.Options)) (*sns.PublishBatchOutput, error) {
	f.calls = append(f.calls, in)
	if f.callErr != nil {
		return nil, f.callErr
	}
	out := &sns.PublishBatchOutput{}
	for _, e := range in.PublishBatchRequestEntries {
		if strings.Contains(aws.ToString(e.Message), "reject") {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InvalidParameter"), Message: aws.String("bad"), SenderFault: true})
			continue
		}
		out.Successful = append(out.Successful, types.PublishBatchResultEntry{Id: e.Id, MessageId: aws.String("mid")})
	}
	return out, nil
}

func msg(body string) alerts.Message {
	return alerts.Message{Subject: "[HIGH] x", Body: body, Fingerprint: body[:min(8, len(body))],
		Attributes: map[string]string{"severity": "high", "rule": "x"}}
}

func TestPublishBatchesOfTenAndMapsEntryFailures(t *testing.T) {
	api := &fakeSNS{}
	p := snspub.New(api, "arn:aws:sns:us-east-1:111122223333:alerts")
	var msgs []alerts.Message
	for i := range 23 {
		body := fmt.Sprintf("message %d", i)
		if i == 4 || i == 17 {
			body = "reject " + body
		}
		msgs = append(msgs, msg(body))
	}
	errs := p.Publish(t.Context(), msgs)
	if len(api.calls) != 3 {
		t.Fatalf("%d calls, want 3 (10+10+3)", len(api.calls))
	}
	for i, c := range api.calls {
		if n := len(c.PublishBatchRequestEntries); n > snspub.MaxBatchEntries {
			t.Errorf("call %d has %d entries", i, n)
		}
		e := c.PublishBatchRequestEntries[0]
		if aws.ToString(e.Subject) != "[HIGH] x" || aws.ToString(e.MessageAttributes["severity"].DataType) != "String" ||
			aws.ToString(e.MessageAttributes["severity"].StringValue) != "high" {
			t.Errorf("entry = %+v", e)
		}
	}
	for i, err := range errs {
		var ee *snspub.EntryError
		switch i {
		case 4, 17:
			if !errors.As(err, &ee) || ee.Code != "InvalidParameter" || !ee.SenderFault {
				t.Errorf("message %d: %v, want an EntryError", i, err)
			}
		default:
			if err != nil {
				t.Errorf("message %d: %v", i, err)
			}
		}
	}
}

func TestPublishSplitsBySize(t *testing.T) {
	api := &fakeSNS{}
	p := snspub.New(api, "arn:topic")
	big := strings.Repeat("b", 100_000)
	errs := p.Publish(t.Context(), []alerts.Message{msg(big), msg(big), msg(big)})
	if len(api.calls) != 2 {
		t.Fatalf("%d calls for 3×100 KB, want 2 (256 KiB per call)", len(api.calls))
	}
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestPublishWholeCallFailure(t *testing.T) {
	boom := errors.New("connection refused")
	p := snspub.New(&fakeSNS{callErr: boom}, "arn:topic")
	for _, err := range p.Publish(t.Context(), []alerts.Message{msg("a"), msg("b")}) {
		if !errors.Is(err, boom) {
			t.Errorf("err = %v, want the call error", err)
		}
	}
	for _, err := range snspub.New(&fakeSNS{}, "").Publish(t.Context(), []alerts.Message{msg("a")}) {
		if err == nil {
			t.Error("no topic: want an error")
		}
	}
}
