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
// verified by re-judging the calls that opened it.
func (j *judgement) fixes(vs []VerdictReport, byDim map[string][]*call) {
	for i := range vs {
		v := &vs[i]
		if v.Verdict != Allowed {
			continue
		}
		d, _ := LookupDimension(v.Dimension)
		calls := openCalls(d, byDim[d.ID])
		if len(calls) == 0 {
			continue
		}
		v.Fix = j.fix(d, calls)
		if j.pr.IdentityCenter() {
			v.Fix.Kind = "identity-center"
			v.Fix.Summary = "this role belongs to IAM Identity Center, which overwrites changes made in IAM: make the change in the permission set instead — " + v.Fix.Summary
		}
	}
}

func (j *judgement) fix(d Dimension, calls []*call) *Fix {
	refs := j.grantRefs(calls)
	editable := len(refs) > 0
	for _, r := range refs {
		if info, ok := j.docs[r.Policy]; !ok || info.layer != "identity" || !info.doc.Editable() {
			editable = false
		}
	}
	names := make([]string, 0, len(refs))
	for _, r := range refs {
		names = append(names, j.statementOf(r).String())
	}
	acct := j.account()
	if editable && len(refs) <= 3 {
		s, ok := j.without(refs)
		if ok && d.invocation() {
			if exp := j.plan.exported[export.IAMPolicy]; exp != nil {
				s.Identity = append(s.Identity, exp)
				if closes(s, calls) {
					st := j.statementOf(refs[0])
					return &Fix{Kind: "narrow-statement", Statement: &st, Verified: true,
						Summary: "narrow " + strings.Join(names, " and ") + " to what the policy allows: replace it with the statements of the exported identity policy",
						Command: "warden policy export --as iam-policy --account " + acct + " --pretty"}
				}
			}
		}
		if ok && !d.invocation() && closes(s, calls) {
			st := j.statementOf(refs[0])
			return &Fix{Kind: "narrow-statement", Statement: &st, Verified: true,
				Summary: "remove " + strings.Join(d.actions(), ", ") + " from " + strings.Join(names, " and ") + " (it grants them through its Action or NotAction patterns)"}
		}
	}
	if d.invocation() {
		if exp := j.plan.exported[export.Boundary]; exp != nil {
			s := j.set
			s.Boundary = []*iameval.Policy{exp}
			if closes(s, calls) {
				verb := "attach"
				if j.pr.Boundary != nil {
					verb = "replace the permissions boundary " + j.pr.Boundary.Name + " with"
				}
				return &Fix{Kind: "boundary", Verified: true,
					Summary: verb + " the exported permissions boundary as " + j.pr.Short() + "'s permissions boundary (it caps model invocation to the policy and leaves other actions to its own policies; granted today by " + strings.Join(names, ", ") + ")",
					Command: "warden policy export --as boundary --account " + acct + " > boundary.json && aws iam put-" + j.pr.Kind + "-permissions-boundary --" + j.pr.Kind + "-name " + j.pr.Name + " --permissions-boundary <ARN of a managed policy created from boundary.json>"}
			}
		}
		if exp := j.plan.exported[export.SCP]; exp != nil {
			s := j.set
			s.SCPs = append(append([][]*iameval.Policy{}, s.SCPs...), []*iameval.Policy{exp, fullAccess})
			if closes(s, calls) {
				return &Fix{Kind: "scp", Verified: true,
					Summary: "attach the exported SCP to the account or its OU (it denies the same calls for every principal but principals.exempt)",
					Command: "warden policy export --as scp > scp.json && aws organizations create-policy --type SERVICE_CONTROL_POLICY --content file://scp.json …"}
			}
		}
		return &Fix{Kind: "manual", Summary: "remove or narrow " + strings.Join(names, ", ") + ": the exported documents could not be verified to close it" + j.exportNote()}
	}
	deny := d.denyDocument()
	c, err := iameval.Compile("deny", deny)
	if err == nil {
		s := j.set
		s.Identity = append(append([]*iameval.Policy{}, s.Identity...), c)
		if closes(s, calls) {
			text, _ := json.Marshal(deny)
			return &Fix{Kind: "deny-statement", Verified: true, Document: string(text),
				Summary: "add an inline policy denying " + strings.Join(d.actions(), ", ") + " (granted today by " + strings.Join(names, ", ") + ")",
				Command: "aws iam put-" + j.pr.Kind + "-policy --" + j.pr.Kind + "-name " + j.pr.Name + " --policy-name bedrock-warden-deny-" + d.ID + " --policy-document file://deny.json"}
		}
	}
	return &Fix{Kind: "manual", Summary: "remove or narrow " + strings.Join(names, ", ")}
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
