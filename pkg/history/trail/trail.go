// Package trail adapts the AWS SDK CloudTrail client to history.Lookup:
// one LookupEvents call filtered on one event source, with the SDK's own
// retries turned off so that history's limiter and backoff govern every
// request CloudTrail sees.
package trail

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/bedrock-warden/warden/pkg/history"
)

// lookupAPI is the one CloudTrail operation this adapter calls.
type lookupAPI interface {
	LookupEvents(ctx context.Context, in *cloudtrail.LookupEventsInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.LookupEventsOutput, error)
}

// Client is a history.Lookup over CloudTrail in one Region.
type Client struct {
	api    lookupAPI
	region string
}

// New returns a Client for region, built from cfg with the SDK retryer
// reduced to one attempt (history retries). optFns are applied last.
func New(cfg aws.Config, region string, optFns ...func(*cloudtrail.Options)) *Client {
	opts := append([]func(*cloudtrail.Options){func(o *cloudtrail.Options) {
		o.Region = region
		o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 1)
		o.RetryMaxAttempts = 1
	}}, optFns...)
	return &Client{api: cloudtrail.NewFromConfig(cfg, opts...), region: region}
}

// Factory returns a function giving a Client per Region, for
// history.Scanner.Lookup.
func Factory(cfg aws.Config, optFns ...func(*cloudtrail.Options)) func(region string) (history.Lookup, error) {
	return func(region string) (history.Lookup, error) {
		return New(cfg, region, optFns...), nil
	}
}

// pageSize is LookupEvents' maximum.
const pageSize = 50

// Lookup makes one LookupEvents call: EventSource = q.Source, StartTime and
// EndTime from q, NextToken q.Token. Throttling errors wrap
// history.ErrThrottled; errors the SDK deems retryable wrap
// history.ErrTransient.
func (c *Client) Lookup(ctx context.Context, q history.Query) (history.Page, error) {
	in := &cloudtrail.LookupEventsInput{
		LookupAttributes: []types.LookupAttribute{{
			AttributeKey:   types.LookupAttributeKeyEventSource,
			AttributeValue: aws.String(q.Source),
		}},
		StartTime:  aws.Time(q.Start),
		EndTime:    aws.Time(q.End),
		MaxResults: aws.Int32(pageSize),
	}
	if q.Token != "" {
		in.NextToken = aws.String(q.Token)
	}
	out, err := c.api.LookupEvents(ctx, in)
	if err != nil {
		return history.Page{}, classify(err)
	}
	page := history.Page{Events: make([]history.Event, 0, len(out.Events))}
	for _, e := range out.Events {
		ev := history.Event{
			ID:     aws.ToString(e.EventId),
			Name:   aws.ToString(e.EventName),
			Source: aws.ToString(e.EventSource),
			Region: c.region,
			Record: aws.ToString(e.CloudTrailEvent),
		}
		if e.EventTime != nil {
			ev.Time = e.EventTime.UTC()
		}
		page.Events = append(page.Events, ev)
	}
	page.NextToken = aws.ToString(out.NextToken)
	return page, nil
}

var (
	throttles  = retry.IsErrorThrottles(retry.DefaultThrottles)
	retryables = retry.IsErrorRetryables(retry.DefaultRetryables)
)

func classify(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("cloudtrail LookupEvents: %w", err)
	}
	// An endpoint name that does not resolve will not resolve on a retry:
	// the Region does not exist, or the network has no DNS.
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return fmt.Errorf("cloudtrail LookupEvents: the endpoint %s does not resolve: is the Region right, and enabled for this account? (%w)", dns.Name, err)
	}
	if throttles.IsErrorThrottle(err) == aws.TrueTernary {
		return fmt.Errorf("cloudtrail LookupEvents: %w: %w", history.ErrThrottled, err)
	}
	if retryables.IsErrorRetryable(err) == aws.TrueTernary {
		return fmt.Errorf("cloudtrail LookupEvents: %w: %w", history.ErrTransient, err)
	}
	return fmt.Errorf("cloudtrail LookupEvents: %w", err)
}
