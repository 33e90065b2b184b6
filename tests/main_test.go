package tests

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/internal/motoserver"
)

// TestMain runs every test, then checks that each function's role in
// template.yaml grants every AWS operation that function's clients called
// during the integration tests (recorded through motoserver.ConfigFor).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if problems := checkRecordedCallsGranted(motoserver.RecordedCalls()); len(problems) > 0 {
			fmt.Fprintln(os.Stderr, "FAIL: template.yaml does not grant what the functions call:")
			for _, p := range problems {
				fmt.Fprintln(os.Stderr, "  "+p)
			}
			code = 1
		}
	}
	os.Exit(code)
}

// iamActionsFor maps a recorded "service:Operation" to the IAM actions that
// authorise it: usually the same name, with the exceptions AWS documents.
func iamActionsFor(op string) []string {
	switch op {
	case "sns:PublishBatch":
		return []string{"sns:Publish"}
	case "dynamodb:TransactWriteItems":
		// Authorised per item: the alert commit updates and puts.
		return []string{"dynamodb:UpdateItem", "dynamodb:PutItem"}
	case "sqs:SendMessageBatch":
		return []string{"sqs:SendMessage"}
	case "sts:GetCallerIdentity":
		return nil // needs no permission
	}
	return []string{op}
}

func checkRecordedCallsGranted(recorded map[string][]string) []string {
	tpl, err := readTemplate()
	if err != nil {
		return []string{err.Error()}
	}
	roles, err := functionRoles(tpl)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	fns := make([]string, 0, len(recorded))
	for fn := range recorded {
		fns = append(fns, fn)
	}
	sort.Strings(fns)
	for _, fn := range fns {
		grants, ok := roles[fn]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: calls were recorded but template.yaml deploys no such function", fn))
			continue
		}
		for _, op := range recorded[fn] {
			for _, action := range iamActionsFor(op) {
				if !grants.allows(action) {
					problems = append(problems, fmt.Sprintf("%s calls %s: its role does not allow %s", fn, op, action))
				}
			}
		}
	}
	return problems
}

// roleGrants is the set of actions a role's policies allow (resources are
// checked by review, not here) and those it denies outright.
type roleGrants struct {
	allow map[string]bool
}

func (g roleGrants) allows(action string) bool {
	if g.allow[action] {
		return true
	}
	service := action[:strings.IndexByte(action, ':')+1]
	return g.allow[service+"*"]
}

// functionRoles returns, per functions/<dir>, the actions its role allows.
func functionRoles(tpl cfn) (map[string]roleGrants, error) {
	targets, err := readMakefileTargets()
	if err != nil {
		return nil, err
	}
	res := tpl.resources()
	out := map[string]roleGrants{}
	for id, r := range res {
		if r["Type"] != "AWS::Serverless::Function" {
			continue
		}
		dir := targets["build-"+id]
		roleRef, _ := props(r)["Role"].(map[string]any)
		ga, _ := roleRef["Fn::GetAtt"].([]any)
		if dir == "" || len(ga) == 0 {
			return nil, fmt.Errorf("%s: no Makefile target or no Role", id)
		}
		role := res[fmt.Sprint(ga[0])]
		g := roleGrants{allow: map[string]bool{}}
		for _, st := range roleStatements(role) {
			if st["Effect"] != "Allow" {
				continue
			}
			for _, a := range stringList(st["Action"]) {
				g.allow[a] = true
			}
		}
		// A KMS key policy that names the role grants it directly, without
		// an identity policy (the seal keys do this).
		for _, a := range keyPolicyGrants(res, fmt.Sprint(ga[0])) {
			g.allow[a] = true
		}
		out[dir] = g
	}
	return out, nil
}

// keyPolicyGrants returns the actions the template's KMS key policies
// allow the role with logical id role (named by Fn::GetAtt role.Arn,
// directly or inside Fn::If).
func keyPolicyGrants(res map[string]map[string]any, role string) []string {
	var out []string
	for _, r := range res {
		if r["Type"] != "AWS::KMS::Key" {
			continue
		}
		doc, _ := props(r)["KeyPolicy"].(map[string]any)
		sts, _ := doc["Statement"].([]any)
		for _, s := range sts {
			st, _ := s.(map[string]any)
			if fi, ok := st["Fn::If"].([]any); ok && len(fi) == 3 {
				st, _ = fi[1].(map[string]any)
			}
			if st == nil || st["Effect"] != "Allow" {
				continue
			}
			principal, _ := st["Principal"].(map[string]any)
			if namesRole(principal["AWS"], role) {
				out = append(out, stringList(st["Action"])...)
			}
		}
	}
	return out
}

