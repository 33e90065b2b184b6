package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"sync"

	"github.com/bedrock-warden/warden/pkg/export"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
	"github.com/bedrock-warden/warden/pkg/rules"
)

// Verdicts are computed with markers in place of what belongs to one
// principal — its documents' names, its own name — and rendered for it
// afterwards, so that principals whose Bedrock-relevant policies are the
// same share one computation (plan.verdicts): roles made from one template
// are judged once.

// marker wraps a name to be replaced when rendering.
func marker(s string) string { return "\x00" + s + "\x00" }

// Markers of the principal itself.
var (
	markerShort = marker("principal.short")
	markerName  = marker("principal.name")
	markerARN   = marker("principal.arn")
)

// auditedActions are the actions the audit's calls are authorised by: a
// statement covering none of them cannot change a verdict.
var auditedActions = func() []string {
	out := []string{"iam:CreateServiceSpecificCredential"}
	for _, op := range invokeOperations {
		out = append(out, export.InvokeAction(op))
	}
	for _, l := range [][]string{rules.LoggingEvents, rules.GuardrailEvents, rules.ModelAccessEvents, rules.CostlyEvents} {
		for _, e := range l {
			out = append(out, "bedrock:"+e)
		}
	}
	return slices.Compact(out)
}()

// relevant reports whether st can cover an audited action.
func relevant(st iampolicy.Statement) bool {
	for _, a := range auditedActions {
		if st.AppliesToAction(a) {
			return true
		}
	}
	return false
}

// principalKeys are condition keys and variables that make a statement's
// answer depend on who the principal is.
var principalKeys = []string{"aws:principal", "aws:username", "aws:userid", "${"}

// shareKey returns the key under which the principal's verdicts can be
// shared, or "" when they cannot: every Bedrock-relevant statement of its
// documents in place (irrelevant ones only counted, so that statement
// numbers match), whether each document can be edited in place, and what
// of the principal the verdicts read.
func (j *judgement) shareKey() string {
	h := sha256.New()
	w := func(parts ...string) {
		for _, p := range parts {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
	}
	pr := j.pr
	w(pr.Kind, boolText(pr.ServiceLinked()), boolText(pr.IdentityCenter()), boolText(j.allowed), boolText(j.exempt), pr.Account)
	personal := pr.Kind == KindUser // a user's own ARN is a candidate API-key target
	doc := func(d Document, layer string) {
		w("doc", layer, boolText(d.Editable()))
		for _, st := range d.Policy.Statement {
			if !relevant(st) {
				w("-")
				continue
			}
			b, err := json.Marshal(st)
			if err != nil {
				personal = true
				continue
			}
			text := strings.ToLower(string(b))
			for _, k := range principalKeys {
				if strings.Contains(text, k) {
					personal = true
				}
			}
			w(d.Policy.Version, string(b))
		}
	}
	for _, d := range pr.Identity {
		doc(d, "identity")
	}
	if pr.Boundary != nil {
		doc(*pr.Boundary, "boundary")
	}
	if personal {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

func boolText(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// shared is one computation of verdicts, made once.
type shared struct {
	once     sync.Once
	verdicts []VerdictReport
	err      error
}

// verdictsFor returns the principal's raw verdicts, computed once per
// share key (j is a shell: it is compiled only when it computes).
func (pl *plan) verdictsFor(j *judgement) ([]VerdictReport, error) {
	compute := func() ([]VerdictReport, error) {
		pl.computed.Add(1)
		if err := j.compile(); err != nil {
			return nil, err
		}
		return j.judge(), nil
	}
	key := j.shareKey()
	if key == "" {
		return compute()
	}
	pl.sharedMu.Lock()
	e, ok := pl.shared[key]
	if !ok {
		e = &shared{}
		pl.shared[key] = e
	}
	pl.sharedMu.Unlock()
	e.once.Do(func() { e.verdicts, e.err = compute() })
	return e.verdicts, e.err
}

// render returns raw verdicts with the principal's names in place of the
// markers.
func (j *judgement) render(raw []VerdictReport) []VerdictReport {
	pairs := []string{markerShort, j.pr.Short(), markerName, j.pr.Name, markerARN, `"` + j.pr.ARN + `"`}
	for name, info := range j.docs {
		pairs = append(pairs, name, display(info))
	}
	rep := strings.NewReplacer(pairs...)
	fill := func(s Statement) Statement {
		if info, ok := j.docs[s.Policy]; ok {
			s.Policy, s.PolicyARN, s.Source, s.Group = info.doc.Name, info.doc.ARN, info.doc.Source, info.doc.Group
		}
		return s
	}
	fillAll := func(list []Statement) []Statement {
		if list == nil {
			return nil
		}
		out := make([]Statement, len(list))
		for i, s := range list {
			out[i] = fill(s)
		}
		return out
	}
	out := make([]VerdictReport, len(raw))
	for i, v := range raw {
		v.Summary = rep.Replace(v.Summary)
		v.Reason = rep.Replace(v.Reason)
		if v.Undecided != nil {
			u := make([]string, len(v.Undecided))
			for k, s := range v.Undecided {
				u[k] = rep.Replace(s)
			}
			v.Undecided = u
		}
		v.Grants, v.Blocks = fillAll(v.Grants), fillAll(v.Blocks)
		if v.Fix != nil {
			f := *v.Fix
			f.Summary, f.Command = rep.Replace(f.Summary), rep.Replace(f.Command)
			if f.Statement != nil {
				st := fill(*f.Statement)
				f.Statement = &st
			}
			v.Fix = &f
		}
		v.open = nil
		out[i] = v
	}
	return out
}

// display is how a document is named in sentences: its name and where it
// comes from.
func display(info docInfo) string {
	d := info.doc
	switch {
	case d.Group != "":
		return d.Name + " (group " + d.Group + ")"
	case d.Source == SourceAWSManaged:
		return d.Name + " (AWS managed)"
	case d.Source == SourceSCP:
		return d.Name + " (SCP)"
	case info.layer == "boundary":
		return d.Name + " (permissions boundary)"
	}
	return d.Name
}
