package tests

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/iameval"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
	"github.com/bedrock-warden/warden/pkg/state"
)

// stackRole is a role of the resolved stack (path /bedrock-warden/<stack>/).
func stackRole(name string) string {
	return "arn:aws:iam::111122223333:role/bedrock-warden/bedrock-warden/bedrock-warden-" + name
}

// resolvedDoc resolves a policy document of the template (the table's
// resource policy, the topic policy, a key policy) and parses it.
func resolvedDoc(t *testing.T, v any) iampolicy.Document {
	t.Helper()
	r, err := resolve(v)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	d, err := iampolicy.Parse(string(raw))
	if err != nil {
		t.Fatalf("parse %s: %v", raw, err)
	}
	return d
}

func evalDeny(t *testing.T, d iampolicy.Document, action, resource, principalARN, service, sourceAccount string) iameval.Effect {
	t.Helper()
	ctx := iameval.Context{}
	if principalARN != "" {
		ctx.Set("aws:PrincipalArn", principalARN)
	}
	if service != "" {
		ctx.Set("aws:PrincipalServiceName", service)
	}
	if sourceAccount != "" {
		ctx.Set("aws:SourceAccount", sourceAccount)
	}
	ctx.Set("aws:SecureTransport", "true")
	eff, err := iameval.Evaluate(iameval.Request{Action: action, Resource: resource, Context: ctx}, d)
	if err != nil {
		t.Fatal(err)
	}
	return eff
}

// TestResourcePoliciesDenyEveryoneButTheStack: in AWS, the table's
// resource policy and the topic policy stop what moto cannot — a principal
// of the account with dynamodb:PutItem or sns:Publish on "*" (PowerUserAccess)
// writing forged state or publishing forged alerts. Evaluated here with the
// project's IAM evaluator on the resolved template.
func TestResourcePoliciesDenyEveryoneButTheStack(t *testing.T) {
	tpl := loadTemplate(t)
	res := tpl.resources()
	powerUser := "arn:aws:iam::111122223333:role/PowerUser"
	otherStack := "arn:aws:iam::111122223333:role/bedrock-warden/other-stack/other-stack-DetectorRole-X"

	table := resolvedDoc(t, props(res["StateTable"])["ResourcePolicy"].(map[string]any)["PolicyDocument"])
	for _, action := range []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
		"dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete"} {
		if eff := evalDeny(t, table, action, stackValues["StateTable.Arn"], powerUser, "", ""); eff != iameval.Denied {
			t.Errorf("table: %s by a PowerUser role is %s, want denied", action, eff)
		}
		if eff := evalDeny(t, table, action, stackValues["StateTable.Arn"], otherStack, "", ""); eff != iameval.Denied {
			t.Errorf("table: %s by another stack's role is %s, want denied", action, eff)
		}
		if eff := evalDeny(t, table, action, stackValues["StateTable.Arn"], stackRole("DetectorRole-1AB"), "", ""); eff == iameval.Denied {
			t.Errorf("table: %s by the stack's detector role is denied", action)
		}
	}
	if eff := evalDeny(t, table, "dynamodb:GetItem", stackValues["StateTable.Arn"], powerUser, "", ""); eff == iameval.Denied {
		t.Error("table: reads must stay possible for operators")
	}

	topic := resolvedDoc(t, props(res["AlertTopicPolicy"])["PolicyDocument"])
	for _, c := range []struct {
		name, principal, service, account string
		denied                            bool
	}{
		{"PowerUser role", powerUser, "", "", true},
		{"another stack's role", otherStack, "", "", true},
		{"the stack's detector", stackRole("DetectorRole-1AB"), "", "", false},
		{"this account's CloudWatch alarms", "", "cloudwatch.amazonaws.com", "111122223333", false},
		{"another account's alarms", "", "cloudwatch.amazonaws.com", "999988887777", true},
		{"another service", "", "events.amazonaws.com", "111122223333", true},
	} {
		if eff := evalDeny(t, topic, "sns:Publish", stackValues["AlertTopic"], c.principal, c.service, c.account); (eff == iameval.Denied) != c.denied {
			t.Errorf("topic: sns:Publish by %s is %s, want denied=%t", c.name, eff, c.denied)
		}
	}
}

