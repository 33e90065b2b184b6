package budget

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
)

type fakeSource struct {
	points []Datapoint
	reads  []time.Time // start of each read
	period time.Duration
}

func (f *fakeSource) Read(_ context.Context, start, end time.Time, period time.Duration) ([]Datapoint, error) {
	f.reads = append(f.reads, start)
	f.period = period
	var out []Datapoint
	for _, p := range f.points {
		if !p.Time.Before(start) && p.Time.Before(end) {
			out = append(out, p)
		}
	}
	return out, nil
}

type fakeMarks struct{ set map[Mark]bool }

func (m *fakeMarks) Claim(_ context.Context, k Mark, _ time.Time) (bool, error) {
	if m.set == nil {
		m.set = map[Mark]bool{}
	}
	if m.set[k] {
		return false, nil
	}
	m.set[k] = true
	return true, nil
}

func (m *fakeMarks) Release(_ context.Context, k Mark) error {
	delete(m.set, k)
	return nil
}

type recNotifier struct {
	got  []findings.Finding
	fail error
}

func (r *recNotifier) Notify(_ context.Context, fs []findings.Finding) error {
	if r.fail != nil {
		return r.fail
	}
	r.got = append(r.got, fs...)
	return nil
}

const sonnet = "anthropic.claude-3-5-sonnet-20240620-v1:0"

func TestRunAlertsOnceAt80AndOnceAt100(t *testing.T) {
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	src := &fakeSource{}
	marks := &fakeMarks{}
	n := &recNotifier{}
	c := &Checker{
		Policy: &policy.Policy{
			Budgets: []policy.Budget{{Model: "anthropic.claude-3-5-sonnet-*", Period: "day", MaxInvocations: 100}},
		},
		Source: src, Marks: marks, Notifier: n, Now: func() time.Time { return now }, Region: "us-east-1",
	}
	add := func(model string, v float64) {
		src.points = append(src.points, Datapoint{ModelID: model, Metric: MetricInvocations, Time: time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC), Value: v})
	}
	ctx := context.Background()
	// Yesterday's usage does not count for a daily budget.
	src.points = append(src.points, Datapoint{ModelID: sonnet, Metric: MetricInvocations, Time: time.Date(2026, 6, 9, 0, 0, 0, 0, time.UTC), Value: 1000})
	add(sonnet, 50)
	if fs, err := c.Run(ctx); err != nil || len(fs) != 0 {
		t.Fatalf("at 50 %%: %v %v", fs, err)
	}
	add("us."+sonnet, 30) // profile id: same base model → 80
	fs, err := c.Run(ctx)
	if err != nil || len(fs) != 1 || fs[0].Rule != findings.RuleBudgetWarning {
		t.Fatalf("at 80 %%: %+v %v", fs, err)
	}
	f := fs[0]
	if f.BaseModel != sonnet || f.Principal != "*" || f.Region != "us-east-1" || f.Severity != findings.Medium {
		t.Fatalf("finding = %+v", f)
	}
	if f.Details["used.invocations"] != "80" || f.Details["period"] != "day" || f.Details["periodStart"] != "2026-06-10T00:00:00Z" ||
		f.Details["projected.invocations"] != "160" || f.Details["budget.maxInvocations"] != "100" || f.Details["percent"] != "80.0" {
		t.Fatalf("details = %v", f.Details)
	}
	if !strings.Contains(f.Title, "80 of 100 invocations today (80 %), projected 160 by 24:00 UTC") {
		t.Fatalf("title = %q", f.Title)
	}
	if fs, _ := c.Run(ctx); len(fs) != 0 {
		t.Fatalf("second run at 80 %% alerted again: %+v", fs)
	}
	add(sonnet, 25)
	fs, err = c.Run(ctx)
	if err != nil || len(fs) != 1 || fs[0].Rule != findings.RuleBudgetExceeded || fs[0].Severity != findings.High {
		t.Fatalf("at 105 %%: %+v %v", fs, err)
	}
	if fs, _ := c.Run(ctx); len(fs) != 0 {
		t.Fatalf("second run at 105 %% alerted again: %+v", fs)
	}
	if len(n.got) != 2 {
		t.Fatalf("notified %d findings, want 2", len(n.got))
	}
	if len(src.reads) != 5 || src.period != 24*time.Hour {
		t.Fatalf("reads = %d period %v, want one per run at 1-day buckets", len(src.reads), src.period)
	}
}

func TestRunJumpStraightPast100RaisesOnlyExceeded(t *testing.T) {
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	src := &fakeSource{points: []Datapoint{
		{ModelID: sonnet, Metric: MetricInputTokens, Time: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), Value: 600_000},
		{ModelID: sonnet, Metric: MetricOutputTokens, Time: time.Date(2026, 6, 9, 0, 0, 0, 0, time.UTC), Value: 100_000},
	}}
	n := &recNotifier{}
	c := &Checker{
		Policy: &policy.Policy{
			Budgets: []policy.Budget{{Model: "anthropic.*", Period: "month", MaxUSD: 3}},
			Prices:  map[string]policy.Price{"anthropic.claude-3-5-sonnet-*": {Input: 0.003, Output: 0.015}},
		},
		Source: src, Marks: &fakeMarks{}, Notifier: n, Now: func() time.Time { return now },
	}
	fs, err := c.Run(context.Background())
	if err != nil || len(fs) != 1 || fs[0].Rule != findings.RuleBudgetExceeded {
		t.Fatalf("Run = %+v, %v", fs, err)
	}
	// 600k × 0.003/1k + 100k × 0.015/1k = 1.8 + 1.5 = 3.30 USD.
	if d := fs[0].Details; d["used.usd"] != "3.30" || d["driver"] != "usd" || d["pricePattern"] != "anthropic.claude-3-5-sonnet-*" || d["period"] != "month" {
		t.Fatalf("details = %v", d)
	}
	if !src.reads[0].Equal(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("read started %v, want the month start", src.reads[0])
	}
}

