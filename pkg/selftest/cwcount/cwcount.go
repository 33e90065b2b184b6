// Package cwcount sums a Bedrock Warden finding metric with CloudWatch
// GetMetricData (selftest.Metrics).
package cwcount

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/bedrock-warden/warden/pkg/metrics"
	"github.com/bedrock-warden/warden/pkg/selftest"
)

// API is the CloudWatch call this package makes.
type API interface {
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// Counter implements selftest.Metrics.
type Counter struct {
	API       API
	Namespace string
}

var _ selftest.Metrics = Counter{}

// New returns a Counter over the SDK client built from cfg; opts are
// applied last (tests select the protocol their peer speaks).
func New(cfg aws.Config, opts ...func(*cloudwatch.Options)) Counter {
	return Counter{API: cloudwatch.NewFromConfig(cfg, opts...), Namespace: metrics.DefaultNamespace}
}

// FindingCount sums Findings{Rule, Severity} over [since, until].
func (c Counter) FindingCount(ctx context.Context, rule, severity string, since, until time.Time) (float64, error) {
	out, err := c.API.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(since.Truncate(time.Minute)),
		EndTime:   aws.Time(until),
		MetricDataQueries: []types.MetricDataQuery{{
			Id: aws.String("findings"),
			MetricStat: &types.MetricStat{
				Metric: &types.Metric{
					Namespace:  aws.String(c.Namespace),
					MetricName: aws.String(metrics.Findings),
					Dimensions: []types.Dimension{
						{Name: aws.String(metrics.DimRule), Value: aws.String(rule)},
						{Name: aws.String(metrics.DimSeverity), Value: aws.String(severity)},
					},
				},
				Period: aws.Int32(60),
				Stat:   aws.String("Sum"),
			},
		}},
	})
	if err != nil {
		return 0, fmt.Errorf("cloudwatch GetMetricData %s/%s: %w", c.Namespace, metrics.Findings, err)
	}
	var sum float64
	for _, r := range out.MetricDataResults {
		for _, v := range r.Values {
			sum += v
		}
	}
	return sum, nil
}
