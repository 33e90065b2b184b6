package iameval

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/glob"
)

// setQualifier is the ForAnyValue:/ForAllValues: prefix of an operator.
type setQualifier int

const (
	single setQualifier = iota
	anyValue
	allValues
)

// matcher reports whether a request value matches one policy value; g is
// the policy value compiled as a wildcard pattern.
type matcher func(reqValue, policyValue string, g glob.Pattern) bool

// operator is a parsed condition operator.
type operator struct {
	qualifier setQualifier
	ifExists  bool
	base      string
	negated   bool
	null      bool
	match     matcher
	// check validates a policy value (nil: any string).
	check0 func(policyValue string) error
	// vars: policy variables are substituted in this operator's values.
	vars bool
}

// baseOperators maps each supported operator to its matcher, whether it is
// the negation of that matcher, how its policy values are checked, and
// whether they may hold policy variables (String and Arn operators).
var baseOperators = map[string]struct {
	match   matcher
	negated bool
	check   func(string) error
	vars    bool
}{
	"StringEquals":              {stringEquals, false, nil, true},
	"StringNotEquals":           {stringEquals, true, nil, true},
	"StringEqualsIgnoreCase":    {stringEqualsFold, false, nil, true},
	"StringNotEqualsIgnoreCase": {stringEqualsFold, true, nil, true},
	"StringLike":                {stringLike, false, nil, true},
	"StringNotLike":             {stringLike, true, nil, true},
	"ArnEquals":                 {arnLike, false, checkARN, true},
	"ArnLike":                   {arnLike, false, checkARN, true},
	"ArnNotEquals":              {arnLike, true, checkARN, true},
	"ArnNotLike":                {arnLike, true, checkARN, true},
	"IpAddress":                 {ipAddress, false, checkIP, false},
	"NotIpAddress":              {ipAddress, true, checkIP, false},
	"Bool":                      {boolEquals, false, checkBool, false},
	"BinaryEquals":              {stringEquals, false, nil, false},
	"NumericEquals":             {numericCompare(func(c int) bool { return c == 0 }), false, checkNumber, false},
	"NumericNotEquals":          {numericCompare(func(c int) bool { return c == 0 }), true, checkNumber, false},
	"NumericLessThan":           {numericCompare(func(c int) bool { return c < 0 }), false, checkNumber, false},
	"NumericLessThanEquals":     {numericCompare(func(c int) bool { return c <= 0 }), false, checkNumber, false},
	"NumericGreaterThan":        {numericCompare(func(c int) bool { return c > 0 }), false, checkNumber, false},
	"NumericGreaterThanEquals":  {numericCompare(func(c int) bool { return c >= 0 }), false, checkNumber, false},
	"DateEquals":                {dateCompare(func(c int) bool { return c == 0 }), false, checkDate, false},
	"DateNotEquals":             {dateCompare(func(c int) bool { return c == 0 }), true, checkDate, false},
	"DateLessThan":              {dateCompare(func(c int) bool { return c < 0 }), false, checkDate, false},
	"DateLessThanEquals":        {dateCompare(func(c int) bool { return c <= 0 }), false, checkDate, false},
	"DateGreaterThan":           {dateCompare(func(c int) bool { return c > 0 }), false, checkDate, false},
	"DateGreaterThanEquals":     {dateCompare(func(c int) bool { return c >= 0 }), false, checkDate, false},
}

// parseOperator splits "ForAnyValue:StringLikeIfExists" into its parts.
func parseOperator(op string) (operator, error) {
	var o operator
	rest := op
	switch {
	case strings.HasPrefix(rest, "ForAnyValue:"):
		o.qualifier, rest = anyValue, strings.TrimPrefix(rest, "ForAnyValue:")
	case strings.HasPrefix(rest, "ForAllValues:"):
		o.qualifier, rest = allValues, strings.TrimPrefix(rest, "ForAllValues:")
	}
	if rest == "Null" {
		if o.qualifier != single {
			return o, fmt.Errorf("%w: operator %q: Null takes no set qualifier", ErrCondition, op)
		}
		o.base, o.null, o.check0 = "Null", true, checkBool
		return o, nil
	}
	if b, ok := strings.CutSuffix(rest, "IfExists"); ok {
		o.ifExists, rest = true, b
	}
	bo, ok := baseOperators[rest]
	if !ok {
		return o, fmt.Errorf("%w: operator %q is not supported (supported: String*, Arn*, IpAddress, NotIpAddress, Numeric*, Date*, Bool, BinaryEquals, Null, with IfExists and ForAnyValue:/ForAllValues:)", ErrCondition, op)
	}
	o.base, o.match, o.negated, o.check0, o.vars = rest, bo.match, bo.negated, bo.check, bo.vars
	return o, nil
}

