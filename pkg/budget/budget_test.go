package budget

import (
	"math"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/policy"
	"pgregory.net/rapid"
)

func TestPeriodBounds(t *testing.T) {
	at := time.Date(2026, 2, 28, 23, 59, 59, 0, time.FixedZone("x", 3*3600)) // 20:59:59 UTC
	s, e, err := PeriodBounds("day", at)
	if err != nil || !s.Equal(time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC)) || !e.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("day = %v %v %v", s, e, err)
	}
	s, e, err = PeriodBounds("month", at)
	if err != nil || !s.Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)) || !e.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("month = %v %v %v", s, e, err)
	}
	if s, _, err := PeriodBounds("", at); err != nil || s.Day() != 28 {
		t.Fatalf("empty period should mean day: %v %v", s, err)
	}
	if _, _, err := PeriodBounds("week", at); err == nil {
		t.Fatal("week accepted")
	}
}

func TestPeriodBoundsProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		at := time.Unix(rapid.Int64Range(0, 4_000_000_000).Draw(t, "t"), 0)
		p := rapid.SampledFrom([]string{PeriodDay, PeriodMonth}).Draw(t, "period")
		s, e, err := PeriodBounds(p, at)
		if err != nil {
			t.Fatal(err)
		}
		if at.Before(s) || !at.Before(e) {
			t.Fatalf("%v not in [%v, %v)", at, s, e)
		}
		if s.Hour() != 0 || s.Minute() != 0 || (p == PeriodMonth && s.Day() != 1) {
			t.Fatalf("start %v not aligned for %s", s, p)
		}
	})
}

func TestCost(t *testing.T) {
	got := Cost(1_000_000, 200_000, policy.Price{Input: 0.003, Output: 0.015})
	if math.Abs(got-6.0) > 1e-9 {
		t.Fatalf("Cost = %v, want 6.00", got)
	}
}

func TestBaseModelID(t *testing.T) {
	for in, want := range map[string]string{
		"anthropic.claude-3-5-sonnet-20240620-v1:0":                                                  "anthropic.claude-3-5-sonnet-20240620-v1:0",
		"us.anthropic.claude-3-5-sonnet-20240620-v1:0":                                               "anthropic.claude-3-5-sonnet-20240620-v1:0",
		"global.anthropic.claude-sonnet-4-5-20250929-v1:0":                                           "anthropic.claude-sonnet-4-5-20250929-v1:0",
		"us-gov.anthropic.claude-3-haiku-20240307-v1:0":                                              "anthropic.claude-3-haiku-20240307-v1:0",
		"arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1":                   "amazon.titan-text-express-v1",
		"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.meta.llama3-2-1b-instruct-v1:0": "meta.llama3-2-1b-instruct-v1:0",
		"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/s529qz7ddy06":          "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/s529qz7ddy06",
		"cohere.command-r-v1:0": "cohere.command-r-v1:0",
	} {
		if got := BaseModelID(in); got != want {
			t.Errorf("BaseModelID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProject(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(24 * time.Hour)
	got := Project(Usage{Invocations: 100, InputTokens: 10, USD: 1}, start, end, start.Add(6*time.Hour))
	if got.Invocations != 400 || got.InputTokens != 40 || got.USD != 4 {
		t.Fatalf("Project = %+v, want ×4", got)
	}
	if got := Project(Usage{Invocations: 7}, start, end, end.Add(time.Hour)); got.Invocations != 7 {
		t.Fatalf("after the period the usage is final: %+v", got)
	}
	if got := Project(Usage{Invocations: 1}, start, end, start); got.Invocations != 1440 {
		t.Fatalf("zero elapsed counts as a minute: %+v", got)
	}
}

// Property: projection never shrinks usage and is exact at the period end.
func TestProjectProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		end := start.AddDate(0, 1, 0)
		at := start.Add(time.Duration(rapid.Int64Range(0, int64(end.Sub(start))).Draw(t, "elapsed")))
		u := Usage{Invocations: rapid.Int64Range(0, 1e9).Draw(t, "inv")}
		p := Project(u, start, end, at)
		if p.Invocations < u.Invocations {
			t.Fatalf("projection %d < used %d", p.Invocations, u.Invocations)
		}
	})
}

func TestEvaluateDriverAndLevels(t *testing.T) {
	at := time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC)
	b := policy.Budget{Model: "anthropic.*", Period: "day", MaxInvocations: 10000, MaxTokens: 5_000_000, MaxUSD: 50}
	s, err := Evaluate(b, "anthropic.x", Usage{Invocations: 8123, InputTokens: 1_000_000, OutputTokens: 0, USD: 3}, true, at)
	if err != nil {
		t.Fatal(err)
	}
	if s.Driver != "invocations" || math.Abs(s.Percent-81.23) > 1e-9 || s.Level() != "warning" {
		t.Fatalf("status = %+v level %s", s, s.Level())
	}
	if want := "anthropic.x: 8,123 of 10,000 invocations today (81 %), projected 16,246 by 24:00 UTC"; s.Title() != want {
		t.Fatalf("title = %q\nwant    %q", s.Title(), want)
	}
	s, _ = Evaluate(b, "anthropic.x", Usage{Invocations: 10, USD: 50}, true, at)
	if s.Driver != "usd" || s.Level() != "exceeded" {
		t.Fatalf("usd driver: %+v", s)
	}
	if want := "anthropic.x: $50.00 of $50.00 today (100 %), projected $100.00 by 24:00 UTC"; s.Title() != want {
		t.Fatalf("title = %q", s.Title())
	}
	// Unpriced: USD not compared, flagged.
	s, _ = Evaluate(b, "anthropic.x", Usage{Invocations: 10, USD: 500}, false, at)
	if s.Driver != "invocations" || !s.PriceMissing || s.Details()["used.usd"] != "unknown (no price)" {
		t.Fatalf("unpriced: %+v", s)
	}
	m := policy.Budget{Model: "*", Period: "month", MaxTokens: 1000}
	s, _ = Evaluate(m, "meta.x", Usage{InputTokens: 700, OutputTokens: 100}, false, at)
	if want := "meta.x: 800 of 1,000 tokens this month (80 %), projected 1,711 by the end of July 2026 (UTC)"; s.Title() != want {
		t.Fatalf("title = %q\nwant    %q", s.Title(), want)
	}
	if s.Level() != "warning" {
		t.Fatalf("80 %% exactly is a warning: %v", s.Percent)
	}
}

// Property: the level follows the highest ratio: warning from 80 % to below
// 100 %, exceeded from 100 %.
func TestLevelProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		limit := rapid.Int64Range(1, 1_000_000).Draw(t, "limit")
		used := rapid.Int64Range(0, 3_000_000).Draw(t, "used")
		s, err := Evaluate(policy.Budget{Model: "*", MaxInvocations: limit}, "m", Usage{Invocations: used}, false, time.Unix(1e9, 0))
		if err != nil {
			t.Fatal(err)
		}
		want := ""
		switch {
		case used >= limit:
			want = "exceeded"
		case used*10 >= limit*8:
			want = "warning"
		}
		if s.Level() != want {
			t.Fatalf("used %d limit %d: level %q want %q (%.4f %%)", used, limit, s.Level(), want, s.Percent)
		}
	})
}

func TestFormatting(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 14200: "14,200", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := Group(n); got != want {
			t.Errorf("Group(%d) = %q, want %q", n, got, want)
		}
	}
	if got := USD(1234.565); got != "$1,234.57" {
		t.Errorf("USD = %q", got)
	}
}
