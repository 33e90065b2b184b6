package iameval

import (
	"errors"
	"testing"

	"github.com/bedrock-warden/warden/pkg/iampolicy"
)

func ctx(kv ...string) Context {
	c := Context{}
	for i := 0; i+1 < len(kv); i += 2 {
		c.Set(kv[i], append(c[lower(kv[i])], kv[i+1])...)
	}
	return c
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func TestConditionOperators(t *testing.T) {
	tests := []struct {
		name string
		op   string
		key  string
		vals []string
		ctx  Context
		want bool
	}{
		{"StringEquals match", "StringEquals", "aws:RequestedRegion", []string{"us-east-1", "eu-west-1"}, ctx("aws:RequestedRegion", "eu-west-1"), true},
		{"StringEquals no match", "StringEquals", "aws:RequestedRegion", []string{"us-east-1"}, ctx("aws:RequestedRegion", "us-east-2"), false},
		{"StringEquals is case-sensitive", "StringEquals", "aws:RequestedRegion", []string{"US-EAST-1"}, ctx("aws:RequestedRegion", "us-east-1"), false},
		{"key names ignore case", "StringEquals", "AWS:REQUESTEDREGION", []string{"us-east-1"}, ctx("aws:requestedregion", "us-east-1"), true},
		{"StringEquals missing key", "StringEquals", "aws:RequestedRegion", []string{"us-east-1"}, ctx(), false},
		{"StringNotEquals match", "StringNotEquals", "aws:SourceVpce", []string{"vpce-1"}, ctx("aws:SourceVpce", "vpce-1"), false},
		{"StringNotEquals other", "StringNotEquals", "aws:SourceVpce", []string{"vpce-1"}, ctx("aws:SourceVpce", "vpce-2"), true},
		{"StringNotEquals missing key is true", "StringNotEquals", "aws:SourceVpce", []string{"vpce-1"}, ctx(), true},
		{"StringEqualsIgnoreCase", "StringEqualsIgnoreCase", "k", []string{"ABC"}, ctx("k", "abc"), true},
		{"StringLike glob", "StringLike", "aws:PrincipalArn", []string{"arn:aws:iam::*:role/app-*"}, ctx("aws:PrincipalArn", "arn:aws:iam::111122223333:role/app-chat"), true},
		{"StringLike ? is one char", "StringLike", "k", []string{"a?c"}, ctx("k", "abbc"), false},
		{"StringNotLike missing key is true", "StringNotLike", "k", []string{"a*"}, ctx(), true},
		{"StringNotLike match", "StringNotLike", "k", []string{"a*"}, ctx("k", "abc"), false},
		{"ArnLike", "ArnLike", "aws:PrincipalArn", []string{"arn:aws:iam::*:role/BreakGlass*"}, ctx("aws:PrincipalArn", "arn:aws:iam::111122223333:role/BreakGlassAdmin"), true},
		{"ArnLike field by field: * stays in its field", "ArnLike", "aws:PrincipalArn", []string{"arn:aws:iam::*:role/x"}, ctx("aws:PrincipalArn", "arn:aws:iam::1:2:role/x"), false},
		{"ArnLike resource field keeps colons", "ArnLike", "k", []string{"arn:aws:bedrock:*::foundation-model/anthropic.*"}, ctx("k", "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2:1"), true},
		{"ArnLike non-ARN request value", "ArnLike", "k", []string{"arn:aws:iam::*:role/x"}, ctx("k", "bedrock.amazonaws.com"), false},
		{"ArnNotLike missing key is true", "ArnNotLike", "aws:PrincipalArn", []string{"arn:aws:iam::*:role/x"}, ctx(), true},
		{"ArnNotLike match", "ArnNotLike", "aws:PrincipalArn", []string{"arn:aws:iam::*:role/x"}, ctx("aws:PrincipalArn", "arn:aws:iam::1:role/x"), false},
		{"ArnEquals behaves like ArnLike", "ArnEquals", "k", []string{"arn:aws:iam::*:role/x"}, ctx("k", "arn:aws:iam::1:role/x"), true},
		{"ArnNotEquals", "ArnNotEquals", "k", []string{"arn:aws:iam::*:role/x"}, ctx("k", "arn:aws:iam::1:role/y"), true},
		{"IpAddress v4 in range", "IpAddress", "aws:SourceIp", []string{"10.0.0.0/8"}, ctx("aws:SourceIp", "10.2.3.4"), true},
		{"IpAddress bare address", "IpAddress", "aws:SourceIp", []string{"203.0.113.9"}, ctx("aws:SourceIp", "203.0.113.9"), true},
		{"IpAddress v6", "IpAddress", "aws:SourceIp", []string{"2001:db8::/32"}, ctx("aws:SourceIp", "2001:db8::1"), true},
		{"IpAddress mapped v4", "IpAddress", "aws:SourceIp", []string{"10.0.0.0/8"}, ctx("aws:SourceIp", "::ffff:10.0.0.1"), true},
		{"IpAddress outside", "IpAddress", "aws:SourceIp", []string{"10.0.0.0/8"}, ctx("aws:SourceIp", "11.0.0.1"), false},
		{"IpAddress non-address value", "IpAddress", "aws:SourceIp", []string{"10.0.0.0/8"}, ctx("aws:SourceIp", "bedrock.amazonaws.com"), false},
		{"NotIpAddress outside", "NotIpAddress", "aws:SourceIp", []string{"10.0.0.0/8"}, ctx("aws:SourceIp", "11.0.0.1"), true},
		{"NotIpAddress inside", "NotIpAddress", "aws:SourceIp", []string{"10.0.0.0/8", "2001:db8::/32"}, ctx("aws:SourceIp", "2001:db8::9"), false},
		{"NotIpAddress missing key is true", "NotIpAddress", "aws:SourceIp", []string{"10.0.0.0/8"}, ctx(), true},
		{"Bool true", "Bool", "aws:ViaAWSService", []string{"true"}, ctx("aws:ViaAWSService", "true"), true},
		{"Bool mismatch", "Bool", "aws:ViaAWSService", []string{"false"}, ctx("aws:ViaAWSService", "true"), false},
		{"Bool missing key", "Bool", "aws:ViaAWSService", []string{"false"}, ctx(), false},
		{"BoolIfExists missing key", "BoolIfExists", "aws:ViaAWSService", []string{"false"}, ctx(), true},
		{"IfExists present still tests", "StringEqualsIfExists", "k", []string{"a"}, ctx("k", "b"), false},
		{"Null true on missing", "Null", "bedrock:InferenceProfileArn", []string{"true"}, ctx(), true},
		{"Null true on present", "Null", "bedrock:InferenceProfileArn", []string{"true"}, ctx("bedrock:InferenceProfileArn", "arn:x"), false},
		{"Null false on present", "Null", "bedrock:InferenceProfileArn", []string{"false"}, ctx("bedrock:InferenceProfileArn", "arn:x"), true},
		{"Null false on missing", "Null", "bedrock:InferenceProfileArn", []string{"false"}, ctx(), false},
		{"DateLessThan", "DateLessThan", "aws:CurrentTime", []string{"2026-12-01T00:00:00Z"}, ctx("aws:CurrentTime", "2026-11-24T11:00:00Z"), true},
		{"DateLessThan after", "DateLessThan", "aws:CurrentTime", []string{"2026-11-01T00:00:00Z"}, ctx("aws:CurrentTime", "2026-11-24T11:00:00Z"), false},
		{"DateLessThan epoch", "DateLessThan", "aws:EpochTime", []string{"1800000000"}, ctx("aws:EpochTime", "1795701791"), true},
		{"ForAnyValue one matches", "ForAnyValue:StringEquals", "aws:TagKeys", []string{"team"}, ctx("aws:TagKeys", "env", "aws:TagKeys", "team"), true},
		{"ForAnyValue missing key is false", "ForAnyValue:StringNotEquals", "aws:TagKeys", []string{"team"}, ctx(), false},
		{"ForAnyValue negated: one value outside", "ForAnyValue:StringNotEquals", "aws:TagKeys", []string{"team"}, ctx("aws:TagKeys", "team", "aws:TagKeys", "x"), true},
		{"ForAllValues all match", "ForAllValues:StringLike", "aws:TagKeys", []string{"team", "env*"}, ctx("aws:TagKeys", "team", "aws:TagKeys", "env-x"), true},
		{"ForAllValues one outside", "ForAllValues:StringLike", "aws:TagKeys", []string{"team"}, ctx("aws:TagKeys", "team", "aws:TagKeys", "x"), false},
		{"ForAllValues missing key is true", "ForAllValues:StringEquals", "aws:TagKeys", []string{"team"}, ctx(), true},
		{"negated multi-value needs every value outside", "StringNotEquals", "k", []string{"a"}, ctx("k", "b", "k", "a"), false},
		{"NumericLessThan", "NumericLessThan", "iam:ServiceSpecificCredentialAgeDays", []string{"31"}, ctx("iam:ServiceSpecificCredentialAgeDays", "30"), true},
		{"NumericLessThan equal", "NumericLessThan", "k", []string{"30"}, ctx("k", "30"), false},
		{"NumericLessThanEquals equal", "NumericLessThanEquals", "k", []string{"30"}, ctx("k", "30.0"), true},
		{"NumericGreaterThan", "NumericGreaterThan", "aws:MultiFactorAuthAge", []string{"3600"}, ctx("aws:MultiFactorAuthAge", "7200"), true},
		{"NumericNotEquals missing key is true", "NumericNotEquals", "k", []string{"1"}, ctx(), true},
		{"NumericEquals non-number request value", "NumericEquals", "k", []string{"1"}, ctx("k", "one"), false},
		{"BinaryEquals", "BinaryEquals", "k", []string{"QmluYXJ5"}, ctx("k", "QmluYXJ5"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Condition{Operator: tt.op, Key: tt.key, Values: tt.vals}.Eval(tt.ctx)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got != tt.want {
				t.Errorf("%s %s %q with %v = %v, want %v", tt.op, tt.key, tt.vals, tt.ctx, got, tt.want)
			}
		})
	}
}

func TestConditionErrors(t *testing.T) {
	for _, c := range []Condition{
		{Operator: "NumericLessThan", Key: "k", Values: []string{"one"}},
		{Operator: "NumericLessThanOrSo", Key: "k", Values: []string{"1"}},
		{Operator: "StringEqualz", Key: "k", Values: []string{"1"}},
		{Operator: "ForAnyValue:Null", Key: "k", Values: []string{"true"}},
		{Operator: "IpAddress", Key: "aws:SourceIp", Values: []string{"not-a-cidr"}},
		{Operator: "Null", Key: "k", Values: []string{"maybe"}},
		{Operator: "Bool", Key: "k", Values: []string{"yes"}},
		{Operator: "ArnLike", Key: "k", Values: []string{"arn:aws:iam"}},
		{Operator: "DateLessThan", Key: "k", Values: []string{"tomorrow"}},
	} {
		_, err := c.Eval(ctx("k", "arn:aws:iam::1:role/x", "aws:SourceIp", "10.0.0.1"))
		if !errors.Is(err, ErrCondition) {
			t.Errorf("%+v: error %v, want ErrCondition", c, err)
		}
	}
}

func TestParseConditions(t *testing.T) {
	conds, err := ParseConditions([]byte(`{"StringEquals":{"aws:RequestedRegion":["us-east-1","eu-west-1"]},"Bool":{"aws:ViaAWSService":false},"NumericLessThanOrEquals":{"x":5}}`))
	if err == nil {
		t.Fatalf("unsupported operator accepted: %+v", conds)
	}
	conds, err = ParseConditions([]byte(`{"StringEquals":{"aws:RequestedRegion":["us-east-1","eu-west-1"]},"Bool":{"aws:ViaAWSService":false},"DateLessThan":{"aws:EpochTime":1800000000}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Condition{
		{"Bool", "aws:ViaAWSService", []string{"false"}},
		{"DateLessThan", "aws:EpochTime", []string{"1800000000"}},
		{"StringEquals", "aws:RequestedRegion", []string{"us-east-1", "eu-west-1"}},
	}
	if len(conds) != len(want) {
		t.Fatalf("got %+v", conds)
	}
	for i := range want {
		if conds[i].Operator != want[i].Operator || conds[i].Key != want[i].Key || len(conds[i].Values) != len(want[i].Values) || conds[i].Values[0] != want[i].Values[0] {
			t.Errorf("condition %d = %+v, want %+v", i, conds[i], want[i])
		}
	}
	for _, bad := range []string{`[]`, `{"StringEquals":"x"}`, `{"StringEquals":{"k":{"a":1}}}`} {
		if _, err := ParseConditions([]byte(bad)); !errors.Is(err, ErrCondition) {
			t.Errorf("%s: error %v, want ErrCondition", bad, err)
		}
	}
	if c, err := ParseConditions(nil); err != nil || c != nil {
		t.Errorf("empty condition: %v %v", c, err)
	}
}

func doc(t *testing.T, text string) iampolicy.Document {
	t.Helper()
	d, err := iampolicy.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestEvaluatePrecedence(t *testing.T) {
	allow := doc(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"bedrock:Invoke*","Resource":"arn:aws:bedrock:*::foundation-model/*"}}`)
	deny := doc(t, `{"Version":"2012-10-17","Statement":[{"Sid":"NoOpus","Effect":"Deny","Action":"bedrock:InvokeModel","Resource":"*","Condition":{"StringLike":{"k":"*opus*"}}}]}`)
	req := func(v string) Request {
		return Request{Action: "bedrock:invokemodel", Resource: "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude", Context: ctx("k", v)}
	}
	if e, err := Evaluate(req("sonnet"), allow, deny); err != nil || e != Allowed {
		t.Errorf("allow without matching deny = %v, %v", e, err)
	}
	if e, err := Evaluate(req("opus"), allow, deny); err != nil || e != Denied {
		t.Errorf("explicit deny must win = %v, %v", e, err)
	}
	if e, err := Evaluate(req("opus"), deny, allow); err != nil || e != Denied {
		t.Errorf("deny wins whatever the order = %v, %v", e, err)
	}
	other := Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: ctx()}
	if e, err := Evaluate(other, allow); err != nil || e != NotApplicable {
		t.Errorf("unrelated action = %v, %v", e, err)
	}
	bad := doc(t, `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericEqual":{"k":1}}}}`)
	if _, err := Evaluate(other, bad); !errors.Is(err, ErrCondition) {
		t.Errorf("unsupported operator: %v", err)
	}
	// A statement that does not apply by action never reaches its condition.
	if e, err := Evaluate(Request{Action: "x:Y", Resource: "*"}, doc(t, `{"Statement":{"Effect":"Allow","Action":"bedrock:*","Resource":"*","Condition":{"NumericEquals":{"k":1}}}}`)); err != nil || e != NotApplicable {
		t.Errorf("= %v, %v", e, err)
	}
}

func TestAuthorize(t *testing.T) {
	full := doc(t, `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`)
	bedrock := doc(t, `{"Statement":{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"*"}}`)
	regionSCP := doc(t, `{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":"us-east-1"},"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/BreakGlass*"}}}}`)
	boundary := doc(t, `{"Statement":{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"arn:aws:bedrock:*::foundation-model/amazon.*"}}`)
	req := func(region, principal, model string) Request {
		return Request{Action: "bedrock:InvokeModel", Resource: "arn:aws:bedrock:" + region + "::foundation-model/" + model,
			Context: ctx("aws:RequestedRegion", region, "aws:PrincipalArn", principal)}
	}
	app, bg := "arn:aws:iam::1:role/app", "arn:aws:iam::1:role/BreakGlassAdmin"
	tests := []struct {
		name string
		req  Request
		p    Policies
		want bool
	}{
		{"identity allows", req("us-east-1", app, "amazon.nova"), Policies{Identity: []iampolicy.Document{bedrock}}, true},
		{"no identity policy", req("us-east-1", app, "amazon.nova"), Policies{}, false},
		{"SCP deny-list with FullAWSAccess", req("us-east-1", app, "amazon.nova"), Policies{Identity: []iampolicy.Document{bedrock}, SCPs: [][]iampolicy.Document{{full, regionSCP}}}, true},
		{"SCP denies region", req("eu-west-1", app, "amazon.nova"), Policies{Identity: []iampolicy.Document{bedrock}, SCPs: [][]iampolicy.Document{{full, regionSCP}}}, false},
		{"SCP exempts break-glass", req("eu-west-1", bg, "amazon.nova"), Policies{Identity: []iampolicy.Document{bedrock}, SCPs: [][]iampolicy.Document{{full, regionSCP}}}, true},
		{"SCP level without an allow", req("us-east-1", app, "amazon.nova"), Policies{Identity: []iampolicy.Document{bedrock}, SCPs: [][]iampolicy.Document{{full}, {regionSCP}}}, false},
		{"boundary allows", req("us-east-1", app, "amazon.nova"), Policies{Identity: []iampolicy.Document{full}, Boundary: []iampolicy.Document{boundary}}, true},
		{"boundary does not allow", req("us-east-1", app, "anthropic.claude"), Policies{Identity: []iampolicy.Document{full}, Boundary: []iampolicy.Document{boundary}}, false},
		{"boundary alone grants nothing", req("us-east-1", app, "amazon.nova"), Policies{Boundary: []iampolicy.Document{boundary}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Authorize(tt.req, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tt.want {
				t.Errorf("Allowed = %v (%s), want %v", d.Allowed, d.Reason, tt.want)
			}
		})
	}
}

// FuzzEvaluate: any Condition element and request context either evaluates
// or returns an error; it never panics.
func FuzzEvaluate(f *testing.F) {
	f.Add(`{"StringEquals":{"aws:RequestedRegion":["us-east-1"]}}`, "aws:RequestedRegion", "us-east-1")
	f.Add(`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"},"Bool":{"aws:ViaAWSService":false}}`, "aws:SourceIp", "10.1.1.1")
	f.Add(`{"ForAllValues:ArnLikeIfExists":{"k":["arn:*:*:*:*:*"]}}`, "k", "arn:a:b:c:d:e")
	f.Add(`{"Null":{"k":[true,"false"]}}`, "k", "")
	f.Add(`{"DateLessThan":{"k":1}}`, "k", "x")
	f.Fuzz(func(t *testing.T, cond, key, value string) {
		st := iampolicy.Statement{Effect: "Allow", Action: iampolicy.StringList{"*"}, Resource: iampolicy.StringList{"*"}, Condition: []byte(cond)}
		_, _ = Applies(st, Request{Action: "a:B", Resource: "r", Context: Context{}.Set(key, value)})
	})
}
