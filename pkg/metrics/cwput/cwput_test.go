package cwput_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/bedrock-warden/warden/pkg/metrics"
	"github.com/bedrock-warden/warden/pkg/metrics/cwput"
)

type fakeCW struct {
	calls []*cloudwatch.PutMetricDataInput
	err   error
}

func (f *fakeCW) PutMetricData(_ context.Context, in *cloudwatch.PutMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	f.calls = append(f.calls, in)
	return &cloudwatch.PutMetricDataOutput{}, f.err
}

var ts = time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)

func TestFoldUsesValuesAndCounts(t *testing.T) {
	dim := metrics.Dimension{Name: "Rule", Value: "r"}
	ds := []metrics.Datum{
		{Name: "Findings", Unit: "Count", Dimensions: []metrics.Dimension{dim}, Value: 1},
		{Name: "Findings", Unit: "Count", Dimensions: []metrics.Dimension{dim}, Value: 1},
		{Name: "Findings", Unit: "Count", Dimensions: []metrics.Dimension{dim}, Value: 4},
		{Name: "EventsProcessed", Unit: "Count", Value: 9},
	}
	out := cwput.Fold(ts, ds)
	if len(out) != 2 {
		t.Fatalf("%d datums, want 2", len(out))
	}
	f := out[0]
	if aws.ToString(f.MetricName) != "Findings" || fmt.Sprint(f.Values) != "[1 4]" || fmt.Sprint(f.Counts) != "[2 1]" ||
		aws.ToString(f.Dimensions[0].Value) != "r" || !aws.ToTime(f.Timestamp).Equal(ts) || f.Unit != "Count" {
		t.Errorf("folded = %+v", f)
	}
}

func TestPutChunksAtOneThousandDatums(t *testing.T) {
	api := &fakeCW{}
	var ds []metrics.Datum
	for i := range 2500 {
		ds = append(ds, metrics.Datum{Name: "Invocations", Unit: "Count", Value: 1,
			Dimensions: []metrics.Dimension{{Name: "Model", Value: fmt.Sprintf("m%d", i)}}})
	}
	if err := cwput.New(api, "").Put(t.Context(), ts, ds); err != nil {
		t.Fatal(err)
	}
	if len(api.calls) != 3 || len(api.calls[0].MetricData) != 1000 || len(api.calls[2].MetricData) != 500 {
		t.Fatalf("calls = %d", len(api.calls))
	}
	if aws.ToString(api.calls[0].Namespace) != metrics.DefaultNamespace {
		t.Errorf("namespace = %q", aws.ToString(api.calls[0].Namespace))
	}
	boom := errors.New("throttled for good")
	if err := cwput.New(&fakeCW{err: boom}, "X").Put(t.Context(), ts, ds[:1]); !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
}
