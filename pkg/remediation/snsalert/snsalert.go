// Package snsalert publishes the remediator's own alerts (dry-run plans,
// results, refusals with advice, the breaker opening) to the alert topic.
// They carry the message attributes severity, rule, account and region and
// never "remediable", so the remediator's subscription cannot loop.
package snsalert

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/bedrock-warden/warden/pkg/remediation"
)

// API is the part of the SNS client the publisher calls.
type API interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Publisher implements remediation.Alerter.
type Publisher struct {
	API      API
	TopicARN string
}

var _ remediation.Alerter = Publisher{}

// New returns a Publisher over the SDK client built from cfg.
func New(cfg aws.Config, topicARN string, opts ...func(*sns.Options)) Publisher {
	return Publisher{API: sns.NewFromConfig(cfg, opts...), TopicARN: topicARN}
}

// maxSubject is SNS's subject limit.
const maxSubject = 100

// Subject makes s a valid SNS subject: printable ASCII on one line, at
// most 100 characters ("..." marks a cut).
func Subject(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			c = ' '
		}
		b = append(b, c)
	}
	if len(b) > maxSubject {
		b = append(b[:maxSubject-3], "..."...)
	}
	return string(b)
}

// Publish implements remediation.Alerter.
func (p Publisher) Publish(ctx context.Context, a remediation.Alert) error {
	subject := Subject(a.Subject)
	attrs := map[string]types.MessageAttributeValue{}
	for k, v := range map[string]string{"severity": string(a.Severity), "rule": a.Rule, "account": a.Account, "region": a.Region} {
		if v != "" {
			attrs[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	_, err := p.API.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(p.TopicARN), Subject: aws.String(subject), Message: aws.String(a.Message), MessageAttributes: attrs,
	})
	if err != nil {
		return fmt.Errorf("publish remediation alert to %s: %w", p.TopicARN, err)
	}
	return nil
}