func (o operator) takesVariables() bool { return o.vars }

func (o operator) check(v string) error {
	if o.check0 == nil {
		return nil
	}
	return o.check0(v)
}

// Eval reports whether the condition holds for ctx, with IAM's rules:
//   - several policy values are ORed;
//   - a key missing from the request makes a positive operator false and a
//     negated one (StringNotEquals, ArnNotLike, NotIpAddress, …) true; an
//     …IfExists operator true; ForAnyValue: false and ForAllValues: true;
//   - Null "true" holds when the key is missing, Null "false" when present;
//   - ForAnyValue: holds when some request value passes, ForAllValues:
//     when every one does (for a negated operator, "passes" means matches
//     no policy value).
//
// Policy variables in the values are not substituted (Eval has no
// document version to go by); Set.Decide substitutes them.
func (c Condition) Eval(ctx Context) (bool, error) {
	cc, err := compileCondition(c, false)
	if err != nil {
		return false, err
	}
	return cc.decide(&Request{Context: ctx}, nil).Bool(), nil
}

// decide evaluates the condition for req in three-valued logic. A key the
// request may carry with an unknown value gives Unknown; so does a policy
// variable naming such a key. Undecided tests are added to notes.
func (c *condition) decide(req *Request, notes *[]string) Tri {
	o := c.op
	values, present := req.get(c.key)
	if !present && req.Undecided != nil && req.Undecided(c.key) {
		note(notes, c.src.String())
		return Unknown
	}
	if o.null {
		for _, v := range c.values {
			want, err := strconv.ParseBool(v.raw)
			if err == nil && want == !present {
				return True
			}
		}
		return False
	}
	if !present {
		switch {
		case o.qualifier == anyValue:
			return FromBool(o.ifExists)
		case o.qualifier == allValues:
			return True
		case o.ifExists:
			return True
		}
		return FromBool(o.negated)
	}
	// Policy values, with variables expanded for this request: ok False
	// when a variable has no value and no default (IAM: the value matches
	// nothing), Unknown when its key may have a value not known here.
	type policyValue struct {
		raw string
		g   glob.Pattern
		ok  Tri
	}
	var pvals []policyValue // nil: the values as compiled
	unknownVar := false
	if c.anyVar {
		pvals = make([]policyValue, len(c.values))
		for i, v := range c.values {
			pvals[i] = policyValue{raw: v.raw, g: v.g, ok: True}
			if !v.hasVar {
				continue
			}
			s, t := expand(v.raw, req)
			pvals[i] = policyValue{raw: s, g: glob.Compile(s), ok: t}
			if t == Unknown {
				unknownVar = true
			}
		}
	}
	// passes reports whether one request value satisfies the operator.
	passes := func(v string) Tri {
		matched := False
		for i := range c.values {
			raw, g, ok := c.values[i].raw, c.values[i].g, True
			if pvals != nil {
				raw, g, ok = pvals[i].raw, pvals[i].g, pvals[i].ok
			}
			switch {
			case ok == False:
			case ok == Unknown:
				matched = Or(matched, Unknown)
			case o.match(v, raw, g):
				matched = True
			}
			if matched == True {
				break
			}
		}
		if o.negated {
			return Not(matched)
		}
		return matched
	}
	var res Tri
	switch {
	case o.qualifier == allValues || (o.qualifier == single && o.negated):
		// ForAllValues:, and a negated operator on the key as a whole:
		// every value must pass.
		res = True
		for _, v := range values {
			res = And(res, passes(v))
			if res == False {
				break
			}
		}
	default:
		// A single-valued key has one value; for ForAnyValue: (and a
		// multi-valued key used without a qualifier) one passing value
		// suffices.
		res = False
		for _, v := range values {
			res = Or(res, passes(v))
			if res == True {
				break
			}
		}
	}
	if res == Unknown && unknownVar {
		note(notes, c.src.String()+" (policy variable without a known value)")
	}
	return res
}

