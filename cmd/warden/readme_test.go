package main

import (
	"os"
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/rules"
)

// TestReadmeRuleReference keeps the README's rule reference true: every
// rule the engine evaluates and every eventName it covers is listed.
func TestReadmeRuleReference(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	for _, id := range []string{
		findings.RuleUnauthorizedModel, findings.RuleUnauthorizedRegion, findings.RuleUnauthorizedSourceIP,
		findings.RuleUnauthorizedPrincipal, findings.RuleAPIKeyUsed, findings.RuleDeniedInvocation,
		findings.RuleInvocationLoggingDisabled, findings.RuleGuardrailChanged, findings.RuleModelAccessChanged,
		findings.RuleCostlyResourceCreated,
	} {
		if !strings.Contains(text, "`"+id+"`") {
			t.Errorf("README does not document rule %s", id)
		}
	}
	names := append([]string{}, normalize.InvocationEvents...)
	for _, list := range [][]string{rules.LoggingEvents, rules.GuardrailEvents, rules.ModelAccessEvents, rules.CostlyEvents} {
		names = append(names, list...)
	}
	for _, n := range names {
		if !strings.Contains(text, "`"+n+"`") {
			t.Errorf("README does not list eventName %s", n)
		}
	}
}
