package iameval

import (
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/bedrock-warden/warden/pkg/iampolicy"
)

func compiled(t *testing.T, name, text string) *Policy {
	t.Helper()
	p, err := Compile(name, doc(t, text))
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	return p
}

const fm = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-opus-20240229-v1:0"

func invoke(resource string, kv ...string) Request {
	return Request{Action: "bedrock:InvokeModel", Resource: resource, Context: ctx(kv...)}
}

// known makes every key outside the request's context undecided, as the
// audit does for keys it does not model.
func open(r Request) Request {
	r.Undecided = func(string) bool { return true }
	return r
}

func TestKleene(t *testing.T) {
	vals := []Tri{False, True, Unknown}
	for _, a := range vals {
		for _, b := range vals {
			if And(a, b) != And(b, a) || Or(a, b) != Or(b, a) {
				t.Errorf("not commutative at %v, %v", a, b)
			}
			// De Morgan holds in Kleene logic.
			if Not(And(a, b)) != Or(Not(a), Not(b)) {
				t.Errorf("De Morgan fails at %v, %v", a, b)
			}
		}
	}
	if And(Unknown, False) != False || Or(Unknown, True) != True || And(Unknown, True) != Unknown || Not(Unknown) != Unknown {
		t.Error("Kleene tables wrong")
	}
}

