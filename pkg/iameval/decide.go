package iameval

import (
	"fmt"
	"strings"

	"github.com/bedrock-warden/warden/pkg/glob"
)

// Tri is a truth value of three-valued (Kleene) logic: a statement applies,
// does not apply, or cannot be told because a condition key's value is not
// known.
type Tri int8

// Truth values.
const (
	False Tri = iota
	True
	Unknown
)

// FromBool returns True or False.
func FromBool(b bool) Tri {
	if b {
		return True
	}
	return False
}

// Bool reports t == True.
func (t Tri) Bool() bool { return t == True }

// String returns "false", "true" or "unknown".
func (t Tri) String() string {
	switch t {
	case True:
		return "true"
	case Unknown:
		return "unknown"
	}
	return "false"
}

// And is Kleene conjunction: False wins, then Unknown.
func And(a, b Tri) Tri {
	switch {
	case a == False || b == False:
		return False
	case a == Unknown || b == Unknown:
		return Unknown
	}
	return True
}

// Or is Kleene disjunction: True wins, then Unknown.
func Or(a, b Tri) Tri {
	switch {
	case a == True || b == True:
		return True
	case a == Unknown || b == Unknown:
		return Unknown
	}
	return False
}

// Not is Kleene negation: Unknown stays Unknown.
func Not(a Tri) Tri {
	switch a {
	case True:
		return False
	case False:
		return True
	}
	return Unknown
}

// applies reports whether the statement covers req (its Effect not looked
// at), noting the condition tests it could not decide.
func (s *statement) appliesNoted(req *Request, notes *[]string) Tri {
	if !s.coversAction(req.Action) {
		return False
	}
	res := s.coversResource(req)
	if res == False {
		return False
	}
	for _, c := range s.conds {
		res = And(res, c.decide(req, notes))
		if res == False {
			return False
		}
	}
	return res
}

func (s *statement) applies(req *Request) Tri { return s.appliesNoted(req, nil) }

func (s *statement) coversAction(action string) bool {
	switch {
	case len(s.action) > 0:
		return anyFold(s.action, action)
	case len(s.notAction) > 0:
		return !anyFold(s.notAction, action)
	}
	return false
}

func anyFold(ps []glob.Pattern, s string) bool {
	for _, p := range ps {
		if p.MatchFold(s) {
			return true
		}
	}
	return false
}

func (s *statement) coversResource(req *Request) Tri {
	switch {
	case len(s.resource) > 0:
		return matchValues(s.resource, req)
	case len(s.notResource) > 0:
		return Not(matchValues(s.notResource, req))
	}
	return False
}

// matchValues reports whether any pattern matches the request's resource.
func matchValues(ps []valuePattern, req *Request) Tri {
	out := False
	for i := range ps {
		p := &ps[i]
		if !p.hasVar {
			if p.match(req.Resource) {
				return True
			}
			continue
		}
		s, t := expand(p.raw, req)
		switch t {
		case True:
			if glob.Match(s, req.Resource) {
				return True
			}
		case Unknown:
			out = Unknown
		}
	}
	return out
}

// expand substitutes the policy variables of s (${key}, ${key, 'default'},
// and the escapes ${*}, ${?}, ${$}) from the request. It returns False when
// a variable's key is missing and has no default (IAM: the element then
// matches nothing) and Unknown when the key may have a value not known
// here.
func expand(s string, req *Request) (string, Tri) {
	var b strings.Builder
	state := True
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		inner := strings.TrimSpace(s[i+2 : i+j])
		s = s[i+j+1:]
		switch inner {
		case "*", "?", "$":
			b.WriteString(inner)
			continue
		}
		key, def, hasDef := inner, "", false
		if k, d, ok := strings.Cut(inner, ","); ok {
			key = strings.TrimSpace(k)
			d = strings.TrimSpace(d)
			if len(d) >= 2 && d[0] == '\'' && d[len(d)-1] == '\'' {
				def, hasDef = d[1:len(d)-1], true
			}
		}
		if v, ok := req.get(strings.ToLower(key)); ok {
			b.WriteString(v[0])
			continue
		}
		switch {
		case req.undecided(key):
			state = And(state, Unknown)
		case hasDef:
			b.WriteString(def)
		default:
			state = False
		}
	}
	return b.String(), state
}

