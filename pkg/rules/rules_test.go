package rules

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
)

func boolp(b bool) *bool { return &b }

// testPolicy mirrors the example policy.
func testPolicy() *policy.Policy {
	return &policy.Policy{
		Models:     policy.ModelRules{Allow: []string{"anthropic.claude-3-5-sonnet-*", "amazon.nova-*"}, Deny: []string{"*opus*"}},
		Regions:    policy.RegionRules{Allow: []string{"us-east-1", "us-west-2"}, Inference: []string{"us-east-1", "us-east-2", "us-west-2"}},
		Network:    policy.NetworkRules{AllowCidrs: []string{"10.0.0.0/8", "2001:db8::/32"}, AllowVpcEndpoints: []string{"vpce-0a1b2c3d"}, AllowAwsServiceCallers: boolp(true)},
		Principals: policy.PrincipalRules{Allow: []string{"arn:aws:iam::*:role/app-*"}, Exempt: []string{"arn:aws:iam::*:role/BreakGlass*"}},
	}
}

// invoke returns a benign invocation under testPolicy; tests mutate it.
func invoke() normalize.Event {
	return normalize.Event{
		ID: "e1", Name: "InvokeModel", Source: "bedrock.amazonaws.com", Account: "123456789012",
		Category: normalize.CategoryInvocation, Region: "us-east-1",
		Principal: normalize.Principal{Type: normalize.PrincipalAssumedRole, ARN: "arn:aws:iam::123456789012:role/app-batch", SessionName: "s1"},
		Model:     normalize.Model{Kind: normalize.ModelFoundation, Raw: "anthropic.claude-3-5-sonnet-20240620-v1:0", Base: "anthropic.claude-3-5-sonnet-20240620-v1:0"},
		Caller:    normalize.Caller{IP: netip.MustParseAddr("10.1.2.3"), Raw: "10.1.2.3", UserAgent: "Boto3/1.34"},
	}
}

func rulesOf(fs []findings.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule)
	}
	return out
}

