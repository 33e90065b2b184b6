// Package budget watches per-model Bedrock budgets (rules budget-warning and
// budget-exceeded): it sums the AWS/Bedrock CloudWatch metrics Invocations,
// InputTokenCount and OutputTokenCount per base model over the budget's UTC
// day or month, prices the tokens, compares the usage with the budget in
// calls, tokens and USD, and raises one finding at 80 % and one at 100 % per
// period.
//
// This file holds the pure maths: periods, prices, usage, projection and
// thresholds. checker.go runs them against a Source of metrics (package
// metricsource reads CloudWatch) and a Marks store (package budgetdb keeps
// the once-per-period markers in DynamoDB).
package budget

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/policy"
)

// Periods.
const (
	PeriodDay   = "day"
	PeriodMonth = "month"
)

// Alert levels, as fractions of the budget.
const (
	WarnAt   = 0.8
	ExceedAt = 1.0
)

// PeriodBounds returns the UTC day or month holding t: [start, end). An
// empty period means "day".
func PeriodBounds(period string, t time.Time) (start, end time.Time, err error) {
	t = t.UTC()
	switch period {
	case PeriodDay, "":
		start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1), nil
	case PeriodMonth:
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0), nil
	}
	return time.Time{}, time.Time{}, fmt.Errorf("budget period %q: want day or month", period)
}

// Usage is what a model used in a period.
type Usage struct {
	Invocations  int64   `json:"invocations"`
	InputTokens  int64   `json:"inputTokens"`
	OutputTokens int64   `json:"outputTokens"`
	USD          float64 `json:"usd"`
}

// Tokens returns input plus output tokens.
func (u Usage) Tokens() int64 { return u.InputTokens + u.OutputTokens }

// Cost returns the USD cost of the tokens at price (USD per 1,000 tokens).
func Cost(inputTokens, outputTokens int64, price policy.Price) float64 {
	return float64(inputTokens)*price.Input/1000 + float64(outputTokens)*price.Output/1000
}

// geographies are the inference-profile prefixes that put a foundation
// model id behind a cross-region profile ("us.anthropic.…").
var geographies = map[string]bool{
	"us": true, "eu": true, "apac": true, "au": true, "jp": true, "ca": true,
	"us-gov": true, "global": true, "uk": true, "sa": true, "me": true, "af": true,
}

// BaseModelID maps a ModelId dimension value to the base model id budgets
// and prices match: a cross-region profile id ("us.anthropic.x") loses its
// geography prefix; a foundation-model or system inference-profile ARN
// gives its resource id, likewise stripped. Opaque ids (application
// inference profile, provisioned or custom model ARNs) are returned as
// given.
func BaseModelID(id string) string {
	id = strings.TrimSpace(id)
	if strings.HasPrefix(id, "arn:") {
		parts := strings.SplitN(id, ":", 6)
		if len(parts) < 6 {
			return id
		}
		res := parts[5]
		switch {
		case strings.HasPrefix(res, "foundation-model/"):
			id = strings.TrimPrefix(res, "foundation-model/")
		case strings.HasPrefix(res, "inference-profile/"):
			id = strings.TrimPrefix(res, "inference-profile/")
		default:
			return id
		}
	}
	if geo, rest, ok := strings.Cut(id, "."); ok && geographies[geo] && strings.Contains(rest, ".") {
		return rest
	}
	return id
}

// Status is one (budget, model) pair evaluated at a time.
type Status struct {
	Budget      policy.Budget `json:"budget"`
	Model       string        `json:"model"` // base model id; the budget's pattern when no model used it
	Period      string        `json:"period"`
	PeriodStart time.Time     `json:"periodStart"`
	PeriodEnd   time.Time     `json:"periodEnd"`
	At          time.Time     `json:"at"`
	Used        Usage         `json:"used"`
	Projected   Usage         `json:"projected"`
	// Percent is the highest of used/budget over the dimensions the budget
	// sets (invocations, tokens, USD), × 100.
	Percent float64 `json:"percent"`
	// Driver is the dimension that gave Percent: "invocations", "tokens"
	// or "usd".
	Driver string `json:"driver"`
	// PricePattern is the prices key used; empty when no price matched,
	// in which case USD is unknown and not compared.
	PricePattern string `json:"pricePattern,omitempty"`
	PriceMissing bool   `json:"priceMissing,omitempty"`
}

// Level returns the rule the status has reached: 1.0 and above "exceeded",
// 0.8 and above "warning", else "".
func (s Status) Level() string {
	switch {
	case s.Percent >= ExceedAt*100:
		return "exceeded"
	case s.Percent >= WarnAt*100:
		return "warning"
	}
	return ""
}

