package iamsrc_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/audit"
	"github.com/bedrock-warden/warden/pkg/audit/iamsrc"
	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/export"
	"github.com/bedrock-warden/warden/pkg/policy"
)

const trust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// account is moto's default account.
const account = "123456789012"

const fullAccessARN = "arn:aws:iam::aws:policy/AmazonBedrockFullAccess"

type fixture struct {
	t   *testing.T
	iam *iam.Client
	ctx context.Context
}

func (f fixture) must(_ any, err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f fixture) role(name string, tags ...types.Tag) {
	f.t.Helper()
	f.must(f.iam.CreateRole(f.ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust), Tags: tags}))
}

func (f fixture) policy(name, doc string) string {
	f.t.Helper()
	out, err := f.iam.CreatePolicy(f.ctx, &iam.CreatePolicyInput{PolicyName: aws.String(name), PolicyDocument: aws.String(doc)})
	if err != nil {
		f.t.Fatal(err)
	}
	return aws.ToString(out.Policy.Arn)
}

// TestAuditAgainstMotoIAM is the integration test: real SDK clients
// against moto's IAM with the AWS managed policies loaded.
func TestAuditAgainstMotoIAM(t *testing.T) {
	srv := motoserver.Start(t, motoserver.Env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true"))
	f := fixture{t: t, iam: iam.NewFromConfig(srv.Config(t)), ctx: context.Background()}
	p, err := policy.Load("test.yaml", []byte(`
models:
  allow: ["amazon.nova-*", "anthropic.claude-3-5-sonnet-*"]
  deny: ["*opus*"]
regions:
  allow: [us-east-1, us-west-2]
network:
  allowCidrs: ["10.0.0.0/8"]
principals:
  exempt: ["arn:aws:iam::*:role/BreakGlass*"]
`))
	if err != nil {
		t.Fatal(err)
	}

	// A role with AmazonBedrockFullAccess.
	f.role("app-full")
	f.must(f.iam.AttachRolePolicy(f.ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("app-full"), PolicyArn: aws.String(fullAccessARN)}))
	// The same grant under the exported permissions boundary.
	bd, err := export.Export(p, export.Boundary, export.Options{Account: account})
	if err != nil {
		t.Fatal(err)
	}
	text, _ := export.Marshal(bd, false)
	boundaryARN := f.policy("warden-boundary", string(text))
	f.role("app-bounded")
	f.must(f.iam.AttachRolePolicy(f.ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("app-bounded"), PolicyArn: aws.String(fullAccessARN)}))
	f.must(f.iam.PutRolePermissionsBoundary(f.ctx, &iam.PutRolePermissionsBoundaryInput{RoleName: aws.String("app-bounded"), PermissionsBoundary: aws.String(boundaryARN)}))
	// A user allowed to invoke only from the allowed CIDR, through a group.
	f.must(f.iam.CreateUser(f.ctx, &iam.CreateUserInput{UserName: aws.String("alice")}))
	f.must(f.iam.PutUserPolicy(f.ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("office"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Sid":"FromOffice","Effect":"Allow","Action":"bedrock:InvokeModel*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`)}))
	f.must(f.iam.CreateGroup(f.ctx, &iam.CreateGroupInput{GroupName: aws.String("ml")}))
	f.must(f.iam.PutGroupPolicy(f.ctx, &iam.PutGroupPolicyInput{GroupName: aws.String("ml"), PolicyName: aws.String("guardrails"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Sid":"Guardrails","Effect":"Allow","Action":"bedrock:*Guardrail*","Resource":"*"}]}`)}))
	f.must(f.iam.AddUserToGroup(f.ctx, &iam.AddUserToGroupInput{GroupName: aws.String("ml"), UserName: aws.String("alice")}))
	// Break-glass and protected roles are listed apart.
	f.role("BreakGlassAdmin")
	f.must(f.iam.AttachRolePolicy(f.ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("BreakGlassAdmin"), PolicyArn: aws.String(fullAccessARN)}))
	f.role("app-keep", types.Tag{Key: aws.String("bedrock-warden:protected"), Value: aws.String("yes")})

	cfg := srv.Config(t)
	rec := awsconf.NewRecorder()
	rec.Attach(&cfg)
	rep, err := (&audit.Auditor{Policy: p, PolicyName: "test.yaml", Directory: iamsrc.NewFromConfig(cfg), Workers: 4}).Run(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) > 0 {
		t.Fatalf("errors: %v", rep.Errors)
	}
	get := func(name string) audit.PrincipalReport {
		for _, pr := range append(append([]audit.PrincipalReport{}, rep.Principals...), rep.Apart...) {
			if pr.Name == name {
				return pr
			}
		}
		t.Fatalf("%s not in the report", name)
		return audit.PrincipalReport{}
	}
	verdict := func(pr audit.PrincipalReport, dim string) audit.VerdictReport {
		for _, v := range pr.Verdicts {
			if v.Dimension == dim {
				return v
			}
		}
		t.Fatalf("%s: no %s verdict", pr.Name, dim)
		return audit.VerdictReport{}
	}

	// AmazonBedrockFullAccess: opus everywhere.
	full := get("app-full")
	m := verdict(full, audit.DimModels)
	if m.Verdict != audit.Allowed || m.Families[0].Family != "*opus*" || m.Families[0].Verdict != audit.Allowed {
		t.Fatalf("app-full models: %+v", m)
	}
	if len(m.Grants) == 0 || m.Grants[0].PolicyARN != fullAccessARN || m.Grants[0].Sid != "BedrockAll" {
		t.Errorf("app-full grants: %+v", m.Grants)
	}
	for _, dim := range []string{audit.DimRegions, audit.DimNetwork, audit.DimLogging, audit.DimGuardrails, audit.DimCostly} {
		if v := verdict(full, dim); v.Verdict != audit.Allowed {
			t.Errorf("app-full %s: %+v", dim, v)
		}
	}
	// The exported boundary closes the invocation dimensions.
	bounded := get("app-bounded")
	if bounded.Boundary != "warden-boundary" {
		t.Errorf("boundary = %q", bounded.Boundary)
	}
	for dim, want := range map[string]audit.Verdict{audit.DimModels: audit.Denied, audit.DimRegions: audit.Restricted, audit.DimNetwork: audit.Restricted} {
		if v := verdict(bounded, dim); v.Verdict != want {
			t.Errorf("app-bounded %s: %s (%s)", dim, v.Verdict, v.Summary)
		}
	}
	// The user reaches Bedrock only from the allowed CIDR; her group lets
	// her change guardrails.
	alice := get("alice")
	if v := verdict(alice, audit.DimNetwork); v.Verdict != audit.Restricted {
		t.Errorf("alice network: %+v", v)
	}
	g := verdict(alice, audit.DimGuardrails)
	if g.Verdict != audit.Allowed || len(g.Grants) == 0 || g.Grants[0].Group != "ml" {
		t.Errorf("alice guardrails: %+v", g)
	}
	if bg := get("BreakGlassAdmin"); bg.Status != audit.StatusExempt {
		t.Errorf("break-glass: %+v", bg)
	}
	if k := get("app-keep"); k.Status != audit.StatusProtected {
		t.Errorf("protected: %+v", k)
	}

	// Calls: the managed policies are read once each, however many roles
	// share them; per role GetRole, one listing of each kind, and one
	// GetRolePolicy per inline policy.
	calls := rec.Calls()
	if calls["iam:GetPolicy"] != 2 || calls["iam:GetPolicyVersion"] != 2 {
		t.Errorf("managed policies read more than once: %v", calls)
	}
	if calls["iam:GetRole"] != 4 || calls["iam:ListAttachedRolePolicies"] != 4 || calls["iam:GetUser"] != 1 || calls["iam:GetGroupPolicy"] != 1 {
		t.Errorf("calls: %v", calls)
	}
	t.Logf("calls: %v", calls)
}

