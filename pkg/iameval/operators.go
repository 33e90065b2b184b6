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

// operator is a parsed condition operator.
type operator struct {
	qualifier setQualifier
	ifExists  bool
	base      string
	negated   bool
	null      bool
	match     func(reqValue, policyValue string) (bool, error)
}

// baseOperators maps each supported operator to its matcher and whether it
// is the negation of that matcher.
var baseOperators = map[string]struct {
	match   func(reqValue, policyValue string) (bool, error)
	negated bool
}{
	"StringEquals":              {stringEquals, false},
	"StringNotEquals":           {stringEquals, true},
	"StringEqualsIgnoreCase":    {stringEqualsFold, false},
	"StringNotEqualsIgnoreCase": {stringEqualsFold, true},
	"StringLike":                {stringLike, false},
	"StringNotLike":             {stringLike, true},
	"ArnEquals":                 {arnLike, false},
	"ArnLike":                   {arnLike, false},
	"ArnNotEquals":              {arnLike, true},
	"ArnNotLike":                {arnLike, true},
	"IpAddress":                 {ipAddress, false},
	"NotIpAddress":              {ipAddress, true},
	"Bool":                      {boolEquals, false},
	"DateEquals":                {dateCompare(func(c int) bool { return c == 0 }), false},
	"DateNotEquals":             {dateCompare(func(c int) bool { return c == 0 }), true},
	"DateLessThan":              {dateCompare(func(c int) bool { return c < 0 }), false},
	"DateLessThanEquals":        {dateCompare(func(c int) bool { return c <= 0 }), false},
	"DateGreaterThan":           {dateCompare(func(c int) bool { return c > 0 }), false},
	"DateGreaterThanEquals":     {dateCompare(func(c int) bool { return c >= 0 }), false},
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
		o.base, o.null = "Null", true
		return o, nil
	}
	if b, ok := strings.CutSuffix(rest, "IfExists"); ok {
		o.ifExists, rest = true, b
	}
	bo, ok := baseOperators[rest]
	if !ok {
		return o, fmt.Errorf("%w: operator %q is not supported (supported: String*, Arn*, IpAddress, NotIpAddress, Bool, Null, Date*, with IfExists and ForAnyValue:/ForAllValues:)", ErrCondition, op)
	}
	o.base, o.match, o.negated = rest, bo.match, bo.negated
	return o, nil
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
func (c Condition) Eval(ctx Context) (bool, error) {
	o, err := parseOperator(c.Operator)
	if err != nil {
		return false, err
	}
	values, present := ctx.Get(c.Key)
	if o.null {
		for _, v := range c.Values {
			want, err := strconv.ParseBool(v)
			if err != nil {
				return false, fmt.Errorf("%w: Null %s: value %q is not true or false", ErrCondition, c.Key, v)
			}
			if want == !present {
				return true, nil
			}
		}
		return false, nil
	}
	if !present {
		switch {
		case o.qualifier == anyValue:
			return o.ifExists, nil
		case o.qualifier == allValues:
			return true, nil
		case o.ifExists:
			return true, nil
		}
		return o.negated, nil
	}
	// passes reports whether one request value satisfies the operator.
	passes := func(v string) (bool, error) {
		for _, pv := range c.Values {
			m, err := o.match(v, pv)
			if err != nil {
				return false, fmt.Errorf("%w: %s %s: %w", ErrCondition, c.Operator, c.Key, err)
			}
			if m {
				return !o.negated, nil
			}
		}
		return o.negated, nil
	}
	switch o.qualifier {
	case allValues:
		for _, v := range values {
			ok, err := passes(v)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	default:
		// A single-valued key has one value; for ForAnyValue: (and a
		// multi-valued key used without a qualifier) one passing value
		// suffices for a positive operator. A negated operator without a
		// qualifier must hold for the key as a whole: no value may match.
		if o.qualifier == single && o.negated {
			for _, v := range values {
				ok, err := passes(v)
				if err != nil || !ok {
					return false, err
				}
			}
			return true, nil
		}
		for _, v := range values {
			ok, err := passes(v)
			if err != nil {
				return false, err
			}
			if ok {
				return true, nil
			}
		}
		return false, nil
	}
}

func stringEquals(v, p string) (bool, error)     { return v == p, nil }
func stringEqualsFold(v, p string) (bool, error) { return strings.EqualFold(v, p), nil }
func stringLike(v, p string) (bool, error)       { return glob.Match(p, v), nil }

func boolEquals(v, p string) (bool, error) {
	pb, err := strconv.ParseBool(p)
	if err != nil {
		return false, fmt.Errorf("value %q is not true or false", p)
	}
	vb, err := strconv.ParseBool(v)
	if err != nil {
		return false, nil // a request value that is not a boolean matches nothing
	}
	return vb == pb, nil
}

// arnLike matches an ARN against an ARN pattern as ArnLike does: each of the
// six colon-separated fields separately, with '*' and '?' inside a field;
// the last field (the resource) may itself contain colons. A pattern of a
// lone "*" matches any value.
func arnLike(v, p string) (bool, error) {
	if p == "*" {
		return true, nil
	}
	pp := strings.SplitN(p, ":", 6)
	vp := strings.SplitN(v, ":", 6)
	if len(pp) != 6 {
		return false, fmt.Errorf("ARN pattern %q does not have six colon-separated fields", p)
	}
	if len(vp) != 6 {
		return false, nil
	}
	for i := range pp {
		if !glob.Match(pp[i], vp[i]) {
			return false, nil
		}
	}
	return true, nil
}

// ipAddress reports whether the request address is inside the policy range
// (a CIDR, or a single address).
func ipAddress(v, p string) (bool, error) {
	pfx, err := netip.ParsePrefix(p)
	if err != nil {
		a, aerr := netip.ParseAddr(p)
		if aerr != nil {
			return false, fmt.Errorf("%q is not an IP address or CIDR range", p)
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return false, nil // not an address (a service name, "AWS Internal"): in no range
	}
	return pfx.Masked().Contains(a.WithZone("").Unmap()), nil
}

// dateCompare builds a matcher that compares the request date with the
// policy date (ISO 8601 / RFC 3339, or epoch seconds).
func dateCompare(ok func(cmp int) bool) func(v, p string) (bool, error) {
	return func(v, p string) (bool, error) {
		pt, err := parseDate(p)
		if err != nil {
			return false, err
		}
		vt, err := parseDate(v)
		if err != nil {
			return false, nil
		}
		return ok(vt.Compare(pt)), nil
	}
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