// Project scales used to the whole period at the rate so far: used ×
// (end − start) / (at − start). Elapsed time under a minute counts as a
// minute; at or after end, the usage is final.
func Project(used Usage, start, end, at time.Time) Usage {
	total := end.Sub(start)
	elapsed := at.Sub(start)
	if elapsed >= total || total <= 0 {
		return used
	}
	elapsed = max(elapsed, time.Minute)
	f := float64(total) / float64(elapsed)
	return Usage{
		Invocations:  int64(math.Round(float64(used.Invocations) * f)),
		InputTokens:  int64(math.Round(float64(used.InputTokens) * f)),
		OutputTokens: int64(math.Round(float64(used.OutputTokens) * f)),
		USD:          used.USD * f,
	}
}

// Evaluate builds the status of budget b for model with usage used (USD
// already priced when priced is true) at time at.
func Evaluate(b policy.Budget, model string, used Usage, priced bool, at time.Time) (Status, error) {
	start, end, err := PeriodBounds(b.Period, at)
	if err != nil {
		return Status{}, err
	}
	period := b.Period
	if period == "" {
		period = PeriodDay
	}
	s := Status{Budget: b, Model: model, Period: period, PeriodStart: start, PeriodEnd: end, At: at.UTC(), Used: used,
		Projected: Project(used, start, end, at), PriceMissing: !priced && b.MaxUSD > 0}
	consider := func(name string, used, limit float64) {
		if limit <= 0 {
			return
		}
		if p := used / limit * 100; s.Driver == "" || p > s.Percent {
			s.Percent, s.Driver = p, name
		}
	}
	consider("invocations", float64(used.Invocations), float64(b.MaxInvocations))
	consider("tokens", float64(used.Tokens()), float64(b.MaxTokens))
	if priced {
		consider("usd", used.USD, b.MaxUSD)
	}
	return s, nil
}

// Title is the one-line alert text, e.g. "anthropic.claude-3-5-sonnet: 8,123
// of 10,000 invocations today (81 %), projected 14,200 by 24:00 UTC".
func (s Status) Title() string {
	var used, limit, proj string
	switch s.Driver {
	case "tokens":
		used, limit, proj = Group(s.Used.Tokens()), Group(s.Budget.MaxTokens)+" tokens", Group(s.Projected.Tokens())
	case "usd":
		used, limit, proj = USD(s.Used.USD), USD(s.Budget.MaxUSD), USD(s.Projected.USD)
	default:
		used, limit, proj = Group(s.Used.Invocations), Group(s.Budget.MaxInvocations)+" invocations", Group(s.Projected.Invocations)
	}
	when, by := "today", "by 24:00 UTC"
	if s.Period == PeriodMonth {
		when, by = "this month", "by the end of "+s.PeriodStart.Format("January 2006")+" (UTC)"
	}
	return fmt.Sprintf("%s: %s of %s %s (%d %%), projected %s %s", s.Model, used, limit, when, int64(math.Floor(s.Percent)), proj, by)
}

// Details are the finding's details map.
func (s Status) Details() map[string]string {
	d := map[string]string{
		"model":                 s.Model,
		"budgetModel":           s.Budget.Model,
		"period":                s.Period,
		"periodStart":           s.PeriodStart.Format(time.RFC3339),
		"periodEnd":             s.PeriodEnd.Format(time.RFC3339),
		"used.invocations":      strconv.FormatInt(s.Used.Invocations, 10),
		"used.tokens":           strconv.FormatInt(s.Used.Tokens(), 10),
		"used.inputTokens":      strconv.FormatInt(s.Used.InputTokens, 10),
		"used.outputTokens":     strconv.FormatInt(s.Used.OutputTokens, 10),
		"projected.invocations": strconv.FormatInt(s.Projected.Invocations, 10),
		"projected.tokens":      strconv.FormatInt(s.Projected.Tokens(), 10),
		"percent":               strconv.FormatFloat(s.Percent, 'f', 1, 64),
		"driver":                s.Driver,
	}
	if s.PriceMissing {
		d["used.usd"] = "unknown (no price)"
	} else {
		d["used.usd"] = strconv.FormatFloat(s.Used.USD, 'f', 2, 64)
		d["projected.usd"] = strconv.FormatFloat(s.Projected.USD, 'f', 2, 64)
		d["pricePattern"] = s.PricePattern
	}
	if s.Budget.MaxInvocations > 0 {
		d["budget.maxInvocations"] = strconv.FormatInt(s.Budget.MaxInvocations, 10)
	}
	if s.Budget.MaxTokens > 0 {
		d["budget.maxTokens"] = strconv.FormatInt(s.Budget.MaxTokens, 10)
	}
	if s.Budget.MaxUSD > 0 {
		d["budget.maxUSD"] = strconv.FormatFloat(s.Budget.MaxUSD, 'f', 2, 64)
	}
	return d
}

// Group formats n with thousands separators: 14200 → "14,200".
func Group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// USD formats an amount as "$1,234.56".
func USD(v float64) string {
	cents := int64(math.Round(v * 100))
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s$%s.%02d", sign, Group(cents/100), cents%100)
}