// namesRole reports whether a principal element holds Fn::GetAtt role.Arn.
func namesRole(v any, role string) bool {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if namesRole(e, role) {
				return true
			}
		}
	case map[string]any:
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			return fmt.Sprint(ga[0]) == role && fmt.Sprint(ga[1]) == "Arn"
		}
		if fi, ok := x["Fn::If"].([]any); ok && len(fi) == 3 {
			return namesRole(fi[1], role) || namesRole(fi[2], role)
		}
	}
	return false
}

// roleStatements returns the inline policy statements of a role, taking the
// true branch of statements wrapped in Fn::If.
func roleStatements(role map[string]any) []map[string]any {
	var out []map[string]any
	pols, _ := props(role)["Policies"].([]any)
	for _, p := range pols {
		pm, _ := p.(map[string]any)
		doc, _ := pm["PolicyDocument"].(map[string]any)
		sts, _ := doc["Statement"].([]any)
		for _, s := range sts {
			sm, _ := s.(map[string]any)
			if fi, ok := sm["Fn::If"].([]any); ok && len(fi) == 3 {
				sm, _ = fi[1].(map[string]any)
			}
			if sm != nil {
				out = append(out, sm)
			}
		}
	}
	return out
}

func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

// reviewed lists, per function, every action its role may hold. A grant
// outside this list fails TestRolesWithinReviewedList: widening a role
// means editing this list in the same change, where a reviewer sees it.
var reviewed = map[string][]string{
	"detector": {
		"logs:CreateLogStream", "logs:PutLogEvents",
		"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem",
		"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt", "cloudwatch:PutMetricData", "ssm:GetParameter",
		"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility",
		"kms:GenerateMac",
		// Issue 16: the policy's history (an invalid version falls back to
		// the newest valid one) and the optional Security Hub sink.
		"ssm:GetParameterHistory", "securityhub:BatchImportFindings", "securityhub:GetFindings",
	},
	"remediator": {
		"logs:CreateLogStream", "logs:PutLogEvents",
		"iam:GetRole", "iam:GetUser", "iam:ListRoleTags", "iam:ListUserTags", "iam:ListAttachedRolePolicies",
		"iam:ListAttachedUserPolicies", "iam:ListRolePolicies", "iam:ListUserPolicies", "iam:GetRolePolicy",
		"iam:GetUserPolicy", "iam:ListAccessKeys", "iam:ListServiceSpecificCredentials", "iam:GetPolicy", "iam:GetPolicyVersion",
		"iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:DetachRolePolicy",
		"iam:PutUserPolicy", "iam:DeleteUserPolicy", "iam:DetachUserPolicy", "iam:UpdateAccessKey", "iam:UpdateServiceSpecificCredential",
		"ssm:GetParameter", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query",
		"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt", "sqs:SendMessage", "kms:GenerateMac", "kms:VerifyMac",
		"ssm:GetParameterHistory",
	},
	"sweeper": {
		"logs:CreateLogStream", "logs:PutLogEvents",
		"iam:GetRole", "iam:GetUser", "iam:ListRoleTags", "iam:ListUserTags", "iam:ListRolePolicies", "iam:ListUserPolicies",
		"iam:GetRolePolicy", "iam:GetUserPolicy", "iam:ListAttachedRolePolicies", "iam:ListAttachedUserPolicies",
		"iam:ListAccessKeys", "iam:ListServiceSpecificCredentials", "iam:GetPolicy", "iam:GetPolicyVersion",
		"iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy",
		"iam:PutUserPolicy", "iam:DeleteUserPolicy", "iam:AttachUserPolicy", "iam:UpdateAccessKey", "iam:UpdateServiceSpecificCredential",
		"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query",
		"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt", "kms:GenerateMac", "kms:VerifyMac",
		"securityhub:BatchImportFindings", "securityhub:GetFindings", // archive on undo
	},
	"budget": {
		"logs:CreateLogStream", "logs:PutLogEvents", "cloudwatch:ListMetrics", "cloudwatch:GetMetricData",
		"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchGetItem",
		"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt", "ssm:GetParameter", "kms:GenerateMac",
		"ssm:GetParameterHistory", "securityhub:BatchImportFindings", "securityhub:GetFindings",
	},
	"reconciler": {
		"logs:CreateLogStream", "logs:PutLogEvents", "cloudtrail:LookupEvents", "cloudwatch:GetMetricData",
		"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem",
		"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt", "ssm:GetParameter", "kms:GenerateMac",
		"ssm:GetParameterHistory", "securityhub:BatchImportFindings", "securityhub:GetFindings",
	},
	"usage": {
		"logs:CreateLogStream", "logs:PutLogEvents",
		"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchGetItem",
		"iam:GetRole", "iam:GetUser",
		"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt", "ssm:GetParameter", "sqs:SendMessage", "kms:GenerateMac",
	},
	"sentinel": {
		"logs:CreateLogStream", "logs:PutLogEvents",
		"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem",
		"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt", "ssm:GetParameter", "sqs:SendMessage", "kms:GenerateMac",
		"ssm:GetParameterHistory", "securityhub:BatchImportFindings", "securityhub:GetFindings",
	},
	// The S3 intake (issue 17): the detector's grants, the trail queue,
	// and read-only access to the trail's log files (kms:Decrypt on the
	// trail's key, through S3 only) — no S3 write, no listing.
	"trail": {
		"logs:CreateLogStream", "logs:PutLogEvents",
		"s3:GetObject", "kms:Decrypt",
		"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility",
		"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem",
		"sns:Publish", "kms:GenerateDataKey", "cloudwatch:PutMetricData", "ssm:GetParameter", "ssm:GetParameterHistory",
		"kms:GenerateMac", "securityhub:BatchImportFindings", "securityhub:GetFindings",
	},
	// Read-only IAM and Organizations: the audit never writes IAM.
	"posture": {
		"logs:CreateLogStream", "logs:PutLogEvents",
		"iam:ListRoles", "iam:ListUsers", "iam:GetRole", "iam:GetUser",
		"iam:ListAttachedRolePolicies", "iam:ListAttachedUserPolicies", "iam:ListAttachedGroupPolicies",
		"iam:ListRolePolicies", "iam:ListUserPolicies", "iam:ListGroupPolicies",
		"iam:GetRolePolicy", "iam:GetUserPolicy", "iam:GetGroupPolicy", "iam:ListGroupsForUser",
		"iam:GetPolicy", "iam:GetPolicyVersion",
		"organizations:DescribeOrganization", "organizations:ListRoots", "organizations:ListParents",
		"organizations:ListPoliciesForTarget", "organizations:DescribePolicy",
		"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:BatchWriteItem",
		"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt", "ssm:GetParameter", "kms:GenerateMac",
	},
}