// TestTrickyDocuments covers the documents the audit meets in real
// accounts: NotAction with Bedrock wildcards, bedrock:* against
// bedrock:Invoke*, foundation-model and inference-profile ARNs across
// regions, a region deny, and a boundary taking away what a policy grants.
func TestTrickyDocuments(t *testing.T) {
	fullBedrock := compiled(t, "AmazonBedrockFullAccess", `{"Version":"2012-10-17","Statement":[{"Sid":"BedrockAll","Effect":"Allow","Action":["bedrock:*"],"Resource":"*"}]}`)
	invokeOnly := compiled(t, "invoke", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"Bedrock:Invoke*","Resource":"*"}]}`)
	notInvoke := compiled(t, "not-invoke", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":["bedrock:Invoke*","iam:*"],"Resource":"*"}]}`)
	denyAllButRead := compiled(t, "deny-writes", `{"Version":"2012-10-17","Statement":[{"Sid":"OnlyRead","Effect":"Deny","NotAction":["bedrock:Get*","bedrock:List*"],"Resource":"*"}]}`)
	usOnlyFM := compiled(t, "us-models", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":["arn:aws:bedrock:us-*::foundation-model/*","arn:aws:bedrock:us-*:111122223333:inference-profile/us.*"]}]}`)
	anyAccountFM := compiled(t, "account-wildcard", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"arn:aws:bedrock:*:*:foundation-model/*"}]}`)
	regionDeny := compiled(t, "region-guard", `{"Version":"2012-10-17","Statement":[{"Sid":"DenyOutsideEU","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":["eu-west-1","eu-central-1"]}}}]}`)
	boundary := compiled(t, "boundary", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"arn:aws:bedrock:*::foundation-model/amazon.*"}]}`)

	profile := "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-3-opus-20240229-v1:0"
	euFM := "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-opus-20240229-v1:0"
	nova := "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-pro-v1:0"
	tests := []struct {
		name   string
		set    Set
		req    Request
		want   Tri
		reason string // substring of Reason
	}{
		{"bedrock:* allows invocation", Set{Identity: []*Policy{fullBedrock}}, invoke(fm), True, "allowed"},
		{"bedrock:* allows provisioned throughput", Set{Identity: []*Policy{fullBedrock}}, Request{Action: "bedrock:CreateProvisionedModelThroughput", Resource: "arn:aws:bedrock:us-east-1:111122223333:provisioned-model/x"}, True, ""},
		{"Invoke* (any case) allows the streaming call", Set{Identity: []*Policy{invokeOnly}}, Request{Action: "bedrock:InvokeModelWithResponseStream", Resource: fm}, True, ""},
		{"Invoke* does not allow provisioned throughput", Set{Identity: []*Policy{invokeOnly}}, Request{Action: "bedrock:CreateProvisionedModelThroughput", Resource: "*"}, False, "no allow in identity policy"},
		{"NotAction Invoke* leaves invocation out", Set{Identity: []*Policy{notInvoke}}, invoke(fm), False, "no allow"},
		{"NotAction Invoke* grants logging changes", Set{Identity: []*Policy{notInvoke}}, Request{Action: "bedrock:DeleteModelInvocationLoggingConfiguration", Resource: "*"}, True, ""},
		{"NotAction iam:* leaves API keys out", Set{Identity: []*Policy{notInvoke}}, Request{Action: "iam:CreateServiceSpecificCredential", Resource: "arn:aws:iam::111122223333:user/u"}, False, ""},
		{"Deny NotAction read-only denies invocation", Set{Identity: []*Policy{fullBedrock, denyAllButRead}}, invoke(fm), False, `explicit deny in identity policy: deny-writes statement #1 "OnlyRead"`},
		{"Deny NotAction read-only lets List through", Set{Identity: []*Policy{fullBedrock, denyAllButRead}}, Request{Action: "bedrock:ListFoundationModels", Resource: "*"}, True, ""},
		{"us-* foundation model in us-east-1", Set{Identity: []*Policy{usOnlyFM}}, invoke(fm), True, ""},
		{"us-* foundation model not in eu-west-1", Set{Identity: []*Policy{usOnlyFM}}, invoke(euFM), False, ""},
		{"us profile ARN with its account", Set{Identity: []*Policy{usOnlyFM}}, invoke(profile), True, ""},
		{"profile of another account", Set{Identity: []*Policy{usOnlyFM}}, invoke(strings.Replace(profile, "111122223333", "999999999999", 1)), False, ""},
		{"foundation-model pattern does not cover a profile", Set{Identity: []*Policy{anyAccountFM}}, invoke(profile), False, ""},
		{"*:* account field matches the empty account", Set{Identity: []*Policy{anyAccountFM}}, invoke(fm), True, ""},
		{"region deny outside EU", Set{Identity: []*Policy{fullBedrock, regionDeny}}, invoke(fm, "aws:RequestedRegion", "us-east-1"), False, "DenyOutsideEU"},
		{"region deny lets EU through", Set{Identity: []*Policy{fullBedrock, regionDeny}}, invoke(euFM, "aws:RequestedRegion", "eu-west-1"), True, ""},
		{"region deny with the region unknown", Set{Identity: []*Policy{fullBedrock, regionDeny}}, open(invoke(euFM)), Unknown, "aws:RequestedRegion"},
		{"boundary removes what the policy grants", Set{Identity: []*Policy{fullBedrock}, Boundary: []*Policy{boundary}}, invoke(euFM), False, "no allow in permissions boundary"},
		{"boundary keeps what it allows", Set{Identity: []*Policy{fullBedrock}, Boundary: []*Policy{boundary}}, invoke(nova), True, ""},
		{"boundary alone grants nothing", Set{Boundary: []*Policy{boundary}}, invoke(nova), False, "no allow in identity policy"},
		{"empty boundary grants nothing", Set{Identity: []*Policy{fullBedrock}, Boundary: []*Policy{}}, invoke(nova), False, "no allow in permissions boundary"},
		{"SCP level without an allow", Set{Identity: []*Policy{fullBedrock}, SCPs: [][]*Policy{{fullBedrock}, {regionDeny}}}, invoke(euFM, "aws:RequestedRegion", "eu-west-1"), False, "no allow in SCP level 2"},
		{"SCP deny", Set{Identity: []*Policy{fullBedrock}, SCPs: [][]*Policy{{fullBedrock, regionDeny}}}, invoke(fm, "aws:RequestedRegion", "us-east-1"), False, "explicit deny in SCP level 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.set.Decide(tt.req)
			if r.Decision != tt.want {
				t.Fatalf("Decision = %v (%s), want %v", r.Decision, r.Reason, tt.want)
			}
			if !strings.Contains(r.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", r.Reason, tt.reason)
			}
		})
	}
}

func TestDecideUnknown(t *testing.T) {
	mfa := compiled(t, "mfa-only", `{"Version":"2012-10-17","Statement":[{"Sid":"WithMFA","Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}`)
	plain := compiled(t, "plain", `{"Version":"2012-10-17","Statement":[{"Sid":"Plain","Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"*"}]}`)
	tagDeny := compiled(t, "tag-deny", `{"Version":"2012-10-17","Statement":[{"Sid":"NoUntagged","Effect":"Deny","Action":"*","Resource":"*","Condition":{"Null":{"aws:ResourceTag/team":"true"}}}]}`)

	// An allow that depends on an unknown key: Unknown, saying which test.
	r := Set{Identity: []*Policy{mfa}}.Decide(open(invoke(fm)))
	if r.Decision != Unknown || len(r.Undecided) != 1 || !strings.Contains(r.Undecided[0], "aws:MultiFactorAuthPresent") || !strings.Contains(r.Undecided[0], `"WithMFA"`) {
		t.Fatalf("MFA allow: %+v", r)
	}
	if len(r.GrantsUnknown) != 1 || r.GrantsUnknown[0].Sid != "WithMFA" {
		t.Errorf("GrantsUnknown = %+v", r.GrantsUnknown)
	}
	// The same request with the key known (absent) is an implicit deny, and
	// with the key known true it is allowed.
	if r := (Set{Identity: []*Policy{mfa}}).Decide(invoke(fm)); r.Decision != False {
		t.Errorf("closed request: %+v", r)
	}
	if r := (Set{Identity: []*Policy{mfa}}).Decide(open(invoke(fm, "aws:MultiFactorAuthPresent", "true"))); r.Decision != True {
		t.Errorf("key given: %+v", r)
	}
	// Another statement that certainly allows decides.
	r = Set{Identity: []*Policy{mfa, plain}}.Decide(open(invoke(fm)))
	if r.Decision != True || len(r.Grants) != 1 || r.Grants[0].Policy != "plain" {
		t.Errorf("certain allow beside an unknown one: %+v", r)
	}
	// A deny that may apply makes an allow Unknown; one that cannot be
	// decided does not beat an implicit deny elsewhere.
	r = Set{Identity: []*Policy{plain, tagDeny}}.Decide(open(invoke(fm)))
	if r.Decision != Unknown || len(r.Denies) != 1 || r.Denies[0].Sid != "NoUntagged" {
		t.Errorf("unknown deny: %+v", r)
	}
	if r := (Set{Identity: []*Policy{tagDeny}}).Decide(open(invoke(fm))); r.Decision != False {
		t.Errorf("nothing allows: %+v", r)
	}
}

func TestPolicyVariables(t *testing.T) {
	own := compiled(t, "own-keys", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:CreateServiceSpecificCredential","Resource":"arn:aws:iam::*:user/${aws:username}"}]}`)
	legacy := compiled(t, "legacy", `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"iam:CreateServiceSpecificCredential","Resource":"arn:aws:iam::*:user/${aws:username}"}]}`)
	withDefault := compiled(t, "default", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:PrincipalTag/team, 'shared'}/*"}]}`)
	inCondition := compiled(t, "cond", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/owner":"${aws:username}"}}}]}`)
	alice := "arn:aws:iam::111122223333:user/alice"
	req := func(resource string, kv ...string) Request {
		return Request{Action: "iam:CreateServiceSpecificCredential", Resource: resource, Context: ctx(kv...)}
	}
	cases := []struct {
		name string
		set  Set
		req  Request
		want Tri
	}{
		{"own user", Set{Identity: []*Policy{own}}, req(alice, "aws:username", "alice"), True},
		{"another user", Set{Identity: []*Policy{own}}, req("arn:aws:iam::111122223333:user/bob", "aws:username", "alice"), False},
		{"a role has no aws:username", Set{Identity: []*Policy{own}}, req(alice), False},
		{"username not known", Set{Identity: []*Policy{own}}, open(req(alice)), Unknown},
		{"2008-10-17 keeps the text literal", Set{Identity: []*Policy{legacy}}, req(alice, "aws:username", "alice"), False},
		{"2008-10-17 literal text matches itself", Set{Identity: []*Policy{legacy}}, req("arn:aws:iam::1:user/${aws:username}"), True},
		{"default used", Set{Identity: []*Policy{withDefault}}, Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/shared/x"}, True},
		{"tag wins over default", Set{Identity: []*Policy{withDefault}}, Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/ml/x", Context: ctx("aws:PrincipalTag/team", "ml")}, True},
		{"variable in a condition value", Set{Identity: []*Policy{inCondition}}, invoke(fm, "aws:username", "alice", "aws:ResourceTag/owner", "alice"), True},
		{"variable in a condition value, other owner", Set{Identity: []*Policy{inCondition}}, invoke(fm, "aws:username", "alice", "aws:ResourceTag/owner", "bob"), False},
	}
	for _, c := range cases {
		if got := c.set.Decide(c.req); got.Decision != c.want {
			t.Errorf("%s: %v (%s), want %v", c.name, got.Decision, got.Reason, c.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, text := range []string{
		`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}}`,
		`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"k":"ten"}}}}`,
		`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"k":"soon"}}}}`,
		`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringLikeish":{"k":"x"}}}}`,
	} {
		d, err := iampolicy.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Compile("p", d); err == nil || !strings.Contains(err.Error(), "p statement 0") {
			t.Errorf("%s: error %v, want one naming the statement", text, err)
		}
	}
}

func TestReachable(t *testing.T) {
	usOnly := compiled(t, "us", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"arn:aws:bedrock:us-*::foundation-model/*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}`)
	own := compiled(t, "own", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:CreateServiceSpecificCredential","Resource":"arn:aws:iam::*:user/${aws:username}"}]}`)
	notRes := compiled(t, "not", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:*","NotResource":"arn:aws:bedrock:*::foundation-model/*opus*"}]}`)
	s := Set{Identity: []*Policy{usOnly, own, notRes}}
	for _, c := range []struct {
		action, resource string
		want             bool
	}{
		{"bedrock:InvokeModel", fm, true}, // conditions aside
		{"bedrock:InvokeModel", "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-opus", false},
		{"bedrock:InvokeModel", "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-pro-v1:0", true},
		{"iam:CreateServiceSpecificCredential", "arn:aws:iam::1:user/anyone", true}, // a variable may match
		{"s3:GetObject", "arn:aws:s3:::b/k", false},
	} {
		if got := s.Reachable(c.action, c.resource); got != c.want {
			t.Errorf("Reachable(%s, %s) = %v, want %v", c.action, c.resource, got, c.want)
		}
	}
	// Every layer must have a matching allow.
	b := Set{Identity: []*Policy{notRes}, Boundary: []*Policy{usOnly}}
	if b.Reachable("bedrock:InvokeModel", "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-pro-v1:0") {
		t.Error("the boundary allows nothing in eu-west-1")
	}
	// Reachable never says false where Decide could say true or unknown.
	for _, r := range []Request{open(invoke(fm)), open(invoke(fm, "aws:MultiFactorAuthPresent", "true"))} {
		if d := s.Decide(r); d.Decision != False && !s.Reachable(r.Action, r.Resource) {
			t.Errorf("%+v: Decide %v but not reachable", r, d.Decision)
		}
	}
}

// TestReachableNeverHidesAnAllow: for random documents and requests,
// Reachable false means Decide denies.
func TestReachableNeverHidesAnAllow(t *testing.T) {
	actions := []string{"bedrock:*", "bedrock:Invoke*", "bedrock:InvokeModel", "*", "s3:*"}
	resources := []string{"*", "arn:aws:bedrock:*::foundation-model/*", "arn:aws:bedrock:us-*::foundation-model/amazon.*", "arn:aws:bedrock:*:*:inference-profile/*", "arn:aws:iam::*:user/${aws:username}"}
	conds := []string{``, `,"Condition":{"StringEquals":{"aws:RequestedRegion":"us-east-1"}}`, `,"Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}`}
	reqRes := []string{fm, "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova", "arn:aws:bedrock:eu-west-1:1:inference-profile/eu.x", "arn:aws:iam::1:user/alice"}
	rapid.Check(t, func(rt *rapid.T) {
		var sts []string
		for i := range rapid.IntRange(1, 3).Draw(rt, "n") {
			eff := rapid.SampledFrom([]string{"Allow", "Deny"}).Draw(rt, fmt.Sprint("eff", i))
			elem := rapid.SampledFrom([]string{"Resource", "NotResource"}).Draw(rt, fmt.Sprint("elem", i))
			sts = append(sts, fmt.Sprintf(`{"Effect":%q,"Action":%q,%q:%q%s}`, eff, rapid.SampledFrom(actions).Draw(rt, fmt.Sprint("a", i)),
				elem, rapid.SampledFrom(resources).Draw(rt, fmt.Sprint("r", i)), rapid.SampledFrom(conds).Draw(rt, fmt.Sprint("c", i))))
		}
		d, err := iampolicy.Parse(`{"Version":"2012-10-17","Statement":[` + strings.Join(sts, ",") + `]}`)
		if err != nil {
			rt.Fatal(err)
		}
		p, err := Compile("p", d)
		if err != nil {
			rt.Fatal(err)
		}
		s := Set{Identity: []*Policy{p}}
		req := Request{Action: rapid.SampledFrom([]string{"bedrock:InvokeModel", "iam:CreateServiceSpecificCredential"}).Draw(rt, "action"),
			Resource: rapid.SampledFrom(reqRes).Draw(rt, "res"), Context: Context{}, Undecided: func(string) bool { return true }}
		if rapid.Bool().Draw(rt, "user") {
			req.Context.Set("aws:username", "alice")
		}
		if !s.Reachable(req.Action, req.Resource) && s.Decide(req).Decision != False {
			rt.Fatalf("not reachable but %v: %s on %s under %s", s.Decide(req).Decision, req.Action, req.Resource, strings.Join(sts, ","))
		}
	})
}

func TestAllowsAction(t *testing.T) {
	invoke := compiled(t, "invoke", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:Invoke*","Resource":"arn:aws:bedrock:*::foundation-model/amazon.*"}]}`)
	denyAll := compiled(t, "deny", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`)
	if !(Set{Identity: []*Policy{invoke}}).AllowsAction("bedrock:InvokeModel") {
		t.Error("Invoke* covers InvokeModel")
	}
	if (Set{Identity: []*Policy{invoke}}).AllowsAction("bedrock:DeleteGuardrail") {
		t.Error("Invoke* does not cover DeleteGuardrail")
	}
	if (Set{Identity: []*Policy{invoke}, Boundary: []*Policy{denyAll}}).AllowsAction("bedrock:InvokeModel") {
		t.Error("a boundary without an allow allows nothing")
	}
}
