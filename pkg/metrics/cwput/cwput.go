// Package cwput sends metric data to CloudWatch with PutMetricData: values
// of the same metric and dimensions folded into Values/Counts arrays, at
// most 1,000 datums per call, throttling retried by the SDK's standard
// retryer.
package cwput

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/bedrock-warden/warden/pkg/metrics"
)

// Limits of PutMetricData.
const (
	MaxDatumsPerCall = 1000
	MaxValuesPerDat  = 150
)

// API is the part of the CloudWatch client the putter uses.
type API interface {
	PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

// Putter publishes to one namespace.
type Putter struct {
	client    API
	namespace string
}

// New returns a Putter on namespace (metrics.DefaultNamespace when empty).
func New(client API, namespace string) *Putter {
	if namespace == "" {
		namespace = metrics.DefaultNamespace
	}
	return &Putter{client: client, namespace: namespace}
}

// MaxAttempts is how often a throttled PutMetricData is tried in all.
const MaxAttempts = 6

// NewFromConfig builds the CloudWatch client from cfg with a standard
// retryer of MaxAttempts (throttling errors back off and retry) and the
// given options applied last (tests select a protocol their peer speaks).
func NewFromConfig(cfg aws.Config, namespace string, optFns ...func(*cloudwatch.Options)) *Putter {
	opts := append([]func(*cloudwatch.Options){func(o *cloudwatch.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = MaxAttempts })
	}}, optFns...)
	return New(cloudwatch.NewFromConfig(cfg, opts...), namespace)
}

// Put sends ds, timestamped ts. Identical metric+dimensions are merged:
// distinct values go to Values with their Counts.
func (p *Putter) Put(ctx context.Context, ts time.Time, ds []metrics.Datum) error {
	data := Fold(ts, ds)
	for start := 0; start < len(data); start += MaxDatumsPerCall {
		chunk := data[start:min(start+MaxDatumsPerCall, len(data))]
		if _, err := p.client.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{
			Namespace: aws.String(p.namespace), MetricData: chunk,
		}); err != nil {
			return fmt.Errorf("cloudwatch PutMetricData (%d datums, namespace %s): %w", len(chunk), p.namespace, err)
		}
	}
	return nil
}

// Fold turns ds into MetricDatum entries with Values/Counts: one entry per
// metric+dimensions (more when over MaxValuesPerDat distinct values).
func Fold(ts time.Time, ds []metrics.Datum) []types.MetricDatum {
	type acc struct {
		d      metrics.Datum
		values []float64
		counts map[float64]float64
	}
	var order []string
	accs := map[string]*acc{}
	for _, d := range ds {
		k := d.Name
		for _, dim := range d.Dimensions {
			k += "\x00" + dim.Name + "\x01" + dim.Value
		}
		a := accs[k]
		if a == nil {
			a = &acc{d: d, counts: map[float64]float64{}}
			accs[k] = a
			order = append(order, k)
		}
		if _, seen := a.counts[d.Value]; !seen {
			a.values = append(a.values, d.Value)
		}
		a.counts[d.Value]++
	}
	var out []types.MetricDatum
	for _, k := range order {
		a := accs[k]
		dims := make([]types.Dimension, len(a.d.Dimensions))
		for i, dim := range a.d.Dimensions {
			dims[i] = types.Dimension{Name: aws.String(dim.Name), Value: aws.String(dim.Value)}
		}
		for start := 0; start < len(a.values); start += MaxValuesPerDat {
			vals := a.values[start:min(start+MaxValuesPerDat, len(a.values))]
			counts := make([]float64, len(vals))
			for i, v := range vals {
				counts[i] = a.counts[v]
			}
			out = append(out, types.MetricDatum{
				MetricName: aws.String(a.d.Name),
				Dimensions: dims,
				Timestamp:  aws.Time(ts),
				Unit:       types.StandardUnit(a.d.Unit),
				Values:     vals,
				Counts:     counts,
			})
		}
	}
	return out
}
