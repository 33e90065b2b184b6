package audit

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/bedrock-warden/warden/pkg/export"
	"github.com/bedrock-warden/warden/pkg/iameval"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
)

// openCalls returns the forbidden calls of dimension d that IAM allows: the
// calls a fix must close.
func openCalls(d Dimension, calls []*call) []*call {
	var out []*call
	for _, c := range calls {
		if c.dec != iameval.True {
			continue
		}
		if d.ID == DimAPIKeys && c.dim == DimAPIKeys {
			out = append(out, c)
			continue
		}
		if _, ok := c.violates[d.Rule]; ok {
			out = append(out, c)
		}
	}
	return out
}

// closes re-judges calls under s: true when every one is refused. Calls
// share requests, so each request is decided once.
func closes(s iameval.Set, calls []*call) bool {
	memo := map[string]iameval.Tri{}
	for _, c := range calls {
		dec := iameval.True
		for i, r := range c.reqs {
			t, ok := memo[c.keys[i]]
			if !ok {
				t = s.Decide(r).Decision
				memo[c.keys[i]] = t
			}
			dec = iameval.And(dec, t)
			if dec == iameval.False {
				break
			}
		}
		if dec != iameval.False {
			return false
		}
	}
	return true
}

// grantRefs returns the identity statements that allow the calls.
func (j *judgement) grantRefs(calls []*call) []iameval.StatementRef {
	var out []iameval.StatementRef
	for _, c := range calls {
		for _, r := range j.results(c) {
			for _, g := range r.Grants {
				if !slices.Contains(out, g) {
					out = append(out, g)
				}
			}
		}
	}
	return out
}

// without returns the principal's set with the given identity statements
// removed.
func (j *judgement) without(refs []iameval.StatementRef) (iameval.Set, bool) {
	s := j.set
	s.Identity = nil
	for _, p := range j.set.Identity {
		var drop []int
		for _, r := range refs {
			if r.Policy == p.Name {
				drop = append(drop, r.Index)
			}
		}
		if len(drop) == 0 {
			s.Identity = append(s.Identity, p)
			continue
		}
		d := p.Document
		d.Statement = nil
		for i, st := range p.Document.Statement {
			if !slices.Contains(drop, i) {
				d.Statement = append(d.Statement, st)
			}
		}
		c, err := iameval.Compile(p.Name, d)
		if err != nil {
			return s, false
		}
		s.Identity = append(s.Identity, c)
	}
	return s, true
}

// fixes adds to every allowed verdict the smallest change that closes it,
// verified: an invocation dimension by searching its forbidden calls again
// under the changed policies, the control plane and API keys by deciding
// again every call of lists that was allowed.
func (j *judgement) fixes(vs []VerdictReport, lists map[string][]*call) {
	for i := range vs {
		v := &vs[i]
		if v.Verdict != Allowed {
			continue
		}
		d, _ := LookupDimension(v.Dimension)
		if d.invocation() {
			v.Fix = j.invocationFix(d, v.open)
		} else if calls := openCalls(d, lists[d.ID]); len(calls) > 0 {
			v.Fix = j.fix(d, calls)
		}
		if v.Fix != nil && j.pr.IdentityCenter() {
			v.Fix.Kind = "identity-center"
			v.Fix.Summary = "this role belongs to IAM Identity Center, which overwrites changes made in IAM: make the change in the permission set instead — " + v.Fix.Summary
		}
	}
}

// invocationFix finds the smallest verified fix of an invocation
// dimension: the granting statements — found one open call at a time, at
// most three — narrowed to the exported identity policy when they are the
// account's own; else the exported boundary; else the exported SCP. Each
// is verified by searching the dimension's forbidden calls again under the
// changed policies.
func (j *judgement) invocationFix(d Dimension, example *call) *Fix {
	if example == nil {
		return nil
	}
	acct := j.account()
	refs := j.grantRefs([]*call{example})
	if exp := j.plan.exported[export.IAMPolicy]; exp != nil {
		for j.editable(refs) && len(refs) <= 3 {
			s, ok := j.without(refs)
			if !ok {
				break
			}
			// The exported policy allows only what the policy accepts (the
			// export agreement test): the forbidden calls still open are
			// those the remaining statements allow.
			v := newView(s)
			var next *call
			if !j.invokable(v) {
				st := j.statementOf(refs[0])
				return &Fix{Kind: "narrow-statement", Statement: &st, Verified: true,
					Summary: "narrow " + j.names(refs) + " to what the policy allows: replace it with the statements of the exported identity policy",
					Command: "warden policy export --as iam-policy --account " + acct + " --pretty"}
			}
			j.each(j.spaceFor(d), v, true, j.flaggable(d), func(c *call) bool {
				if _, flagged := c.violates[d.Rule]; flagged && v.tri(c) != iameval.False {
					next = c
					return false
				}
				return true
			})
			if next == nil {
				st := j.statementOf(refs[0])
				return &Fix{Kind: "narrow-statement", Statement: &st, Verified: true,
					Summary: "narrow " + j.names(refs) + " to what the policy allows: replace it with the statements of the exported identity policy",
					Command: "warden policy export --as iam-policy --account " + acct + " --pretty"}
			}
			// Still open: add what grants that call today.
			before := len(refs)
			for _, g := range j.grantRefs([]*call{next}) {
				if !slices.Contains(refs, g) {
					refs = append(refs, g)
				}
			}
			if len(refs) == before {
				break
			}
		}
	}
	names := j.names(refs)
	// The exported boundary and SCP are verified once per run, on a
	// principal allowed everything (plan.exportedCloses).
	if j.plan.exportedCloses(export.Boundary, d, j.allowed, j.exempt) {
		verb := "attach"
		if j.pr.Boundary != nil {
			verb = "replace the permissions boundary " + marker("boundary") + " with"
		}
		return &Fix{Kind: "boundary", Verified: true,
			Summary: verb + " the exported permissions boundary as " + markerShort + "'s permissions boundary (it caps model invocation to the policy and leaves other actions to its own policies; granted today by " + names + ")",
			Command: "warden policy export --as boundary --account " + acct + " > boundary.json && aws iam put-" + j.pr.Kind + "-permissions-boundary --" + j.pr.Kind + "-name " + markerName + " --permissions-boundary <ARN of a managed policy created from boundary.json>"}
	}
	if j.plan.exportedCloses(export.SCP, d, j.allowed, j.exempt) {
		return &Fix{Kind: "scp", Verified: true,
			Summary: "attach the exported SCP to the account or its OU (it denies the same calls for every principal but principals.exempt)",
			Command: "warden policy export --as scp > scp.json && aws organizations create-policy --type SERVICE_CONTROL_POLICY --content file://scp.json …"}
	}
	return &Fix{Kind: "manual", Summary: "remove or narrow " + names + ": the exported documents could not be verified to close it" + j.exportNote()}
}

