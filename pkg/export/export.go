// Package export turns the Bedrock Warden policy that drives detection into
// the IAM documents that prevent the same calls, so that prevention and
// detection never disagree:
//
//   - an identity policy (iam-policy) to attach to the roles that call
//     Bedrock: an allow-list of models, regions and, where the policy sets
//     them, networks and principals, with explicit denies for models.deny;
//   - a service control policy (scp) for AWS Organizations: the same rules
//     as denies, with the exempt (break-glass) principals left out;
//   - a permissions boundary (boundary): the same allow-list, leaving every
//     action other than model invocation to the role's own policies.
//
// It is pure: no AWS SDK, no I/O. Documents are iampolicy.Document values;
// Marshal prints them (compact by default, as IAM counts characters) and
// Export enforces IAM's size limits.
//
// How a Bedrock invocation is authorised (and so what the documents
// allow):
//
//   - a bare model id is one request on the foundation-model ARN in the
//     calling region, arn:aws:bedrock:REGION::foundation-model/ID (no
//     account), with aws:RequestedRegion the calling region;
//   - a geographic cross-region profile ("us.ID", "eu.ID", …) is a request
//     on the profile ARN in the calling region,
//     arn:aws:bedrock:REGION:ACCOUNT:inference-profile/us.ID, then one on the
//     foundation-model ARN in the destination region, where
//     aws:RequestedRegion is the destination and bedrock:InferenceProfileArn
//     names the profile (it is absent on a direct call);
//   - a global profile ("global.ID") routes to any commercial region: the
//     second request is on the region-less ARN
//     arn:aws:bedrock:::foundation-model/ID with aws:RequestedRegion
//     "unspecified".
//
// Converse and ConverseStream are authorised as bedrock:InvokeModel and
// bedrock:InvokeModelWithResponseStream, InvokeModelWithBidirectionalStream
// as bedrock:InvokeModel; StartAsyncInvoke has its own action.
package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/bedrock-warden/warden/pkg/iampolicy"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// Kind is the kind of document to export.
type Kind string

// Kinds of document.
const (
	IAMPolicy Kind = "iam-policy" // identity policy for the calling roles
	SCP       Kind = "scp"        // service control policy (AWS Organizations)
	Boundary  Kind = "boundary"   // permissions boundary for the calling roles
)

// Kinds lists every kind, in documentation order.
var Kinds = []Kind{IAMPolicy, SCP, Boundary}

// ParseKind returns the Kind named s.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown document kind %q (want iam-policy, scp or boundary)", s)
}

// Character limits IAM and AWS Organizations apply to a policy document,
// whitespace excluded.
const (
	ManagedPolicyLimit = 6144 // customer managed policy (iam-policy, boundary)
	SCPLimit           = 5120 // service control policy
)

// Limit returns the character limit for kind.
func Limit(kind Kind) int {
	if kind == SCP {
		return SCPLimit
	}
	return ManagedPolicyLimit
}

// InvokeActions are the IAM actions of model invocation the documents
// govern. Converse and ConverseStream need no action of their own.
var InvokeActions = []string{
	"bedrock:InvokeModel",
	"bedrock:InvokeModelWithResponseStream",
	"bedrock:StartAsyncInvoke",
}

// Options tune an export.
type Options struct {
	// Account is the 12-digit account id put in inference-profile ARNs;
	// empty means any account ("*").
	Account string
	// Source is the policy's YAML text, used to give the line of a pattern
	// that IAM cannot express. Nil: errors carry no line.
	Source []byte
	// Name names the policy in messages ("policy.yaml", "embedded default").
	Name string
}

// Export builds the document of the given kind from p and checks it
// against the kind's size limit. Errors are *ExpressError (a pattern IAM
// cannot match the way the detector does), *LimitError (too large even
// after merging) or a plain error for bad options.
func Export(p *policy.Policy, kind Kind, opts Options) (iampolicy.Document, error) {
	if p == nil {
		return iampolicy.Document{}, fmt.Errorf("nil policy")
	}
	if _, err := ParseKind(string(kind)); err != nil {
		return iampolicy.Document{}, err
	}
	acct, err := account(opts.Account)
	if err != nil {
		return iampolicy.Document{}, err
	}
	if err := checkPatterns(p, opts); err != nil {
		return iampolicy.Document{}, err
	}
	doc := build(p, kind, acct)
	if n := Size(doc); n > Limit(kind) {
		return iampolicy.Document{}, limitError(p, kind, acct, n)
	}
	return doc, nil
}

// account validates an --account value.
func account(s string) (string, error) {
	if s == "" || s == "*" {
		return "*", nil
	}
	if len(s) != 12 || strings.Trim(s, "0123456789") != "" {
		return "", fmt.Errorf("account %q is not a 12-digit AWS account id", s)
	}
	return s, nil
}

