// Package metricsource reads the Amazon Bedrock runtime metrics
// (namespace AWS/Bedrock, metrics Invocations, InputTokenCount and
// OutputTokenCount, dimension ModelId) from CloudWatch for the budget
// checker. It implements budget.Source.
//
// How it reads: ListMetrics (paginated, one listing per metric name,
// filtered on the ModelId dimension) discovers every ModelId value, then
// GetMetricData fetches the Sum of all of them at once: up to 500 queries
// per request, paginated with NextToken. A model used in the period costs no
// extra request until there are more than 500 (model, metric) series.
//
// Why not a SEARCH expression: SEARCH('{AWS/Bedrock,ModelId} …') would make
// it a single GetMetricData in AWS, but moto (the test peer) does not
// evaluate SEARCH, and ListMetrics keeps production and tests on one code
// path. ListMetrics lists metrics that had data in the past two weeks, which
// covers a day; for a monthly budget, a model whose last use was more than
// two weeks ago but within the month would be missed (its usage stopped
// growing, so it cannot newly cross a threshold, but `warden budget status`
// would under-report it).
package metricsource

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/bedrock-warden/warden/pkg/budget"
)

// Namespace is where Amazon Bedrock publishes its runtime metrics.
const Namespace = "AWS/Bedrock"

// DimensionModelID is the dimension that names the model: the identifier
// the caller passed (a model id, a cross-region inference profile id such
// as "us.anthropic.…", or an application inference profile ARN).
const DimensionModelID = "ModelId"

// maxQueries is GetMetricData's limit of queries per request.
const maxQueries = 500

// Metrics are the metric names read, in query order.
var Metrics = []string{budget.MetricInvocations, budget.MetricInputTokens, budget.MetricOutputTokens}

// API is the part of the CloudWatch client the source uses.
type API interface {
	ListMetrics(ctx context.Context, in *cloudwatch.ListMetricsInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.ListMetricsOutput, error)
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// Source is a budget.Source on CloudWatch.
type Source struct {
	client API
}

var _ budget.Source = (*Source)(nil)

// New returns a Source using client.
func New(client API) *Source { return &Source{client: client} }

// NewFromConfig builds the CloudWatch client from cfg with opts (tests pass
// WithQueryProtocol) and returns a Source on it.
func NewFromConfig(cfg aws.Config, opts ...func(*cloudwatch.Options)) *Source {
	return New(cloudwatch.NewFromConfig(cfg, opts...))
}

// WithQueryProtocol makes a CloudWatch client speak the awsQuery protocol
// (form-encoded requests, XML responses) instead of its default, Smithy RPC
// v2 CBOR. moto_server 5.2.1 does not understand CBOR; production keeps the
// default. Usable for any CloudWatch client:
//
//	cloudwatch.NewFromConfig(cfg, metricsource.WithQueryProtocol())
func WithQueryProtocol() func(*cloudwatch.Options) {
	return func(o *cloudwatch.Options) {
		o.Protocol = awsquery.New(schemas.GraniteServiceVersion20100801)
	}
}

type series struct {
	metric  string
	modelID string
}

// Read returns the Sum of Invocations, InputTokenCount and OutputTokenCount
// for every ModelId in [start, end), per bucket of period (a multiple of
// 60 s) aligned on start.
func (s *Source) Read(ctx context.Context, start, end time.Time, period time.Duration) ([]budget.Datapoint, error) {
	if !start.Before(end) {
		return nil, fmt.Errorf("metricsource: empty interval [%s, %s)", start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	secs := int32(period / time.Second)
	if secs < 60 || secs%60 != 0 {
		return nil, fmt.Errorf("metricsource: period %v is not a positive multiple of 60s", period)
	}
	var all []series
	for _, m := range Metrics {
		ids, err := s.modelIDs(ctx, m)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			all = append(all, series{metric: m, modelID: id})
		}
	}
	var out []budget.Datapoint
	for lo := 0; lo < len(all); lo += maxQueries {
		chunk := all[lo:min(lo+maxQueries, len(all))]
		pts, err := s.fetch(ctx, chunk, start, end, secs)
		if err != nil {
			return nil, err
		}
		out = append(out, pts...)
	}
	return out, nil
}

// modelIDs lists the ModelId values metric has, keeping only series whose
// sole dimension is ModelId (per-model totals).
func (s *Source) modelIDs(ctx context.Context, metric string) ([]string, error) {
	p := cloudwatch.NewListMetricsPaginator(s.client, &cloudwatch.ListMetricsInput{
		Namespace:  aws.String(Namespace),
		MetricName: aws.String(metric),
		Dimensions: []types.DimensionFilter{{Name: aws.String(DimensionModelID)}},
	})
	seen := map[string]bool{}
	var ids []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("metricsource: list %s/%s metrics: %w", Namespace, metric, err)
		}
		for _, m := range page.Metrics {
			if len(m.Dimensions) != 1 || aws.ToString(m.Dimensions[0].Name) != DimensionModelID {
				continue
			}
			id := aws.ToString(m.Dimensions[0].Value)
			if id == "" || seen[id] {
				continue
			}
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (s *Source) fetch(ctx context.Context, chunk []series, start, end time.Time, secs int32) ([]budget.Datapoint, error) {
	queries := make([]types.MetricDataQuery, len(chunk))
	byID := make(map[string]series, len(chunk))
	for i, sr := range chunk {
		id := fmt.Sprintf("q%d", i)
		byID[id] = sr
		queries[i] = types.MetricDataQuery{
			Id: aws.String(id),
			MetricStat: &types.MetricStat{
				Metric: &types.Metric{
					Namespace:  aws.String(Namespace),
					MetricName: aws.String(sr.metric),
					Dimensions: []types.Dimension{{Name: aws.String(DimensionModelID), Value: aws.String(sr.modelID)}},
				},
				Period: aws.Int32(secs),
				Stat:   aws.String("Sum"),
			},
			ReturnData: aws.Bool(true),
		}
	}
	p := cloudwatch.NewGetMetricDataPaginator(s.client, &cloudwatch.GetMetricDataInput{
		MetricDataQueries: queries,
		StartTime:         aws.Time(start),
		EndTime:           aws.Time(end),
		ScanBy:            types.ScanByTimestampAscending,
	})
	var out []budget.Datapoint
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("metricsource: get metric data (%d series): %w", len(chunk), err)
		}
		for _, r := range page.MetricDataResults {
			sr, ok := byID[aws.ToString(r.Id)]
			if !ok {
				return nil, fmt.Errorf("metricsource: result for unknown query id %q", aws.ToString(r.Id))
			}
			if r.StatusCode == types.StatusCodeForbidden || r.StatusCode == types.StatusCodeInternalError {
				return nil, fmt.Errorf("metricsource: %s %s: status %s", sr.metric, sr.modelID, r.StatusCode)
			}
			if len(r.Timestamps) != len(r.Values) {
				return nil, fmt.Errorf("metricsource: %s %s: %d timestamps for %d values", sr.metric, sr.modelID, len(r.Timestamps), len(r.Values))
			}
			for i, ts := range r.Timestamps {
				out = append(out, budget.Datapoint{ModelID: sr.modelID, Metric: sr.metric, Time: ts.UTC(), Value: r.Values[i]})
			}
		}
	}
	return out, nil
}
