package iampolicy

import (
	"strings"

	"github.com/bedrock-warden/warden/pkg/glob"
)

// AppliesToAction reports whether the statement covers action: an Action
// pattern matches it, or NotAction is present and no NotAction pattern
// matches it. Action names compare without case, as IAM does. A statement
// with neither element covers nothing.
func (s Statement) AppliesToAction(action string) bool {
	switch {
	case len(s.Action) > 0:
		return anyFold(s.Action, action)
	case len(s.NotAction) > 0:
		return !anyFold(s.NotAction, action)
	}
	return false
}

// AppliesToResource reports whether the statement covers resource: a
// Resource pattern matches it, or NotResource is present and no
// NotResource pattern matches it. ARNs compare case-sensitively. A
// statement with neither element covers nothing.
func (s Statement) AppliesToResource(resource string) bool {
	switch {
	case len(s.Resource) > 0:
		return anyCase(s.Resource, resource)
	case len(s.NotResource) > 0:
		return !anyCase(s.NotResource, resource)
	}
	return false
}

// Allows reports whether the statement is an Allow that covers action on
// resource. Conditions are not evaluated (see the package doc).
func (s Statement) Allows(action, resource string) bool {
	return s.Effect == Allow && s.AppliesToAction(action) && s.AppliesToResource(resource)
}

// AllowsAction reports whether the statement is an Allow that covers action
// on some resource (it has a Resource or NotResource element).
func (s Statement) AllowsAction(action string) bool {
	return s.Effect == Allow && s.AppliesToAction(action) && (len(s.Resource) > 0 || len(s.NotResource) > 0)
}

// GrantsOnly reports whether every action the statement can cover belongs
// to the IAM service prefix service (e.g. "bedrock"). NotAction and
// patterns such as "*" or "bed*" that could reach other services make it
// false.
func (s Statement) GrantsOnly(service string) bool {
	if len(s.NotAction) > 0 || len(s.Action) == 0 {
		return false
	}
	prefix := strings.ToLower(service) + ":"
	for _, a := range s.Action {
		if !strings.HasPrefix(strings.ToLower(a), prefix) {
			return false
		}
	}
	return true
}

// AllowingStatements returns the indexes of the Allow statements that cover
// action on any of resources. With no resources it returns those that
// cover action on any resource. Deny statements are ignored: they take
// nothing away from what the document grants elsewhere.
func (d Document) AllowingStatements(action string, resources ...string) []int {
	var out []int
	for i, st := range d.Statement {
		if len(resources) == 0 {
			if st.AllowsAction(action) {
				out = append(out, i)
			}
			continue
		}
		for _, r := range resources {
			if st.Allows(action, r) {
				out = append(out, i)
				break
			}
		}
	}
	return out
}

// Allows reports whether any Allow statement covers any of actions on any
// of resources (any resource when resources is empty).
func (d Document) Allows(actions []string, resources ...string) bool {
	for _, a := range actions {
		if len(d.AllowingStatements(a, resources...)) > 0 {
			return true
		}
	}
	return false
}

// AllowsOnly reports whether the document's Allow statements grant actions
// of service alone (Deny statements are ignored). A document with no Allow
// statement grants nothing and reports true.
func (d Document) AllowsOnly(service string) bool {
	for _, st := range d.Statement {
		if st.Effect == Allow && !st.GrantsOnly(service) {
			return false
		}
	}
	return true
}

// Services returns the service prefixes the document's Allow statements
// name in Action elements, lower-cased and in first-seen order; "*" stands
// for a statement that can reach any service (Action "*" or NotAction).
func (d Document) Services() []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, st := range d.Statement {
		if st.Effect != Allow {
			continue
		}
		if len(st.NotAction) > 0 {
			add("*")
			continue
		}
		for _, a := range st.Action {
			svc, _, ok := strings.Cut(strings.ToLower(a), ":")
			if !ok || strings.ContainsAny(svc, "*?") {
				add("*")
				continue
			}
			add(svc)
		}
	}
	return out
}

func anyFold(patterns []string, s string) bool {
	for _, p := range patterns {
		if glob.Compile(p).MatchFold(s) {
			return true
		}
	}
	return false
}

func anyCase(patterns []string, s string) bool {
	for _, p := range patterns {
		if glob.Compile(p).Match(s) {
			return true
		}
	}
	return false
}