// TestRolesWithinReviewedList checks every Allow of every function role
// against the reviewed list, and that no role allows a wildcard action.
func TestRolesWithinReviewedList(t *testing.T) {
	tpl := loadTemplate(t)
	roles, err := functionRoles(tpl)
	if err != nil {
		t.Fatal(err)
	}
	if len(roles) != len(reviewed) {
		t.Errorf("template deploys %d functions, the reviewed list covers %d", len(roles), len(reviewed))
	}
	for fn, g := range roles {
		ok := map[string]bool{}
		for _, a := range reviewed[fn] {
			ok[a] = true
		}
		for a := range g.allow {
			if strings.Contains(a, "*") {
				t.Errorf("%s: role allows wildcard action %s", fn, a)
			}
			if !ok[a] {
				t.Errorf("%s: role allows %s, which is not in the reviewed list", fn, a)
			}
		}
	}
}

// TestCheckRecordedCallsGranted proves the TestMain check can fail.
func TestCheckRecordedCallsGranted(t *testing.T) {
	if p := checkRecordedCallsGranted(map[string][]string{"detector": {"sns:PublishBatch", "dynamodb:TransactWriteItems"}}); len(p) != 0 {
		t.Errorf("granted calls reported: %v", p)
	}
	p := checkRecordedCallsGranted(map[string][]string{"detector": {"iam:PutRolePolicy"}, "nosuch": {"sns:Publish"}})
	if len(p) != 2 {
		t.Errorf("problems = %v, want 2", p)
	}
}
