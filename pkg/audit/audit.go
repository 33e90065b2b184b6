// Package audit answers, for every IAM user and role of an account, what it
// could do today against the Bedrock Warden policy — the standing question
// behind detection: which principals can invoke a denied model, call from a
// region or network the policy does not allow, create Bedrock API keys, or
// change logging, guardrails, model access or costly resources, and
// through which statement of which policy.
//
// It is pure Go (no AWS SDK). The IAM and Organizations readers are
// adapters beside it (audit/iamsrc, audit/orgsrc) behind the Directory and
// SCPReader interfaces; the weekly posture run keeps its state through
// audit/posturedb.
//
// How a principal is judged. The policies that apply to it — identity
// policies (inline, managed at their default version, a user's group
// policies), its permissions boundary, the SCPs of the account — are
// compiled with pkg/iameval. The audit then builds concrete candidate
// calls: invocations of each model family the policy names (models.deny
// patterns, unlisted models, allowed ones), directly and through
// geographic and global inference profiles, from every class of region
// and network source that the policy or the principal's documents tell
// apart; and the control-plane calls the rules watch. Each call is judged
// twice with the project's own code: by the detector's rules (pkg/rules:
// would detection flag it, and for which rule?) and by IAM's evaluation
// of the requests Bedrock authorises for it (pkg/export.Requests). Per
// dimension the verdict is:
//
//   - allowed: some call detection would flag is allowed by IAM (the
//     report names the call, and the statements that grant it);
//   - unknown: no such call is certainly allowed, but one depends on a
//     condition key whose value the audit cannot know (it names the test);
//   - restricted: the principal can make the calls, but only those the
//     policy accepts (e.g. only from the allowed CIDRs);
//   - denied: it cannot make them at all.
//
// Candidates are representatives: two regions, addresses or model ids that
// every Resource list and condition test of the principal's documents (and,
// on the dimension's own axis, the policy) treats alike are judged once.
// Besides a list of real model ids, each Resource pattern contributes its
// shortest instance, so a grant on "anthropic.claude-opus-5*" is caught
// although no such model existed when the audit was written. Each
// dimension is searched on its own, stopping at the first forbidden call
// IAM allows; calls no Allow statement can reach (iameval.Set.Reachable)
// are never built. Principals whose Bedrock-relevant statements are the
// same — roles made from one template — are judged once and the verdicts
// rendered for each (render.go).
package audit

import (
	"context"
	"errors"
	"strings"

	"github.com/bedrock-warden/warden/pkg/iampolicy"
)

// Principal kinds.
const (
	KindUser = "user"
	KindRole = "role"
)

// Where a policy document comes from.
const (
	SourceInline      = "inline"           // a principal's or group's inline policy
	SourceManaged     = "customer-managed" // a customer managed policy
	SourceAWSManaged  = "aws-managed"      // an AWS managed policy (arn:aws:iam::aws:policy/…)
	SourceSCP         = "scp"              // a service control policy
	SourceBoundary    = "boundary"         // (a Statement's Layer) the permissions boundary
	SourceExported    = "exported"         // a document `warden policy export` would write
	sourceGroupPrefix = "group "
)

// Document is one policy that applies to a principal.
type Document struct {
	// Name identifies the policy in the report: the managed policy's name,
	// "ROLE/NAME" for an inline policy, the SCP's name.
	Name string
	// ARN is the managed policy's (or the SCP's) ARN; empty for inline
	// policies.
	ARN string
	// Source is SourceInline, SourceManaged, SourceAWSManaged or
	// SourceSCP.
	Source string
	// Group is the IAM group a user gets the policy through; empty for
	// the principal's own policies.
	Group string
	// Policy is the document.
	Policy iampolicy.Document
}

// Editable reports whether the account can change the document in place
// (inline and customer managed policies; not AWS managed ones).
func (d Document) Editable() bool {
	return d.Source == SourceInline || d.Source == SourceManaged
}

// Ref is a principal as a listing returns it.
type Ref struct {
	ARN  string
	Name string
	Path string
	Kind string // KindUser or KindRole
}

// Principal is an IAM user or role with the policies that apply to it.
type Principal struct {
	ARN     string
	Name    string
	Path    string
	Kind    string // KindUser or KindRole
	Account string
	// ID is the unique id (AIDA…/AROA…), when known.
	ID   string
	Tags map[string]string
	// Identity holds the identity policies: inline, attached managed (the
	// default version), and for a user the policies of its groups.
	Identity []Document
	// Boundary is the permissions boundary, nil when there is none.
	Boundary *Document
}

// Short returns "role/NAME" or "user/NAME" (path left out).
func (p Principal) Short() string { return p.Kind + "/" + p.Name }

// ServiceLinked reports whether the principal is a service-linked role.
func (p Principal) ServiceLinked() bool {
	return p.Kind == KindRole && strings.HasPrefix(p.Path, "/aws-service-role/")
}

// IdentityCenter reports whether the principal is a role IAM Identity
// Center manages for a permission set.
func (p Principal) IdentityCenter() bool {
	return p.Kind == KindRole && (strings.HasPrefix(p.Path, "/aws-reserved/sso.amazonaws.com/") || strings.HasPrefix(p.Name, "AWSReservedSSO_"))
}

// SCPs are the service control policies that apply to an account.
type SCPs struct {
	// Applied reports that SCPs apply to the account's principals and were
	// read; Levels is then the policies per level, the root first, then
	// each OU down to the account.
	Applied bool
	Levels  [][]Document
	// Targets names each level ("root r-ab12", "ou-ab12-cdef3456",
	// "account 111122223333").
	Targets []string
	// Note says why SCPs were not applied or not read ("the account is not
	// in an organization", "organizations:ListParents: access denied …").
	Note string
	// OrgID is the organization's id (aws:PrincipalOrgID), when known.
	OrgID string
}

// Directory lists the account's users and roles and reads the policies
// that apply to each. audit/iamsrc implements it on IAM.
type Directory interface {
	// Principals lists every IAM user and role.
	Principals(ctx context.Context) ([]Ref, error)
	// Principal reads one principal's tags, boundary and identity
	// policies. A principal deleted since it was listed is an error
	// wrapping ErrGone.
	Principal(ctx context.Context, ref Ref) (Principal, error)
}

// SCPReader reads the service control policies that apply to an account.
// audit/orgsrc implements it on AWS Organizations. It reports what it could
// not read in SCPs.Note rather than as an error: SCPs are read where the
// caller may read them.
type SCPReader interface {
	SCPs(ctx context.Context, account string) (SCPs, error)
}

// ErrGone marks a principal deleted while the audit ran.
var ErrGone = errors.New("principal no longer exists")
