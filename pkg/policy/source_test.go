package policy

import (
	"strings"
	"testing"
)

func TestParseLocation(t *testing.T) {
	for in, want := range map[string]Location{
		"policy.yaml":                       {Kind: FromFile, Name: "policy.yaml"},
		"file:///etc/warden/p.yaml":         {Kind: FromFile, Name: "/etc/warden/p.yaml"},
		"ssm:///bedrock-warden/prod/policy": {Kind: FromParameter, Name: "/bedrock-warden/prod/policy"},
		"ssm://warden-policy":               {Kind: FromParameter, Name: "warden-policy"},
		"  ./relative/path/p.yml  ":         {Kind: FromFile, Name: "./relative/path/p.yml"},
	} {
		got, err := ParseLocation(in)
		if err != nil || got.Kind != want.Kind || got.Name != want.Name {
			t.Errorf("%q: %+v %v, want %+v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"":                        "empty policy location",
		"models:\n  allow: [x]\n": "WARDEN_POLICY_DOCUMENT",
		"{models: {allow: [x]}}":  "is a policy document",
		"s3://bucket/p.yaml":      "unknown scheme",
		"ssm://":                  "want ssm://NAME",
		"file://":                 "want file://PATH",
	} {
		if _, err := ParseLocation(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", in, err, msg)
		}
	}
}

func TestLocatePrecedence(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	check := func(flag string, kind LocationKind, name string) {
		t.Helper()
		l, err := Locate(flag, get)
		if err != nil || l.Kind != kind || l.Name != name {
			t.Errorf("flag %q env %v: %+v %v", flag, env, l, err)
		}
	}
	check("", FromDefault, "")
	env[EnvPolicyDocument] = "models: {}"
	check("", FromDocument, "")
	env[EnvPolicyParameter] = "/bedrock-warden/s/policy"
	check("", FromParameter, "/bedrock-warden/s/policy")
	env[EnvPolicy] = "mine.yaml"
	check("", FromFile, "mine.yaml")
	check("ssm://other", FromParameter, "other")
	env[EnvPolicy] = "models:\n  allow: [x]\n"
	if _, err := Locate("", get); err == nil || !strings.HasPrefix(err.Error(), "WARDEN_POLICY: ") {
		t.Errorf("document in WARDEN_POLICY: %v", err)
	}
}

func TestBlank(t *testing.T) {
	for _, doc := range []string{"", "  \n", "# only a comment\n", "# a\n\n# b\n"} {
		if !Blank([]byte(doc)) {
			t.Errorf("%q is blank", doc)
		}
	}
	for _, doc := range []string{"models: {}", "---\n~\n", "x: 1"} {
		if Blank([]byte(doc)) && doc != "---\n~\n" {
			t.Errorf("%q is not blank", doc)
		}
	}
}

// TestValidationExplainsCommonMistakes: the mistakes a new user makes are
// errors that say how to fix them.
func TestValidationExplainsCommonMistakes(t *testing.T) {
	for name, tc := range map[string]struct{ doc, line, msg string }{
		"unquoted star in a flow list":  {"models:\n  deny: [x, *opus*]\n", ":2", `quote the pattern, e.g. ["*opus*"]`},
		"unquoted star in a block list": {"models:\n  deny:\n    - *opus*\n", ":3", "is a YAML alias"},
		"tab indentation":               {"models:\n\tdeny: [x]\n", ":2", "indent with spaces"},
		"class in an unquoted pattern":  {"models:\n  allow: [anthropic.claude-[35]-*]\n", ":2", "no character classes"},
		"quoted class":                  {"models:\n  allow: [\"anthropic.claude-[35]-*\"]\n", ":2", `["anthropic.claude-3-*", "anthropic.claude-5-*"]`},
		"range class":                   {"models:\n  deny: [\"meta.llama3-[1-3]*\"]\n", ":2", `"meta.llama3-1*", "meta.llama3-2*", "meta.llama3-3*"`},
		"alternatives":                  {"models:\n  allow: [\"amazon.{nova,titan}-*\"]\n", ":2", `"amazon.nova-*", "amazon.titan-*"`},
		"short principal":               {"principals:\n  allow: [\"role/app-*\"]\n", ":2", `write "arn:aws:iam::*:role/app-*"`},
		"short exempt user":             {"principals:\n  exempt: [\"user/alice\"]\n", ":2", `"arn:aws:iam::*:user/alice"`},
		"selftest remediation":          {"remediation:\n  actions: {selftest: quarantine}\n", ":2", "cannot carry a remediation"},
	} {
		_, err := Load("p.yaml", []byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), "p.yaml"+tc.line) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v\nwant line %s and %q", name, err, tc.line, tc.msg)
		}
	}
	// Service principals are names, not ARNs: still fine.
	if _, err := Load("p.yaml", []byte("principals:\n  exempt: [\"bedrock.amazonaws.com\", \"arn:aws:iam::*:role/app-*\"]\n")); err != nil {
		t.Errorf("valid principals: %v", err)
	}
}
