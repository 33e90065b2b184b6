// Package cwmetric reads the detector's EventsProcessed metric from
// CloudWatch (GetMetricData) for the heartbeat: when did the detector last
// process a Bedrock event?
package cwmetric

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/bedrock-warden/warden/pkg/metrics"
)

// API is the CloudWatch operation the reader calls.
type API interface {
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// Reader reads EventsProcessed (no dimensions: the detector publishes it
// per batch without any) in one namespace.
type Reader struct {
	api       API
	namespace string
}

// New returns a Reader on namespace (metrics.DefaultNamespace when empty).
func New(api API, namespace string) *Reader {
	if namespace == "" {
		namespace = metrics.DefaultNamespace
	}
	return &Reader{api: api, namespace: namespace}
}

// NewFromConfig builds the CloudWatch client from cfg; optFns are applied
// last (tests select a protocol their peer speaks).
func NewFromConfig(cfg aws.Config, namespace string, optFns ...func(*cloudwatch.Options)) *Reader {
	return New(cloudwatch.NewFromConfig(cfg, optFns...), namespace)
}

// period returns the aggregation period for a lookback: one minute while
// CloudWatch keeps one-minute data (15 days), one hour beyond.
func period(lookback time.Duration) time.Duration {
	if lookback <= 14*24*time.Hour {
		return time.Minute
	}
	return time.Hour
}

// LastProcessed returns the end of the newest period in [start, end] whose
// EventsProcessed sum is above zero, or the zero time when there is none.
func (r *Reader) LastProcessed(ctx context.Context, start, end time.Time) (time.Time, error) {
	p := period(end.Sub(start))
	in := &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(start.Truncate(p)),
		EndTime:   aws.Time(end),
		ScanBy:    types.ScanByTimestampDescending,
		MetricDataQueries: []types.MetricDataQuery{{
			Id: aws.String("processed"),
			MetricStat: &types.MetricStat{
				Metric: &types.Metric{Namespace: aws.String(r.namespace), MetricName: aws.String(metrics.EventsProcessed)},
				Period: aws.Int32(int32(p / time.Second)),
				Stat:   aws.String("Sum"),
			},
			ReturnData: aws.Bool(true),
		}},
	}
	var latest time.Time
	for {
		out, err := r.api.GetMetricData(ctx, in)
		if err != nil {
			return time.Time{}, fmt.Errorf("cloudwatch GetMetricData %s/%s: %w", r.namespace, metrics.EventsProcessed, err)
		}
		for _, res := range out.MetricDataResults {
			for i, ts := range res.Timestamps {
				if i < len(res.Values) && res.Values[i] > 0 {
					if t := ts.Add(p).UTC(); t.After(latest) {
						latest = t
					}
				}
			}
		}
		// Timestamps come newest first: once one is found, older pages
		// cannot hold a later one.
		if !latest.IsZero() || out.NextToken == nil || *out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	if latest.After(end) {
		latest = end
	}
	return latest, nil
}
