package policy

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/glob"
	"github.com/bedrock-warden/warden/pkg/suggest"
	"gopkg.in/yaml.v3"
)

// Limit is one entry of the limits: list: a token and/or dollar budget on
// some models for some principals over a UTC day, week or month, counted
// from the model invocation logs by the usage function. A limit cannot be
// expressed in IAM (IAM has no counters), so policy export leaves it out.
type Limit struct {
	// Name identifies the limit in findings, the ledger and the CLI.
	Name string `yaml:"name" json:"name"`
	// Principals are globs on the normalised principal ARN (the IAM user,
	// or the role behind an assumed-role session). Empty: any principal.
	Principals []string `yaml:"principals,omitempty" json:"principals,omitempty"`
	// Tags select principals by their IAM tags: every key must be present
	// with the value given. With Principals, a principal must match both.
	Tags map[string]string `yaml:"tags,omitempty" json:"tags,omitempty"`
	// Models are globs on the base model id. Empty: every model.
	Models []string `yaml:"models,omitempty" json:"models,omitempty"`
	// Period is "day", "week" (Monday to Monday) or "month", in UTC.
	Period string `yaml:"period" json:"period"`
	// MaxTokens counts input, output, cache-read and cache-write tokens;
	// 0: no token limit.
	MaxTokens int64 `yaml:"maxTokens,omitempty" json:"maxTokens,omitempty"`
	// MaxUSD is the cost at the policy's prices; 0: no dollar limit.
	MaxUSD float64 `yaml:"maxUSD,omitempty" json:"maxUSD,omitempty"`
	// WarnAt is the share of the limit that raises limit-warning (default
	// DefaultWarnAt).
	WarnAt float64 `yaml:"warnAt" json:"warnAt"`
	// Action is LimitAlert (default) or LimitBlock.
	Action string `yaml:"action" json:"action"`
	// Per is LimitPerPrincipal (default: every selected principal has the
	// whole limit) or LimitPerTeam (the selected principals share it).
	Per string `yaml:"per" json:"per"`
}

// Limit periods, actions and scopes.
const (
	PeriodDay   = "day"
	PeriodWeek  = "week"
	PeriodMonth = "month"

	LimitAlert = "alert" // limit-warning and limit-exceeded alerts only
	LimitBlock = "block" // and limit-exceeded blocks the principal until the period ends

	LimitPerPrincipal = "principal"
	LimitPerTeam      = "team"
)

// ActionBlockUntil is the remediation a limit with action block hands to
// the remediator with its limit-exceeded finding: an inline deny of the
// limit's models that lifts at the end of the period. It cannot be named
// in remediation.actions.
const ActionBlockUntil = "block-until"

// DefaultWarnAt is limits[].warnAt when not given.
const DefaultWarnAt = 0.8

var (
	limitPeriods = []string{PeriodDay, PeriodWeek, PeriodMonth}
	limitActions = []string{LimitAlert, LimitBlock}
	limitScopes  = []string{LimitPerPrincipal, LimitPerTeam}
)

// maxLimitNameLen bounds a limit's name; it goes into item keys and alerts.
const maxLimitNameLen = 64