// principalsOf returns the role logical ids a key policy statement names
// for action (Fn::GetAtt X.Arn), taking both branches of Fn::If.
func principalsOf(t *testing.T, key map[string]any, effect, action string) []string {
	t.Helper()
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if ga, ok := x["Fn::GetAtt"].([]any); ok {
				out = append(out, fmt.Sprint(ga[0]))
				return
			}
			if ref, ok := x["Ref"]; ok {
				if ref != "AWS::NoValue" {
					out = append(out, fmt.Sprint(ref))
				}
				return
			}
			if fi, ok := x["Fn::If"].([]any); ok && len(fi) == 3 {
				walk(fi[1])
				walk(fi[2])
			}
		}
	}
	doc := props(key)["KeyPolicy"].(map[string]any)
	for _, s := range doc["Statement"].([]any) {
		st := s.(map[string]any)
		if fi, ok := st["Fn::If"].([]any); ok {
			st = fi[1].(map[string]any)
		}
		if st["Effect"] != effect {
			continue
		}
		for _, a := range stringList(st["Action"]) {
			if a != action {
				continue
			}
			if effect == "Allow" {
				walk(st["Principal"].(map[string]any)["AWS"])
			} else {
				for _, c := range st["Condition"].(map[string]any) {
					walk(c.(map[string]any)["aws:PrincipalArn"])
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestSealKeyPoliciesGrantOnlyWhatEachRoleNeeds: only the functions that
// originate findings may seal them; the remediator (and on-call) verify;
// the ledger key is the remediator's, the sweeper's and on-call's; no one
// else may seal — the account's administrators manage the keys but no IAM
// policy can hand out the MAC operations.
func TestSealKeyPoliciesGrantOnlyWhatEachRoleNeeds(t *testing.T) {
	res := loadTemplate(t).resources()
	originators := []string{"BudgetRole", "DetectorRole", "PostureRole", "ReconcilerRole", "SentinelRole", "TrailRole", "UsageRole"}
	find, ledger := res["FindingKey"], res["LedgerKey"]
	for _, k := range []map[string]any{find, ledger} {
		p := props(k)
		if p["KeySpec"] != "HMAC_256" || p["KeyUsage"] != "GENERATE_VERIFY_MAC" {
			t.Errorf("key spec %v usage %v, want HMAC_256 GENERATE_VERIFY_MAC", p["KeySpec"], p["KeyUsage"])
		}
		doc := props(k)["KeyPolicy"].(map[string]any)
		for _, s := range doc["Statement"].([]any) {
			st, ok := s.(map[string]any)
			if !ok || st["Sid"] != "AccountAdministers" {
				continue
			}
			for _, a := range stringList(st["Action"]) {
				if a == "kms:*" || strings.Contains(a, "Mac") || a == "kms:CreateGrant" || a == "kms:Create*" {
					t.Errorf("the account's administration statement grants %s", a)
				}
			}
		}
	}
	eq := func(name string, got, want []string) {
		t.Helper()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	eq("FindingKey GenerateMac allowed to", principalsOf(t, find, "Allow", "kms:GenerateMac"), originators)
	eq("FindingKey GenerateMac denied to all but", principalsOf(t, find, "Deny", "kms:GenerateMac"), originators)
	eq("FindingKey VerifyMac allowed to", principalsOf(t, find, "Allow", "kms:VerifyMac"), []string{"OnCallRoleArn", "RemediatorRole"})
	eq("LedgerKey GenerateMac allowed to", principalsOf(t, ledger, "Allow", "kms:GenerateMac"), []string{"OnCallRoleArn", "RemediatorRole", "SweeperRole"})
	eq("LedgerKey GenerateMac denied to all but", principalsOf(t, ledger, "Deny", "kms:GenerateMac"), []string{"OnCallRoleArn", "RemediatorRole", "SweeperRole"})
	eq("LedgerKey VerifyMac allowed to", principalsOf(t, ledger, "Allow", "kms:VerifyMac"), []string{"OnCallRoleArn", "RemediatorRole", "SweeperRole"})
}

// TestDetectorTimeoutFitsTheAlertLease: a live detector never outlives its
// alert claim (timeout < lease), and Lambda's first asynchronous retry,
// about a minute after a failed attempt, finds a dead invocation's claim
// expired (lease < 1 min) — see pkg/outputs
// TestCrashBetweenClaimAndPublishIsAlertedByTheFirstRetry.
func TestDetectorTimeoutFitsTheAlertLease(t *testing.T) {
	fn := props(loadTemplate(t).resources()["DetectorFunction"])
	var timeout int
	if _, err := fmt.Sscan(fmt.Sprint(fn["Timeout"]), &timeout); err != nil {
		t.Fatalf("DetectorFunction Timeout = %v, want a number", fn["Timeout"])
	}
	lease := state.DefaultLease
	if !(time.Duration(timeout)*time.Second < lease && lease < time.Minute) {
		t.Fatalf("detector timeout %ds, alert lease %s: want timeout < lease < 1m", timeout, lease)
	}
}
