// Package iameval decides whether IAM policy documents allow a request, with
// IAM's evaluation logic: an explicit Deny in any policy wins, then an Allow
// is needed from every policy type that applies (identity policies, the
// permissions boundary when there is one, and the service control policies
// at every level of the organisation), and anything else is an implicit
// deny.
//
// It is pure (no AWS SDK) and builds on pkg/iampolicy: Action/NotAction and
// Resource/NotResource are matched as iampolicy.Statement matches them, and
// this package adds the Condition element and policy variables
// (${aws:username}, with defaults, in Resource and condition values of
// 2012-10-17 documents). The condition operators implemented are the
// String, Arn, IpAddress, Numeric, Date, Bool, Binary and Null families,
// each with the ...IfExists suffix and the ForAnyValue: and ForAllValues:
// set qualifiers. An operator outside them is an error, never a silent
// match.
//
// Two ways in:
//
//   - Authorize and Evaluate judge a concrete request: a condition key the
//     request does not carry is absent, as IAM sees it.
//   - Set.Decide judges a request whose context is only partly known (the
//     audit asks "could this principal …?"): keys that Request.Undecided
//     names may have any value, so a condition on them can be neither true
//     nor false. Decide answers in three-valued logic — True, False or
//     Unknown — and says which statements granted or denied and which
//     condition tests it could not decide.
//
// Principal and NotPrincipal elements are not evaluated: identity policies,
// boundaries and SCPs have none.
package iameval

import (
	"fmt"
	"strings"

	"github.com/bedrock-warden/warden/pkg/iampolicy"
)

// Request is one authorisation request: an action on a resource with the
// request context (condition keys and their values).
type Request struct {
	Action   string // e.g. "bedrock:InvokeModel"
	Resource string // the ARN the action is authorised on ("*" for actions without resource types)
	Context  Context
	// Defaults holds keys the request carries unless Context sets them:
	// what every request of one principal shares, kept once instead of
	// copied into each Context.
	Defaults Context
	// Undecided reports whether a condition key missing from Context may
	// have a value in the real request, unknown to the caller: a test on
	// it is then neither true nor false (Decide answers Unknown). Nil: a
	// key missing from Context is absent from the request.
	Undecided func(key string) bool
}

// undecided reports whether key is missing from the request's context
// and may have a value.
func (r *Request) undecided(key string) bool {
	if r.Undecided == nil {
		return false
	}
	lk := strings.ToLower(key)
	if _, ok := r.get(lk); ok {
		return false
	}
	return r.Undecided(lk)
}

// get returns the values of the lower-cased key lk, from Context, else
// from Defaults.
func (r *Request) get(lk string) ([]string, bool) {
	if v := r.Context[lk]; len(v) > 0 {
		return v, true
	}
	if v := r.Defaults[lk]; len(v) > 0 {
		return v, true
	}
	return nil, false
}

// Context holds the request's condition keys. Keys compare without case, as
// IAM compares condition key names; values keep their case. A key absent
// from the map, or present with no value, is missing from the request.
type Context map[string][]string

// Set sets key to values (replacing any earlier values) and returns c, so
// calls chain. A nil receiver is not allowed; make one with Context{}.
func (c Context) Set(key string, values ...string) Context {
	c[strings.ToLower(key)] = values
	return c
}

// Get returns the values of key and whether the request has it.
func (c Context) Get(key string) ([]string, bool) {
	v := c[strings.ToLower(key)]
	return v, len(v) > 0
}

// Clone returns a copy of c that can be changed without changing c.
func (c Context) Clone() Context {
	out := make(Context, len(c)+4)
	for k, v := range c {
		out[k] = v
	}
	return out
}

// Effect is the outcome of evaluating one set of policies.
type Effect int

// Effects, from weakest to strongest.
const (
	// NotApplicable: no statement applies (an implicit deny).
	NotApplicable Effect = iota
	// Allowed: an Allow statement applies and no Deny does.
	Allowed
	// Denied: a Deny statement applies (an explicit deny).
	Denied
)

// String returns "not-applicable", "allowed" or "denied".
func (e Effect) String() string {
	switch e {
	case Allowed:
		return "allowed"
	case Denied:
		return "denied"
	}
	return "not-applicable"
}

// Evaluate returns the combined effect of docs on req: Denied when any
// statement with Effect Deny applies, else Allowed when any Allow applies,
// else NotApplicable. An error (an unknown condition operator, a malformed
// Condition element or IP range) names the document and statement.
func Evaluate(req Request, docs ...iampolicy.Document) (Effect, error) {
	pols, err := compileAll(docs)
	if err != nil {
		return NotApplicable, err
	}
	l := evalLayer(&req, pols)
	switch {
	case len(l.denyTrue) > 0:
		return Denied, nil
	case len(l.allowTrue) > 0:
		return Allowed, nil
	}
	return NotApplicable, nil
}

// Applies reports whether st covers req: its action and resource elements
// match and every condition holds. The statement's Effect is not looked at.
func Applies(st iampolicy.Statement, req Request) (bool, error) {
	cs, err := compileStatement(st, true)
	if err != nil {
		return false, err
	}
	return cs.applies(&req).Bool(), nil
}

// Policies are the policies that apply to one principal's request.
type Policies struct {
	// Identity holds the principal's identity-based policies (managed and
	// inline): one of them must allow.
	Identity []iampolicy.Document
	// Boundary is the permissions boundary, if the principal has one: it
	// must allow as well. Nil means no boundary.
	Boundary []iampolicy.Document
	// SCPs holds the service control policies per level of the
	// organisation (root, each OU, the account): at every level some SCP
	// must allow. Nil means the account is not in an organisation (or SCPs
	// are not considered). Remember that an organisation's deny-list SCPs
	// work together with the default FullAWSAccess SCP.
	SCPs [][]iampolicy.Document
}

// Decision is the answer to a concrete request.
type Decision struct {
	Allowed bool
	// Reason says which policy type decided: "explicit deny in identity
	// policy", "no allow in SCP level 1", …
	Reason string
}

// Authorize decides req against p with IAM's logic for a principal in its
// own account: an explicit deny anywhere denies; otherwise every SCP level,
// the boundary (when set) and the identity policies must each allow.
func Authorize(req Request, p Policies) (Decision, error) {
	var s Set
	var err error
	if s.Identity, err = compileAll(p.Identity); err != nil {
		return Decision{}, fmt.Errorf("identity policy: %w", err)
	}
	if p.Boundary != nil {
		if s.Boundary, err = compileAll(p.Boundary); err != nil {
			return Decision{}, fmt.Errorf("permissions boundary: %w", err)
		}
		if s.Boundary == nil {
			s.Boundary = []*Policy{}
		}
	}
	for i, lvl := range p.SCPs {
		c, err := compileAll(lvl)
		if err != nil {
			return Decision{}, fmt.Errorf("SCP level %d: %w", i+1, err)
		}
		s.SCPs = append(s.SCPs, c)
	}
	r := s.Decide(req)
	return Decision{Allowed: r.Decision == True, Reason: r.Reason}, nil
}

func compileAll(docs []iampolicy.Document) ([]*Policy, error) {
	out := make([]*Policy, 0, len(docs))
	for i, d := range docs {
		p, err := Compile(fmt.Sprintf("document %d", i), d)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
