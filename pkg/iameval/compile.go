package iameval

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/bedrock-warden/warden/pkg/glob"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
)

// Policy is a policy document compiled once for many evaluations (patterns
// compiled, conditions parsed and their values checked), with the name
// results report it by.
type Policy struct {
	Name     string
	Document iampolicy.Document
	stmts    []*statement
}

// Compile checks d and prepares it for evaluation. An error names the
// statement and says what is wrong: an unknown condition operator, a
// malformed Condition element, a value its operator cannot read (an IP
// range, a date, a number, a boolean), or an Effect other than Allow or
// Deny.
func Compile(name string, d iampolicy.Document) (*Policy, error) {
	p := &Policy{Name: name, Document: d}
	// Policy variables exist in the 2012-10-17 language only; in older
	// documents "${…}" is literal text.
	vars := d.Version == iampolicy.Version2012
	for i, st := range d.Statement {
		cs, err := compileStatement(st, vars)
		if err != nil {
			return nil, fmt.Errorf("%s statement %d%s: %w", name, i, sidSuffix(st.Sid), err)
		}
		cs.index = i
		p.stmts = append(p.stmts, cs)
	}
	return p, nil
}

func sidSuffix(sid string) string {
	if sid == "" {
		return ""
	}
	return " (" + sid + ")"
}

// statement is one compiled statement.
type statement struct {
	index       int
	sid         string
	allow       bool
	action      []glob.Pattern
	notAction   []glob.Pattern
	resource    []valuePattern
	notResource []valuePattern
	conds       []*condition
}

// valuePattern is a Resource pattern or a condition value: compiled once,
// or expanded per request when it holds a policy variable.
type valuePattern struct {
	raw    string
	g      glob.Pattern
	hasVar bool
	// needle is the pattern's longest run without a wildcard: a value that
	// does not contain it cannot match, which strings.Contains tells
	// faster than the matcher.
	needle string
}

func newValuePattern(s string, vars bool) valuePattern {
	vp := valuePattern{raw: s, g: glob.Compile(s), hasVar: vars && strings.Contains(s, "${")}
	if !vp.hasVar {
		for _, run := range strings.FieldsFunc(s, func(r rune) bool { return r == '*' || r == '?' }) {
			if len(run) > len(vp.needle) {
				vp.needle = run
			}
		}
	}
	return vp
}

// match reports whether s matches the (variable-free) pattern.
func (vp *valuePattern) match(s string) bool {
	if len(vp.needle) > 3 && !strings.Contains(s, vp.needle) {
		return false
	}
	return vp.g.Match(s)
}

func compileStatement(st iampolicy.Statement, vars bool) (*statement, error) {
	cs := &statement{sid: st.Sid}
	switch st.Effect {
	case iampolicy.Allow:
		cs.allow = true
	case iampolicy.Deny:
	default:
		return nil, fmt.Errorf("effect %q is neither Allow nor Deny", st.Effect)
	}
	for _, a := range st.Action {
		cs.action = append(cs.action, glob.Compile(a))
	}
	for _, a := range st.NotAction {
		cs.notAction = append(cs.notAction, glob.Compile(a))
	}
	for _, r := range st.Resource {
		cs.resource = append(cs.resource, newValuePattern(r, vars))
	}
	for _, r := range st.NotResource {
		cs.notResource = append(cs.notResource, newValuePattern(r, vars))
	}
	conds, err := ParseConditions(st.Condition)
	if err != nil {
		return nil, err
	}
	for _, c := range conds {
		cc, err := compileCondition(c, vars)
		if err != nil {
			return nil, err
		}
		cs.conds = append(cs.conds, cc)
	}
	return cs, nil
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

// String formats the test as "Operator key [values]".
func (c Condition) String() string {
	return c.Operator + " " + c.Key + " " + fmt.Sprint(c.Values)
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
	sort.Slice(out, func(i, j int) bool {
		if out[i].Operator != out[j].Operator {
			return out[i].Operator < out[j].Operator
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
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

// condition is a compiled Condition.
type condition struct {
	src    Condition
	key    string // src.Key lower-cased
	anyVar bool   // some value holds a policy variable
	op     operator
	values []valuePattern
}

func compileCondition(c Condition, vars bool) (*condition, error) {
	op, err := parseOperator(c.Operator)
	if err != nil {
		return nil, err
	}
	cc := &condition{src: c, key: strings.ToLower(c.Key), op: op}
	for _, v := range c.Values {
		vp := newValuePattern(v, vars && op.takesVariables())
		if !vp.hasVar {
			if err := op.check(v); err != nil {
				return nil, fmt.Errorf("%w: %s %s: %w", ErrCondition, c.Operator, c.Key, err)
			}
		}
		cc.values = append(cc.values, vp)
		cc.anyVar = cc.anyVar || vp.hasVar
	}
	return cc, nil
}
