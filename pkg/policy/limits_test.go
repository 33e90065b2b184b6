package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/pkg/findings"
)

func TestLimitsLoad(t *testing.T) {
	p := mustLoad(t, doc(
		"limits:",
		"  - name: team-a-claude",
		"    principals: [\"arn:aws:iam::*:role/team-a-*\"]",
		"    models: [\"anthropic.claude-*\"]",
		"    period: month",
		"    maxTokens: 50000000",
		"    maxUSD: 500",
		"    warnAt: 0.8",
		"    action: block",
		"  - name: data.science_2",
		"    tags: {team: data, cost-center: \"42\"}",
		"    period: week",
		"    maxUSD: 12.5",
		"    per: team",
	))
	want := []Limit{
		{Name: "team-a-claude", Principals: []string{"arn:aws:iam::*:role/team-a-*"}, Models: []string{"anthropic.claude-*"},
			Period: PeriodMonth, MaxTokens: 50_000_000, MaxUSD: 500, WarnAt: 0.8, Action: LimitBlock, Per: LimitPerPrincipal},
		{Name: "data.science_2", Tags: map[string]string{"team": "data", "cost-center": "42"}, Period: PeriodWeek, MaxUSD: 12.5,
			WarnAt: DefaultWarnAt, Action: LimitAlert, Per: LimitPerTeam},
	}
	if !reflect.DeepEqual(p.Limits, want) {
		t.Fatalf("limits =\n%+v\nwant\n%+v", p.Limits, want)
	}
	if !p.UsesTags() {
		t.Error("UsesTags = false with a tag selector")
	}
	// The effective policy reads back to the same limits.
	y, err := p.YAML()
	if err != nil {
		t.Fatal(err)
	}
	q := mustLoad(t, y)
	if !reflect.DeepEqual(q.Limits, p.Limits) {
		t.Errorf("round trip:\n%+v\n%+v", q.Limits, p.Limits)
	}
}

func TestLimitsErrorsSayLinePathAndNearest(t *testing.T) {
	_, err := Load("p.yaml", doc(
		"limits:",            // 1
		"  - name: a",        // 2
		"    period: mont",   // 3
		"    maxTokens: 10",  // 4
		"    acton: block",   // 5
		"  - name: a",        // 6
		"    period: day",    // 7
		"    maxUSD: 1",      // 8
		"    warnAt: 80",     // 9
		"    action: blok",   // 10
		"  - name: \"-bad\"", // 11
		"    period: week",   // 12
		"  - period: day",    // 13
		"    maxUSD: 1",      // 14
		"  - name: c",        // 15
		"    maxUSD: 1",      // 16
		"    principals: [\"arn:aws:sts::*:assumed-role/x/*\"]", // 17
		"    tags: {\"aws:x\": y}",                              // 18
		"    per: teams",                                        // 19
		"  - name: d",                                           // 20
		"    period: day",                                       // 21
	))
	if err == nil {
		t.Fatal("no error")
	}
	got := map[int]string{}
	for _, e := range Errors(err) {
		got[e.Line] += e.Key + ": " + e.Msg + "\n"
	}
	for line, want := range map[int][]string{
		3:  {"limits[0].period", `"mont" is not a period`, `did you mean "month"?`},
		5:  {`unknown key "acton"`, `did you mean "action"?`},
		6:  {"limits[1].name", `"a" is already used on line 2`},
		9:  {"limits[1].warnAt", "between 0 and 1"},
		10: {"limits[1].action", `did you mean "block"?`},
		11: {"limits[2].name", "use letters"},
		13: {"limits[3]", "name is required"},
		17: {"limits[4].principals[0]", "STS session ARN"},
		18: {"limits[4].tags.aws:x", "reserved prefix"},
		19: {"limits[4].per", `did you mean "team"?`},
		20: {"limits[5]", "give maxTokens, maxUSD or both"},
	} {
		for _, w := range want {
			if !strings.Contains(got[line], w) {
				t.Errorf("line %d: want %q in\n%s", line, w, got[line])
			}
		}
	}
	var pe *Error
	if !errors.As(err, &pe) || pe.Name != "p.yaml" {
		t.Errorf("errors are not *Error naming the file: %v", err)
	}
}

func TestLimitSelection(t *testing.T) {
	l := Limit{Principals: []string{"arn:aws:iam::*:role/team-a-*"}, Tags: map[string]string{"team": "a"}, Models: []string{"anthropic.claude-*", "amazon.nova-pro-*"}}
	for _, c := range []struct {
		arn  string
		tags map[string]string
		want bool
	}{
		{"arn:aws:iam::1:role/team-a-app", map[string]string{"team": "a", "x": "y"}, true},
		{"arn:aws:iam::1:role/team-a-app", map[string]string{"team": "b"}, false},
		{"arn:aws:iam::1:role/team-a-app", nil, false},
		{"arn:aws:iam::1:role/team-b-app", map[string]string{"team": "a"}, false},
		{"arn:aws:iam::1:role/path/team-a-app", map[string]string{"team": "a"}, false}, // the path is part of the ARN
	} {
		if got := l.SelectsPrincipal(c.arn, c.tags); got != c.want {
			t.Errorf("SelectsPrincipal(%s, %v) = %v", c.arn, c.tags, got)
		}
	}
	if !(Limit{}).SelectsPrincipal("arn:aws:iam::1:user/x", nil) || !(Limit{}).CoversModel("any.model") {
		t.Error("a limit without selectors applies to everyone and every model")
	}
	if !l.CoversModel("anthropic.claude-3-5-haiku-20241022-v1:0") || l.CoversModel("amazon.nova-lite-v1:0") {
		t.Error("CoversModel")
	}
}

func TestRemediationFor(t *testing.T) {
	p := mustLoad(t, doc(
		"limits:",
		"  - {name: hard, period: day, maxUSD: 1, action: block}",
		"  - {name: soft, period: day, maxUSD: 1}",
		"remediation:",
		"  actions: {unauthorized-model: quarantine}",
	))
	f := func(rule, limit string) findings.Finding {
		return findings.Finding{Rule: rule, Details: map[string]string{findings.DetailLimit: limit}}
	}
	for _, c := range []struct {
		f      findings.Finding
		action string
		ok     bool
	}{
		{f(findings.RuleLimitExceeded, "hard"), ActionBlockUntil, true},
		{f(findings.RuleLimitExceeded, "soft"), "", false},
		{f(findings.RuleLimitExceeded, "gone"), "", false},
		{f(findings.RuleLimitWarning, "hard"), "", false},
		{f(findings.RuleUnauthorizedModel, ""), ActionQuarantine, true},
		{f(findings.RuleUnauthorizedRegion, ""), "", false},
	} {
		if a, ok := p.RemediationFor(c.f); a != c.action || ok != c.ok {
			t.Errorf("RemediationFor(%s, %s) = %q %v", c.f.Rule, c.f.Details[findings.DetailLimit], a, ok)
		}
	}
	if _, err := Load("p", doc("remediation:", "  actions: {limit-exceeded: quarantine}")); err == nil || !strings.Contains(err.Error(), "limits[].action") {
		t.Errorf("remediation.actions may not name a limit rule: %v", err)
	}
	if _, err := Load("p", doc("remediation:", "  actions: {unauthorized-model: block-until}")); err == nil {
		t.Error("block-until is not a remediation.actions value")
	}
}
