package remediation

import (
	"strings"
	"testing"

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
