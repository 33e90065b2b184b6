package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/pkg/iampolicy"
	"github.com/bedrock-warden/warden/pkg/policy"
)

func load(t *testing.T, yaml string) (*policy.Policy, []byte) {
	t.Helper()
	p, err := policy.Load("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("policy.Load: %v", err)
	}
	return p, []byte(yaml)
}

func TestInexpressiblePatternNamesKeyAndLine(t *testing.T) {
	tests := []struct {
		name, yaml, key string
		line            int
	}{
		{"ARN pattern", "models:\n  allow:\n    - amazon.nova-*\n    - \"arn:aws:bedrock:*::foundation-model/x*\"\n", "models.allow[1]", 4},
		{"slash", "models:\n  allow: [amazon.nova-*]\n  deny:\n    - \"foundation-model/*opus*\"\n", "models.deny[0]", 4},
		{"geography prefix", "# c\nmodels:\n  allow:\n    - us.anthropic.claude-*\n", "models.allow[0]", 4},
		{"global prefix", "models:\n  allow: [\"global.anthropic.*\"]\n", "models.allow[0]", 2},
		{"star dot", "models:\n  allow:\n    - amazon.nova-*\n    - \"*.anthropic.claude-*\"\n", "models.allow[1]", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, src := load(t, tt.yaml)
			for _, kind := range Kinds {
				_, err := Export(p, kind, Options{Source: src, Name: "test.yaml"})
				var xe *ExpressError
				if !errors.As(err, &xe) {
					t.Fatalf("%s: error %v, want *ExpressError", kind, err)
				}
				if xe.Key != tt.key || xe.Line != tt.line {
					t.Errorf("%s: key %q line %d, want %q line %d (%v)", kind, xe.Key, xe.Line, tt.key, tt.line, err)
				}
				if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("test.yaml:%d: %s", tt.line, tt.key)) {
					t.Errorf("message %q does not name file, line and key", msg)
				}
			}
		})
	}
	// Without the source the error still names the key.
	p, _ := load(t, tests[0].yaml)
	_, err := Export(p, IAMPolicy, Options{})
	var xe *ExpressError
	if !errors.As(err, &xe) || xe.Line != 0 || !strings.Contains(err.Error(), "models.allow[1]") {
		t.Errorf("without source: %v", err)
	}
}

func TestLimitNamesTheListToShorten(t *testing.T) {
	var models []string
	for i := range 60 {
		models = append(models, fmt.Sprintf("      - vendor%02d.model-family-%02d-*", i, i))
	}
	yaml := "models:\n  allow:\n" + strings.Join(models, "\n") + "\nregions:\n  allow: [us-east-1, eu-west-1, ap-northeast-1]\n"
	p, src := load(t, yaml)
	for _, kind := range Kinds {
		_, err := Export(p, kind, Options{Source: src})
		var le *LimitError
		if !errors.As(err, &le) {
			t.Fatalf("%s: error %v, want *LimitError", kind, err)
		}
		if le.List != "models.allow" || le.Entries != 60 || le.Limit != Limit(kind) || le.Size <= le.Limit || le.Cost <= 0 {
			t.Errorf("%s: %+v", kind, le)
		}
		msg := err.Error()
		if !strings.Contains(msg, "shorten models.allow") || !strings.Contains(msg, thousands(Limit(kind))) {
			t.Errorf("%s: message %q", kind, msg)
		}
	}
	// The CIDR list is named when it is what overflows.
	var cidrs []string
	for i := range 250 {
		cidrs = append(cidrs, fmt.Sprintf("\"198.51.%d.0/24\"", i))
	}
	p, _ = load(t, "network:\n  allowCidrs: ["+strings.Join(cidrs, ", ")+"]\n")
	_, err := Export(p, SCP, Options{})
	var le *LimitError
	if !errors.As(err, &le) || le.List != "network.allowCidrs" {
		t.Errorf("CIDRs: %v", err)
	}
}

