// Package iamstate is the IAM adapter of remediation: it reads a user's or
// role's IAM state (path, tags, managed and inline policies, access keys,
// Bedrock API keys) and makes the changes a remediation plan or its undo
// needs, through the AWS SDK IAM client.
package iamstate

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/bedrock-warden/warden/pkg/iamlist"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
	"github.com/bedrock-warden/warden/pkg/remediation"
)

// API is the part of the IAM client this adapter calls; *iam.Client
// satisfies it. Every method here needs the matching iam: permission.
type API interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput, opts ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	GetUser(ctx context.Context, in *iam.GetUserInput, opts ...func(*iam.Options)) (*iam.GetUserOutput, error)
	ListRoleTags(ctx context.Context, in *iam.ListRoleTagsInput, opts ...func(*iam.Options)) (*iam.ListRoleTagsOutput, error)
	ListUserTags(ctx context.Context, in *iam.ListUserTagsInput, opts ...func(*iam.Options)) (*iam.ListUserTagsOutput, error)
	ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedRolePoliciesInput, opts ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	ListAttachedUserPolicies(ctx context.Context, in *iam.ListAttachedUserPoliciesInput, opts ...func(*iam.Options)) (*iam.ListAttachedUserPoliciesOutput, error)
	GetPolicy(ctx context.Context, in *iam.GetPolicyInput, opts ...func(*iam.Options)) (*iam.GetPolicyOutput, error)
	GetPolicyVersion(ctx context.Context, in *iam.GetPolicyVersionInput, opts ...func(*iam.Options)) (*iam.GetPolicyVersionOutput, error)
	ListRolePolicies(ctx context.Context, in *iam.ListRolePoliciesInput, opts ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
	ListUserPolicies(ctx context.Context, in *iam.ListUserPoliciesInput, opts ...func(*iam.Options)) (*iam.ListUserPoliciesOutput, error)
	GetRolePolicy(ctx context.Context, in *iam.GetRolePolicyInput, opts ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	GetUserPolicy(ctx context.Context, in *iam.GetUserPolicyInput, opts ...func(*iam.Options)) (*iam.GetUserPolicyOutput, error)
	ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, opts ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	ListServiceSpecificCredentials(ctx context.Context, in *iam.ListServiceSpecificCredentialsInput, opts ...func(*iam.Options)) (*iam.ListServiceSpecificCredentialsOutput, error)
	AttachRolePolicy(ctx context.Context, in *iam.AttachRolePolicyInput, opts ...func(*iam.Options)) (*iam.AttachRolePolicyOutput, error)
	AttachUserPolicy(ctx context.Context, in *iam.AttachUserPolicyInput, opts ...func(*iam.Options)) (*iam.AttachUserPolicyOutput, error)
	DetachRolePolicy(ctx context.Context, in *iam.DetachRolePolicyInput, opts ...func(*iam.Options)) (*iam.DetachRolePolicyOutput, error)
	DetachUserPolicy(ctx context.Context, in *iam.DetachUserPolicyInput, opts ...func(*iam.Options)) (*iam.DetachUserPolicyOutput, error)
	PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, opts ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
	PutUserPolicy(ctx context.Context, in *iam.PutUserPolicyInput, opts ...func(*iam.Options)) (*iam.PutUserPolicyOutput, error)
	DeleteRolePolicy(ctx context.Context, in *iam.DeleteRolePolicyInput, opts ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
	DeleteUserPolicy(ctx context.Context, in *iam.DeleteUserPolicyInput, opts ...func(*iam.Options)) (*iam.DeleteUserPolicyOutput, error)
	UpdateAccessKey(ctx context.Context, in *iam.UpdateAccessKeyInput, opts ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
	UpdateServiceSpecificCredential(ctx context.Context, in *iam.UpdateServiceSpecificCredentialInput, opts ...func(*iam.Options)) (*iam.UpdateServiceSpecificCredentialOutput, error)
}

// Client implements remediation.IAM.
type Client struct {
	API API
}

var _ remediation.IAM = Client{}

// New returns a Client over the SDK client built from cfg.
func New(cfg aws.Config, opts ...func(*iam.Options)) Client {
	return Client{API: iam.NewFromConfig(cfg, opts...)}
}

// notFound maps IAM's NoSuchEntity to remediation.ErrNotFound.
func notFound(err error) error {
	var nse *types.NoSuchEntityException
	if errors.As(err, &nse) {
		return fmt.Errorf("%w: %w", remediation.ErrNotFound, err)
	}
	return err
}

// Snapshot implements remediation.IAM.
func (c Client) Snapshot(ctx context.Context, p remediation.Principal, opts remediation.SnapshotOptions) (remediation.State, error) {
	st := remediation.State{Principal: p, Tags: map[string]string{}}
	var err error
	switch p.Kind {
	case remediation.KindRole:
		err = c.roleState(ctx, &st)
	case remediation.KindUser:
		err = c.userState(ctx, &st, opts)
	default:
		err = fmt.Errorf("principal %s: kind %q is neither user nor role", p.ARN, p.Kind)
	}
	if err != nil {
		return remediation.State{}, fmt.Errorf("snapshot %s: %w", p.ARN, notFound(err))
	}
	return st, nil
}

// principalAPI is the per-kind half of a snapshot: the same five reads
// exist for roles and for users under different names.
type principalAPI struct {
	kind         string // "Role" or "User", for error messages
	get          func(ctx context.Context) (path, arn *string, err error)
	listTags     func(ctx context.Context, marker *string) ([]types.Tag, bool, *string, error)
	listAttached func(ctx context.Context, marker *string) ([]types.AttachedPolicy, bool, *string, error)
	listInline   func(ctx context.Context, marker *string) ([]string, bool, *string, error)
	getInline    func(ctx context.Context, policy string) (*string, error)
}

func (c Client) roleAPI(name *string) principalAPI {
	return principalAPI{
		kind: "Role",
		get: func(ctx context.Context) (*string, *string, error) {
			out, err := c.API.GetRole(ctx, &iam.GetRoleInput{RoleName: name})
			if err != nil || out.Role == nil {
				return nil, nil, err
			}
			return out.Role.Path, out.Role.Arn, nil
		},
		listTags: func(ctx context.Context, m *string) ([]types.Tag, bool, *string, error) {
			out, err := c.API.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: name, Marker: m})
			if err != nil {
				return nil, false, nil, err
			}
			return out.Tags, out.IsTruncated, out.Marker, nil
		},
		listAttached: func(ctx context.Context, m *string) ([]types.AttachedPolicy, bool, *string, error) {
			out, err := c.API.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: name, Marker: m})
			if err != nil {
				return nil, false, nil, err
			}
			return out.AttachedPolicies, out.IsTruncated, out.Marker, nil
		},
		listInline: func(ctx context.Context, m *string) ([]string, bool, *string, error) {
			out, err := c.API.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: name, Marker: m})
			if err != nil {
				return nil, false, nil, err
			}
			return out.PolicyNames, out.IsTruncated, out.Marker, nil
		},
		getInline: func(ctx context.Context, policy string) (*string, error) {
			out, err := c.API.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: name, PolicyName: aws.String(policy)})
			if err != nil {
				return nil, err
			}
			return out.PolicyDocument, nil
		},
	}
}

