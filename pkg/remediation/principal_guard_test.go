package remediation

import (
	"strings"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
)

func TestGuardRefusesOtherAccounts(t *testing.T) {
	g := Guard{Account: "111122223333", StackName: "app"}
	f := findings.Finding{Rule: findings.RuleUnauthorizedModel, Principal: "arn:aws:iam::444455556666:role/app-batch", PrincipalType: "AssumedRole"}
	if _, refused, advice := g.Screen(f); !strings.Contains(refused, "444455556666") || advice == "" {
		t.Fatalf("member-account principal not refused: %q / %q", refused, advice)
	}
	f.Principal = "arn:aws:iam::111122223333:role/app-batch"
	if _, refused, _ := g.Screen(f); !strings.Contains(refused, "stack app") {
		t.Fatalf("stack role not refused: %q", refused)
	}
	// A name that merely starts with the stack name is not the stack's.
	f.Principal = "arn:aws:iam::111122223333:role/application-prod"
	if _, refused, _ := g.Screen(f); refused != "" {
		t.Fatalf("application-prod refused: %q", refused)
	}
	f.Principal = "arn:aws:iam::111122223333:role/bedrock-warden/app/detector-role"
	if _, refused, _ := g.Screen(f); refused == "" {
		t.Fatal("role under the stack's path not refused")
	}
	// Every Bedrock Warden stack's roles, as the remediator role's IAM
	// deny (role/bedrock-warden/*) says: another stack, another region.
	p, _ := ParsePrincipal("arn:aws:iam::111122223333:role/bedrock-warden/prod-eu/prod-eu-RemediatorRole-1AB")
	if refused, _ := g.ScreenState(State{Principal: p}); !strings.Contains(refused, "Bedrock Warden stack") {
		t.Fatalf("another stack's role not refused: %q", refused)
	}
}

func TestProtectedTagAnyValue(t *testing.T) {
	g := Guard{}
	p, _ := ParsePrincipal("arn:aws:iam::111122223333:role/app")
	for _, v := range []string{"true", "false", ""} {
		if refused, _ := g.ScreenState(State{Principal: p, Tags: map[string]string{"bedrock-warden:protected": v}}); refused == "" {
			t.Errorf("tag value %q did not protect", v)
		}
	}
	if refused, _ := g.ScreenState(State{Principal: p, Tags: map[string]string{"team": "x"}}); refused != "" {
		t.Errorf("untagged principal refused: %q", refused)
	}
}

func TestPolicySize(t *testing.T) {
	if got := policySize("{\n  \"A\": \"x y\",\n  \"B\": [ \"\\\"q\\\" \" ]\n}"); got != len(`{"A":"x y","B":["\"q\" "]}`) {
		t.Fatalf("policySize = %d", got)
	}
}

func TestQuarantineSizeLimit(t *testing.T) {
	pl := Planner{}
	user, _ := ParsePrincipal("arn:aws:iam::111122223333:user/alice")
	model := findings.Finding{Rule: findings.RuleUnauthorizedModel, Fingerprint: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", Principal: user.ARN,
		Account: "111122223333", Model: "anthropic.claude-3-opus-20240229-v1:0", BaseModel: "anthropic.claude-3-opus-20240229-v1:0"}
	if p := pl.Plan(model, ActionQuarantine, State{Principal: user}, time.Now()); p.Refused != "" || len(p.Steps) != 1 {
		t.Fatalf("quarantine of a user without inline policies: %+v", p)
	}
	// A user close to the 2,048-character limit: refused with a reason,
	// never a PutUserPolicy that IAM would reject.
	big := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + strings.Repeat("b", 1900) + `/*"}]}`
	st := State{Principal: user, Inline: []InlinePolicy{{Name: "data", Document: big}}}
	if p := pl.Plan(model, ActionQuarantine, st, time.Now()); !strings.Contains(p.Refused, "2048") || len(p.Steps) != 0 {
		t.Fatalf("oversized quarantine not refused: %+v", p)
	}
	// A role has room for it.
	role, _ := ParsePrincipal("arn:aws:iam::111122223333:role/app")
	model.Principal = role.ARN
	if p := pl.Plan(model, ActionQuarantine, State{Principal: role, Inline: st.Inline}, time.Now()); p.Refused != "" {
		t.Fatalf("role quarantine refused: %+v", p)
	}
}
