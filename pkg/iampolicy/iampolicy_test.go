package iampolicy

import (
	"net/url"
	"strings"
	"testing"
)

const opus = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-opus-20240229-v1:0"
const titan = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1"

func mustParse(t *testing.T, s string) Document {
	t.Helper()
	d, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

func TestStringOrList(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"*"}}`)
	if len(d.Statement) != 1 || len(d.Statement[0].Action) != 1 || d.Statement[0].Resource[0] != "*" {
		t.Fatalf("single statement/string fields not read: %+v", d)
	}
	d = mustParse(t, `{"Statement":[{"Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:Converse"],"Resource":["a","b"]}]}`)
	if got := len(d.Statement[0].Action) + len(d.Statement[0].Resource); got != 4 {
		t.Fatalf("list fields: got %d entries, want 4", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{"", "   ", "not json", `{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}`, `{"Statement":[{"Effect":"Allow","Action":7}]}`, "%7Bbroken"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q): want error", bad)
		}
	}
}

func TestDecodeURLEncodedKeepsPlainText(t *testing.T) {
	plain := `{"Version":"2012-10-17","Statement":[{"Sid":"A+B","Effect":"Allow","Action":"bedrock:*","Resource":"arn:aws:bedrock:*::foundation-model/x%y"}]}`
	got, err := Decode(plain)
	if err != nil || got != plain {
		t.Fatalf("plain JSON must come back unchanged: %q %v", got, err)
	}
	enc := url.PathEscape(plain)
	got, err = Decode(enc)
	if err != nil || got != plain {
		t.Fatalf("Decode(encoded) = %q, %v; want %q", got, err, plain)
	}
}

func TestActionWildcardsAndCase(t *testing.T) {
	st := Statement{Effect: Allow, Action: StringList{"bedrock:Invoke*"}, Resource: StringList{"*"}}
	for _, a := range []string{"bedrock:InvokeModel", "BEDROCK:invokemodelwithresponsestream"} {
		if !st.Allows(a, opus) {
			t.Errorf("%s should be allowed", a)
		}
	}
	if st.Allows("bedrock:CreateGuardrail", opus) {
		t.Error("CreateGuardrail must not match bedrock:Invoke*")
	}
	q := Statement{Effect: Allow, Action: StringList{"bedrock:InvokeMode?"}, Resource: StringList{"*"}}
	if !q.Allows("bedrock:InvokeModel", opus) || q.Allows("bedrock:InvokeModelWithResponseStream", opus) {
		t.Error("'?' must match exactly one character")
	}
}

func TestNotAction(t *testing.T) {
	st := Statement{Effect: Allow, NotAction: StringList{"iam:*", "organizations:*"}, Resource: StringList{"*"}}
	if !st.Allows("bedrock:InvokeModel", opus) {
		t.Error("NotAction iam:* should allow bedrock:InvokeModel")
	}
	if st.Allows("iam:PutRolePolicy", "*") {
		t.Error("NotAction iam:* must not allow iam:PutRolePolicy")
	}
	if st.GrantsOnly("bedrock") {
		t.Error("a NotAction statement can reach any service")
	}
}

func TestResourceAndNotResource(t *testing.T) {
	st := Statement{Effect: Allow, Action: StringList{"bedrock:InvokeModel"}, Resource: StringList{"arn:aws:bedrock:*::foundation-model/anthropic.*"}}
	if !st.Allows("bedrock:InvokeModel", opus) || st.Allows("bedrock:InvokeModel", titan) {
		t.Error("Resource wildcard mismatch")
	}
	if st.Allows("bedrock:InvokeModel", strings.ToUpper(opus)) {
		t.Error("ARNs must compare case-sensitively")
	}
	nr := Statement{Effect: Allow, Action: StringList{"bedrock:*"}, NotResource: StringList{"arn:aws:bedrock:*::foundation-model/anthropic.*"}}
	if nr.Allows("bedrock:InvokeModel", opus) || !nr.Allows("bedrock:InvokeModel", titan) {
		t.Error("NotResource mismatch")
	}
	none := Statement{Effect: Allow, Action: StringList{"bedrock:*"}}
	if none.Allows("bedrock:InvokeModel", opus) || none.AllowsAction("bedrock:InvokeModel") {
		t.Error("a statement with no Resource/NotResource covers nothing")
	}
}

func TestDenyIgnored(t *testing.T) {
	d := mustParse(t, `{"Statement":[
		{"Effect":"Deny","Action":"bedrock:*","Resource":"*"},
		{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"`+opus+`"}]}`)
	got := d.AllowingStatements("bedrock:InvokeModel", opus)
	if len(got) != 1 || got[0] != 1 {
		t.Fatalf("AllowingStatements = %v, want [1]", got)
	}
	onlyDeny := mustParse(t, `{"Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}`)
	if onlyDeny.Allows([]string{"bedrock:InvokeModel"}, opus) {
		t.Error("a Deny never grants")
	}
}

func TestAllowsOnlyAndServices(t *testing.T) {
	bedrockOnly := mustParse(t, `{"Statement":[{"Effect":"Allow","Action":["bedrock:InvokeModel","Bedrock:List*"],"Resource":"*"},{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}`)
	if !bedrockOnly.AllowsOnly("bedrock") {
		t.Error("bedrock-only document reported mixed")
	}
	mixed := mustParse(t, `{"Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*"},{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)
	if mixed.AllowsOnly("bedrock") {
		t.Error("mixed document reported bedrock-only")
	}
	admin := mustParse(t, `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
	if admin.AllowsOnly("bedrock") {
		t.Error("Action * reported bedrock-only")
	}
	if got := strings.Join(mixed.Services(), ","); got != "bedrock,s3" {
		t.Errorf("Services = %q", got)
	}
	if got := strings.Join(admin.Services(), ","); got != "*" {
		t.Errorf("Services(admin) = %q", got)
	}
}

func TestAnyResourceWhenNoResourcesGiven(t *testing.T) {
	d := mustParse(t, `{"Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"`+titan+`"}]}`)
	if !d.Allows([]string{"bedrock:InvokeModel"}) {
		t.Error("with no resources, an Allow on any resource counts")
	}
	if d.Allows([]string{"bedrock:InvokeModel"}, opus) {
		t.Error("titan-only grant must not cover opus")
	}
}

func TestWithoutSidsAndMarshal(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Deny","Action":"*","Resource":"*"},{"Sid":"B","Effect":"Deny","Action":"bedrock:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`)
	rest, n := d.WithoutSids("A", "Z")
	if n != 1 || len(rest.Statement) != 1 || rest.Statement[0].Sid != "B" {
		t.Fatalf("WithoutSids: n=%d %+v", n, rest)
	}
	if len(d.Statement) != 2 {
		t.Fatal("WithoutSids modified its receiver")
	}
	text, err := rest.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back := mustParse(t, text)
	if back.StatementBySid("B") != 0 || string(back.Statement[0].Condition) != `{"Bool":{"aws:SecureTransport":"false"}}` {
		t.Fatalf("round trip lost data: %s", text)
	}
}