func note(notes *[]string, s string) {
	if notes == nil {
		return
	}
	for _, n := range *notes {
		if n == s {
			return
		}
	}
	*notes = append(*notes, s)
}

func stringEquals(v, p string, _ glob.Pattern) bool     { return v == p }
func stringEqualsFold(v, p string, _ glob.Pattern) bool { return strings.EqualFold(v, p) }
func stringLike(v, _ string, g glob.Pattern) bool       { return g.Match(v) }

func boolEquals(v, p string, _ glob.Pattern) bool {
	pb, err := strconv.ParseBool(p)
	if err != nil {
		return false
	}
	vb, err := strconv.ParseBool(v)
	if err != nil {
		return false // a request value that is not a boolean matches nothing
	}
	return vb == pb
}

func checkBool(p string) error {
	if _, err := strconv.ParseBool(p); err != nil {
		return fmt.Errorf("value %q is not true or false", p)
	}
	return nil
}

// arnLike matches an ARN against an ARN pattern as ArnLike does: each of the
// six colon-separated fields separately, with '*' and '?' inside a field;
// the last field (the resource) may itself contain colons. A pattern of a
// lone "*" matches any value.
func arnLike(v, p string, _ glob.Pattern) bool {
	if p == "*" {
		return true
	}
	pp := strings.SplitN(p, ":", 6)
	vp := strings.SplitN(v, ":", 6)
	if len(pp) != 6 || len(vp) != 6 {
		return false
	}
	for i := range pp {
		if !glob.Match(pp[i], vp[i]) {
			return false
		}
	}
	return true
}

func checkARN(p string) error {
	if p != "*" && strings.Count(p, ":") < 5 {
		return fmt.Errorf("ARN pattern %q does not have six colon-separated fields", p)
	}
	return nil
}

// ipAddress reports whether the request address is inside the policy range
// (a CIDR, or a single address).
func ipAddress(v, p string, _ glob.Pattern) bool {
	pfx, err := parsePrefix(p)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return false // not an address (a service name, "AWS Internal"): in no range
	}
	return pfx.Contains(a.WithZone("").Unmap())
}

func parsePrefix(p string) (netip.Prefix, error) {
	pfx, err := netip.ParsePrefix(p)
	if err != nil {
		a, aerr := netip.ParseAddr(p)
		if aerr != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR range", p)
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	return pfx.Masked(), nil
}

func checkIP(p string) error {
	_, err := parsePrefix(p)
	return err
}

// numericCompare builds a matcher comparing the request number with the
// policy number.
func numericCompare(ok func(cmp int) bool) matcher {
	return func(v, p string, _ glob.Pattern) bool {
		pn, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return false
		}
		vn, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return false
		}
		switch {
		case vn < pn:
			return ok(-1)
		case vn > pn:
			return ok(1)
		}
		return ok(0)
	}
}

func checkNumber(p string) error {
	if _, err := strconv.ParseFloat(p, 64); err != nil {
		return fmt.Errorf("value %q is not a number", p)
	}
	return nil
}

// dateCompare builds a matcher that compares the request date with the
// policy date (ISO 8601 / RFC 3339, or epoch seconds).
func dateCompare(ok func(cmp int) bool) matcher {
	return func(v, p string, _ glob.Pattern) bool {
		pt, err := parseDate(p)
		if err != nil {
			return false
		}
		vt, err := parseDate(v)
		if err != nil {
			return false
		}
		return ok(vt.Compare(pt))
	}
}

func checkDate(p string) error {
	_, err := parseDate(p)
	return err
}

func parseDate(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (RFC 3339 or epoch seconds)", s)
}
