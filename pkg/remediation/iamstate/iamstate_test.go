package iamstate

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/bedrock-warden/warden/pkg/remediation"
)

// encodedIAM answers like real IAM: policy documents URL-encoded (RFC 3986).
// Methods not overridden panic through the nil embedded interface.
type encodedIAM struct {
	API
	inline, managed string
	missing         bool
}

func (f encodedIAM) GetRole(_ context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	if f.missing {
		return nil, &types.NoSuchEntityException{Message: aws.String("The role with name " + aws.ToString(in.RoleName) + " cannot be found.")}
	}
	return &iam.GetRoleOutput{Role: &types.Role{RoleName: in.RoleName, Path: aws.String("/jobs/"), Arn: aws.String("arn:aws:iam::123456789012:role/jobs/etl")}}, nil
}
func (f encodedIAM) ListRoleTags(context.Context, *iam.ListRoleTagsInput, ...func(*iam.Options)) (*iam.ListRoleTagsOutput, error) {
	return &iam.ListRoleTagsOutput{Tags: []types.Tag{{Key: aws.String("bedrock-warden:protected"), Value: aws.String("true")}}}, nil
}
func (f encodedIAM) ListAttachedRolePolicies(context.Context, *iam.ListAttachedRolePoliciesInput, ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error) {
	return &iam.ListAttachedRolePoliciesOutput{AttachedPolicies: []types.AttachedPolicy{{PolicyArn: aws.String("arn:aws:iam::123456789012:policy/p"), PolicyName: aws.String("p")}}}, nil
}
func (f encodedIAM) GetPolicy(context.Context, *iam.GetPolicyInput, ...func(*iam.Options)) (*iam.GetPolicyOutput, error) {
	return &iam.GetPolicyOutput{Policy: &types.Policy{DefaultVersionId: aws.String("v3")}}, nil
}
func (f encodedIAM) GetPolicyVersion(_ context.Context, in *iam.GetPolicyVersionInput, _ ...func(*iam.Options)) (*iam.GetPolicyVersionOutput, error) {
	if aws.ToString(in.VersionId) != "v3" {
		return nil, errors.New("wrong version asked")
	}
	return &iam.GetPolicyVersionOutput{PolicyVersion: &types.PolicyVersion{Document: aws.String(url.PathEscape(f.managed))}}, nil
}
func (f encodedIAM) ListRolePolicies(context.Context, *iam.ListRolePoliciesInput, ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error) {
	return &iam.ListRolePoliciesOutput{PolicyNames: []string{"inl"}}, nil
}
func (f encodedIAM) GetRolePolicy(context.Context, *iam.GetRolePolicyInput, ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error) {
	return &iam.GetRolePolicyOutput{PolicyDocument: aws.String(url.PathEscape(f.inline))}, nil
}

func TestSnapshotDecodesDocumentsExactly(t *testing.T) {
	inline := "{\n \"Version\": \"2012-10-17\",\n \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"bedrock:*\", \"Resource\": \"arn:aws:bedrock:*::foundation-model/a+b%c\"}]\n}"
	managed := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`
	c := Client{API: encodedIAM{inline: inline, managed: managed}}
	p := remediation.Principal{ARN: "arn:aws:iam::123456789012:role/etl", Kind: remediation.KindRole, Name: "etl"}
	st, err := c.Snapshot(context.Background(), p, remediation.SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Inline) != 1 || st.Inline[0].Document != inline {
		t.Errorf("inline document not decoded byte for byte: %q", st.Inline)
	}
	if len(st.Managed) != 1 || st.Managed[0].Document != managed {
		t.Errorf("managed document: %+v", st.Managed)
	}
	if st.Principal.Path != "/jobs/" || st.Principal.ARN != "arn:aws:iam::123456789012:role/jobs/etl" || st.Tags["bedrock-warden:protected"] != "true" {
		t.Errorf("principal/tags from IAM not used: %+v %v", st.Principal, st.Tags)
	}
}

func TestSnapshotMissingPrincipalIsErrNotFound(t *testing.T) {
	c := Client{API: encodedIAM{missing: true}}
	_, err := c.Snapshot(context.Background(), remediation.Principal{ARN: "arn:aws:iam::1:role/gone", Kind: remediation.KindRole, Name: "gone"}, remediation.SnapshotOptions{})
	if !errors.Is(err, remediation.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	if _, err := c.Snapshot(context.Background(), remediation.Principal{ARN: "x", Kind: "group", Name: "g"}, remediation.SnapshotOptions{}); err == nil {
		t.Error("a group is neither user nor role")
	}
}
