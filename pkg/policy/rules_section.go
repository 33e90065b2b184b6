package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/suggest"
	"gopkg.in/yaml.v3"
)

// DefaultDeniedErrorCodes are the errorCode values that make an invocation
// a refused or probing call (rule denied-invocation) unless the policy
// lists its own under rules.denied-invocation.errorCodes. The
// authorisation refusals are there, and ValidationException: an attacker
// sends a deliberately invalid body (max_tokens_to_sample: -1) and reads
// the validation error as "this key may use the model", without paying for
// a token. ResourceNotFoundException counts only with an "access denied"
// message (Bedrock's answer for a legacy or unsubscribed model); a plain
// missing model is a typo, not a probe.
var DefaultDeniedErrorCodes = []string{
	"AccessDenied",
	"AccessDeniedException",
	"UnauthorizedOperation",
	"ValidationException",
	"ResourceNotFoundException",
}

// DefaultReconWindow is rules.recon-then-invoke.window when not given.
const DefaultReconWindow = time.Hour

// Bounds of rules.recon-then-invoke.window: below a minute CloudTrail's
// own delivery jitter decides; past a week the state kept per key grows
// for little gain.
const (
	minReconWindow = time.Minute
	maxReconWindow = 7 * 24 * time.Hour
)

// knownErrorCodes are error codes Bedrock and IAM answer with, for "did
// you mean" on rules.denied-invocation.errorCodes. A code not listed here
// is accepted as written (CloudTrail may record codes this list lacks);
// one a typo away from a known code is an error.
var knownErrorCodes = slices.Concat(DefaultDeniedErrorCodes, []string{
	"Client.UnauthorizedOperation",
	"ThrottlingException",
	"TooManyRequestsException",
	"ServiceQuotaExceededException",
	"ServiceUnavailableException",
	"InternalServerException",
	"ModelNotReadyException",
	"ModelTimeoutException",
	"ModelErrorException",
	"ModelStreamErrorException",
	"ConflictException",
})

// ruleOnlyKeys are the keys of the rules: section that belong to one rule.
var ruleOnlyKeys = map[string]string{
	"errorCodes": findings.RuleDeniedInvocation,
	"window":     findings.RuleReconThenInvoke,
}

// rules reads the rules: section: per rule, enabled and severity, and the
// keys only one rule has (errorCodes, window).
func (l *loader) rules(n *yaml.Node, path string, p *Policy) {
	l.entries(n, path, func(k, v *yaml.Node, path string) {
		if msg := checkRuleID(k.Value); msg != "" {
			l.fail(k, path, "%s", msg)
			return
		}
		rule := k.Value
		var s RuleSetting
		fields := map[string]field{
			"enabled": func(v *yaml.Node, path string) {
				if b, ok := l.boolean(v, path); ok {
					s.Enabled = &b
				}
			},
			"severity": func(v *yaml.Node, path string) {
				if str, ok := l.str(v, path); ok {
					if !findings.Severity(str).Valid() {
						l.fail(v, path, "%q is not a severity (want info, low, medium, high or critical)", str)
						return
					}
					s.Severity = str
				}
			},
		}
		for key, owner := range ruleOnlyKeys {
			if owner != rule {
				fields[key] = func(v *yaml.Node, path string) {
					l.fail(v, path, "%s applies only to rules.%s", key, owner)
				}
			}
		}
		if rule == findings.RuleDeniedInvocation {
			fields["errorCodes"] = func(v *yaml.Node, path string) { s.ErrorCodes = l.errorCodes(v, path) }
		}
		if rule == findings.RuleReconThenInvoke {
			fields["window"] = func(v *yaml.Node, path string) {
				if d, ok := l.duration(v, path); ok {
					if d.D() < minReconWindow || d.D() > maxReconWindow {
						l.fail(v, path, "must be between 1m and 7d, got %s", d)
						return
					}
					s.Window = d
				}
			}
		}
		if l.mapping(v, path, fields) {
			if p.Rules == nil {
				p.Rules = map[string]RuleSetting{}
			}
			p.Rules[rule] = s
		}
	})
}

// errorCodes reads rules.denied-invocation.errorCodes: a non-empty list of
// distinct error codes, each letters, digits and dots.
func (l *loader) errorCodes(n *yaml.Node, path string) []string {
	if l.usable(n, path) && (isNull(n) || (n.Kind == yaml.SequenceNode && len(n.Content) == 0)) {
		l.fail(n, path, "must name at least one error code (to turn the rule off, write enabled: false)")
		return nil
	}
	seen := map[string]bool{}
	return l.list(n, path, func(s string) (string, string) {
		if msg := checkErrorCode(s); msg != "" {
			return "", msg
		}
		if seen[s] {
			return "", fmt.Sprintf("error code %q is listed twice", s)
		}
		seen[s] = true
		return s, ""
	})
}

// checkErrorCode validates one error code; "" when fine.
func checkErrorCode(s string) string {
	if s == "" || len(s) > 128 {
		return fmt.Sprintf("%q is not an error code (want e.g. \"AccessDeniedException\")", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.') {
			return fmt.Sprintf("%q is not an error code: letters, digits and dots only (want e.g. \"AccessDeniedException\")", s)
		}
	}
	if slices.Contains(knownErrorCodes, s) {
		return ""
	}
	if near := suggest.Closest(s, knownErrorCodes); near != "" {
		return fmt.Sprintf("unknown error code %q (did you mean %q? CloudTrail's codes are case-sensitive)", s, near)
	}
	return ""
}

// DeniedErrorCode reports whether an invocation that ended with code and
// message is a refused or probing call for rule denied-invocation: code is
// in rules.denied-invocation.errorCodes (DefaultDeniedErrorCodes when not
// set); a "Client." prefix (EC2-style) is ignored; ResourceNotFoundException
// counts only when accessDeniedMessage is set.
func (p *Policy) DeniedErrorCode(code string, accessDeniedMessage bool) bool {
	if code == "" {
		return false
	}
	codes := p.Rules[findings.RuleDeniedInvocation].ErrorCodes
	if codes == nil {
		codes = DefaultDeniedErrorCodes
	}
	bare := strings.TrimPrefix(code, "Client.")
	for _, c := range codes {
		if c == code || c == bare {
			return c != "ResourceNotFoundException" || accessDeniedMessage
		}
	}
	return false
}

// ReconWindow returns rules.recon-then-invoke.window, DefaultReconWindow
// when not set.
func (p *Policy) ReconWindow() time.Duration {
	if w := p.Rules[findings.RuleReconThenInvoke].Window; w > 0 {
		return w.D()
	}
	return DefaultReconWindow
}