// StatementRef names one statement of one policy.
type StatementRef struct {
	Policy string `json:"policy"`
	Index  int    `json:"index"` // 0-based position in the Statement list
	Sid    string `json:"sid,omitempty"`
	Effect string `json:"effect"`
}

// String formats the reference as `POLICY statement #N "SID"`.
func (r StatementRef) String() string {
	s := fmt.Sprintf("%s statement #%d", r.Policy, r.Index+1)
	if r.Sid != "" {
		s += fmt.Sprintf(" %q", r.Sid)
	}
	return s
}

func ref(p *Policy, s *statement) StatementRef {
	eff := "Deny"
	if s.allow {
		eff = "Allow"
	}
	return StatementRef{Policy: p.Name, Index: s.index, Sid: s.sid, Effect: eff}
}

// layerResult is what one policy type says about a request.
type layerResult struct {
	allowTrue, allowUnknown []StatementRef
	denyTrue, denyUnknown   []StatementRef
	notes                   []string
}

func evalLayer(req *Request, pols []*Policy) layerResult {
	var l layerResult
	for _, p := range pols {
		for _, s := range p.stmts {
			var notes []string
			t := s.appliesNoted(req, &notes)
			switch {
			case t == False:
				continue
			case s.allow && t == True:
				l.allowTrue = append(l.allowTrue, ref(p, s))
			case s.allow:
				l.allowUnknown = append(l.allowUnknown, ref(p, s))
			case t == True:
				l.denyTrue = append(l.denyTrue, ref(p, s))
			default:
				l.denyUnknown = append(l.denyUnknown, ref(p, s))
			}
			if t == Unknown {
				for _, n := range notes {
					note(&l.notes, n+" in "+ref(p, s).String())
				}
			}
		}
	}
	return l
}

// Set is the policies that apply to one principal's requests, compiled.
type Set struct {
	// Identity holds the identity-based policies (managed, inline, and a
	// user's group policies): one of them must allow.
	Identity []*Policy
	// Boundary is the permissions boundary: nil when the principal has
	// none; when set it must allow as well.
	Boundary []*Policy
	// SCPs holds the service control policies per level (root, each OU,
	// the account): at every level some SCP must allow. Nil when SCPs do
	// not apply or are not known.
	SCPs [][]*Policy
}

// Result is Decide's answer.
type Result struct {
	// Decision is True (allowed), False (denied, explicitly or
	// implicitly) or Unknown (it depends on condition keys whose values
	// are not known).
	Decision Tri
	// Reason is one line: "allowed", "explicit deny in permissions
	// boundary", "no allow in identity policy", "undecided: …".
	Reason string
	// Layer is the policy type that decided a denial ("identity policy",
	// "permissions boundary", "SCP level 2").
	Layer string
	// Grants are the identity policy's Allow statements that apply (when
	// the decision is not a denial). With Unknown, GrantsUnknown are those
	// that may apply.
	Grants        []StatementRef
	GrantsUnknown []StatementRef
	// Denies are the Deny statements that apply (an explicit deny), or
	// with Unknown those that may apply.
	Denies []StatementRef
	// Undecided lists the condition tests that could not be decided, each
	// with the statement it sits in.
	Undecided []string
}

