package policy

import (
	"fmt"
	"strings"
)

// Error is one problem found in a policy document, with where it is.
// Load returns every problem it finds, joined with errors.Join; use
// errors.As to get the first, or Errors to get them all.
type Error struct {
	Name   string // the document's name: "policy.yaml", "WARDEN_POLICY", …
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when not meaningful
	Key    string // the key path, e.g. "regions.allow[1]"; may be empty
	Msg    string
}

// Error formats e as "name:line:col: key: msg", leaving out the parts that
// are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Name)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors returns every *Error inside err (as Load returns them), in order.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *Error:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}
