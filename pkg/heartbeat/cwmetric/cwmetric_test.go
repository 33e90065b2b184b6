package cwmetric

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

type fakeAPI struct {
	pages []*cloudwatch.GetMetricDataOutput
	ins   []cloudwatch.GetMetricDataInput
	err   error
}

func (f *fakeAPI) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	f.ins = append(f.ins, *in)
	if f.err != nil {
		return nil, f.err
	}
	p := f.pages[0]
	f.pages = f.pages[1:]
	return p, nil
}

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func page(next string, pts ...any) *cloudwatch.GetMetricDataOutput {
	r := types.MetricDataResult{Id: aws.String("processed")}
	for i := 0; i < len(pts); i += 2 {
		r.Timestamps = append(r.Timestamps, pts[i].(time.Time))
		r.Values = append(r.Values, pts[i+1].(float64))
	}
	out := &cloudwatch.GetMetricDataOutput{MetricDataResults: []types.MetricDataResult{r}}
	if next != "" {
		out.NextToken = aws.String(next)
	}
	return out
}

func TestLastProcessedSkipsZeroesAndPages(t *testing.T) {
	api := &fakeAPI{pages: []*cloudwatch.GetMetricDataOutput{
		page("n1", t0.Add(-time.Minute), 0.0, t0.Add(-2*time.Minute), 0.0),
		page("n2", t0.Add(-40*time.Minute), 3.0, t0.Add(-41*time.Minute), 1.0),
		page("", t0.Add(-50*time.Minute), 9.0),
	}}
	r := New(api, "")
	got, err := r.LastProcessed(context.Background(), t0.Add(-25*time.Hour), t0)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(-39 * time.Minute); !got.Equal(want) {
		t.Fatalf("last processed %v, want %v (end of the newest non-zero minute)", got, want)
	}
	if len(api.ins) != 2 || aws.ToString(api.ins[1].NextToken) != "n1" {
		t.Fatalf("pages read %d", len(api.ins))
	}
	q := api.ins[0].MetricDataQueries[0]
	if aws.ToString(q.MetricStat.Metric.Namespace) != "BedrockWarden" || aws.ToString(q.MetricStat.Metric.MetricName) != "EventsProcessed" ||
		len(q.MetricStat.Metric.Dimensions) != 0 || aws.ToString(q.MetricStat.Stat) != "Sum" || aws.ToInt32(q.MetricStat.Period) != 60 ||
		api.ins[0].ScanBy != types.ScanByTimestampDescending {
		t.Fatalf("query %+v", q.MetricStat)
	}
}

func TestLastProcessedNoneAndErrors(t *testing.T) {
	api := &fakeAPI{pages: []*cloudwatch.GetMetricDataOutput{page("", t0.Add(-time.Minute), 0.0)}}
	got, err := New(api, "Custom").LastProcessed(context.Background(), t0.Add(-time.Hour), t0)
	if err != nil || !got.IsZero() {
		t.Fatalf("got %v, %v; want zero time", got, err)
	}
	if aws.ToString(api.ins[0].MetricDataQueries[0].MetricStat.Metric.Namespace) != "Custom" {
		t.Fatal("namespace not used")
	}
	api = &fakeAPI{err: errors.New("AccessDenied")}
	if _, err := New(api, "").LastProcessed(context.Background(), t0.Add(-time.Hour), t0); err == nil {
		t.Fatal("error swallowed")
	}
	// Long lookbacks read hourly data.
	api = &fakeAPI{pages: []*cloudwatch.GetMetricDataOutput{page("")}}
	_, _ = New(api, "").LastProcessed(context.Background(), t0.Add(-30*24*time.Hour), t0)
	if p := aws.ToInt32(api.ins[0].MetricDataQueries[0].MetricStat.Period); p != 3600 {
		t.Fatalf("period %d for a 30-day lookback", p)
	}
}