func (c Client) userAPI(name *string) principalAPI {
	return principalAPI{
		kind: "User",
		get: func(ctx context.Context) (*string, *string, error) {
			out, err := c.API.GetUser(ctx, &iam.GetUserInput{UserName: name})
			if err != nil || out.User == nil {
				return nil, nil, err
			}
			return out.User.Path, out.User.Arn, nil
		},
		listTags: func(ctx context.Context, m *string) ([]types.Tag, bool, *string, error) {
			out, err := c.API.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: name, Marker: m})
			if err != nil {
				return nil, false, nil, err
			}
			return out.Tags, out.IsTruncated, out.Marker, nil
		},
		listAttached: func(ctx context.Context, m *string) ([]types.AttachedPolicy, bool, *string, error) {
			out, err := c.API.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: name, Marker: m})
			if err != nil {
				return nil, false, nil, err
			}
			return out.AttachedPolicies, out.IsTruncated, out.Marker, nil
		},
		listInline: func(ctx context.Context, m *string) ([]string, bool, *string, error) {
			out, err := c.API.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: name, Marker: m})
			if err != nil {
				return nil, false, nil, err
			}
			return out.PolicyNames, out.IsTruncated, out.Marker, nil
		},
		getInline: func(ctx context.Context, policy string) (*string, error) {
			out, err := c.API.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: name, PolicyName: aws.String(policy)})
			if err != nil {
				return nil, err
			}
			return out.PolicyDocument, nil
		},
	}
}

