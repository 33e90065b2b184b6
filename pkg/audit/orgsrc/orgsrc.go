// Package orgsrc is the audit's AWS Organizations adapter: it reads the
// service control policies that apply to an account — those attached to
// the organization's root, to every OU above the account, and to the
// account itself — where the caller may read them. It implements
// audit.SCPReader.
//
// Listing the policies of a target (ListParents, ListPoliciesForTarget)
// is allowed only from the organization's management account or a
// delegated administrator, so from a member account the reader usually
// finds SCPs unreadable: it says so in SCPs.Note and the audit goes on
// without them. SCPs never apply to the management account's own
// principals (nor to service-linked roles, which the audit handles), nor
// in an organization without all features or with the SCP policy type
// disabled at the root: the note says which.
package orgsrc

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/smithy-go"

	"github.com/bedrock-warden/warden/pkg/audit"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
)

// API is the part of the Organizations client the reader calls;
// *organizations.Client satisfies it. It needs
// organizations:DescribeOrganization, ListRoots, ListParents,
// ListPoliciesForTarget and DescribePolicy.
type API interface {
	DescribeOrganization(ctx context.Context, in *organizations.DescribeOrganizationInput, opts ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error)
	ListRoots(ctx context.Context, in *organizations.ListRootsInput, opts ...func(*organizations.Options)) (*organizations.ListRootsOutput, error)
	ListParents(ctx context.Context, in *organizations.ListParentsInput, opts ...func(*organizations.Options)) (*organizations.ListParentsOutput, error)
	ListPoliciesForTarget(ctx context.Context, in *organizations.ListPoliciesForTargetInput, opts ...func(*organizations.Options)) (*organizations.ListPoliciesForTargetOutput, error)
	DescribePolicy(ctx context.Context, in *organizations.DescribePolicyInput, opts ...func(*organizations.Options)) (*organizations.DescribePolicyOutput, error)
}

// maxDepth bounds the walk up the OU tree (Organizations allows five OU
// levels under the root).
const maxDepth = 10

// Reader implements audit.SCPReader.
type Reader struct {
	api API

	mu       sync.Mutex
	policies map[string]audit.Document // by policy id: FullAWSAccess sits at every level
}

var _ audit.SCPReader = (*Reader)(nil)

// New returns a Reader over api.
func New(api API) *Reader { return &Reader{api: api, policies: map[string]audit.Document{}} }

// NewFromConfig returns a Reader over the SDK client built from cfg.
func NewFromConfig(cfg aws.Config, opts ...func(*organizations.Options)) *Reader {
	return New(organizations.NewFromConfig(cfg, opts...))
}

// notReadable turns a refusal into a note; other errors stay errors.
func notReadable(op string, err error) (audit.SCPs, error) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return audit.SCPs{Note: fmt.Sprintf("SCPs not read: organizations:%s: %s (%s)", op, ae.ErrorCode(), ae.ErrorMessage())}, nil
	}
	return audit.SCPs{}, fmt.Errorf("organizations:%s: %w", op, err)
}