// SelectsPrincipal reports whether the limit applies to the principal with
// normalised ARN arn and IAM tags tags.
func (l Limit) SelectsPrincipal(arn string, tags map[string]string) bool {
	if len(l.Principals) > 0 && !glob.CompileSet(l.Principals).Match(arn) {
		return false
	}
	for k, v := range l.Tags {
		if got, ok := tags[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// CoversModel reports whether the limit counts model (a base model id, or
// the raw id when it has none).
func (l Limit) CoversModel(model string) bool {
	return len(l.Models) == 0 || glob.CompileSet(l.Models).Match(model)
}

// UsesTags reports whether any limit selects principals by tag (the usage
// function then reads principals' tags from IAM).
func (p *Policy) UsesTags() bool {
	for _, l := range p.Limits {
		if len(l.Tags) > 0 {
			return true
		}
	}
	return false
}

// LimitNamed returns the limit called name.
func (p *Policy) LimitNamed(name string) (Limit, bool) {
	for _, l := range p.Limits {
		if l.Name == name {
			return l, true
		}
	}
	return Limit{}, false
}

// RemediationFor returns the remediation action a finding asks for, and
// false when it asks for none: for limit-exceeded, ActionBlockUntil when
// the finding's limit (detail findings.DetailLimit) has action block; for
// every other rule, remediation.actions.
func (p *Policy) RemediationFor(f findings.Finding) (string, bool) {
	if f.Rule == findings.RuleLimitExceeded {
		if l, ok := p.LimitNamed(f.Details[findings.DetailLimit]); ok && l.Action == LimitBlock {
			return ActionBlockUntil, true
		}
		return "", false
	}
	a, ok := p.Remediation.Actions[f.Rule]
	return a, ok
}

// limits reads the limits: list.
func (l *loader) limits(n *yaml.Node, path string, p *Policy) {
	if !l.usable(n, path) || isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		l.fail(n, path, "want a list, got %s", describe(n))
		return
	}
	names := map[string]int{} // name → line of its first use
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		lim := Limit{WarnAt: DefaultWarnAt, Action: LimitAlert, Per: LimitPerPrincipal}
		before := len(l.errs)
		if !l.mapping(item, ip, map[string]field{
			"name": func(v *yaml.Node, path string) {
				if s, ok := l.str(v, path); ok {
					if msg := checkLimitName(s); msg != "" {
						l.fail(v, path, "%s", msg)
						return
					}
					if line, dup := names[s]; dup {
						l.fail(v, path, "limit name %q is already used on line %d; names must be unique", s, line)
						return
					}
					names[s] = v.Line
					lim.Name = s
				}
			},
			"principals": func(v *yaml.Node, path string) {
				lim.Principals = l.list(v, path, keep(checkPrincipalPattern))
			},
			"tags": func(v *yaml.Node, path string) {
				l.entries(v, path, func(k, v *yaml.Node, path string) {
					if msg := checkTagKey(k.Value); msg != "" {
						l.fail(k, path, "%s", msg)
						return
					}
					s, ok := l.str(v, path)
					if !ok {
						return
					}
					if utf8.RuneCountInString(s) > 256 || !utf8.ValidString(s) {
						l.fail(v, path, "tag value %q is not valid UTF-8 of at most 256 characters", s)
						return
					}
					if lim.Tags == nil {
						lim.Tags = map[string]string{}
					}
					lim.Tags[k.Value] = s
				})
			},
			"models": func(v *yaml.Node, path string) { lim.Models = l.list(v, path, keep(checkPattern)) },
			"period": func(v *yaml.Node, path string) {
				if s, ok := l.oneOf(v, path, "period", limitPeriods); ok {
					lim.Period = s
				}
			},
			"maxTokens": func(v *yaml.Node, path string) {
				if x, ok := l.integer(v, path); ok {
					lim.MaxTokens = x
				}
			},
			"maxUSD": func(v *yaml.Node, path string) {
				if x, ok := l.number(v, path); ok {
					lim.MaxUSD = x
				}
			},
			"warnAt": func(v *yaml.Node, path string) {
				if x, ok := l.number(v, path); ok {
					if x <= 0 || x >= 1 {
						l.fail(v, path, "must be a share of the limit between 0 and 1 (0.8 = 80 %%), got %s", v.Value)
						return
					}
					lim.WarnAt = x
				}
			},
			"action": func(v *yaml.Node, path string) {
				if s, ok := l.oneOf(v, path, "limit action", limitActions); ok {
					lim.Action = s
				}
			},
			"per": func(v *yaml.Node, path string) {
				if s, ok := l.oneOf(v, path, "scope", limitScopes); ok {
					lim.Per = s
				}
			},
		}) || len(l.errs) != before {
			continue
		}
		switch {
		case lim.Name == "":
			l.fail(item, ip, "name is required (letters, digits, '.', '_' and '-', e.g. \"team-a-claude\")")
		case lim.Period == "":
			l.fail(item, ip, "period is required (day, week or month)")
		case lim.MaxTokens == 0 && lim.MaxUSD == 0:
			l.fail(item, ip, "give maxTokens, maxUSD or both, above 0")
		default:
			p.Limits = append(p.Limits, lim)
		}
	}
}

// oneOf reads a string that must be one of choices, suggesting the
// nearest on a typo.
func (l *loader) oneOf(n *yaml.Node, path, what string, choices []string) (string, bool) {
	s, ok := l.str(n, path)
	if !ok {
		return "", false
	}
	for _, c := range choices {
		if s == c {
			return s, true
		}
	}
	msg := fmt.Sprintf("%q is not a %s (want %s)", s, what, orList(choices))
	if near := suggest.Closest(s, choices); near != "" {
		msg += fmt.Sprintf("; did you mean %q?", near)
	}
	l.fail(n, path, "%s", msg)
	return "", false
}

// orList writes ["a","b","c"] as "a, b or c".
func orList(choices []string) string {
	if len(choices) < 2 {
		return strings.Join(choices, "")
	}
	return strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
}

// checkLimitName validates a limit's name; "" when fine.
func checkLimitName(s string) string {
	if s == "" || len(s) > maxLimitNameLen {
		return fmt.Sprintf("limit name %q must be 1 to %d characters", s, maxLimitNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || (i > 0 && (c == '.' || c == '_' || c == '-'))) {
			return fmt.Sprintf("limit name %q: use letters, digits, '.', '_' and '-' (not first)", s)
		}
	}
	return ""
}
