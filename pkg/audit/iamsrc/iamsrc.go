// Package iamsrc is the audit's IAM adapter: it lists the account's users
// and roles and reads, per principal, its tags, permissions boundary and
// identity policies — inline, attached managed (the default version), and
// for a user its groups' — through the AWS SDK IAM client. It implements
// audit.Directory.
//
// Calls per run: ListRoles and ListUsers (1,000 per page); per role
// GetRole (path, tags and boundary: ListRoles leaves the boundary and tags
// out), ListAttachedRolePolicies, ListRolePolicies and one GetRolePolicy
// per inline policy; per user the same, plus ListGroupsForUser. Each
// managed policy (GetPolicy, then GetPolicyVersion of its default version)
// and each group's policies are read once per run, however many principals
// share them, and concurrent readers of the same one wait for the first.
package iamsrc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/bedrock-warden/warden/pkg/audit"
	"github.com/bedrock-warden/warden/pkg/iamlist"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
)

// API is the part of the IAM client the reader calls; *iam.Client
// satisfies it. Each method needs the matching iam: read permission.
type API interface {
	ListRoles(ctx context.Context, in *iam.ListRolesInput, opts ...func(*iam.Options)) (*iam.ListRolesOutput, error)
	ListUsers(ctx context.Context, in *iam.ListUsersInput, opts ...func(*iam.Options)) (*iam.ListUsersOutput, error)
	GetRole(ctx context.Context, in *iam.GetRoleInput, opts ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	GetUser(ctx context.Context, in *iam.GetUserInput, opts ...func(*iam.Options)) (*iam.GetUserOutput, error)
	ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedRolePoliciesInput, opts ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	ListAttachedUserPolicies(ctx context.Context, in *iam.ListAttachedUserPoliciesInput, opts ...func(*iam.Options)) (*iam.ListAttachedUserPoliciesOutput, error)
	ListAttachedGroupPolicies(ctx context.Context, in *iam.ListAttachedGroupPoliciesInput, opts ...func(*iam.Options)) (*iam.ListAttachedGroupPoliciesOutput, error)
	ListRolePolicies(ctx context.Context, in *iam.ListRolePoliciesInput, opts ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
	ListUserPolicies(ctx context.Context, in *iam.ListUserPoliciesInput, opts ...func(*iam.Options)) (*iam.ListUserPoliciesOutput, error)
	ListGroupPolicies(ctx context.Context, in *iam.ListGroupPoliciesInput, opts ...func(*iam.Options)) (*iam.ListGroupPoliciesOutput, error)
	GetRolePolicy(ctx context.Context, in *iam.GetRolePolicyInput, opts ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	GetUserPolicy(ctx context.Context, in *iam.GetUserPolicyInput, opts ...func(*iam.Options)) (*iam.GetUserPolicyOutput, error)
	GetGroupPolicy(ctx context.Context, in *iam.GetGroupPolicyInput, opts ...func(*iam.Options)) (*iam.GetGroupPolicyOutput, error)
	ListGroupsForUser(ctx context.Context, in *iam.ListGroupsForUserInput, opts ...func(*iam.Options)) (*iam.ListGroupsForUserOutput, error)
	GetPolicy(ctx context.Context, in *iam.GetPolicyInput, opts ...func(*iam.Options)) (*iam.GetPolicyOutput, error)
	GetPolicyVersion(ctx context.Context, in *iam.GetPolicyVersionInput, opts ...func(*iam.Options)) (*iam.GetPolicyVersionOutput, error)
}

// pageSize is MaxItems for the principal listings (IAM's maximum).
const pageSize = 1000

// Reader implements audit.Directory. One Reader serves one run: it keeps
// the managed and group policies it has read.
type Reader struct {
	api API

	mu      sync.Mutex
	managed map[string]*entry[audit.Document]
	groups  map[string]*entry[[]audit.Document]
}

// entry is a value read once; later readers wait for the first.
type entry[T any] struct {
	once sync.Once
	val  T
	err  error
}

var _ audit.Directory = (*Reader)(nil)

// New returns a Reader over api.
func New(api API) *Reader {
	return &Reader{api: api, managed: map[string]*entry[audit.Document]{}, groups: map[string]*entry[[]audit.Document]{}}
}

// maxAttempts is how often a throttled or failed IAM read is tried: IAM
// throttles bursts of reads, and a whole account's audit is one burst.
const maxAttempts = 10

// NewFromConfig returns a Reader over the SDK client built from cfg, with
// retries raised to maxAttempts.
func NewFromConfig(cfg aws.Config, opts ...func(*iam.Options)) *Reader {
	patient := func(o *iam.Options) { o.Retryer = retry.AddWithMaxAttempts(o.Retryer, maxAttempts) }
	return New(iam.NewFromConfig(cfg, append([]func(*iam.Options){patient}, opts...)...))
}

// Principals lists every role and user.
func (r *Reader) Principals(ctx context.Context) ([]audit.Ref, error) {
	roles, err := iamlist.All(ctx, "ListRoles", func(ctx context.Context, m *string) ([]types.Role, bool, *string, error) {
		out, err := r.api.ListRoles(ctx, &iam.ListRolesInput{Marker: m, MaxItems: aws.Int32(pageSize)})
		if err != nil {
			return nil, false, nil, err
		}
		return out.Roles, out.IsTruncated, out.Marker, nil
	})
	if err != nil {
		return nil, err
	}
	users, err := iamlist.All(ctx, "ListUsers", func(ctx context.Context, m *string) ([]types.User, bool, *string, error) {
		out, err := r.api.ListUsers(ctx, &iam.ListUsersInput{Marker: m, MaxItems: aws.Int32(pageSize)})
		if err != nil {
			return nil, false, nil, err
		}
		return out.Users, out.IsTruncated, out.Marker, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]audit.Ref, 0, len(roles)+len(users))
	for _, x := range roles {
		out = append(out, audit.Ref{ARN: aws.ToString(x.Arn), Name: aws.ToString(x.RoleName), Path: aws.ToString(x.Path), Kind: audit.KindRole})
	}
	for _, x := range users {
		out = append(out, audit.Ref{ARN: aws.ToString(x.Arn), Name: aws.ToString(x.UserName), Path: aws.ToString(x.Path), Kind: audit.KindUser})
	}
	return out, nil
}

// gone maps IAM's NoSuchEntity to audit.ErrGone.
func gone(err error) error {
	var nse *types.NoSuchEntityException
	if errors.As(err, &nse) {
		return fmt.Errorf("%w: %w", audit.ErrGone, err)
	}
	return err
}

// Principal reads one role or user.
func (r *Reader) Principal(ctx context.Context, ref audit.Ref) (audit.Principal, error) {
	var p audit.Principal
	var err error
	switch ref.Kind {
	case audit.KindRole:
		p, err = r.role(ctx, ref)
	case audit.KindUser:
		p, err = r.user(ctx, ref)
	default:
		err = fmt.Errorf("kind %q is neither user nor role", ref.Kind)
	}
	if err != nil {
		return audit.Principal{}, fmt.Errorf("%s: %w", ref.ARN, gone(err))
	}
	return p, nil
}

func (r *Reader) role(ctx context.Context, ref audit.Ref) (audit.Principal, error) {
	name := aws.String(ref.Name)
	got, err := r.api.GetRole(ctx, &iam.GetRoleInput{RoleName: name})
	if err != nil {
		return audit.Principal{}, fmt.Errorf("GetRole: %w", err)
	}
	if got.Role == nil {
		return audit.Principal{}, errors.New("GetRole: empty answer")
	}
	x := got.Role
	p := newPrincipal(audit.KindRole, aws.ToString(x.Arn), aws.ToString(x.RoleName), aws.ToString(x.Path), aws.ToString(x.RoleId), x.Tags)
	if err := r.boundary(ctx, &p, x.PermissionsBoundary); err != nil {
		return p, err
	}
	attached, err := iamlist.All(ctx, "ListAttachedRolePolicies", func(ctx context.Context, m *string) ([]types.AttachedPolicy, bool, *string, error) {
		out, err := r.api.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: name, Marker: m})
		if err != nil {
			return nil, false, nil, err
		}
		return out.AttachedPolicies, out.IsTruncated, out.Marker, nil
	})
	if err != nil {
		return p, err
	}
	if err := r.addManaged(ctx, &p.Identity, attached, ""); err != nil {
		return p, err
	}
	names, err := iamlist.All(ctx, "ListRolePolicies", func(ctx context.Context, m *string) ([]string, bool, *string, error) {
		out, err := r.api.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: name, Marker: m})
		if err != nil {
			return nil, false, nil, err
		}
		return out.PolicyNames, out.IsTruncated, out.Marker, nil
	})
	if err != nil {
		return p, err
	}
	for _, n := range names {
		out, err := r.api.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: name, PolicyName: aws.String(n)})
		if err != nil {
			return p, fmt.Errorf("GetRolePolicy %s: %w", n, err)
		}
		d, err := parse(aws.ToString(out.PolicyDocument))
		if err != nil {
			return p, fmt.Errorf("inline policy %s: %w", n, err)
		}
		p.Identity = append(p.Identity, audit.Document{Name: ref.Name + "/" + n, Source: audit.SourceInline, Policy: d})
	}
	return p, nil
}

