package policy

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
)

// doc joins lines into a YAML document, so tests can name line numbers.
func doc(lines ...string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }

func mustLoad(t *testing.T, data []byte) *Policy {
	t.Helper()
	p, err := Load("policy.yaml", data)
	if err != nil {
		t.Fatalf("Load: %v\n%s", err, data)
	}
	return p
}

func TestLoadValidKeys(t *testing.T) {
	tests := []struct {
		name  string
		doc   []byte
		check func(t *testing.T, p *Policy)
	}{
		{"models", doc("models:", "  allow: [\"anthropic.claude-*\", \"amazon.nova-?ite-v1:0\"]", "  deny: [\"*opus*\"]"), func(t *testing.T, p *Policy) {
			want := ModelRules{Allow: []string{"anthropic.claude-*", "amazon.nova-?ite-v1:0"}, Deny: []string{"*opus*"}}
			if !reflect.DeepEqual(p.Models, want) {
				t.Errorf("models = %+v, want %+v", p.Models, want)
			}
		}},
		{"regions", doc("regions:", "  allow: [us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ap-southeast-5, il-central-1, mx-central-1, us-isob-east-1]", "  inference: [us-west-2]", "  allowGlobalProfiles: true"), func(t *testing.T, p *Policy) {
			if len(p.Regions.Allow) != 8 || !reflect.DeepEqual(p.Regions.Inference, []string{"us-west-2"}) || !p.Regions.AllowGlobalProfiles {
				t.Errorf("regions = %+v", p.Regions)
			}
		}},
		{"empty inference is unset", doc("regions:", "  allow: [us-east-1]", "  inference: []"), func(t *testing.T, p *Policy) {
			if p.Regions.Inference != nil {
				t.Errorf("inference = %#v, want nil (same as allow)", p.Regions.Inference)
			}
		}},
		{"network", doc("network:", "  allowCidrs: [10.1.2.3/8, 192.0.2.7, \"2001:db8::/32\", \"::ffff:10.0.0.0/104\"]", "  allowVpcEndpoints: [vpce-0123456789abcdef0, vpce-1a2b3c4d]", "  allowAwsServiceCallers: false"), func(t *testing.T, p *Policy) {
			wantC := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "10.0.0.0/8"}
			if !reflect.DeepEqual(p.Network.AllowCidrs, wantC) {
				t.Errorf("cidrs = %v, want %v", p.Network.AllowCidrs, wantC)
			}
			if len(p.Network.AllowVpcEndpoints) != 2 || p.ServiceCallersAllowed() {
				t.Errorf("network = %+v", p.Network)
			}
		}},
		{"principals", doc("principals:", "  allow: [\"arn:aws:iam::*:role/App*\"]", "  exempt: [\"arn:aws:iam::123456789012:user/ops\"]"), func(t *testing.T, p *Policy) {
			if len(p.Principals.Allow) != 1 || len(p.Principals.Exempt) != 1 {
				t.Errorf("principals = %+v", p.Principals)
			}
		}},
		{"apiKeys", doc("apiKeys:", "  allow: true"), func(t *testing.T, p *Policy) {
			if !p.APIKeys.Allow {
				t.Error("apiKeys.allow not read")
			}
		}},
		{"rules", doc("rules:", "  unauthorized-model: {enabled: false}", "  denied-invocation: {severity: critical}"), func(t *testing.T, p *Policy) {
			if got := p.Rules[findings.RuleUnauthorizedModel]; got.Enabled == nil || *got.Enabled || got.Severity != "high" {
				t.Errorf("unauthorized-model = %+v", got)
			}
			if got := p.Rules[findings.RuleDeniedInvocation]; *got.Enabled != true || got.Severity != "critical" {
				t.Errorf("denied-invocation = %+v", got)
			}
		}},
		{"alerts", doc("alerts:", "  window: 2h", "  suppress: {invocation-spike: 15m, monitor-tampered: 0}"), func(t *testing.T, p *Policy) {
			want := AlertSettings{Window: Duration(2 * time.Hour), Suppress: map[string]Duration{"invocation-spike": Duration(15 * time.Minute), "monitor-tampered": 0}}
			if !reflect.DeepEqual(p.Alerts, want) {
				t.Errorf("alerts = %+v, want %+v", p.Alerts, want)
			}
		}},
		{"spikes", doc("spikes:", "  window: 1m", "  perPrincipal: {max: 100, baselineFactor: 0}", "  perModel: {max: 0, baselineFactor: 2.5, baselineWindows: 6, floor: 10}",
			"  overrides:", "    - {principal: \"arn:aws:iam::*:role/Batch*\", max: 10000}"), func(t *testing.T, p *Policy) {
			want := SpikeSettings{
				Window:       Duration(time.Minute),
				PerPrincipal: SpikeThreshold{Max: 100, BaselineFactor: 0, BaselineWindows: 12, Floor: 50},
				PerModel:     SpikeThreshold{Max: 0, BaselineFactor: 2.5, BaselineWindows: 6, Floor: 10},
				Overrides:    []SpikeOverride{{Principal: "arn:aws:iam::*:role/Batch*", Max: 10000}},
			}
			if !reflect.DeepEqual(p.Spikes, want) {
				t.Errorf("spikes = %+v\nwant %+v", p.Spikes, want)
			}
		}},
		{"budgets", doc("budgets:", "  - {model: \"anthropic.*\", period: month, maxUSD: 99.5}", "  - {model: amazon.nova-micro-v1:0, period: day, maxInvocations: 1000, maxTokens: 5000000}"), func(t *testing.T, p *Policy) {
			want := []Budget{{Model: "anthropic.*", Period: "month", MaxUSD: 99.5}, {Model: "amazon.nova-micro-v1:0", Period: "day", MaxInvocations: 1000, MaxTokens: 5000000}}
			if !reflect.DeepEqual(p.Budgets, want) {
				t.Errorf("budgets = %+v", p.Budgets)
			}
		}},
		{"prices override and extend the default table", doc("prices:", "  \"anthropic.claude-3-5-sonnet-*\": {input: 0.006, output: 0.03}", "  \"custom.model\": {input: 1}"), func(t *testing.T, p *Policy) {
			if got := p.Prices["anthropic.claude-3-5-sonnet-*"]; got != (Price{Input: 0.006, Output: 0.03, CacheRead: 0.006, CacheWrite: 0.006}) {
				t.Errorf("override = %+v", got)
			}
			if got := p.Prices["custom.model"]; got != (Price{Input: 1, CacheRead: 1, CacheWrite: 1}) {
				t.Errorf("extension = %+v", got)
			}
			if got := p.Prices["amazon.nova-micro-*"]; got != defaultPrices["amazon.nova-micro-*"] {
				t.Errorf("default entry lost: %+v", got)
			}
		}},
		{"remediation", doc("remediation:", "  actions: {api-key-used: disable-credentials, guardrail-changed: quarantine, invocation-spike: revoke-sessions, unauthorized-principal: detach}",
			"  maxActionsPerHour: 0", "  quarantineTTL: 7d", "  protectedTag: \"team/keep = yes@x\""), func(t *testing.T, p *Policy) {
			want := RemediationSettings{
				Actions:           map[string]string{"api-key-used": "disable-credentials", "guardrail-changed": "quarantine", "invocation-spike": "revoke-sessions", "unauthorized-principal": "detach"},
				MaxActionsPerHour: 0, QuarantineTTL: Duration(7 * 24 * time.Hour), ProtectedTag: "team/keep = yes@x",
			}
			if !reflect.DeepEqual(p.Remediation, want) {
				t.Errorf("remediation = %+v", p.Remediation)
			}
		}},
		{"quarantineTTL 0 is kept apart from unset", doc("remediation:", "  quarantineTTL: 0"), func(t *testing.T, p *Policy) {
			if p.Remediation.QuarantineTTL != 0 {
				t.Errorf("quarantineTTL = %v, want 0 (until undone)", p.Remediation.QuarantineTTL)
			}
		}},
		{"heartbeat", doc("heartbeat:", "  silentAfter: 45m", "  idleAfter: 2d"), func(t *testing.T, p *Policy) {
			if p.Heartbeat.SilentAfter.D() != 45*time.Minute || p.Heartbeat.IdleAfter.D() != 48*time.Hour {
				t.Errorf("heartbeat = %+v", p.Heartbeat)
			}
		}},
		{"monitor", doc("monitor:", "  onCall: [\"arn:aws:iam::*:role/OnCall\"]"), func(t *testing.T, p *Policy) {
			if !p.OnCall("arn:aws:iam::123456789012:role/OnCall") || p.OnCall("arn:aws:iam::123456789012:role/Dev") {
				t.Errorf("onCall = %v", p.Monitor.OnCall)
			}
		}},
		{"null sections are empty", doc("models:", "regions: ~", "rules:"), func(t *testing.T, p *Policy) {
			if !p.ModelAllowed("x") || !p.RegionAllowed("ap-south-1") {
				t.Error("null sections must allow all")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, mustLoad(t, tt.doc)) })
	}
}

