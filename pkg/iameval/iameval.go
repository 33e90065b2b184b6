// Package iameval decides whether IAM policy documents allow a request, with
// IAM's evaluation logic: an explicit Deny in any policy wins, then an Allow
// is needed from every policy type that applies (identity policies, the
// permissions boundary when there is one, and the service control policies
// at every level of the organisation), and anything else is an implicit
// deny.
//
// It is pure (no AWS SDK) and builds on pkg/iampolicy: Action/NotAction and
// Resource/NotResource are matched by iampolicy.Statement, and this package
// adds what iampolicy deliberately leaves out, the Condition element. The
// condition operators implemented are the String, Arn, IpAddress, Bool,
// Null and Date families, each with the ...IfExists suffix and the
// ForAnyValue: and ForAllValues: set qualifiers. An operator outside them
// is an error, never a silent match.
//
// Principal and NotPrincipal elements are not evaluated: identity policies,
// boundaries and SCPs have none.
package iameval

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/bedrock-warden/warden/pkg/iampolicy"
)

// Request is one authorisation request: an action on a resource with the
// request context (condition keys and their values).
type Request struct {
	Action   string // e.g. "bedrock:InvokeModel"
	Resource string // the ARN the action is authorised on
	Context  Context
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
	out := NotApplicable
	for di, d := range docs {
		for si, st := range d.Statement {
			ok, err := Applies(st, req)
			if err != nil {
				return NotApplicable, fmt.Errorf("document %d statement %d%s: %w", di, si, sidSuffix(st.Sid), err)
			}
			if !ok {
				continue
			}
			switch st.Effect {
			case iampolicy.Deny:
				return Denied, nil
			case iampolicy.Allow:
				out = Allowed
			default:
				return NotApplicable, fmt.Errorf("document %d statement %d%s: effect %q is neither Allow nor Deny", di, si, sidSuffix(st.Sid), st.Effect)
			}
		}
	}
	return out, nil
}

func sidSuffix(sid string) string {
	if sid == "" {
		return ""
	}
	return " (" + sid + ")"
}

// Applies reports whether st covers req: its action and resource elements
// match and every condition holds. The statement's Effect is not looked at.
func Applies(st iampolicy.Statement, req Request) (bool, error) {
	if !st.AppliesToAction(req.Action) || !st.AppliesToResource(req.Resource) {
		return false, nil
	}
	conds, err := ParseConditions(st.Condition)
	if err != nil {
		return false, err
	}
	for _, c := range conds {
		ok, err := c.Eval(req.Context)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
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

// Decision is the answer to a request.
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
	type layer struct {
		name string
		docs []iampolicy.Document
	}
	var layers []layer
	for i, lvl := range p.SCPs {
		layers = append(layers, layer{fmt.Sprintf("SCP level %d", i+1), lvl})
	}
	if p.Boundary != nil {
		layers = append(layers, layer{"permissions boundary", p.Boundary})
	}
	layers = append(layers, layer{"identity policy", p.Identity})
	effects := make([]Effect, len(layers))
	for i, l := range layers {
		e, err := Evaluate(req, l.docs...)
		if err != nil {
			return Decision{}, fmt.Errorf("%s: %w", l.name, err)
		}
		if e == Denied {
			return Decision{Reason: "explicit deny in " + l.name}, nil
		}
		effects[i] = e
	}
	for i, l := range layers {
		if effects[i] != Allowed {
			return Decision{Reason: "no allow in " + l.name}, nil
		}
	}
	return Decision{Allowed: true, Reason: "allowed"}, nil
}

// ErrCondition marks a Condition element that cannot be evaluated.
var ErrCondition = errors.New("condition")

// Condition is one key test of a Condition element: the operator (with its
// qualifier and IfExists suffix) applied to one key and its policy values.
type Condition struct {
	Operator string   // as written, e.g. "ForAnyValue:StringLikeIfExists"
	Key      string   // as written, e.g. "aws:SourceIp"
	Values   []string // policy values; booleans and numbers as their JSON text
}

// ParseConditions reads a Condition element ({"Operator": {"key": value or
// [values]}}) into its tests, sorted by operator then key so that the order
// is stable. An empty element gives none.
func ParseConditions(raw json.RawMessage) ([]Condition, error) {
	if len(strings.TrimSpace(string(raw))) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var block map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &block); err != nil {
		return nil, fmt.Errorf("%w: want {\"Operator\": {\"key\": value}}: %w", ErrCondition, err)
	}
	var out []Condition
	for op, keys := range block {
		if _, err := parseOperator(op); err != nil {
			return nil, err
		}
		for key, v := range keys {
			vals, err := conditionValues(v)
			if err != nil {
				return nil, fmt.Errorf("%w: %s %s: %w", ErrCondition, op, key, err)
			}
			out = append(out, Condition{Operator: op, Key: key, Values: vals})
		}
	}
	sortConditions(out)
	return out, nil
}

func sortConditions(cs []Condition) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && less(cs[j], cs[j-1]); j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

func less(a, b Condition) bool {
	if a.Operator != b.Operator {
		return a.Operator < b.Operator
	}
	return a.Key < b.Key
}

// conditionValues accepts a string, boolean or number, or a list of them.
func conditionValues(raw json.RawMessage) ([]string, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		list = []json.RawMessage{raw}
	}
	out := make([]string, 0, len(list))
	for _, item := range list {
		var s string
		if err := json.Unmarshal(item, &s); err == nil {
			out = append(out, s)
			continue
		}
		var b bool
		if err := json.Unmarshal(item, &b); err == nil {
			out = append(out, fmt.Sprint(b))
			continue
		}
		var n json.Number
		if err := json.Unmarshal(item, &n); err == nil {
			out = append(out, n.String())
			continue
		}
		return nil, fmt.Errorf("value %s is not a string, boolean or number", item)
	}
	return out, nil
}
