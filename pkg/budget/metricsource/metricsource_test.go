package metricsource

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/bedrock-warden/warden/pkg/budget"
)

// fakeCW is a CloudWatch fake for pure unit tests of the paging logic.
type fakeCW struct {
	models     []string
	listCalls  int
	dataCalls  []int // queries per GetMetricData call
	dataTokens int
}

func (f *fakeCW) ListMetrics(_ context.Context, in *cloudwatch.ListMetricsInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.ListMetricsOutput, error) {
	f.listCalls++
	name := aws.ToString(in.MetricName)
	dim := func(id string) types.Metric {
		return types.Metric{Namespace: in.Namespace, MetricName: aws.String(name),
			Dimensions: []types.Dimension{{Name: aws.String("ModelId"), Value: aws.String(id)}}}
	}
	// Two pages: the first half, then the rest plus noise.
	half := len(f.models) / 2
	if in.NextToken == nil {
		out := &cloudwatch.ListMetricsOutput{NextToken: aws.String("p2")}
		for _, m := range f.models[:half] {
			out.Metrics = append(out.Metrics, dim(m))
		}
		return out, nil
	}
	out := &cloudwatch.ListMetricsOutput{}
	for _, m := range f.models[half:] {
		out.Metrics = append(out.Metrics, dim(m))
	}
	out.Metrics = append(out.Metrics,
		dim(f.models[0]), // duplicate
		types.Metric{MetricName: aws.String(name), Dimensions: []types.Dimension{
			{Name: aws.String("ModelId"), Value: aws.String("stability.sd3")},
			{Name: aws.String("ImageSize"), Value: aws.String("1024")},
		}},
	)
	return out, nil
}

func (f *fakeCW) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	if in.NextToken == nil {
		f.dataCalls = append(f.dataCalls, len(in.MetricDataQueries))
	}
	// Answer half the queries per page, the rest on the next page.
	qs := in.MetricDataQueries
	out := &cloudwatch.GetMetricDataOutput{}
	lo, hi := 0, len(qs)/2
	if in.NextToken != nil {
		lo, hi = len(qs)/2, len(qs)
	} else {
		out.NextToken = aws.String("more")
		f.dataTokens++
	}
	for _, q := range qs[lo:hi] {
		out.MetricDataResults = append(out.MetricDataResults, types.MetricDataResult{
			Id:         q.Id,
			StatusCode: types.StatusCodeComplete,
			Timestamps: []time.Time{*in.StartTime},
			Values:     []float64{1},
		})
	}
	return out, nil
}

func TestReadChunksAt500AndPages(t *testing.T) {
	f := &fakeCW{}
	for i := range 200 {
		f.models = append(f.models, fmt.Sprintf("vendor.model-%03d", i))
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pts, err := New(f).Read(context.Background(), start, start.Add(time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if f.listCalls != 6 {
		t.Errorf("ListMetrics calls = %d, want 2 pages × 3 metrics", f.listCalls)
	}
	if len(f.dataCalls) != 2 || f.dataCalls[0] != 500 || f.dataCalls[1] != 100 {
		t.Errorf("GetMetricData query counts = %v, want [500 100]", f.dataCalls)
	}
	if len(pts) != 600 {
		t.Fatalf("datapoints = %d, want 600 (200 models × 3 metrics, no duplicates, no multi-dimension series)", len(pts))
	}
	seen := map[string]bool{}
	for _, p := range pts {
		k := p.Metric + "|" + p.ModelID
		if seen[k] || strings.HasPrefix(p.ModelID, "stability") {
			t.Fatalf("unexpected datapoint %+v", p)
		}
		seen[k] = true
	}
	for _, m := range []string{budget.MetricInvocations, budget.MetricInputTokens, budget.MetricOutputTokens} {
		if !seen[m+"|vendor.model-199"] {
			t.Errorf("missing %s for the last model", m)
		}
	}
}

func TestReadRejectsBadIntervals(t *testing.T) {
	s := New(&fakeCW{})
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.Read(context.Background(), at, at, time.Hour); err == nil {
		t.Error("empty interval accepted")
	}
	if _, err := s.Read(context.Background(), at, at.Add(time.Hour), 90*time.Second); err == nil {
		t.Error("period 90s accepted")
	}
}

func TestWithQueryProtocolSetsProtocol(t *testing.T) {
	var o cloudwatch.Options
	WithQueryProtocol()(&o)
	if o.Protocol == nil || o.Protocol.ID().Name != "awsQuery" {
		t.Fatalf("protocol = %v", o.Protocol)
	}
}