// SCPs reads the SCPs that apply to account, root first. Refusals and
// situations where SCPs do not apply are reported in the Note with a nil
// error; an error means the reader could not reach Organizations at all.
func (r *Reader) SCPs(ctx context.Context, account string) (audit.SCPs, error) {
	org, err := r.api.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		var notInUse *types.AWSOrganizationsNotInUseException
		if errors.As(err, &notInUse) {
			return audit.SCPs{Note: "the account is not in an organization: no SCPs apply"}, nil
		}
		return notReadable("DescribeOrganization", err)
	}
	o := org.Organization
	if o == nil {
		return audit.SCPs{Note: "DescribeOrganization returned no organization: SCPs not read"}, nil
	}
	base := audit.SCPs{OrgID: aws.ToString(o.Id)}
	if o.FeatureSet != types.OrganizationFeatureSetAll {
		base.Note = "the organization has consolidated billing features only: SCPs do not apply"
		return base, nil
	}
	if aws.ToString(o.MasterAccountId) == account {
		base.Note = "account " + account + " is the organization's management account: SCPs do not apply to its principals"
		return base, nil
	}
	// Walk up from the account to the root.
	chain := []string{account}
	child := account
	for range maxDepth {
		out, err := r.api.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(child)})
		if err != nil {
			s, err := notReadable("ListParents", err)
			s.OrgID = base.OrgID
			return s, err
		}
		if len(out.Parents) == 0 {
			return notReadable("ListParents", fmt.Errorf("no parent for %s", child))
		}
		parent := out.Parents[0]
		chain = append([]string{aws.ToString(parent.Id)}, chain...)
		if parent.Type == types.ParentTypeRoot {
			break
		}
		child = aws.ToString(parent.Id)
	}
	if enabled, err := r.scpEnabled(ctx, chain[0]); err != nil {
		s, err := notReadable("ListRoots", err)
		s.OrgID = base.OrgID
		return s, err
	} else if !enabled {
		base.Note = "the SCP policy type is not enabled at the root: SCPs do not apply"
		return base, nil
	}
	out := audit.SCPs{Applied: true, OrgID: base.OrgID}
	for _, target := range chain {
		docs, err := r.attached(ctx, target)
		if err != nil {
			s, err := notReadable("ListPoliciesForTarget", err)
			s.OrgID = base.OrgID
			return s, err
		}
		out.Levels = append(out.Levels, docs)
		out.Targets = append(out.Targets, describeTarget(target))
	}
	return out, nil
}

func describeTarget(id string) string {
	switch {
	case len(id) > 2 && id[:2] == "r-":
		return "root " + id
	case len(id) > 3 && id[:3] == "ou-":
		return "OU " + id
	}
	return "account " + id
}

// scpEnabled reports whether the SCP policy type is enabled at the root.
func (r *Reader) scpEnabled(ctx context.Context, rootID string) (bool, error) {
	p := organizations.NewListRootsPaginator(r.api, &organizations.ListRootsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return false, err
		}
		for _, root := range page.Roots {
			if aws.ToString(root.Id) != rootID {
				continue
			}
			for _, pt := range root.PolicyTypes {
				if pt.Type == types.PolicyTypeServiceControlPolicy && pt.Status == types.PolicyTypeStatusEnabled {
					return true, nil
				}
			}
			return false, nil
		}
	}
	return false, nil
}

// attached returns the SCPs attached to target, each read once per run.
func (r *Reader) attached(ctx context.Context, target string) ([]audit.Document, error) {
	var docs []audit.Document
	p := organizations.NewListPoliciesForTargetPaginator(r.api, &organizations.ListPoliciesForTargetInput{
		TargetId: aws.String(target), Filter: types.PolicyTypeServiceControlPolicy,
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range page.Policies {
			d, err := r.policy(ctx, aws.ToString(s.Id))
			if err != nil {
				return nil, err
			}
			docs = append(docs, d)
		}
	}
	return docs, nil
}

func (r *Reader) policy(ctx context.Context, id string) (audit.Document, error) {
	r.mu.Lock()
	d, ok := r.policies[id]
	r.mu.Unlock()
	if ok {
		return d, nil
	}
	out, err := r.api.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: aws.String(id)})
	if err != nil {
		return audit.Document{}, err
	}
	if out.Policy == nil || out.Policy.PolicySummary == nil {
		return audit.Document{}, fmt.Errorf("DescribePolicy %s: empty answer", id)
	}
	doc, err := iampolicy.Parse(aws.ToString(out.Policy.Content))
	if err != nil {
		return audit.Document{}, fmt.Errorf("SCP %s: %w", id, err)
	}
	d = audit.Document{Name: aws.ToString(out.Policy.PolicySummary.Name), ARN: aws.ToString(out.Policy.PolicySummary.Arn), Source: audit.SourceSCP, Policy: doc}
	r.mu.Lock()
	r.policies[id] = d
	r.mu.Unlock()
	return d, nil
}