func (r *Reader) user(ctx context.Context, ref audit.Ref) (audit.Principal, error) {
	name := aws.String(ref.Name)
	got, err := r.api.GetUser(ctx, &iam.GetUserInput{UserName: name})
	if err != nil {
		return audit.Principal{}, fmt.Errorf("GetUser: %w", err)
	}
	if got.User == nil {
		return audit.Principal{}, errors.New("GetUser: empty answer")
	}
	x := got.User
	p := newPrincipal(audit.KindUser, aws.ToString(x.Arn), aws.ToString(x.UserName), aws.ToString(x.Path), aws.ToString(x.UserId), x.Tags)
	if err := r.boundary(ctx, &p, x.PermissionsBoundary); err != nil {
		return p, err
	}
	attached, err := iamlist.All(ctx, "ListAttachedUserPolicies", func(ctx context.Context, m *string) ([]types.AttachedPolicy, bool, *string, error) {
		out, err := r.api.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: name, Marker: m})
		if err != nil {
			return nil, false, nil, err
		}
		return out.AttachedPolicies, out.IsTruncated, out.Marker, nil
	})
	if err != nil {
		return p, err
	}
	if err := r.addManaged(ctx, &p.Identity, attached, ""); err != nil {
		return p, err
	}
	names, err := iamlist.All(ctx, "ListUserPolicies", func(ctx context.Context, m *string) ([]string, bool, *string, error) {
		out, err := r.api.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: name, Marker: m})
		if err != nil {
			return nil, false, nil, err
		}
		return out.PolicyNames, out.IsTruncated, out.Marker, nil
	})
	if err != nil {
		return p, err
	}
	for _, n := range names {
		out, err := r.api.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: name, PolicyName: aws.String(n)})
		if err != nil {
			return p, fmt.Errorf("GetUserPolicy %s: %w", n, err)
		}
		d, err := parse(aws.ToString(out.PolicyDocument))
		if err != nil {
			return p, fmt.Errorf("inline policy %s: %w", n, err)
		}
		p.Identity = append(p.Identity, audit.Document{Name: ref.Name + "/" + n, Source: audit.SourceInline, Policy: d})
	}
	groups, err := iamlist.All(ctx, "ListGroupsForUser", func(ctx context.Context, m *string) ([]types.Group, bool, *string, error) {
		out, err := r.api.ListGroupsForUser(ctx, &iam.ListGroupsForUserInput{UserName: name, Marker: m})
		if err != nil {
			return nil, false, nil, err
		}
		return out.Groups, out.IsTruncated, out.Marker, nil
	})
	if err != nil {
		return p, err
	}
	for _, g := range groups {
		docs, err := r.group(ctx, aws.ToString(g.GroupName))
		if err != nil {
			return p, err
		}
		p.Identity = append(p.Identity, docs...)
	}
	return p, nil
}