func TestLoadInvalidValues(t *testing.T) {
	tests := []struct {
		name string
		doc  []byte
		want string // the whole first error message
	}{
		{"region typo", doc("regions:", "  allow:", "    - us-east-1", "    - us-esat-1"), `policy.yaml:4:7: regions.allow[1]: "us-esat-1" is not an AWS region`},
		{"region case", doc("regions:", "  inference: [US-EAST-1]"), `policy.yaml:2:15: regions.inference[0]: "US-EAST-1" is not an AWS region`},
		{"region not a list", doc("regions:", "  allow: us-east-1"), `policy.yaml:2:10: regions.allow: want a list, got "us-east-1"`},
		{"bool", doc("regions:", "  allowGlobalProfiles: maybe"), `policy.yaml:2:24: regions.allowGlobalProfiles: want true or false, got "maybe"`},
		{"empty model", doc("models:", "  allow: [\"\"]"), `policy.yaml:2:11: models.allow[0]: pattern must not be empty`},
		{"null model", doc("models:", "  deny:", "    - ~"), `policy.yaml:3:7: models.deny[0]: want a string, got nothing`},
		{"model with space", doc("models:", "  allow: [\"anthropic claude\"]"), `policy.yaml:2:11: models.allow[0]: pattern "anthropic claude" contains whitespace or a control character`},
		{"cidr", doc("network:", "  allowCidrs: [10.0.0.0/33]"), `policy.yaml:2:16: network.allowCidrs[0]: "10.0.0.0/33" is not a CIDR prefix or IP address`},
		{"cidr zone", doc("network:", "  allowCidrs: [\"fe80::1%eth0\"]"), `policy.yaml:2:16: network.allowCidrs[0]: "fe80::1%eth0": zoned addresses are not allowed`},
		{"vpce", doc("network:", "  allowVpcEndpoints: [vpce-XYZ]"), `policy.yaml:2:23: network.allowVpcEndpoints[0]: "vpce-XYZ" is not a VPC endpoint id (want "vpce-" and 8 to 17 hex digits)`},
		{"principal glob", doc("principals:", "  exempt: [\" arn:aws:iam::*:role/x\"]"), `policy.yaml:2:12: principals.exempt[0]: pattern " arn:aws:iam::*:role/x" has leading or trailing spaces`},
		{"unknown rule", doc("rules:", "  unauthorised-model: {enabled: false}"), `policy.yaml:2:3: rules.unauthorised-model: unknown rule "unauthorised-model" (did you mean "unauthorized-model"?)`},
		{"severity", doc("rules:", "  guardrail-changed: {severity: severe}"), `policy.yaml:2:33: rules.guardrail-changed.severity: "severe" is not a severity (want info, low, medium, high or critical)`},
		{"rule not mapping", doc("rules:", "  guardrail-changed: false"), `policy.yaml:2:22: rules.guardrail-changed: want a mapping of keys, got "false"`},
		{"alert window 0", doc("alerts:", "  window: 0"), `policy.yaml:2:11: alerts.window: must be longer than 0 (it is how long repeats of one incident stay quiet)`},
		{"suppress unknown rule", doc("alerts:", "  suppress: {spike: 1h}"), `policy.yaml:2:14: alerts.suppress.spike: unknown rule "spike"`},
		{"negative duration", doc("heartbeat:", "  idleAfter: -1h"), `policy.yaml:2:14: heartbeat.idleAfter: duration "-1h" is negative`},
		{"duration without unit", doc("heartbeat:", "  silentAfter: 30"), `policy.yaml:2:16: heartbeat.silentAfter: duration "30" has no unit (write e.g. "90s", "5m", "24h" or "7d")`},
		{"spike window too short", doc("spikes:", "  window: 30s"), `policy.yaml:2:11: spikes.window: must be at least 1m, got 30s`},
		{"spike factor", doc("spikes:", "  perPrincipal: {baselineFactor: 0.5}"), `policy.yaml:2:34: spikes.perPrincipal.baselineFactor: must be at least 1 when set (0 turns the baseline check off), got 0.5`},
		{"spike factor without windows", doc("spikes:", "  perModel: {baselineFactor: 2}"), `policy.yaml:2:13: spikes.perModel: baselineFactor is set but baselineWindows is 0: the baseline needs at least one window`},
		{"spike max negative", doc("spikes:", "  perModel: {max: -5}"), `policy.yaml:2:19: spikes.perModel.max: must not be negative, got -5`},
		{"spike max float", doc("spikes:", "  perModel: {max: 1.5}"), `policy.yaml:2:19: spikes.perModel.max: want a whole number, got "1.5"`},
		{"override without principal", doc("spikes:", "  overrides:", "    - {max: 5}"), `policy.yaml:3:7: spikes.overrides[0]: principal is required`},
		{"budget period", doc("budgets:", "  - {model: x, period: week, maxUSD: 1}"), `policy.yaml:2:24: budgets[0].period: "week" is not a period (want day or month)`},
		{"budget no max", doc("budgets:", "  - {model: x, period: day}"), `policy.yaml:2:5: budgets[0]: give at least one of maxInvocations, maxTokens, maxUSD above 0`},
		{"budget no model", doc("budgets:", "  - {period: day, maxTokens: 10}"), `policy.yaml:2:5: budgets[0]: model is required (a glob on the base model id, e.g. "anthropic.claude-*")`},
		{"budget no period", doc("budgets:", "  - {model: x, maxTokens: 10}"), `policy.yaml:2:5: budgets[0]: period is required (day or month)`},
		{"price negative", doc("prices:", "  x: {input: -0.1}"), `policy.yaml:2:14: prices.x.input: must not be negative, got -0.1`},
		{"price not number", doc("prices:", "  x: {output: cheap}"), `policy.yaml:2:15: prices.x.output: want a number, got "cheap"`},
		{"price nan", doc("prices:", "  x: {output: .nan}"), `policy.yaml:2:15: prices.x.output: want a number, got ".nan"`},
		{"unknown action", doc("remediation:", "  actions: {invocation-spike: nuke}"), `policy.yaml:2:31: remediation.actions.invocation-spike: "nuke" is not a remediation action (want one of quarantine, detach, revoke-sessions, disable-credentials)`},
		{"action on aggregate rule", doc("remediation:", "  actions: {budget-exceeded: quarantine}"), `policy.yaml:2:30: remediation.actions.budget-exceeded: rule "budget-exceeded" is not about one principal, so it cannot carry a remediation`},
		{"disable-credentials on control-plane rule", doc("remediation:", "  actions: {guardrail-changed: disable-credentials}"), `policy.yaml:2:32: remediation.actions.guardrail-changed: "disable-credentials" applies only to rules about an invocation's credential, not to "guardrail-changed"`},
		{"action unknown rule", doc("remediation:", "  actions: {api-key: quarantine}"), `policy.yaml:2:13: remediation.actions.api-key: unknown rule "api-key"`},
		{"maxActionsPerHour negative", doc("remediation:", "  maxActionsPerHour: -1"), `policy.yaml:2:22: remediation.maxActionsPerHour: must not be negative, got -1`},
		{"protectedTag reserved", doc("remediation:", "  protectedTag: \"aws:x\""), `policy.yaml:2:17: remediation.protectedTag: tag key "aws:x" uses the reserved prefix "aws:"`},
		{"protectedTag chars", doc("remediation:", "  protectedTag: \"a#b\""), `policy.yaml:2:17: remediation.protectedTag: tag key "a#b" contains '#' (allowed: letters, digits, spaces and _ . : / = + - @)`},
		{"protectedTag empty", doc("remediation:", "  protectedTag: \"\""), `policy.yaml:2:17: remediation.protectedTag: tag key must not be empty`},
		{"section not mapping", doc("models: [a]"), `policy.yaml:1:9: models: want a mapping of keys, got a list`},
		{"top level not mapping", doc("- a"), `policy.yaml:1:1: want a mapping of keys, got a list`},
		{"duplicate key", doc("apiKeys:", "  allow: true", "  allow: false"), `policy.yaml:3:3: apiKeys.allow: key given twice`},
		{"alias", doc("models:", "  allow: &m [\"a*\"]", "  deny: *m"), `policy.yaml:3:9: models.deny: YAML aliases are not supported in a policy`},
		{"syntax", doc("models:", "  allow: [a", "regions: x"), `policy.yaml:1: YAML syntax: did not find expected ',' or ']'`},
		{"syntax indentation", doc("apiKeys: x", " allow: true"), `policy.yaml:2: YAML syntax: mapping values are not allowed in this context`},
		{"two documents", doc("apiKeys: {allow: true}", "---", "apiKeys: {allow: false}"), `policy.yaml:2: more than one YAML document; a policy is one document`},
		{"error code typo", doc("rules:", "  denied-invocation:", "    errorCodes: [AccessDenied, ValidationExeption]"), `policy.yaml:3:32: rules.denied-invocation.errorCodes[1]: unknown error code "ValidationExeption" (did you mean "ValidationException"?`},
		{"error code case", doc("rules:", "  denied-invocation:", "    errorCodes: [accessdenied]"), `policy.yaml:3:18: rules.denied-invocation.errorCodes[0]: unknown error code "accessdenied" (did you mean "AccessDenied"?`},
		{"error code chars", doc("rules:", "  denied-invocation:", "    errorCodes: [\"Access Denied\"]"), `policy.yaml:3:18: rules.denied-invocation.errorCodes[0]: "Access Denied" is not an error code: letters, digits and dots only`},
		{"error code twice", doc("rules:", "  denied-invocation:", "    errorCodes: [AccessDenied, AccessDenied]"), `policy.yaml:3:32: rules.denied-invocation.errorCodes[1]: error code "AccessDenied" is listed twice`},
		{"error codes empty", doc("rules:", "  denied-invocation:", "    errorCodes: []"), `policy.yaml:3:17: rules.denied-invocation.errorCodes: must name at least one error code (to turn the rule off, write enabled: false)`},
		{"error codes not a list", doc("rules:", "  denied-invocation: {errorCodes: AccessDenied}"), `policy.yaml:2:35: rules.denied-invocation.errorCodes: want a list, got "AccessDenied"`},
		{"error codes on another rule", doc("rules:", "  denied-change: {errorCodes: [AccessDenied]}"), `policy.yaml:2:31: rules.denied-change.errorCodes: errorCodes applies only to rules.denied-invocation`},
		{"recon window too short", doc("rules:", "  recon-then-invoke: {window: 30s}"), `policy.yaml:2:31: rules.recon-then-invoke.window: must be between 1m and 7d, got 30s`},
		{"recon window too long", doc("rules:", "  recon-then-invoke: {window: 8d}"), `policy.yaml:2:31: rules.recon-then-invoke.window: must be between 1m and 7d, got 8d`},
		{"recon window no unit", doc("rules:", "  recon-then-invoke: {window: 60}"), `policy.yaml:2:31: rules.recon-then-invoke.window: duration "60" has no unit`},
		{"window on another rule", doc("rules:", "  model-recon: {window: 1h}"), `policy.yaml:2:25: rules.model-recon.window: window applies only to rules.recon-then-invoke`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Load("policy.yaml", tt.doc)
			if err == nil {
				t.Fatalf("Load accepted:\n%s", tt.doc)
			}
			if p != nil {
				t.Error("Load returned a policy with an error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not a *Error: %v", err, err)
			}
			if !strings.HasPrefix(e.Error(), tt.want) {
				t.Errorf("error\n got: %s\nwant: %s", e.Error(), tt.want)
			}
		})
	}
}