func TestInvocationRules(t *testing.T) {
	profile := func(raw, base, geo string) normalize.Model {
		return normalize.Model{Kind: normalize.ModelSystemProfile, Raw: raw, Base: base, Geography: geo}
	}
	cases := []struct {
		name   string
		mutate func(*normalize.Event)
		want   []string
	}{
		{"benign", func(*normalize.Event) {}, nil},
		{"denied model", func(e *normalize.Event) {
			e.Model = normalize.Model{Kind: normalize.ModelFoundation, Raw: "anthropic.claude-3-opus-20240229-v1:0", Base: "anthropic.claude-3-opus-20240229-v1:0"}
		}, []string{findings.RuleUnauthorizedModel}},
		{"model outside allow", func(e *normalize.Event) {
			e.Model = normalize.Model{Kind: normalize.ModelFoundation, Raw: "meta.llama3-70b-instruct-v1:0", Base: "meta.llama3-70b-instruct-v1:0"}
		}, []string{findings.RuleUnauthorizedModel}},
		{"allowed model through us profile", func(e *normalize.Event) {
			e.Model = profile("us.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0", "us")
			e.Inference.Region = "us-east-2"
		}, nil},
		{"opaque application profile not allowed", func(e *normalize.Event) {
			e.Model = normalize.Model{Kind: normalize.ModelApplicationProfile, Raw: "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc"}
		}, []string{findings.RuleUnauthorizedModel}},
		{"calling region", func(e *normalize.Event) { e.Region = "eu-west-1" }, []string{findings.RuleUnauthorizedRegion}},
		{"inference region", func(e *normalize.Event) { e.Inference.Region = "eu-west-3" }, []string{findings.RuleUnauthorizedRegion}},
		{"inference region allowed", func(e *normalize.Event) { e.Inference.Region = "us-east-2" }, nil},
		{"global profile", func(e *normalize.Event) {
			e.Model = profile("global.anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-3-5-sonnet-20240620-v1:0", "global")
			e.Inference.Global = true
			e.Inference.Region = "ap-southeast-2"
		}, []string{findings.RuleUnauthorizedRegion}},
		{"source outside cidrs", func(e *normalize.Event) {
			e.Caller.IP = netip.MustParseAddr("198.44.136.222")
			e.Caller.Raw = "198.44.136.222"
		}, []string{findings.RuleUnauthorizedSourceIP}},
		{"ipv6 inside", func(e *normalize.Event) {
			e.Caller.IP = netip.MustParseAddr("2001:db8::1")
			e.Caller.Raw = "2001:db8::1"
		}, nil},
		{"ipv6 outside", func(e *normalize.Event) {
			e.Caller.IP = netip.MustParseAddr("2600:1f18::1")
			e.Caller.Raw = "2600:1f18::1"
		}, []string{findings.RuleUnauthorizedSourceIP}},
		{"allowed vpc endpoint with private ip outside cidrs", func(e *normalize.Event) {
			e.Caller.IP = netip.MustParseAddr("172.31.5.6")
			e.Caller.Raw = "172.31.5.6"
			e.Caller.VPCEndpointID = "vpce-0a1b2c3d"
		}, nil},
		{"other vpc endpoint", func(e *normalize.Event) {
			e.Caller.IP = netip.MustParseAddr("172.31.5.6")
			e.Caller.Raw = "172.31.5.6"
			e.Caller.VPCEndpointID = "vpce-ffff"
		}, []string{findings.RuleUnauthorizedSourceIP}},
		{"aws service caller", func(e *normalize.Event) {
			e.Caller = normalize.Caller{Service: "bedrock.amazonaws.com", Raw: "bedrock.amazonaws.com"}
		}, nil},
		{"principal outside allow", func(e *normalize.Event) {
			e.Principal = normalize.Principal{Type: normalize.PrincipalIAMUser, ARN: "arn:aws:iam::123456789012:user/alice"}
		}, []string{findings.RuleUnauthorizedPrincipal}},
		{"exempt principal breaks everything but is not reported", func(e *normalize.Event) {
			e.Principal = normalize.Principal{Type: normalize.PrincipalAssumedRole, ARN: "arn:aws:iam::123456789012:role/BreakGlassAdmin"}
			e.Region = "ap-south-1"
			e.Model = normalize.Model{Raw: "anthropic.claude-3-opus-20240229-v1:0", Base: "anthropic.claude-3-opus-20240229-v1:0"}
		}, nil},
		{"api key", func(e *normalize.Event) { e.Principal.BearerToken = true }, []string{findings.RuleAPIKeyUsed}},
		{"denied invocation reports only the refusal", func(e *normalize.Event) {
			e.Outcome = normalize.Outcome{ErrorCode: "AccessDenied", ErrorMessage: "You don't have access", Denied: true}
			e.Model = normalize.Model{Raw: "anthropic.claude-3-opus-20240229-v1:0", Base: "anthropic.claude-3-opus-20240229-v1:0"}
		}, []string{findings.RuleDeniedInvocation}},
		{"validation probe is denied-invocation", func(e *normalize.Event) {
			e.Outcome = normalize.Outcome{ErrorCode: "ValidationException", ErrorMessage: "max_tokens_to_sample: range: 1..1,000,000"}
		}, []string{findings.RuleDeniedInvocation}},
		{"validation probe of a denied model from a bad address is three findings", func(e *normalize.Event) {
			e.Outcome = normalize.Outcome{ErrorCode: "ValidationException"}
			e.Model = normalize.Model{Raw: "anthropic.claude-3-opus-20240229-v1:0", Base: "anthropic.claude-3-opus-20240229-v1:0"}
			e.Caller.IP = netip.MustParseAddr("83.7.139.184")
			e.Caller.Raw = "83.7.139.184"
		}, []string{findings.RuleDeniedInvocation, findings.RuleUnauthorizedModel, findings.RuleUnauthorizedSourceIP}},
		{"throttled call is not a probe", func(e *normalize.Event) {
			e.Outcome = normalize.Outcome{ErrorCode: "ThrottlingException"}
		}, nil},
		{"plain missing model is not a probe", func(e *normalize.Event) {
			e.Outcome = normalize.Outcome{ErrorCode: "ResourceNotFoundException", ErrorMessage: "Model not found"}
		}, nil},
		{"legacy model refusal", func(e *normalize.Event) {
			e.Outcome = normalize.Outcome{ErrorCode: "ResourceNotFoundException", ErrorMessage: "Access denied. This Model is marked by provider as Legacy", Denied: true, AccessDeniedMessage: true}
		}, []string{findings.RuleDeniedInvocation}},
		{"no model in partial record", func(e *normalize.Event) { e.Model = normalize.Model{} }, nil},
		{"everything at once", func(e *normalize.Event) {
			e.Region = "eu-west-3"
			e.Model = normalize.Model{Raw: "anthropic.claude-3-opus-20240229-v1:0", Base: "anthropic.claude-3-opus-20240229-v1:0"}
			e.Caller.IP = netip.MustParseAddr("8.8.8.8")
			e.Principal.ARN = "arn:aws:iam::123456789012:user/mallory"
			e.Principal.BearerToken = true
		}, []string{findings.RuleUnauthorizedModel, findings.RuleUnauthorizedRegion, findings.RuleUnauthorizedSourceIP, findings.RuleUnauthorizedPrincipal, findings.RuleAPIKeyUsed}},
	}
	eng := New(testPolicy())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := invoke()
			c.mutate(&ev)
			got := rulesOf(eng.Evaluate(&ev, nil))
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Fatalf("rules = %v, want %v", got, c.want)
			}
		})
	}
}

