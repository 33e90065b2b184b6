package policy

import (
	"bytes"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/glob"
)

func TestDefaultLoads(t *testing.T) {
	p := Default()
	if p == nil {
		t.Fatal("Default() = nil")
	}
	if Default() != p {
		t.Error("Default() must parse once and return the same policy")
	}
	fresh, err := Load("embedded default", DefaultYAML())
	if err != nil {
		t.Fatalf("embedded default does not load: %v", err)
	}
	if !reflect.DeepEqual(fresh, p) {
		t.Error("Default() differs from loading DefaultYAML()")
	}
	b := DefaultYAML()
	b[0] = '!'
	if bytes.Equal(b, DefaultYAML()) {
		t.Error("DefaultYAML must return a copy")
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	user := doc(
		"models: {allow: [\"a.*\"], deny: [\"*opus*\"]}",
		"regions: {allow: [us-east-1], allowGlobalProfiles: true}",
		"network: {allowCidrs: [10.0.0.0/8, \"::ffff:192.0.2.0/120\"], allowVpcEndpoints: [vpce-0a1b2c3d], allowAwsServiceCallers: false}",
		"principals: {allow: [\"arn:aws:iam::*:role/App\"], exempt: [\"arn:aws:iam::*:role/BreakGlass*\"]}",
		"apiKeys: {allow: true}",
		"rules: {guardrail-changed: {enabled: false, severity: low}}",
		"alerts: {window: 90m, suppress: {invocation-spike: 0}}",
		"spikes: {window: 10m, perPrincipal: {max: 0, baselineFactor: 1.5, baselineWindows: 3}, overrides: [{principal: \"x*\", floor: 7}]}",
		"budgets: [{model: \"anthropic.*\", period: day, maxTokens: 100, maxUSD: 0.5}]",
		"prices: {\"my.model\": {input: 0.00007, output: 1.25}}",
		"remediation: {actions: {api-key-used: disable-credentials}, maxActionsPerHour: 3, quarantineTTL: 0, protectedTag: keep}",
		"heartbeat: {silentAfter: 0, idleAfter: 3d}",
		"monitor: {onCall: [\"arn:aws:iam::*:role/OnCall\"]}",
	)
	for name, p := range map[string]*Policy{"default": Default(), "user": mustLoad(t, user), "empty": mustLoad(t, nil)} {
		t.Run(name, func(t *testing.T) {
			out, err := p.YAML()
			if err != nil {
				t.Fatalf("YAML: %v", err)
			}
			back, err := Load("effective", out)
			if err != nil {
				t.Fatalf("Load(YAML()) failed: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(back, p) {
				t.Errorf("round trip changed the policy:\n%s\nbefore %+v\nafter  %+v", out, *p, *back)
			}
			if regexp.MustCompile(`[0-9]e[-+][0-9]`).Match(out) {
				t.Errorf("prices must print as plain decimals:\n%s", out)
			}
			again, err := back.YAML()
			if err != nil || !bytes.Equal(again, out) {
				t.Errorf("YAML() is not stable:\n%s\n---\n%s", out, again)
			}
		})
	}
}

// TestDefaultPolicyJudgesSamples pins what the default policy says about
// the models and regions in the repository's public CloudTrail samples
// (testdata/cloudtrail-public) and a few current ids.
func TestDefaultPolicyJudgesSamples(t *testing.T) {
	p := Default()
	models := []struct {
		id      string
		allowed bool
		denied  string // the deny pattern expected, "" for none
	}{
		{"anthropic.claude-3-5-sonnet-20240620-v1:0", true, ""},                           // converse, invokemodel samples
		{"anthropic.claude-3-sonnet-20240229-v1:0", false, "anthropic.claude-3-sonnet-*"}, // accessdenied probe
		{"stability.stable-diffusion-xl-v0", false, ""},                                   // validationexception probe
		{"anthropic.claude-v2", false, "anthropic.claude-v2*"},                            // legacy model sample
		{"anthropic.claude-3-7-sonnet-20250219-v1:0", true, ""},
		{"anthropic.claude-sonnet-4-20250514-v1:0", true, ""},
		{"anthropic.claude-3-5-haiku-20241022-v1:0", true, ""},
		{"amazon.nova-micro-v1:0", true, ""},
		{"amazon.titan-embed-text-v2:0", true, ""},
		{"meta.llama3-1-70b-instruct-v1:0", true, ""},
		{"cohere.embed-english-v3", true, ""},
		{"anthropic.claude-3-opus-20240229-v1:0", false, "*opus*"},
		{"anthropic.claude-opus-4-1-20250805-v1:0", false, "*opus*"},
		{"anthropic.claude-instant-v1", false, "anthropic.claude-instant-*"},
	}
	for _, m := range models {
		if got := p.ModelAllowed(m.id); got != m.allowed {
			t.Errorf("ModelAllowed(%s) = %v, want %v", m.id, got, m.allowed)
		}
		pat, denied := p.ModelDenied(m.id)
		if denied != (m.denied != "") || pat != m.denied {
			t.Errorf("ModelDenied(%s) = %q %v, want %q", m.id, pat, denied, m.denied)
		}
	}
	for region, want := range map[string]bool{"us-east-1": true, "us-west-2": true, "eu-central-1": true, "ap-northeast-1": false, "eu-west-3": false} {
		if got := p.RegionAllowed(region); got != want {
			t.Errorf("RegionAllowed(%s) = %v, want %v", region, got, want)
		}
	}
	for region, want := range map[string]bool{"us-west-2": true, "us-west-1": true, "eu-west-3": true, "eu-north-1": true, "ap-northeast-1": false, "sa-east-1": false} {
		if got := p.InferenceRegionAllowed(region); got != want {
			t.Errorf("InferenceRegionAllowed(%s) = %v, want %v", region, got, want)
		}
	}
	if p.Regions.AllowGlobalProfiles || p.APIKeys.Allow || p.NetworkRestricted() || !p.ServiceCallersAllowed() {
		t.Errorf("default regions/apiKeys/network wrong: %+v %+v %+v", p.Regions, p.APIKeys, p.Network)
	}
	if !p.PrincipalAllowed("arn:aws:iam::111122223333:user/anyone") {
		t.Error("default principals.allow must be empty (any)")
	}
	if !p.PrincipalExempt("arn:aws:iam::111122223333:role/BreakGlassAdmin") || p.PrincipalExempt("arn:aws:iam::111122223333:role/Admin") {
		t.Error("default exempt must be the BreakGlass roles only")
	}
	for _, r := range findings.Catalogue {
		if on, sev := p.Rule(r.ID); !on || sev != r.Severity {
			t.Errorf("default rule %s = %v %s, want on at %s", r.ID, on, sev, r.Severity)
		}
	}
	seen := map[string]bool{}
	for rule, a := range p.Remediation.Actions {
		if err := ActionAllowed(rule, a); err != nil {
			t.Errorf("default action %s: %v", rule, err)
		}
		seen[a] = true
	}
	for _, a := range Actions {
		if !seen[a] {
			t.Errorf("default remediation.actions does not show %q", a)
		}
	}
	checkDefaults(t, p)
	if p.SuppressWindow(findings.RuleMonitorTampered) != time.Hour {
		t.Error("default suppression window must be 1h")
	}
}

func TestDefaultPriceTable(t *testing.T) {
	if len(defaultPrices) == 0 {
		t.Fatal("no built-in prices")
	}
	for k, pr := range defaultPrices {
		if msg := checkPattern(k); msg != "" {
			t.Errorf("price key %q: %s", k, msg)
		}
		if pr.Input <= 0 || pr.Output < 0 || pr.Input > 0.1 || pr.Output > 0.1 {
			t.Errorf("price %q = %+v is not a plausible USD-per-1,000-tokens figure", k, pr)
		}
	}
	m := DefaultPrices()
	m["x"] = Price{}
	if _, leaked := defaultPrices["x"]; leaked {
		t.Error("DefaultPrices must return a copy")
	}
	// The default allow-list's headline models have a price, so a maxUSD
	// budget on them means something out of the box.
	p := Default()
	for _, id := range []string{"anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-3-5-haiku-20241022-v1:0", "amazon.nova-pro-v1:0", "meta.llama3-1-70b-instruct-v1:0"} {
		found := false
		for k := range p.Prices {
			if glob.Match(k, id) {
				found = true
			}
		}
		if !found {
			t.Errorf("no built-in price for %s", id)
		}
	}
}

// TestDefaultNamesEveryRule: the shipped default policy shows every rule
// of the catalogue explicitly, with its catalogue severity, so a reader of
// default.yaml sees what exists; and it maps no remediation action to the
// reconnaissance and change rules (they alert only).
func TestDefaultNamesEveryRule(t *testing.T) {
	l := &loader{name: "default"}
	root, err := l.parse(DefaultYAML())
	if err != nil {
		t.Fatal(err)
	}
	var rulesNode map[string]any
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "rules" {
			if err := root.Content[i+1].Decode(&rulesNode); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, r := range findings.Catalogue {
		entry, ok := rulesNode[r.ID].(map[string]any)
		if !ok {
			t.Errorf("default.yaml does not list rule %s", r.ID)
			continue
		}
		if entry["severity"] != string(r.Severity) {
			t.Errorf("default.yaml gives %s severity %v, the catalogue %s", r.ID, entry["severity"], r.Severity)
		}
	}
	for _, id := range []string{findings.RuleModelRecon, findings.RuleReconThenInvoke, findings.RuleAPIKeyCreated,
		findings.RuleModelExfiltration, findings.RuleAgentChanged, findings.RuleKnowledgeBaseChanged, findings.RuleDeniedChange} {
		if a, ok := Default().Remediation.Actions[id]; ok {
			t.Errorf("default remediation acts on %s (%s); recon and change rules alert only", id, a)
		}
	}
}