func newPrincipal(kind, arn, name, path, id string, tags []types.Tag) audit.Principal {
	p := audit.Principal{ARN: arn, Name: name, Path: path, Kind: kind, ID: id, Tags: map[string]string{}}
	if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 {
		p.Account = parts[4]
	}
	for _, t := range tags {
		p.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return p
}

func (r *Reader) boundary(ctx context.Context, p *audit.Principal, b *types.AttachedPermissionsBoundary) error {
	if b == nil || aws.ToString(b.PermissionsBoundaryArn) == "" {
		return nil
	}
	d, err := r.managedPolicy(ctx, aws.ToString(b.PermissionsBoundaryArn), "")
	if err != nil {
		return fmt.Errorf("permissions boundary: %w", err)
	}
	p.Boundary = &d
	return nil
}

// group returns a group's policies (attached and inline), read once.
func (r *Reader) group(ctx context.Context, name string) ([]audit.Document, error) {
	r.mu.Lock()
	e, ok := r.groups[name]
	if !ok {
		e = &entry[[]audit.Document]{}
		r.groups[name] = e
	}
	r.mu.Unlock()
	e.once.Do(func() { e.val, e.err = r.readGroup(ctx, name) })
	return e.val, e.err
}

func (r *Reader) readGroup(ctx context.Context, name string) ([]audit.Document, error) {
	gn := aws.String(name)
	var docs []audit.Document
	attached, err := iamlist.All(ctx, "ListAttachedGroupPolicies", func(ctx context.Context, m *string) ([]types.AttachedPolicy, bool, *string, error) {
		out, err := r.api.ListAttachedGroupPolicies(ctx, &iam.ListAttachedGroupPoliciesInput{GroupName: gn, Marker: m})
		if err != nil {
			return nil, false, nil, err
		}
		return out.AttachedPolicies, out.IsTruncated, out.Marker, nil
	})
	if err != nil {
		return nil, fmt.Errorf("group %s: %w", name, err)
	}
	if err := r.addManaged(ctx, &docs, attached, name); err != nil {
		return nil, fmt.Errorf("group %s: %w", name, err)
	}
	names, err := iamlist.All(ctx, "ListGroupPolicies", func(ctx context.Context, m *string) ([]string, bool, *string, error) {
		out, err := r.api.ListGroupPolicies(ctx, &iam.ListGroupPoliciesInput{GroupName: gn, Marker: m})
		if err != nil {
			return nil, false, nil, err
		}
		return out.PolicyNames, out.IsTruncated, out.Marker, nil
	})
	if err != nil {
		return nil, fmt.Errorf("group %s: %w", name, err)
	}
	for _, n := range names {
		out, err := r.api.GetGroupPolicy(ctx, &iam.GetGroupPolicyInput{GroupName: gn, PolicyName: aws.String(n)})
		if err != nil {
			return nil, fmt.Errorf("group %s: GetGroupPolicy %s: %w", name, n, err)
		}
		d, err := parse(aws.ToString(out.PolicyDocument))
		if err != nil {
			return nil, fmt.Errorf("group %s: inline policy %s: %w", name, n, err)
		}
		docs = append(docs, audit.Document{Name: name + "/" + n, Source: audit.SourceInline, Group: name, Policy: d})
	}
	return docs, nil
}

func (r *Reader) addManaged(ctx context.Context, docs *[]audit.Document, attached []types.AttachedPolicy, group string) error {
	for _, ap := range attached {
		d, err := r.managedPolicy(ctx, aws.ToString(ap.PolicyArn), group)
		if err != nil {
			return err
		}
		*docs = append(*docs, d)
	}
	return nil
}

// managedPolicy returns a managed policy's default version, read once per
// run; group names the group it is attached through.
func (r *Reader) managedPolicy(ctx context.Context, arn, group string) (audit.Document, error) {
	r.mu.Lock()
	e, ok := r.managed[arn]
	if !ok {
		e = &entry[audit.Document]{}
		r.managed[arn] = e
	}
	r.mu.Unlock()
	e.once.Do(func() { e.val, e.err = r.readManaged(ctx, arn) })
	d := e.val
	d.Group = group
	return d, e.err
}

func (r *Reader) readManaged(ctx context.Context, arn string) (audit.Document, error) {
	pol, err := r.api.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	if err != nil {
		return audit.Document{}, fmt.Errorf("GetPolicy %s: %w", arn, err)
	}
	if pol.Policy == nil || pol.Policy.DefaultVersionId == nil {
		return audit.Document{}, fmt.Errorf("GetPolicy %s: no default version", arn)
	}
	ver, err := r.api.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: pol.Policy.DefaultVersionId})
	if err != nil {
		return audit.Document{}, fmt.Errorf("GetPolicyVersion %s %s: %w", arn, aws.ToString(pol.Policy.DefaultVersionId), err)
	}
	if ver.PolicyVersion == nil {
		return audit.Document{}, fmt.Errorf("GetPolicyVersion %s: empty answer", arn)
	}
	d, err := parse(aws.ToString(ver.PolicyVersion.Document))
	if err != nil {
		return audit.Document{}, fmt.Errorf("managed policy %s: %w", arn, err)
	}
	src := audit.SourceManaged
	if strings.Contains(arn, ":iam::aws:policy/") {
		src = audit.SourceAWSManaged
	}
	return audit.Document{Name: aws.ToString(pol.Policy.PolicyName), ARN: arn, Source: src, Policy: d}, nil
}

// parse reads a document as IAM returns it (URL-encoded).
func parse(text string) (iampolicy.Document, error) {
	return iampolicy.Parse(text)
}