func TestRuleOnlyKeys(t *testing.T) {
	p := mustLoad(t, doc("rules:", "  denied-invocation:", "    errorCodes: [AccessDeniedException, ThrottlingException, InsufficientCapacityError]",
		"  recon-then-invoke: {window: 15m, severity: high}"))
	if got := p.Rules[findings.RuleDeniedInvocation].ErrorCodes; !reflect.DeepEqual(got, []string{"AccessDeniedException", "ThrottlingException", "InsufficientCapacityError"}) {
		t.Errorf("errorCodes = %v", got)
	}
	if p.ReconWindow() != 15*time.Minute {
		t.Errorf("window = %v", p.ReconWindow())
	}
	if on, sev := p.Rule(findings.RuleReconThenInvoke); !on || sev != findings.High {
		t.Errorf("recon-then-invoke = %v %v", on, sev)
	}
	for _, c := range []struct {
		code   string
		adMsg  bool
		counts bool
	}{
		{"AccessDeniedException", false, true},
		{"ThrottlingException", false, true},
		{"AccessDenied", false, false}, // not listed any more
		{"ValidationException", false, false},
		{"", false, false},
	} {
		if got := p.DeniedErrorCode(c.code, c.adMsg); got != c.counts {
			t.Errorf("custom DeniedErrorCode(%q, %v) = %v, want %v", c.code, c.adMsg, got, c.counts)
		}
	}

	// Defaults: the hand-built zero policy and the loaded empty one agree.
	for name, p := range map[string]*Policy{"zero": {}, "empty": mustLoad(t, nil)} {
		if p.ReconWindow() != DefaultReconWindow {
			t.Errorf("%s: window = %v", name, p.ReconWindow())
		}
		for _, c := range []struct {
			code   string
			adMsg  bool
			counts bool
		}{
			{"AccessDenied", false, true},
			{"AccessDeniedException", false, true},
			{"UnauthorizedOperation", false, true},
			{"Client.UnauthorizedOperation", false, true},
			{"ValidationException", false, true},
			{"ResourceNotFoundException", true, true},
			{"ResourceNotFoundException", false, false},
			{"ThrottlingException", false, false},
			{"", false, false},
		} {
			if got := p.DeniedErrorCode(c.code, c.adMsg); got != c.counts {
				t.Errorf("%s: DeniedErrorCode(%q, %v) = %v, want %v", name, c.code, c.adMsg, got, c.counts)
			}
		}
	}
	e := mustLoad(t, nil)
	if got := e.Rules[findings.RuleDeniedInvocation].ErrorCodes; !reflect.DeepEqual(got, DefaultDeniedErrorCodes) {
		t.Errorf("effective errorCodes = %v", got)
	}
	if got := e.Rules[findings.RuleReconThenInvoke].Window; got.D() != DefaultReconWindow {
		t.Errorf("effective window = %v", got)
	}
	if e.Rules[findings.RuleModelRecon].Window != 0 || e.Rules[findings.RuleModelRecon].ErrorCodes != nil {
		t.Errorf("model-recon got rule-only keys: %+v", e.Rules[findings.RuleModelRecon])
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		doc  []byte
		want string
	}{
		{doc("# comment", "", "models:", "  alow: [x]"), `policy.yaml:4: unknown key "alow" in models (did you mean "allow"?)`},
		{doc("modles:", "  allow: [x]"), `policy.yaml:1: unknown key "modles" in the policy (did you mean "models"?)`},
		{doc("network:", "  allowcidrs: []"), `policy.yaml:2: unknown key "allowcidrs" in network (did you mean "allowCidrs"?)`},
		{doc("spikes:", "  perPrincipal:", "    baselineFactr: 3"), `policy.yaml:3: unknown key "baselineFactr" in spikes.perPrincipal (did you mean "baselineFactor"?)`},
		{doc("budgets:", "  - {model: x, period: day, maxUsd: 3}"), `policy.yaml:2: unknown key "maxUsd" in budgets[0] (did you mean "maxUSD"?)`},
		{doc("remediation:", "  somethingElse: 1"), `policy.yaml:2: unknown key "somethingElse" in remediation`},
		{doc("rules:", "  denied-invocation:", "    errorCode: [AccessDenied]"), `policy.yaml:3: unknown key "errorCode" in rules.denied-invocation (did you mean "errorCodes"?)`},
		{doc("rules:", "  recon-then-invoke:", "    windw: 2h"), `policy.yaml:3: unknown key "windw" in rules.recon-then-invoke (did you mean "window"?)`},
	}
	for _, tt := range tests {
		_, err := Load("policy.yaml", tt.doc)
		if err == nil || err.Error() != tt.want {
			t.Errorf("error\n got: %v\nwant: %s", err, tt.want)
		}
	}
}