func TestServiceCallersDisallowed(t *testing.T) {
	p := testPolicy()
	p.Network = policy.NetworkRules{AllowAwsServiceCallers: boolp(false)}
	ev := invoke()
	ev.Caller = normalize.Caller{Internal: true, Raw: "AWS Internal"}
	got := rulesOf(New(p).Evaluate(&ev, nil))
	if len(got) != 1 || got[0] != findings.RuleUnauthorizedSourceIP {
		t.Fatalf("rules = %v", got)
	}
}

func TestEmptyPolicyAllowsEverything(t *testing.T) {
	ev := invoke()
	ev.Region = "ap-south-1"
	ev.Caller.IP = netip.MustParseAddr("8.8.8.8")
	ev.Model = normalize.Model{Raw: "anthropic.claude-3-opus-20240229-v1:0", Base: "anthropic.claude-3-opus-20240229-v1:0"}
	if fs := New(&policy.Policy{}).Evaluate(&ev, nil); len(fs) != 0 {
		t.Fatalf("findings = %v", rulesOf(fs))
	}
}

func TestControlPlaneRules(t *testing.T) {
	eng := New(testPolicy())
	for _, c := range []struct {
		name string
		want string
	}{
		{"DeleteModelInvocationLoggingConfiguration", findings.RuleInvocationLoggingDisabled},
		{"PutModelInvocationLoggingConfiguration", findings.RuleInvocationLoggingDisabled},
		{"DeleteGuardrail", findings.RuleGuardrailChanged},
		{"UpdateGuardrail", findings.RuleGuardrailChanged},
		{"PutFoundationModelEntitlement", findings.RuleModelAccessChanged},
		{"CreateFoundationModelAgreement", findings.RuleModelAccessChanged},
		{"CreateProvisionedModelThroughput", findings.RuleCostlyResourceCreated},
		{"CreateModelCustomizationJob", findings.RuleCostlyResourceCreated},
		{"ListFoundationModels", ""},
		{"GetGuardrail", ""},
	} {
		ev := normalize.Event{ID: "c1", Name: c.name, Source: "bedrock.amazonaws.com", Region: "us-west-2",
			Category:  normalize.CategoryControlPlane,
			Principal: normalize.Principal{Type: normalize.PrincipalAssumedRole, ARN: "arn:aws:iam::123123123123:role/aws-reserved/sso.amazonaws.com/us-west-2/DevAdmin"}}
		got := rulesOf(eng.Evaluate(&ev, nil))
		want := []string{}
		if c.want != "" {
			want = []string{c.want}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: rules = %v, want %v", c.name, got, want)
		}
		// A refused watched change is denied-change: the attempt is the
		// signal. A change that failed otherwise changed nothing.
		ev.Outcome = normalize.Outcome{ErrorCode: "AccessDeniedException", Denied: true}
		got = rulesOf(eng.Evaluate(&ev, nil))
		want = []string{}
		if c.want != "" {
			want = []string{findings.RuleDeniedChange}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s refused: rules = %v, want %v", c.name, got, want)
		}
		ev.Outcome = normalize.Outcome{ErrorCode: "ValidationException"}
		if fs := eng.Evaluate(&ev, nil); len(fs) != 0 {
			t.Errorf("%s failed: rules = %v, want none", c.name, rulesOf(fs))
		}
	}
}

func TestRuleSettings(t *testing.T) {
	p := testPolicy()
	p.Rules = map[string]policy.RuleSetting{
		findings.RuleUnauthorizedModel:  {Enabled: boolp(false)},
		findings.RuleUnauthorizedRegion: {Severity: "critical"},
	}
	ev := invoke()
	ev.Region = "eu-west-1"
	ev.Model = normalize.Model{Raw: "anthropic.claude-3-opus-20240229-v1:0", Base: "anthropic.claude-3-opus-20240229-v1:0"}
	fs := New(p).Evaluate(&ev, nil)
	if len(fs) != 1 || fs[0].Rule != findings.RuleUnauthorizedRegion || fs[0].Severity != findings.Critical {
		t.Fatalf("findings = %+v", fs)
	}
}