func TestRunNotifyFailureReleasesClaims(t *testing.T) {
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	src := &fakeSource{points: []Datapoint{{ModelID: sonnet, Metric: MetricInvocations, Time: time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC), Value: 90}}}
	marks := &fakeMarks{}
	n := &recNotifier{fail: errors.New("sns down")}
	c := &Checker{
		Policy: &policy.Policy{Budgets: []policy.Budget{{Model: "*", MaxInvocations: 100}}},
		Source: src, Marks: marks, Notifier: n, Now: func() time.Time { return now },
	}
	if _, err := c.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "sns down") {
		t.Fatalf("err = %v", err)
	}
	if len(marks.set) != 0 {
		t.Fatalf("claims kept after a failed notify: %v", marks.set)
	}
	n.fail = nil
	if fs, err := c.Run(context.Background()); err != nil || len(fs) != 1 {
		t.Fatalf("retry = %v, %v; want the warning", fs, err)
	}
}

func TestStatusListsUnusedBudgetsAndBadPeriods(t *testing.T) {
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	c := &Checker{
		Policy: &policy.Policy{Budgets: []policy.Budget{
			{Model: "amazon.*", Period: "day", MaxInvocations: 10},
			{Model: "meta.*", Period: "fortnight", MaxInvocations: 10},
		}},
		Source: &fakeSource{}, Now: func() time.Time { return now },
	}
	st, err := c.Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), `"fortnight"`) {
		t.Fatalf("bad period not reported: %v", err)
	}
	if len(st) != 1 || st[0].Model != "amazon.*" || st[0].Used.Invocations != 0 {
		t.Fatalf("statuses = %+v", st)
	}
}

func TestSumMergesProfileIDs(t *testing.T) {
	day := time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)
	u := Sum([]Datapoint{
		{ModelID: sonnet, Metric: MetricInvocations, Time: day, Value: 2},
		{ModelID: "eu." + sonnet, Metric: MetricInvocations, Time: day, Value: 3},
		{ModelID: sonnet, Metric: MetricOutputTokens, Time: day, Value: 7},
		{ModelID: sonnet, Metric: "InvocationLatency", Time: day, Value: 1e6},
	}, day, day.Add(time.Hour))
	if got := u[sonnet]; got.Invocations != 5 || got.OutputTokens != 7 || got.InputTokens != 0 {
		t.Fatalf("Sum = %+v", u)
	}
}

func TestRunDisabledRuleIsSkipped(t *testing.T) {
	off := false
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	c := &Checker{
		Policy: &policy.Policy{
			Budgets: []policy.Budget{{Model: "*", MaxInvocations: 10}},
			Rules:   map[string]policy.RuleSetting{findings.RuleBudgetWarning: {Enabled: &off}},
		},
		Source:   &fakeSource{points: []Datapoint{{ModelID: "m.x", Metric: MetricInvocations, Time: now.Truncate(24 * time.Hour), Value: 9}}},
		Marks:    &fakeMarks{},
		Notifier: &recNotifier{},
		Now:      func() time.Time { return now },
	}
	if fs, err := c.Run(context.Background()); err != nil || len(fs) != 0 {
		t.Fatalf("disabled warning raised: %v %v", fs, err)
	}
}

func TestHandleFillsAccountAndRegionFromScheduledEvent(t *testing.T) {
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	n := &recNotifier{}
	c := &Checker{
		Policy:   &policy.Policy{Budgets: []policy.Budget{{Model: "*", MaxInvocations: 10}}},
		Source:   &fakeSource{points: []Datapoint{{ModelID: "m.x", Metric: MetricInvocations, Time: now.Truncate(24 * time.Hour), Value: 10}}},
		Marks:    &fakeMarks{},
		Notifier: n,
		Now:      func() time.Time { return now },
	}
	ev := `{"version":"0","id":"e1","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-06-10T12:00:00Z","region":"eu-west-1","resources":[],"detail":{}}`
	if err := c.Handle(context.Background(), []byte(ev)); err != nil {
		t.Fatal(err)
	}
	if len(n.got) != 1 || n.got[0].Account != "123456789012" || n.got[0].Region != "eu-west-1" || n.got[0].Rule != findings.RuleBudgetExceeded {
		t.Fatalf("notified = %+v", n.got)
	}
	if c.Account != "" {
		t.Fatal("Handle changed the checker it was called on")
	}
	if err := c.Handle(context.Background(), []byte(`[1,2]`)); err == nil || !strings.Contains(err.Error(), "scheduled event") {
		t.Fatalf("bad payload: err = %v", err)
	}
}

func TestLogNotifierWritesJSON(t *testing.T) {
	var buf strings.Builder
	l := slog.New(slog.NewJSONHandler(&buf, nil))
	f := findings.Finding{Rule: findings.RuleBudgetWarning, Severity: findings.Medium, Title: "m: 8 of 10 invocations today (80 %)", BaseModel: "m", Fingerprint: "abc"}
	if err := (LogNotifier{Logger: l}).Notify(context.Background(), []findings.Finding{f}); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &line); err != nil {
		t.Fatalf("not one JSON line: %v: %q", err, buf.String())
	}
	if line["msg"] != "budget finding" || line["rule"] != findings.RuleBudgetWarning || line["title"] != f.Title || line["fingerprint"] != "abc" {
		t.Fatalf("log line = %v", line)
	}
}