// TestManyRolesPaginated lists more roles than one page holds and reads
// each policy once across concurrent workers.
func TestManyRolesPaginated(t *testing.T) {
	srv := motoserver.Start(t)
	f := fixture{t: t, iam: iam.NewFromConfig(srv.Config(t)), ctx: context.Background()}
	shared := f.policy("shared", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"*"}]}`)
	const n = 30
	for i := range n {
		name := fmt.Sprintf("app-%02d", i)
		f.role(name)
		f.must(f.iam.AttachRolePolicy(f.ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(shared)}))
	}
	cfg := srv.Config(t)
	rec := awsconf.NewRecorder()
	rec.Attach(&cfg)
	r := iamsrc.New(&smallPages{Client: iam.NewFromConfig(cfg)})
	refs, err := r.Principals(f.ctx)
	if err != nil || len(refs) != n {
		t.Fatalf("principals: %d, %v", len(refs), err)
	}
	rep, err := (&audit.Auditor{Policy: policy.Default(), Directory: r, Workers: 8}).Run(f.ctx)
	if err != nil || len(rep.Principals) != n {
		t.Fatalf("audit: %v %d", err, len(rep.Principals))
	}
	calls := rec.Calls()
	if calls["iam:ListRoles"] < 3 || calls["iam:GetPolicyVersion"] != 1 {
		t.Errorf("calls: %v", calls)
	}
	for _, pr := range rep.Principals {
		if !strings.HasPrefix(pr.Name, "app-") {
			t.Errorf("unexpected %s", pr.Name)
		}
	}
}

// smallPages asks for ten roles a page, so that pagination is exercised.
type smallPages struct{ *iam.Client }

func (s *smallPages) ListRoles(ctx context.Context, in *iam.ListRolesInput, opts ...func(*iam.Options)) (*iam.ListRolesOutput, error) {
	in.MaxItems = aws.Int32(10)
	return s.Client.ListRoles(ctx, in, opts...)
}
