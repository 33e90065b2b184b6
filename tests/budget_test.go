package tests

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/budget"
	"github.com/bedrock-warden/warden/pkg/budget/budgetdb"
	"github.com/bedrock-warden/warden/pkg/budget/metricsource"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// budgetNotifierRecorder keeps what the checker notified.
type budgetNotifierRecorder struct {
	mu  sync.Mutex
	got []findings.Finding
}

func (r *budgetNotifierRecorder) Notify(_ context.Context, fs []findings.Finding) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, fs...)
	return nil
}

// putBedrockMetrics publishes AWS/Bedrock-shaped datapoints (namespace,
// metric names and ModelId dimension as Bedrock publishes them).
func putBedrockMetrics(t *testing.T, cw *cloudwatch.Client, modelID string, at time.Time, invocations, in, out float64) {
	t.Helper()
	dims := []cwtypes.Dimension{{Name: aws.String("ModelId"), Value: aws.String(modelID)}}
	var data []cwtypes.MetricDatum
	for name, v := range map[string]float64{"Invocations": invocations, "InputTokenCount": in, "OutputTokenCount": out} {
		if v == 0 {
			continue
		}
		data = append(data, cwtypes.MetricDatum{MetricName: aws.String(name), Dimensions: dims, Timestamp: aws.Time(at), Value: aws.Float64(v), Unit: cwtypes.StandardUnitCount})
	}
	if _, err := cw.PutMetricData(context.Background(), &cloudwatch.PutMetricDataInput{Namespace: aws.String("AWS/Bedrock"), MetricData: data}); err != nil {
		t.Fatalf("PutMetricData: %v", err)
	}
}

// The budget checker reads synthetic Bedrock metrics from CloudWatch (moto)
// and keeps its markers in DynamoDB (moto): it alerts once at 80 % and once
// at 100 %, however many times it runs.
func TestBudgetAlertsOnceAt80AndOnceAt100(t *testing.T) {
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	cfg := srv.ConfigFor(t, "budget")
	rec := awsconf.NewRecorder()
	rec.Attach(&cfg)
	cw := cloudwatch.NewFromConfig(srv.Config(t), metricsource.WithQueryProtocol())

	now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	const sonnet = "anthropic.claude-3-5-sonnet-20240620-v1:0"
	pol := &policy.Policy{
		Budgets: []policy.Budget{
			{Model: "anthropic.claude-3-5-sonnet-*", Period: "day", MaxInvocations: 1000, MaxTokens: 5_000_000, MaxUSD: 50},
			{Model: "meta.*", Period: "month", MaxTokens: 1_000_000},
		},
		Prices: map[string]policy.Price{"anthropic.claude-3-5-sonnet-*": {Input: 0.003, Output: 0.015}},
	}
	notifier := &budgetNotifierRecorder{}
	checker := &budget.Checker{
		Policy:   pol,
		Source:   metricsource.NewFromConfig(cfg, metricsource.WithQueryProtocol()),
		Marks:    budgetdb.New(dynamodb.NewFromConfig(cfg), "warden"),
		Notifier: notifier,
		Now:      func() time.Time { return now },
		Region:   "us-east-1",
	}
	ctx := context.Background()

	// Yesterday's heavy use does not count toward today's budget.
	putBedrockMetrics(t, cw, sonnet, now.Add(-20*time.Hour), 5000, 0, 0)
	// 700 invocations today, split between the model id and a
	// cross-region profile id; a monthly meta budget at 40 %.
	putBedrockMetrics(t, cw, sonnet, now.Add(-3*time.Hour), 400, 100_000, 20_000)
	putBedrockMetrics(t, cw, "us."+sonnet, now.Add(-2*time.Hour), 300, 50_000, 10_000)
	putBedrockMetrics(t, cw, "meta.llama3-8b-instruct-v1:0", now.Add(-72*time.Hour), 10, 300_000, 100_000)

	fs, err := checker.Run(ctx)
	if err != nil || len(fs) != 0 {
		t.Fatalf("at 70 %%: %+v, %v", fs, err)
	}
	st, err := checker.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sawSonnet, sawMeta bool
	for _, s := range st {
		switch s.Model {
		case sonnet:
			sawSonnet = true
			if s.Used.Invocations != 700 || s.Used.InputTokens != 150_000 || s.Used.OutputTokens != 30_000 {
				t.Fatalf("sonnet usage = %+v", s.Used)
			}
		case "meta.llama3-8b-instruct-v1:0":
			sawMeta = true
			if s.Used.Tokens() != 400_000 || s.Period != "month" {
				t.Fatalf("meta status = %+v", s)
			}
		}
	}
	if !sawSonnet || !sawMeta {
		t.Fatalf("statuses = %+v", st)
	}

	// +150 → 850 of 1000: one warning, however often the checker runs.
	putBedrockMetrics(t, cw, sonnet, now.Add(-time.Hour), 150, 0, 0)
	for range 3 {
		if _, err := checker.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A second checker (another Lambda instance) shares the markers.
	other := *checker
	other.Marks = budgetdb.New(dynamodb.NewFromConfig(srv.ConfigFor(t, "budget")), "warden")
	if _, err := other.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(notifier.got) != 1 || notifier.got[0].Rule != findings.RuleBudgetWarning {
		t.Fatalf("after 85 %%: %+v", notifier.got)
	}
	w := notifier.got[0]
	if w.BaseModel != sonnet || w.Details["used.invocations"] != "850" || w.Details["period"] != "day" ||
		w.Details["projected.invocations"] != "1700" || w.Details["budget.maxInvocations"] != "1000" {
		t.Fatalf("warning = %+v", w)
	}
	if !strings.HasPrefix(w.Title, sonnet+": 850 of 1,000 invocations today (85 %), projected 1,700 by 24:00 UTC") {
		t.Fatalf("title = %q", w.Title)
	}

	// +200 → 1050: one exceeded.
	putBedrockMetrics(t, cw, "us."+sonnet, now.Add(-30*time.Minute), 200, 0, 0)
	for range 2 {
		if _, err := checker.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(notifier.got) != 2 || notifier.got[1].Rule != findings.RuleBudgetExceeded || notifier.got[1].Details["used.invocations"] != "1050" {
		t.Fatalf("after 105 %%: %+v", notifier.got)
	}

	// The AWS calls the checker made: CloudWatch reads, DynamoDB markers.
	calls := rec.Calls()
	for _, op := range []string{"cloudwatch:ListMetrics", "cloudwatch:GetMetricData", "dynamodb:PutItem"} {
		if calls[op] == 0 {
			t.Errorf("no %s call recorded: %v", op, calls)
		}
	}
	// 7 runs (6 by checker, 1 by other, sharing its Source) + 1 Status
	// call = 8 reads; each read is one GetMetricData for all models (well
	// under 500 series) and one ListMetrics per metric name.
	if calls["cloudwatch:GetMetricData"] != 8 || calls["cloudwatch:ListMetrics"] != 24 {
		t.Errorf("GetMetricData/ListMetrics calls = %d/%d, want 8/24 (one data call per evaluation, all models at once)",
			calls["cloudwatch:GetMetricData"], calls["cloudwatch:ListMetrics"])
	}
}
