package policy

import (
	"net/netip"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
)

func TestModelMatchers(t *testing.T) {
	p := mustLoad(t, doc(
		"models:",
		"  allow: [\"anthropic.claude-3-5-sonnet-*\", \"us.meta.llama3-*\"]",
		"  deny: [\"*opus*\", \"arn:aws:bedrock:*:*:provisioned-model/*\"]",
	))
	const base = "anthropic.claude-3-5-sonnet-20240620-v1:0"
	const raw = "us." + base
	if !p.ModelAllowed(raw, base) || !p.ModelAllowed(base) {
		t.Error("allow must match the base id")
	}
	if !p.ModelAllowed("us.meta.llama3-2-90b-instruct-v1:0", "meta.llama3-2-90b-instruct-v1:0") {
		t.Error("allow must match the raw id when only the raw id matches")
	}
	if p.ModelAllowed("meta.llama3-2-90b-instruct-v1:0") {
		t.Error("raw-only pattern matched a bare base id")
	}
	if p.ModelAllowed("", "") {
		t.Error("empty ids must not match")
	}
	if pat, denied := p.ModelDenied("eu.anthropic.claude-3-opus-20240229-v1:0", "anthropic.claude-3-opus-20240229-v1:0"); !denied || pat != "*opus*" {
		t.Errorf("ModelDenied(opus) = %q %v", pat, denied)
	}
	arn := "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123"
	if pat, denied := p.ModelDenied(arn, ""); !denied || pat != "arn:aws:bedrock:*:*:provisioned-model/*" {
		t.Errorf("ModelDenied(raw ARN) = %q %v; '*' must cross ':' and '/'", pat, denied)
	}
	if _, denied := p.ModelDenied(raw, base); denied {
		t.Error("sonnet denied")
	}
}

func TestRegionMatchers(t *testing.T) {
	withInference := mustLoad(t, doc("regions:", "  allow: [us-east-1]", "  inference: [us-east-1, us-west-2]"))
	fallback := mustLoad(t, doc("regions:", "  allow: [us-east-1]"))
	if !withInference.RegionAllowed("us-east-1") || withInference.RegionAllowed("us-west-2") {
		t.Error("RegionAllowed must follow regions.allow")
	}
	if !withInference.InferenceRegionAllowed("us-west-2") || withInference.InferenceRegionAllowed("eu-west-1") {
		t.Error("InferenceRegionAllowed must follow regions.inference")
	}
	if !fallback.InferenceRegionAllowed("us-east-1") || fallback.InferenceRegionAllowed("us-west-2") {
		t.Error("InferenceRegionAllowed must fall back to regions.allow when inference is unset")
	}
}

func TestNetworkMatchers(t *testing.T) {
	p := mustLoad(t, doc(
		"network:",
		"  allowCidrs: [203.0.113.0/24, \"2001:db8::/32\", 198.51.100.7]",
		"  allowVpcEndpoints: [vpce-0123456789abcdef0]",
	))
	tests := map[string]bool{
		"203.0.113.9":          true,
		"203.0.114.1":          false,
		"198.51.100.7":         true,
		"198.51.100.8":         false,
		"2001:db8::1":          true,
		"2001:db9::1":          false,
		"::ffff:203.0.113.200": true, // IPv4-mapped IPv6 compares as IPv4
		"::ffff:10.0.0.1":      false,
	}
	for s, want := range tests {
		if got := p.SourceIPAllowed(netip.MustParseAddr(s)); got != want {
			t.Errorf("SourceIPAllowed(%s) = %v, want %v", s, got, want)
		}
	}
	if p.SourceIPAllowed(netip.Addr{}) {
		t.Error("an invalid address must not be allowed when the network is restricted")
	}
	if !p.VPCEndpointAllowed("vpce-0123456789abcdef0") || p.VPCEndpointAllowed("vpce-1111111111111111f") || p.VPCEndpointAllowed("") {
		t.Error("VPCEndpointAllowed wrong")
	}
	mapped := mustLoad(t, doc("network:", "  allowCidrs: [\"::ffff:10.0.0.0/104\"]"))
	if !mapped.SourceIPAllowed(netip.MustParseAddr("10.2.3.4")) {
		t.Error("an IPv4-mapped prefix in the policy must match plain IPv4 sources")
	}
	open := mustLoad(t, nil)
	if !open.SourceIPAllowed(netip.MustParseAddr("192.0.2.1")) || !open.SourceIPAllowed(netip.Addr{}) {
		t.Error("an unrestricted network allows every source")
	}
}

func TestPrincipalMatchers(t *testing.T) {
	p := mustLoad(t, doc(
		"principals:",
		"  allow: [\"arn:aws:iam::111122223333:role/App-*\", \"arn:aws:iam::111122223333:user/ci?\"]",
		"  exempt: [\"arn:aws:iam::*:role/BreakGlass*\"]",
	))
	tests := []struct {
		arn             string
		allowed, exempt bool
	}{
		{"arn:aws:iam::111122223333:role/App-web", true, false},
		{"arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/App-x", false, false},
		{"arn:aws:iam::111122223333:user/ci1", true, false},
		{"arn:aws:iam::111122223333:user/ci12", false, false},
		{"arn:aws:iam::444455556666:role/BreakGlassAdmin", false, true},
		{"arn:aws:iam::444455556666:role/path/BreakGlass", false, false},
	}
	for _, tt := range tests {
		if got := p.PrincipalAllowed(tt.arn); got != tt.allowed {
			t.Errorf("PrincipalAllowed(%s) = %v", tt.arn, got)
		}
		if got := p.PrincipalExempt(tt.arn); got != tt.exempt {
			t.Errorf("PrincipalExempt(%s) = %v", tt.arn, got)
		}
	}
}

func TestRuleAndSuppress(t *testing.T) {
	p := mustLoad(t, doc(
		"rules:",
		"  invocation-spike: {severity: low}",
		"  guardrail-changed: {enabled: false}",
		"alerts:",
		"  window: 2h",
		"  suppress: {invocation-spike: 10m, monitor-tampered: 0}",
	))
	if on, sev := p.Rule(findings.RuleInvocationSpike); !on || sev != findings.Low {
		t.Errorf("invocation-spike = %v %s, want on, low", on, sev)
	}
	if on, sev := p.Rule(findings.RuleGuardrailChanged); on || sev != findings.High {
		t.Errorf("guardrail-changed = %v %s, want off, high", on, sev)
	}
	if on, sev := p.Rule(findings.RuleMonitorTampered); !on || sev != findings.Critical {
		t.Errorf("monitor-tampered = %v %s", on, sev)
	}
	for rule, want := range map[string]time.Duration{
		findings.RuleInvocationSpike:   10 * time.Minute,
		findings.RuleMonitorTampered:   0,
		findings.RuleUnauthorizedModel: 2 * time.Hour,
	} {
		if got := p.SuppressWindow(rule); got != want {
			t.Errorf("SuppressWindow(%s) = %v, want %v", rule, got, want)
		}
	}
}