// Marshal returns d as JSON: compact (what IAM counts) or indented by two
// spaces. The output ends with a newline.
func Marshal(d iampolicy.Document, pretty bool) ([]byte, error) {
	if d.Version == "" {
		d.Version = iampolicy.Version2012
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if pretty {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("marshal policy document: %w", err)
	}
	return buf.Bytes(), nil
}

// Size returns the number of characters of d's compact JSON that are not
// whitespace: the measure IAM and Organizations apply to their limits.
func Size(d iampolicy.Document) int {
	b, err := Marshal(d, false)
	if err != nil {
		return 0
	}
	n := 0
	for _, r := range string(b) {
		switch r {
		case ' ', '\t', '\n', '\r':
		default:
			n++
		}
	}
	return n
}

// LimitError reports a document that does not fit its kind's limit even
// after merging statements.
type LimitError struct {
	Kind  Kind
	Size  int // characters without whitespace
	Limit int
	// List is the policy list that costs the most characters, e.g.
	// "models.allow"; Entries is its length and Cost the characters it
	// accounts for.
	List    string
	Entries int
	Cost    int
	// Hint names what else can be shortened, e.g. "or regions.allow".
	Hint string
}

// Error says how large the document is, its limit, and what to shorten.
func (e *LimitError) Error() string {
	msg := fmt.Sprintf("export: the %s document is %s characters without whitespace; the limit is %s", e.Kind, thousands(e.Size), thousands(e.Limit))
	if e.List != "" {
		msg += fmt.Sprintf(": shorten %s (%d entries account for %s characters)", e.List, e.Entries, thousands(e.Cost))
		if e.Hint != "" {
			msg += " " + e.Hint
		}
	}
	return msg
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// limitError measures which list costs the most by exporting without it.
func limitError(p *policy.Policy, kind Kind, acct string, size int) error {
	e := &LimitError{Kind: kind, Size: size, Limit: Limit(kind)}
	type list struct {
		name  string
		n     int
		clear func(q *policy.Policy)
	}
	lists := []list{
		{"models.allow", len(p.Models.Allow), func(q *policy.Policy) { q.Models.Allow = []string{"*"} }},
		{"models.deny", len(p.Models.Deny), func(q *policy.Policy) { q.Models.Deny = nil }},
		{"regions.allow", len(p.Regions.Allow), func(q *policy.Policy) { q.Regions.Allow = nil; q.Regions.Inference = nil }},
		{"regions.inference", len(p.Regions.Inference), func(q *policy.Policy) { q.Regions.Inference = nil }},
		{"network.allowCidrs", len(p.Network.AllowCidrs), func(q *policy.Policy) { q.Network.AllowCidrs = nil }},
		{"network.allowVpcEndpoints", len(p.Network.AllowVpcEndpoints), func(q *policy.Policy) { q.Network.AllowVpcEndpoints = nil }},
		{"principals.allow", len(p.Principals.Allow), func(q *policy.Policy) { q.Principals.Allow = nil }},
		{"principals.exempt", len(p.Principals.Exempt), func(q *policy.Policy) { q.Principals.Exempt = nil }},
	}
	for _, l := range lists {
		if l.n == 0 {
			continue
		}
		q := *p
		l.clear(&q)
		if cost := size - Size(build(&q, kind, acct)); cost > e.Cost {
			e.List, e.Entries, e.Cost = l.name, l.n, cost
		}
	}
	switch e.List {
	case "models.allow":
		e.Hint = "or regions.allow (each model pattern is repeated per allowed geography), or merge patterns with a wildcard"
	case "regions.allow", "regions.inference":
		e.Hint = "or models.allow"
	}
	return e
}

// allowPatterns is the model list an export works from: models.allow, or
// "*" when the list is empty (any model).
func allowPatterns(p *policy.Policy) []string {
	if len(p.Models.Allow) == 0 {
		return []string{"*"}
	}
	return dedupe(p.Models.Allow)
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// union returns a ∪ b, a's order first.
func union(a, b []string) []string {
	return dedupe(append(slices.Clone(a), b...))
}

// minus returns the members of a not in b.
func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// Omitted lists, one sentence each, what of p no exported document
// carries: usage limits (IAM has no counters of tokens or dollars; the
// usage function enforces them, and a block it asks for is an inline deny
// the remediator puts and lifts).
func Omitted(p *policy.Policy) []string {
	if p == nil || len(p.Limits) == 0 {
		return nil
	}
	names := make([]string, len(p.Limits))
	for i, l := range p.Limits {
		names[i] = l.Name
	}
	return []string{fmt.Sprintf("limits (%s) are not in this document: IAM cannot count tokens or dollars, so usage limits are "+
		"enforced by the usage function from the model invocation logs (docs/usage-limits.md)", strings.Join(names, ", "))}
}