func TestAllErrorsReported(t *testing.T) {
	_, err := Load("policy.yaml", doc(
		"models:",
		"  alow: [x]", // 2
		"regions:",
		"  allow: [us-east-1, us-esat-1, mars-1]", // 4: two errors
		"rules:",
		"  no-such-rule: {}", // 6
		"remediation:",
		"  maxActionsPerHour: lots", // 8
	))
	if err == nil {
		t.Fatal("Load accepted a broken policy")
	}
	errs := Errors(err)
	lines := []int{}
	for _, e := range errs {
		lines = append(lines, e.Line)
	}
	if want := []int{2, 4, 4, 6, 8}; !reflect.DeepEqual(lines, want) {
		t.Errorf("error lines = %v, want %v\n%v", lines, want, err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 5 {
		t.Errorf("joined message has %d lines, want 5:\n%v", n, err)
	}
}

func TestEmptyDocumentIsAllowAllWithDefaults(t *testing.T) {
	for _, data := range [][]byte{nil, []byte(""), []byte("# only a comment\n"), []byte("---\n"), []byte("~\n")} {
		p := mustLoad(t, data)
		checkDefaults(t, p)
		if !p.ModelAllowed("anything.at-all") || !p.RegionAllowed("ap-south-2") || !p.PrincipalAllowed("arn:aws:iam::1:user/x") || p.NetworkRestricted() {
			t.Errorf("%q: empty policy must allow everything", data)
		}
		if _, denied := p.ModelDenied("anthropic.claude-3-opus-20240229-v1:0"); denied {
			t.Errorf("%q: empty policy denies a model", data)
		}
		for _, r := range findings.Catalogue {
			if on, sev := p.Rule(r.ID); !on || sev != r.Severity {
				t.Errorf("rule %s = %v %s, want on at %s", r.ID, on, sev, r.Severity)
			}
		}
	}
}

func checkDefaults(t *testing.T, p *Policy) {
	t.Helper()
	if p.Alerts.Window.D() != time.Hour {
		t.Errorf("alerts.window = %v", p.Alerts.Window)
	}
	if p.Spikes.Window.D() != 5*time.Minute {
		t.Errorf("spikes.window = %v", p.Spikes.Window)
	}
	if p.Spikes.PerPrincipal != (SpikeThreshold{Max: 500, BaselineFactor: 5, BaselineWindows: 12, Floor: 50}) {
		t.Errorf("perPrincipal = %+v", p.Spikes.PerPrincipal)
	}
	if p.Spikes.PerModel != (SpikeThreshold{Max: 2000}) {
		t.Errorf("perModel = %+v", p.Spikes.PerModel)
	}
	r := p.Remediation
	if r.MaxActionsPerHour != 10 || r.QuarantineTTL.D() != 24*time.Hour || r.ProtectedTag != "bedrock-warden:protected" {
		t.Errorf("remediation = %+v", r)
	}
	if p.Heartbeat.SilentAfter.D() != 30*time.Minute || p.Heartbeat.IdleAfter.D() != 24*time.Hour {
		t.Errorf("heartbeat = %+v", p.Heartbeat)
	}
	if p.Network.AllowAwsServiceCallers == nil || !*p.Network.AllowAwsServiceCallers {
		t.Error("allowAwsServiceCallers default must be true")
	}
	if !reflect.DeepEqual(p.Prices, defaultPrices) {
		t.Error("prices must default to the built-in table")
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, doc("regions:", "  allow: [eu-west-9x]"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path)
	var e *Error
	if !errors.As(err, &e) || e.Name != path || e.Line != 2 {
		t.Errorf("LoadFile error = %v, want one naming %s line 2", err, path)
	}
	_, err = LoadFile(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file error = %v, want os.ErrNotExist wrapped", err)
	}
}

func TestLoadTooLarge(t *testing.T) {
	big := make([]byte, maxPolicySize+1)
	if _, err := Load("big", big); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized document: err = %v", err)
	}
}

func TestValidRegion(t *testing.T) {
	good := []string{"us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1", "cn-northwest-1", "ap-southeast-5", "il-central-1", "mx-central-1", "us-iso-east-1", "us-isob-east-1", "eu-isoe-west-1", "ca-west-1"}
	bad := []string{"", "us-esat-1", "us-east", "us-east-", "useast-1", "usa-east-1", "u-east-1", "US-EAST-1", "us-east-1a", "us-gov-1x", "us-foo-west-1", "us--east-1", "global", "us-east-1 ", "us-east-1000"}
	for _, s := range good {
		if !validRegion(s) {
			t.Errorf("validRegion(%q) = false", s)
		}
	}
	for _, s := range bad {
		if validRegion(s) {
			t.Errorf("validRegion(%q) = true", s)
		}
	}
}

func TestActionAllowed(t *testing.T) {
	for _, a := range Actions {
		if err := ActionAllowed(findings.RuleInvocationSpike, a); err != nil {
			t.Errorf("%s on invocation-spike: %v", a, err)
		}
		if err := ActionAllowed(findings.RulePipelineSilent, a); err == nil {
			t.Errorf("%s on pipeline-silent accepted", a)
		}
	}
	if err := ActionAllowed(findings.RuleModelAccessChanged, ActionQuarantine); err != nil {
		t.Errorf("quarantine on model-access-changed: %v", err)
	}
	if err := ActionAllowed(findings.RuleModelAccessChanged, ActionDisableCredentials); err == nil {
		t.Error("disable-credentials on model-access-changed accepted")
	}
	// A standing permission is fixed as the audit says, not remediated.
	for _, a := range Actions {
		if err := ActionAllowed(findings.RuleOverPermissioned, a); err == nil {
			t.Errorf("%s on over-permissioned accepted", a)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{Name: "policy.yaml", Line: 7, Column: 3, Key: "regions.allow[1]", Msg: `"us-esat-1" is not an AWS region`}, `policy.yaml:7:3: regions.allow[1]: "us-esat-1" is not an AWS region`},
		{Error{Name: "WARDEN_POLICY", Line: 4, Msg: "m"}, "WARDEN_POLICY:4: m"},
		{Error{Name: "x", Msg: "m"}, "x: m"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