func TestUnsupportedSourceIgnored(t *testing.T) {
	ev := invoke()
	ev.Unsupported = true
	ev.Source = "s3.amazonaws.com"
	if fs := New(testPolicy()).Evaluate(&ev, nil); len(fs) != 0 {
		t.Fatalf("findings = %v", rulesOf(fs))
	}
}

func TestFindingFields(t *testing.T) {
	ev := invoke()
	ev.Model = normalize.Model{Kind: normalize.ModelSystemProfile, Raw: "us.anthropic.claude-3-opus-20240229-v1:0", Base: "anthropic.claude-3-opus-20240229-v1:0", Geography: "us"}
	ev.Inference.Region = "us-east-2"
	fs := New(testPolicy()).Evaluate(&ev, nil)
	if len(fs) != 1 {
		t.Fatalf("findings = %v", rulesOf(fs))
	}
	f := fs[0]
	if f.Principal != "arn:aws:iam::123456789012:role/app-batch" || f.PrincipalType != "AssumedRole" || f.SessionName != "s1" ||
		f.Model != "us.anthropic.claude-3-opus-20240229-v1:0" || f.BaseModel != "anthropic.claude-3-opus-20240229-v1:0" ||
		f.Region != "us-east-1" || f.InferenceRegion != "us-east-2" || f.SourceIP != "10.1.2.3" || f.EventID != "e1" ||
		f.Account != "123456789012" || f.Severity != findings.High {
		t.Fatalf("finding = %+v", f)
	}
	if !strings.Contains(f.Title, "role/app-batch") || !strings.Contains(f.Title, "anthropic.claude-3-opus") || strings.ContainsAny(f.Title, "\n") {
		t.Fatalf("title = %q", f.Title)
	}
	if !strings.Contains(f.Reason, `"*opus*"`) {
		t.Fatalf("reason = %q", f.Reason)
	}
	// Same incident, another event: same fingerprint. Another region: different.
	ev2 := ev
	ev2.ID = "e2"
	f2 := New(testPolicy()).Evaluate(&ev2, nil)[0]
	if f2.Fingerprint != f.Fingerprint {
		t.Fatal("fingerprint differs for the same incident")
	}
	ev2.Region = "us-west-2"
	if f3 := New(testPolicy()).Evaluate(&ev2, nil)[0]; f3.Fingerprint == f.Fingerprint {
		t.Fatal("fingerprint equal across regions")
	}
	// The same base model through a bare id is the same incident.
	ev2 = ev
	ev2.Model = normalize.Model{Kind: normalize.ModelFoundation, Raw: "anthropic.claude-3-opus-20240229-v1:0", Base: "anthropic.claude-3-opus-20240229-v1:0"}
	if f4 := New(testPolicy()).Evaluate(&ev2, nil)[0]; f4.Fingerprint != f.Fingerprint {
		t.Fatal("fingerprint differs between profile and bare id of one model")
	}
}

func TestBenignEventAllocatesNothing(t *testing.T) {
	eng := New(testPolicy())
	ev := invoke()
	buf := make([]findings.Finding, 0, 4)
	allocs := testing.AllocsPerRun(100, func() { buf = eng.Evaluate(&ev, buf[:0]) })
	if allocs != 0 {
		t.Fatalf("benign evaluation allocates %v times", allocs)
	}
}

func TestShortPrincipal(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:iam::123456789012:role/app-batch":  "role/app-batch",
		"arn:aws:iam::123456789012:user/path/alice": "user/path/alice",
		"arn:aws:iam::123456789012:root":            "root",
		"bedrock.amazonaws.com":                     "bedrock.amazonaws.com",
		"":                                          "an unknown principal",
		"arn:aws:iam":                               "arn:aws:iam",
	} {
		if got := ShortPrincipal(in); got != want {
			t.Errorf("ShortPrincipal(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestControlPlaneIncidentsByEventName(t *testing.T) {
	eng := New(testPolicy())
	ev := normalize.Event{Name: "PutModelInvocationLoggingConfiguration", Source: "bedrock.amazonaws.com", Region: "us-west-2",
		Category: normalize.CategoryControlPlane, Principal: normalize.Principal{ARN: "arn:aws:iam::1:role/admin"}}
	put := eng.Evaluate(&ev, nil)[0]
	ev.Name = "DeleteModelInvocationLoggingConfiguration"
	del := eng.Evaluate(&ev, nil)[0]
	if put.Rule != del.Rule || put.Fingerprint == del.Fingerprint {
		t.Fatalf("put and delete share an incident: %s %s", put.Fingerprint, del.Fingerprint)
	}
	again := eng.Evaluate(&ev, nil)[0]
	if again.Fingerprint != del.Fingerprint {
		t.Fatal("the same change is not the same incident")
	}
}