// principalState reads a role's or user's path, tags, attached managed
// policies (with their default documents) and inline policies (decoded,
// verbatim).
func (c Client) principalState(ctx context.Context, st *remediation.State, api principalAPI) error {
	path, arn, err := api.get(ctx)
	if err != nil {
		return fmt.Errorf("Get%s: %w", api.kind, err)
	}
	if path != nil {
		st.Principal.Path = *path
	}
	if a := aws.ToString(arn); a != "" {
		st.Principal.ARN = a
	}
	tags, err := iamlist.All(ctx, "List"+api.kind+"Tags", api.listTags)
	if err != nil {
		return err
	}
	addTags(st, tags)
	attached, err := iamlist.All(ctx, "ListAttached"+api.kind+"Policies", api.listAttached)
	if err != nil {
		return err
	}
	if err := c.managed(ctx, st, attached); err != nil {
		return err
	}
	names, err := iamlist.All(ctx, "List"+api.kind+"Policies", api.listInline)
	if err != nil {
		return err
	}
	for _, n := range names {
		text, err := api.getInline(ctx, n)
		if err != nil {
			return fmt.Errorf("Get%sPolicy %s: %w", api.kind, n, err)
		}
		doc, err := iampolicy.Decode(aws.ToString(text))
		if err != nil {
			return fmt.Errorf("inline policy %s: %w", n, err)
		}
		st.Inline = append(st.Inline, remediation.InlinePolicy{Name: n, Document: doc})
	}
	return nil
}

func (c Client) roleState(ctx context.Context, st *remediation.State) error {
	return c.principalState(ctx, st, c.roleAPI(aws.String(st.Principal.Name)))
}

func (c Client) userState(ctx context.Context, st *remediation.State, opts remediation.SnapshotOptions) error {
	if err := c.principalState(ctx, st, c.userAPI(aws.String(st.Principal.Name))); err != nil {
		return err
	}
	if opts.AccessKeys {
		if err := c.accessKeys(ctx, st); err != nil {
			return err
		}
	}
	if opts.ServiceCredentials {
		return c.serviceCredentials(ctx, st)
	}
	return nil
}

func (c Client) accessKeys(ctx context.Context, st *remediation.State) error {
	name := aws.String(st.Principal.Name)
	var marker *string
	for {
		out, err := c.API.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: name, Marker: marker})
		if err != nil {
			return fmt.Errorf("ListAccessKeys: %w", err)
		}
		for _, k := range out.AccessKeyMetadata {
			st.Credentials = append(st.Credentials, remediation.Credential{ID: aws.ToString(k.AccessKeyId), Kind: remediation.CredAccessKey, Status: string(k.Status)})
		}
		if !out.IsTruncated {
			break
		}
		marker = out.Marker
	}
	return nil
}

func (c Client) serviceCredentials(ctx context.Context, st *remediation.State) error {
	name := aws.String(st.Principal.Name)
	out, err := c.API.ListServiceSpecificCredentials(ctx, &iam.ListServiceSpecificCredentialsInput{UserName: name, ServiceName: aws.String(remediation.BedrockServiceName)})
	if err != nil {
		return fmt.Errorf("ListServiceSpecificCredentials: %w", err)
	}
	for _, sc := range out.ServiceSpecificCredentials {
		st.Credentials = append(st.Credentials, remediation.Credential{
			ID: aws.ToString(sc.ServiceSpecificCredentialId), Kind: remediation.CredServiceSpecific,
			Status: string(sc.Status), Service: aws.ToString(sc.ServiceName),
		})
	}
	return nil
}