func TestSizeExcludesWhitespace(t *testing.T) {
	d := iampolicy.Document{Statement: iampolicy.Statements{{Sid: "A", Effect: "Allow", Action: iampolicy.StringList{"bedrock:InvokeModel"}, Resource: iampolicy.StringList{"*"}}}}
	compact, err := Marshal(d, false)
	if err != nil {
		t.Fatal(err)
	}
	pretty, err := Marshal(d, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(pretty) <= len(compact) {
		t.Fatalf("pretty output is not indented:\n%s", pretty)
	}
	want := len(strings.TrimSpace(string(compact)))
	if got := Size(d); got != want {
		t.Errorf("Size = %d, want %d (%s)", got, want, compact)
	}
	var back iampolicy.Document
	if err := json.Unmarshal(pretty, &back); err != nil || back.Version != iampolicy.Version2012 {
		t.Errorf("round trip: %v %+v", err, back)
	}
}

func TestAccount(t *testing.T) {
	p := policy.Default()
	doc, err := Export(p, IAMPolicy, Options{Account: "111122223333"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Marshal(doc, false)
	if !strings.Contains(string(b), "arn:aws:bedrock:*:111122223333:inference-profile/us.amazon.nova-*") {
		t.Errorf("account not in profile ARNs: %s", b)
	}
	if strings.Contains(string(b), ":*:inference-profile/us.") {
		t.Errorf("wildcard account left in allow-list: %s", b)
	}
	for _, bad := range []string{"12345", "11112222333a", "1111222233334"} {
		if _, err := Export(p, IAMPolicy, Options{Account: bad}); err == nil || !strings.Contains(err.Error(), "12-digit") {
			t.Errorf("account %q: %v", bad, err)
		}
	}
	if _, err := ParseKind("role"); err == nil {
		t.Error("ParseKind accepted an unknown kind")
	}
}

func TestReduceAndMerge(t *testing.T) {
	got := reduce([]string{"anthropic.claude-3-5-*", "anthropic.*", "amazon.nova-*", "anthropic.*", "a?c", "abc"})
	want := []string{"anthropic.*", "amazon.nova-*", "a?c", "abc"}
	if !slices.Equal(got, want) {
		t.Errorf("reduce = %q, want %q", got, want)
	}
	if got := reduce([]string{"*", "**"}); len(got) != 1 {
		t.Errorf("mutually covering patterns must keep one: %q", got)
	}
	st := func(sid string, res ...string) iampolicy.Statement {
		return iampolicy.Statement{Sid: sid, Effect: "Deny", Action: iampolicy.StringList{"a:B"}, Resource: res, Condition: cond{}.add("Bool", "k", "true").raw()}
	}
	other := st("C", "z")
	other.Condition = cond{}.add("Bool", "k", "false").raw()
	merged := merge([]iampolicy.Statement{st("A", "x*"), st("B", "x1", "y"), other})
	if len(merged) != 2 || merged[0].Sid != "A" || !slices.Equal(merged[0].Resource, []string{"x*", "y"}) {
		t.Errorf("merge = %+v", merged)
	}
}

func TestGeographies(t *testing.T) {
	for region, want := range map[string][]string{
		"us-east-1": {"us"}, "eu-central-1": {"eu"}, "ap-northeast-1": {"apac", "jp"},
		"ap-southeast-2": {"apac", "au"}, "ap-south-1": {"apac"}, "us-gov-west-1": nil, "sa-east-1": nil,
	} {
		if got := Geographies(region); !slices.Equal(got, want) {
			t.Errorf("Geographies(%s) = %q, want %q", region, got, want)
		}
	}
}

// TestDocumentsStayWithinIAMSyntax checks rules IAM and Access Analyzer
// apply to every exported document: alphanumeric Sids, unique Sids, only
// Allow/Deny, Action or NotAction, Resource or NotResource.
func TestDocumentsStayWithinIAMSyntax(t *testing.T) {
	policies := []string{
		"",
		"regions: {allow: [], inference: []}\n",
		"regions: {allow: [us-east-1], allowGlobalProfiles: true}\nnetwork: {allowCidrs: [10.0.0.0/8], allowVpcEndpoints: [vpce-0a1b2c3d4e5f60718], allowAwsServiceCallers: false}\nprincipals: {allow: [\"arn:aws:iam::*:role/app-*\"], exempt: [\"*BreakGlass*\"]}\n",
	}
	for i, y := range policies {
		p, _ := load(t, y)
		for _, kind := range Kinds {
			d, err := Export(p, kind, Options{})
			if err != nil {
				t.Fatalf("policy %d %s: %v", i, kind, err)
			}
			seen := map[string]bool{}
			for _, s := range d.Statement {
				if s.Sid == "" || strings.Trim(s.Sid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" || seen[s.Sid] {
					t.Errorf("policy %d %s: bad or repeated Sid %q", i, kind, s.Sid)
				}
				seen[s.Sid] = true
				if (len(s.Action) > 0) == (len(s.NotAction) > 0) || (len(s.Resource) > 0) == (len(s.NotResource) > 0) {
					t.Errorf("policy %d %s: statement %s needs exactly one of Action/NotAction and Resource/NotResource", i, kind, s.Sid)
				}
				if kind == SCP && s.Effect != iampolicy.Deny {
					t.Errorf("policy %d: SCP statement %s is not a Deny", i, s.Sid)
				}
			}
		}
	}
}