// editable reports whether every statement is in an identity policy the
// account can change in place.
func (j *judgement) editable(refs []iameval.StatementRef) bool {
	if len(refs) == 0 {
		return false
	}
	for _, r := range refs {
		if info, ok := j.docs[r.Policy]; !ok || info.layer != "identity" || !info.doc.Editable() {
			return false
		}
	}
	return true
}

func (j *judgement) names(refs []iameval.StatementRef) string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, j.statementOf(r).String())
	}
	return strings.Join(out, " and ")
}

// fix finds the smallest verified fix of a control-plane or API-key
// dimension: remove the actions from the account's own statements, else
// add a Deny.
func (j *judgement) fix(d Dimension, calls []*call) *Fix {
	refs := j.grantRefs(calls)
	editable := len(refs) > 0
	for _, r := range refs {
		if info, ok := j.docs[r.Policy]; !ok || info.layer != "identity" || !info.doc.Editable() {
			editable = false
		}
	}
	names := j.names(refs)
	if editable && len(refs) <= 3 {
		if s, ok := j.without(refs); ok && closes(s, calls) {
			st := j.statementOf(refs[0])
			return &Fix{Kind: "narrow-statement", Statement: &st, Verified: true,
				Summary: "remove " + strings.Join(d.actions(), ", ") + " from " + names + " (it grants them through its Action or NotAction patterns)"}
		}
	}
	// An unconditioned Deny of every action of the dimension on "*" refuses
	// each of its calls whatever else applies: verified by construction
	// (TestDenyDocumentsClose checks it on the calls of every dimension).
	text, err := json.Marshal(d.denyDocument())
	if err != nil {
		return &Fix{Kind: "manual", Summary: "remove or narrow " + names}
	}
	return &Fix{Kind: "deny-statement", Verified: true, Document: string(text),
		Summary: "add an inline policy denying " + strings.Join(d.actions(), ", ") + " (granted today by " + names + ")",
		Command: "aws iam put-" + j.pr.Kind + "-policy --" + j.pr.Kind + "-name " + markerName + " --policy-name bedrock-warden-deny-" + d.ID + " --policy-document file://deny.json"}
}

func (j *judgement) exportNote() string {
	for _, k := range []export.Kind{export.Boundary, export.IAMPolicy} {
		if e := j.plan.exportErr[k]; e != "" {
			return " (" + e + ")"
		}
	}
	return ""
}

// fullAccess stands for the FullAWSAccess SCP beside an added deny-list SCP.
var fullAccess = func() *iameval.Policy {
	p, err := iameval.Compile("FullAWSAccess", iampolicy.Document{Version: iampolicy.Version2012, Statement: iampolicy.Statements{{
		Effect: iampolicy.Allow, Action: iampolicy.StringList{"*"}, Resource: iampolicy.StringList{"*"}}}})
	if err != nil {
		panic(err) // a constant document
	}
	return p
}()

// actions returns the IAM actions of a control-plane or API-key dimension.
func (d Dimension) actions() []string {
	if d.ID == DimAPIKeys {
		return []string{"iam:CreateServiceSpecificCredential"}
	}
	out := make([]string, len(d.events))
	for i, e := range d.events {
		out[i] = "bedrock:" + e
	}
	return out
}

// denyDocument is the inline policy that closes a control-plane or API-key
// dimension.
func (d Dimension) denyDocument() iampolicy.Document {
	st := iampolicy.Statement{Sid: "BedrockWardenDeny" + camel(d.ID),
		Effect: iampolicy.Deny, Action: d.actions(), Resource: iampolicy.StringList{"*"}}
	if d.ID == DimAPIKeys {
		st.Condition = json.RawMessage(`{"StringEquals":{"iam:ServiceSpecificCredentialServiceName":"bedrock.amazonaws.com"}}`)
	}
	return iampolicy.Document{Version: iampolicy.Version2012, Statement: iampolicy.Statements{st}}
}

// camel turns "api-keys" into "ApiKeys".
func camel(id string) string {
	parts := strings.Split(id, "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}