func addTags(st *remediation.State, tags []types.Tag) {
	for _, t := range tags {
		st.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
}

func (c Client) managed(ctx context.Context, st *remediation.State, attached []types.AttachedPolicy) error {
	for _, ap := range attached {
		arn := aws.ToString(ap.PolicyArn)
		pol, err := c.API.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: ap.PolicyArn})
		if err != nil {
			return fmt.Errorf("GetPolicy %s: %w", arn, err)
		}
		if pol.Policy == nil || pol.Policy.DefaultVersionId == nil {
			return fmt.Errorf("GetPolicy %s: no default version", arn)
		}
		ver, err := c.API.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: ap.PolicyArn, VersionId: pol.Policy.DefaultVersionId})
		if err != nil {
			return fmt.Errorf("GetPolicyVersion %s %s: %w", arn, aws.ToString(pol.Policy.DefaultVersionId), err)
		}
		if ver.PolicyVersion == nil {
			return fmt.Errorf("GetPolicyVersion %s: empty answer", arn)
		}
		doc, err := iampolicy.Decode(aws.ToString(ver.PolicyVersion.Document))
		if err != nil {
			return fmt.Errorf("managed policy %s: %w", arn, err)
		}
		st.Managed = append(st.Managed, remediation.ManagedPolicy{ARN: arn, Name: aws.ToString(ap.PolicyName), Document: doc})
	}
	return nil
}

// AttachManaged implements remediation.IAM.
func (c Client) AttachManaged(ctx context.Context, p remediation.Principal, arn string) error {
	var err error
	if p.Kind == remediation.KindRole {
		_, err = c.API.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(p.Name), PolicyArn: aws.String(arn)})
	} else {
		_, err = c.API.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String(p.Name), PolicyArn: aws.String(arn)})
	}
	if err != nil {
		return fmt.Errorf("attach %s to %s: %w", arn, p.ARN, notFound(err))
	}
	return nil
}

// DetachManaged implements remediation.IAM.
func (c Client) DetachManaged(ctx context.Context, p remediation.Principal, arn string) error {
	var err error
	if p.Kind == remediation.KindRole {
		_, err = c.API.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(p.Name), PolicyArn: aws.String(arn)})
	} else {
		_, err = c.API.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: aws.String(p.Name), PolicyArn: aws.String(arn)})
	}
	if err != nil {
		return fmt.Errorf("detach %s from %s: %w", arn, p.ARN, notFound(err))
	}
	return nil
}

// PutInline implements remediation.IAM. The document is sent as given.
func (c Client) PutInline(ctx context.Context, p remediation.Principal, name, document string) error {
	var err error
	if p.Kind == remediation.KindRole {
		_, err = c.API.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(p.Name), PolicyName: aws.String(name), PolicyDocument: aws.String(document)})
	} else {
		_, err = c.API.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(p.Name), PolicyName: aws.String(name), PolicyDocument: aws.String(document)})
	}
	if err != nil {
		return fmt.Errorf("put inline policy %s on %s: %w", name, p.ARN, notFound(err))
	}
	return nil
}

// DeleteInline implements remediation.IAM.
func (c Client) DeleteInline(ctx context.Context, p remediation.Principal, name string) error {
	var err error
	if p.Kind == remediation.KindRole {
		_, err = c.API.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(p.Name), PolicyName: aws.String(name)})
	} else {
		_, err = c.API.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String(p.Name), PolicyName: aws.String(name)})
	}
	if err != nil {
		return fmt.Errorf("delete inline policy %s of %s: %w", name, p.ARN, notFound(err))
	}
	return nil
}

// SetAccessKeyStatus implements remediation.IAM.
func (c Client) SetAccessKeyStatus(ctx context.Context, user, keyID, status string) error {
	_, err := c.API.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(user), AccessKeyId: aws.String(keyID), Status: types.StatusType(status)})
	if err != nil {
		return fmt.Errorf("set access key %s of %s to %s: %w", keyID, user, status, notFound(err))
	}
	return nil
}

// SetServiceCredentialStatus implements remediation.IAM.
func (c Client) SetServiceCredentialStatus(ctx context.Context, user, id, status string) error {
	_, err := c.API.UpdateServiceSpecificCredential(ctx, &iam.UpdateServiceSpecificCredentialInput{UserName: aws.String(user), ServiceSpecificCredentialId: aws.String(id), Status: types.StatusType(status)})
	if err != nil {
		return fmt.Errorf("set service-specific credential %s of %s to %s: %w", id, user, status, notFound(err))
	}
	return nil
}
