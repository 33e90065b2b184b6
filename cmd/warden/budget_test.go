package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/budget"
	"github.com/bedrock-warden/warden/pkg/budget/metricsource"
)

const budgetPolicyYAML = `
budgets:
  - model: "anthropic.claude-3-5-sonnet-*"
    period: day
    maxInvocations: 1000
    maxUSD: 50
  - model: "amazon.*"
    period: month
    maxTokens: 1000000
prices:
  "anthropic.claude-3-5-sonnet-*": {input: 0.003, output: 0.015}
`

func TestBudgetStatusAgainstMoto(t *testing.T) {
	srv := motoserver.Start(t)
	pointSDKAt(t, srv)
	old := budgetCloudWatchOptions
	budgetCloudWatchOptions = []func(*cloudwatch.Options){metricsource.WithQueryProtocol()}
	t.Cleanup(func() { budgetCloudWatchOptions = old })
	now := time.Date(2026, 8, 1, 6, 0, 0, 0, time.UTC)
	setStatusClock(t, now)

	cw := cloudwatch.NewFromConfig(srv.Config(t), metricsource.WithQueryProtocol())
	put := func(model, metric string, v float64, at time.Time) {
		_, err := cw.PutMetricData(context.Background(), &cloudwatch.PutMetricDataInput{
			Namespace: aws.String("AWS/Bedrock"),
			MetricData: []cwtypes.MetricDatum{{
				MetricName: aws.String(metric), Timestamp: aws.Time(at), Value: aws.Float64(v),
				Dimensions: []cwtypes.Dimension{{Name: aws.String("ModelId"), Value: aws.String(model)}},
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	const sonnet = "anthropic.claude-3-5-sonnet-20240620-v1:0"
	put(sonnet, "Invocations", 850, now.Add(-time.Hour))
	put(sonnet, "InputTokenCount", 1_000_000, now.Add(-time.Hour))
	put(sonnet, "OutputTokenCount", 100_000, now.Add(-time.Hour))

	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(budgetPolicyYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runStatusCLI(t, nil, "budget", "status", "--policy", path, "--json")
	if code != exitFindings {
		t.Fatalf("exit = %d, want %d (sonnet at 85 %%); stderr %s", code, exitFindings, errOut)
	}
	var st []budget.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	if len(st) != 2 {
		t.Fatalf("statuses = %+v", st)
	}
	s := st[0]
	// 1M × 0.003/1k + 100k × 0.015/1k = 3 + 1.5 = 4.50 USD.
	if s.Model != sonnet || s.Used.Invocations != 850 || s.Used.Tokens() != 1_100_000 || s.Used.USD != 4.5 || s.Driver != "invocations" || s.Level() != "warning" {
		t.Fatalf("sonnet status = %+v", s)
	}
	if st[1].Model != "amazon.*" || st[1].Used.Invocations != 0 || st[1].Period != "month" {
		t.Fatalf("unused budget = %+v", st[1])
	}

	code, out, _ = runStatusCLI(t, nil, "budget", "status", "--policy", path)
	if code != exitFindings {
		t.Fatalf("table exit = %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "MODEL") {
		t.Fatalf("table:\n%s", out)
	}
	// Columns are aligned: every row's PERIOD starts where the header's does.
	col := strings.Index(lines[0], "PERIOD")
	for _, l := range lines[1:] {
		if len(l) <= col || l[col-2:col] != "  " || l[col] == ' ' {
			t.Errorf("misaligned row %q (PERIOD at %d)", l, col)
		}
	}
	for _, want := range []string{"850 / 1,000", "$4.50 / $50.00", "3,400 calls", "85 % (invocations)", "warning", "0 / 1,000,000", "ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestBudgetStatusUsageErrors(t *testing.T) {
	if code, _, _ := runStatusCLI(t, nil, "budget"); code != exitUsage {
		t.Errorf("no subcommand: exit %d", code)
	}
	if code, _, errOut := runStatusCLI(t, nil, "budget", "status", "--policy", filepath.Join(t.TempDir(), "missing.yaml")); code != exitUsage || errOut == "" {
		t.Errorf("missing policy: exit %d stderr %q", code, errOut)
	}
	// The embedded default has no budgets: nothing to read, exit 0.
	if code, out, errOut := runStatusCLI(t, nil, "budget", "status", "--json"); code != exitOK || strings.TrimSpace(out) != "[]" || !strings.Contains(errOut, "no budgets") {
		t.Errorf("default policy: exit %d out %q err %q", code, out, errOut)
	}
}
