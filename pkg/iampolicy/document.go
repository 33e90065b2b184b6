// Package iampolicy reads, writes and evaluates IAM identity-based policy
// documents. It is pure (no AWS SDK): it parses the JSON IAM returns, keeps
// the string-or-list shapes IAM allows, and answers the questions a
// remediation or a policy export asks of a document — which statements
// allow an action on a resource, and which services a document grants.
//
// Evaluation follows IAM's element semantics (Action/NotAction,
// Resource/NotResource, wildcards '*' and '?', action names compared
// without case, ARNs with case) but deliberately ignores Condition
// elements: a conditional Allow is treated as a grant, which is the
// conservative reading when deciding what a principal may be able to do.
package iampolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Version2012 is the current policy language version.
const Version2012 = "2012-10-17"

// Effects a statement can have.
const (
	Allow = "Allow"
	Deny  = "Deny"
)

// Document is an IAM policy document.
type Document struct {
	Version   string     `json:"Version,omitempty"`
	ID        string     `json:"Id,omitempty"`
	Statement Statements `json:"Statement"`
}

// Statement is one statement of a document. Principal, NotPrincipal and
// Condition are kept as raw JSON: they round-trip unchanged and are not
// evaluated.
type Statement struct {
	Sid          string          `json:"Sid,omitempty"`
	Effect       string          `json:"Effect"`
	Principal    json.RawMessage `json:"Principal,omitempty"`
	NotPrincipal json.RawMessage `json:"NotPrincipal,omitempty"`
	Action       StringList      `json:"Action,omitempty"`
	NotAction    StringList      `json:"NotAction,omitempty"`
	Resource     StringList      `json:"Resource,omitempty"`
	NotResource  StringList      `json:"NotResource,omitempty"`
	Condition    json.RawMessage `json:"Condition,omitempty"`
}

// StringList is an IAM element that may be written as one string or as a
// list of strings. It always marshals as a list.
type StringList []string

// UnmarshalJSON accepts "x" or ["x", "y"].
func (l *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = StringList{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	*l = list
	return nil
}

// Statements is the Statement element: one statement object or a list.
type Statements []Statement

// UnmarshalJSON accepts {…} or [{…}, …].
func (s *Statements) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var one Statement
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = Statements{one}
		return nil
	}
	var list []Statement
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("want a statement or a list of statements: %w", err)
	}
	*s = list
	return nil
}

// Parse parses a policy document. It accepts the URL-encoded form IAM's
// Get*Policy and GetPolicyVersion APIs return (see Decode) as well as
// plain JSON. Statements must have an Effect of Allow or Deny.
func Parse(text string) (Document, error) {
	plain, err := Decode(text)
	if err != nil {
		return Document{}, err
	}
	var d Document
	if err := json.Unmarshal([]byte(plain), &d); err != nil {
		return Document{}, fmt.Errorf("policy document: %w", err)
	}
	for i, st := range d.Statement {
		if st.Effect != Allow && st.Effect != Deny {
			return Document{}, fmt.Errorf("policy document: statement %d: effect %q is neither Allow nor Deny", i, st.Effect)
		}
	}
	return d, nil
}

// Decode returns the JSON text of a policy document. IAM returns documents
// URL-encoded (RFC 3986); plain JSON (starting with '{' after blanks) is
// returned unchanged, so the exact original text is never altered.
func Decode(text string) (string, error) {
	t := strings.TrimSpace(text)
	if t == "" {
		return "", errors.New("policy document: empty")
	}
	if t[0] == '{' {
		return text, nil
	}
	plain, err := url.PathUnescape(text)
	if err != nil {
		return "", fmt.Errorf("policy document: not JSON and not URL-encoded: %w", err)
	}
	if !strings.HasPrefix(strings.TrimSpace(plain), "{") {
		return "", errors.New("policy document: not a JSON object")
	}
	return plain, nil
}

// Marshal returns the document as compact JSON, with Version defaulted to
// 2012-10-17.
func (d Document) Marshal() (string, error) {
	if d.Version == "" {
		d.Version = Version2012
	}
	b, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("marshal policy document: %w", err)
	}
	return string(b), nil
}

// StatementBySid returns the index of the first statement with sid, or -1.
func (d Document) StatementBySid(sid string) int {
	for i, st := range d.Statement {
		if st.Sid == sid {
			return i
		}
	}
	return -1
}

// WithoutSids returns a copy of d without the statements whose Sid is in
// sids, and how many it removed.
func (d Document) WithoutSids(sids ...string) (Document, int) {
	drop := make(map[string]bool, len(sids))
	for _, s := range sids {
		drop[s] = true
	}
	out := d
	out.Statement = nil
	removed := 0
	for _, st := range d.Statement {
		if st.Sid != "" && drop[st.Sid] {
			removed++
			continue
		}
		out.Statement = append(out.Statement, st)
	}
	return out, removed
}

// Sids returns the statement ids in order (empty ones included as "").
func (d Document) Sids() []string {
	out := make([]string, len(d.Statement))
	for i, st := range d.Statement {
		out[i] = st.Sid
	}
	return out
}
