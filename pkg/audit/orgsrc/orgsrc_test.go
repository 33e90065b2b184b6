package orgsrc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/audit"
	"github.com/bedrock-warden/warden/pkg/audit/orgsrc"
	"github.com/bedrock-warden/warden/pkg/awsconf"
)

const master = "123456789012" // moto's default account, which creates the organization

func TestNotInAnOrganization(t *testing.T) {
	srv := motoserver.Start(t)
	s, err := orgsrc.NewFromConfig(srv.Config(t)).SCPs(context.Background(), master)
	if err != nil || s.Applied || !strings.Contains(s.Note, "not in an organization") {
		t.Fatalf("SCPs = %+v, %v", s, err)
	}
}

// TestSCPsOfAMemberAccount builds root → OU → account with a guard SCP on
// the OU and reads the levels back as the management account can.
func TestSCPsOfAMemberAccount(t *testing.T) {
	srv := motoserver.Start(t)
	cfg := srv.Config(t)
	org := organizations.NewFromConfig(cfg)
	ctx := context.Background()
	created, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: types.OrganizationFeatureSetAll})
	if err != nil {
		t.Fatal(err)
	}
	roots, err := org.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil {
		t.Fatal(err)
	}
	root := aws.ToString(roots.Roots[0].Id)
	// The management account's own principals are not bound by SCPs.
	if s, err := orgsrc.NewFromConfig(cfg).SCPs(ctx, master); err != nil || s.Applied || !strings.Contains(s.Note, "management account") {
		t.Fatalf("management account: %+v, %v", s, err)
	}
	ou, err := org.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String(root), Name: aws.String("ml")})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := org.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String("ml-prod"), Email: aws.String("ml@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	var member string
	for range 50 {
		st, err := org.DescribeCreateAccountStatus(ctx, &organizations.DescribeCreateAccountStatusInput{CreateAccountRequestId: acct.CreateAccountStatus.Id})
		if err != nil {
			t.Fatal(err)
		}
		if member = aws.ToString(st.CreateAccountStatus.AccountId); member != "" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := org.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(member), SourceParentId: aws.String(root), DestinationParentId: ou.OrganizationalUnit.Id}); err != nil {
		t.Fatal(err)
	}
	// Before the SCP type is enabled at the root, SCPs do not apply.
	if s, err := orgsrc.NewFromConfig(cfg).SCPs(ctx, member); err != nil || s.Applied || !strings.Contains(s.Note, "not enabled") {
		t.Fatalf("SCP type disabled: %+v, %v", s, err)
	}
	if _, err := org.EnablePolicyType(ctx, &organizations.EnablePolicyTypeInput{RootId: aws.String(root), PolicyType: types.PolicyTypeServiceControlPolicy}); err != nil {
		t.Fatal(err)
	}
	guard, err := org.CreatePolicy(ctx, &organizations.CreatePolicyInput{Name: aws.String("bedrock-guard"), Description: aws.String("no opus"), Type: types.PolicyTypeServiceControlPolicy,
		Content: aws.String(`{"Version":"2012-10-17","Statement":[{"Sid":"NoOpus","Effect":"Deny","Action":["bedrock:Invoke*","bedrock:StartAsyncInvoke"],"Resource":"arn:aws:bedrock:*::foundation-model/*opus*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := org.AttachPolicy(ctx, &organizations.AttachPolicyInput{PolicyId: guard.Policy.PolicySummary.Id, TargetId: ou.OrganizationalUnit.Id}); err != nil {
		t.Fatal(err)
	}

	rec := awsconf.NewRecorder()
	rc := cfg.Copy()
	rec.Attach(&rc)
	s, err := orgsrc.NewFromConfig(rc).SCPs(ctx, member)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Applied || len(s.Levels) != 3 || s.OrgID != aws.ToString(created.Organization.Id) {
		t.Fatalf("SCPs = %+v", s)
	}
	want := []string{"root " + root, "OU " + aws.ToString(ou.OrganizationalUnit.Id), "account " + member}
	for i, w := range want {
		if s.Targets[i] != w {
			t.Errorf("target %d = %s, want %s", i, s.Targets[i], w)
		}
	}
	names := func(docs []audit.Document) string {
		var out []string
		for _, d := range docs {
			out = append(out, d.Name)
		}
		return strings.Join(out, ",")
	}
	if names(s.Levels[0]) != "FullAWSAccess" || names(s.Levels[1]) != "FullAWSAccess,bedrock-guard" || names(s.Levels[2]) != "FullAWSAccess" {
		t.Errorf("levels: %s | %s | %s", names(s.Levels[0]), names(s.Levels[1]), names(s.Levels[2]))
	}
	if g := s.Levels[1][1]; g.Source != audit.SourceSCP || g.Policy.Statement[0].Sid != "NoOpus" {
		t.Errorf("guard = %+v", g)
	}
	// FullAWSAccess sits at every level and is described once.
	if n := rec.Calls()["organizations:DescribePolicy"]; n != 2 {
		t.Errorf("DescribePolicy calls = %d, want 2", n)
	}
}

// denied answers like Organizations does to a member account.
type denied struct{ orgsrc.API }

func (denied) DescribeOrganization(context.Context, *organizations.DescribeOrganizationInput, ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error) {
	return &organizations.DescribeOrganizationOutput{Organization: &types.Organization{Id: aws.String("o-abc"), FeatureSet: types.OrganizationFeatureSetAll, MasterAccountId: aws.String("999999999999")}}, nil
}

func (denied) ListParents(context.Context, *organizations.ListParentsInput, ...func(*organizations.Options)) (*organizations.ListParentsOutput, error) {
	return nil, &types.AccessDeniedException{Message: aws.String("You don't have permissions to access this resource.")}
}

func TestNotReadableIsANote(t *testing.T) {
	s, err := orgsrc.New(denied{}).SCPs(context.Background(), master)
	if err != nil {
		t.Fatal(err)
	}
	if s.Applied || !strings.Contains(s.Note, "ListParents") || !strings.Contains(s.Note, "AccessDeniedException") || s.OrgID != "o-abc" {
		t.Errorf("SCPs = %+v", s)
	}
}