// Decide evaluates req against s with IAM's logic in three-valued form: an
// explicit deny anywhere denies; otherwise the identity policies, the
// boundary (when set) and every SCP level must each allow. A Deny that may
// apply, or an Allow that a layer needs but may not apply, makes the answer
// Unknown unless something else decides.
func (s Set) Decide(req Request) Result {
	type layer struct {
		name string
		res  layerResult
	}
	layers := make([]layer, 0, 2+len(s.SCPs))
	layers = append(layers, layer{"identity policy", evalLayer(&req, s.Identity)})
	if s.Boundary != nil {
		layers = append(layers, layer{"permissions boundary", evalLayer(&req, s.Boundary)})
	}
	for i, lvl := range s.SCPs {
		layers = append(layers, layer{fmt.Sprintf("SCP level %d", i+1), evalLayer(&req, lvl)})
	}
	for _, l := range layers {
		if len(l.res.denyTrue) > 0 {
			return Result{Decision: False, Layer: l.name, Reason: "explicit deny in " + l.name + ": " + l.res.denyTrue[0].String(),
				Denies: l.res.denyTrue}
		}
	}
	for _, l := range layers {
		if len(l.res.allowTrue) == 0 && len(l.res.allowUnknown) == 0 {
			return Result{Decision: False, Layer: l.name, Reason: "no allow in " + l.name}
		}
	}
	out := Result{Decision: True, Grants: layers[0].res.allowTrue}
	for _, l := range layers {
		if len(l.res.denyUnknown) > 0 {
			out.Decision = Unknown
			out.Denies = append(out.Denies, l.res.denyUnknown...)
			out.Undecided = append(out.Undecided, l.res.notes...)
		}
		if len(l.res.allowTrue) == 0 {
			out.Decision = Unknown
			if l.name == "identity policy" {
				out.GrantsUnknown = l.res.allowUnknown
			}
			out.Undecided = append(out.Undecided, l.res.notes...)
		}
	}
	out.Undecided = dedupe(out.Undecided)
	if out.Decision == True {
		out.Reason = "allowed"
	} else {
		out.Reason = "undecided: " + strings.Join(out.Undecided, "; ")
	}
	return out
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	out := list[:0]
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Reachable reports whether some request for action on resource could be
// allowed: the identity policies, the boundary (when set) and every SCP
// level each have an Allow statement whose action and resource elements
// match, conditions aside. False means every such request is denied,
// whatever its context — a cheap test before building contexts.
func (s Set) Reachable(action, resource string) bool {
	req := Request{Action: action, Resource: resource}
	has := func(pols []*Policy) bool {
		for _, p := range pols {
			for _, st := range p.stmts {
				if st.allow && st.coversAction(action) && st.coversResourceLoose(&req) {
					return true
				}
			}
		}
		return false
	}
	if !has(s.Identity) {
		return false
	}
	if s.Boundary != nil && !has(s.Boundary) {
		return false
	}
	for _, lvl := range s.SCPs {
		if !has(lvl) {
			return false
		}
	}
	return true
}

// coversResourceLoose is coversResource with policy variables taken as
// matching (their values are not known here).
func (s *statement) coversResourceLoose(req *Request) bool {
	loose := func(ps []valuePattern) bool {
		for i := range ps {
			if ps[i].hasVar || ps[i].match(req.Resource) {
				return true
			}
		}
		return false
	}
	switch {
	case len(s.resource) > 0:
		return loose(s.resource)
	case len(s.notResource) > 0:
		// A NotResource pattern with a variable may or may not exclude.
		for i := range s.notResource {
			if !s.notResource[i].hasVar && s.notResource[i].match(req.Resource) {
				return false
			}
		}
		return true
	}
	return false
}

// AllowsAction reports whether some request for action could be allowed:
// every layer has an Allow statement covering the action, resources and
// conditions aside. False means every request for it is denied.
func (s Set) AllowsAction(action string) bool {
	has := func(pols []*Policy) bool {
		for _, p := range pols {
			for _, st := range p.stmts {
				if st.allow && st.coversAction(action) {
					return true
				}
			}
		}
		return false
	}
	if !has(s.Identity) || (s.Boundary != nil && !has(s.Boundary)) {
		return false
	}
	for _, lvl := range s.SCPs {
		if !has(lvl) {
			return false
		}
	}
	return true
}
