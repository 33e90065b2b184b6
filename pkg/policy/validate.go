package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/suggest"
)

// Remediation actions a remediation.actions entry may name.
const (
	ActionQuarantine         = "quarantine"          // attach a deny-Bedrock policy to the principal
	ActionDetach             = "detach"              // detach the policies that grant Bedrock access
	ActionRevokeSessions     = "revoke-sessions"     // deny sessions issued before now (roles)
	ActionDisableCredentials = "disable-credentials" // deactivate the access key or API key used
)

// Actions lists every remediation action, in documentation order.
var Actions = []string{ActionQuarantine, ActionDetach, ActionRevokeSessions, ActionDisableCredentials}

// noPrincipalRules are rules whose findings are not about one principal's
// act (aggregates and health checks): no remediation may be attached.
var noPrincipalRules = map[string]bool{
	findings.RuleBudgetWarning:          true,
	findings.RuleBudgetExceeded:         true,
	findings.RulePipelineSilent:         true,
	findings.RuleRemediationBreakerOpen: true,
	findings.RulePolicyRejected:         true,
	findings.RuleSelfTest:               true,
}

// credentialRules are rules about a credential being used to invoke a model
// (or to scout for one to invoke: model-recon, recon-then-invoke); only they
// may carry disable-credentials, which targets the access key or API key
// that made the call. Control-plane changes are answered on the
// principal instead.
var credentialRules = map[string]bool{
	findings.RuleUnauthorizedModel:     true,
	findings.RuleUnauthorizedRegion:    true,
	findings.RuleUnauthorizedSourceIP:  true,
	findings.RuleUnauthorizedPrincipal: true,
	findings.RuleAPIKeyUsed:            true,
	findings.RuleDeniedInvocation:      true,
	findings.RuleModelRecon:            true,
	findings.RuleReconThenInvoke:       true,
	findings.RuleInvocationSpike:       true,
}

// ActionAllowed reports whether remediation.actions may map rule to action,
// and if not, why.
func ActionAllowed(rule, action string) error {
	known := false
	for _, a := range Actions {
		if a == action {
			known = true
		}
	}
	switch {
	case !known:
		return fmt.Errorf("%q is not a remediation action (want one of %s)", action, strings.Join(Actions, ", "))
	case rule == findings.RuleLimitWarning || rule == findings.RuleLimitExceeded:
		return fmt.Errorf("rule %q takes its action from the limit (limits[].action: alert or block), not from remediation.actions", rule)
	case noPrincipalRules[rule]:
		return fmt.Errorf("rule %q is not about one principal, so it cannot carry a remediation", rule)
	case rule == findings.RuleOverPermissioned:
		return fmt.Errorf("rule %q reports a standing permission, not an act: apply the fix `warden audit` names instead", rule)
	case action == ActionDisableCredentials && !credentialRules[rule]:
		return fmt.Errorf("%q applies only to rules about an invocation's credential, not to %q", action, rule)
	}
	return nil
}

// regionWords are the direction words AWS region names use. Requiring one
// (rather than any [a-z]+) is what turns "us-esat-1" into an error while
// still accepting regions that do not exist yet in a new country code.
var regionWords = map[string]bool{
	"east": true, "west": true, "north": true, "south": true, "central": true,
	"northeast": true, "northwest": true, "southeast": true, "southwest": true,
}

// validRegion reports whether s has the syntax of an AWS region name:
// ^[a-z]{2}(-gov|-iso[a-z]*)?-<direction>-[0-9]+$ ("us-east-1",
// "us-gov-west-1", "us-isob-east-1", "il-central-1", "ap-southeast-5"),
// where <direction> is one of regionWords. It does not use regexp, so it
// is cheap enough for any path.
func validRegion(s string) bool {
	parts := strings.Split(s, "-")
	switch len(parts) {
	case 3:
	case 4:
		q := parts[1]
		if q != "gov" && (!strings.HasPrefix(q, "iso") || !lowerWord(q[3:], true)) {
			return false
		}
	default:
		return false
	}
	cc, word, num := parts[0], parts[len(parts)-2], parts[len(parts)-1]
	if len(cc) != 2 || !lowerWord(cc, false) || !regionWords[word] || num == "" || len(num) > 3 {
		return false
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return false
		}
	}
	return true
}

// lowerWord reports whether s is made of a-z only (and non-empty unless
// emptyOK).
func lowerWord(s string, emptyOK bool) bool {
	if s == "" {
		return emptyOK
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

// checkPattern validates a model or principal glob; "" when fine.
// checkPrincipalPattern is checkPattern for principals.allow and
// principals.exempt: principals are judged by their IAM user or role ARN
// (the role behind an assumed-role session), so an STS assumed-role pattern
// could never match.
func checkPrincipalPattern(s string) string {
	if msg := checkPattern(s); msg != "" {
		return msg
	}
	if strings.Contains(s, ":sts:") || strings.Contains(s, "assumed-role/") {
		return fmt.Sprintf("pattern %q is an STS session ARN, which never matches: principals are judged by their role, e.g. \"arn:aws:iam::*:role/NAME\"", s)
	}
	// The short form the check table prints ("role/app-chat") is not what
	// a pattern matches: the principal is its whole ARN (or, for an AWS
	// service, its name such as bedrock.amazonaws.com).
	for _, kind := range []string{"role/", "user/", "root"} {
		if strings.HasPrefix(s, kind) {
			return fmt.Sprintf("pattern %q never matches: principals are matched by their whole ARN; write \"arn:aws:iam::*:%s\"", s, s)
		}
	}
	return ""
}

// classPattern explains a glob that uses a character class ([35]) or
// alternatives ({a,b}), which IAM-style globs do not have: the brackets
// would only ever match themselves.
func classPattern(s string) string {
	i := strings.IndexAny(s, "[{")
	if i < 0 {
		if strings.ContainsAny(s, "]}") {
			return fmt.Sprintf("pattern %q: globs have only * and ?, no [ ] or { }", s)
		}
		return ""
	}
	closer := map[byte]byte{'[': ']', '{': '}'}[s[i]]
	j := strings.IndexByte(s[i:], closer)
	if j < 0 {
		return fmt.Sprintf("pattern %q: globs have only * and ?, no [ ] or { }", s)
	}
	inner := s[i+1 : i+j]
	var alts []string
	if s[i] == '{' {
		alts = strings.Split(inner, ",")
	} else {
		for k := 0; k < len(inner); k++ {
			if k+2 < len(inner) && inner[k+1] == '-' && inner[k] <= inner[k+2] && inner[k+2]-inner[k] < 26 {
				for c := inner[k]; c <= inner[k+2]; c++ {
					alts = append(alts, string(c))
				}
				k += 2
				continue
			}
			alts = append(alts, string(inner[k]))
		}
	}
	if len(alts) == 0 || len(alts) > 10 {
		return fmt.Sprintf("pattern %q: globs have only * and ?, no character classes or alternatives: write one pattern per alternative", s)
	}
	var out []string
	for _, a := range alts {
		out = append(out, fmt.Sprintf("%q", s[:i]+a+s[i+j+1:]))
	}
	return fmt.Sprintf("pattern %q: globs have only * and ?, no character classes or alternatives: write one pattern per alternative: [%s]", s, strings.Join(out, ", "))
}

func checkPattern(s string) string {
	switch {
	case s == "":
		return "pattern must not be empty"
	case strings.TrimSpace(s) != s:
		return fmt.Sprintf("pattern %q has leading or trailing spaces", s)
	case !utf8.ValidString(s):
		return fmt.Sprintf("pattern %q is not valid UTF-8", s)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fmt.Sprintf("pattern %q contains whitespace or a control character", s)
		}
	}
	return classPattern(s)
}

// checkRegion validates a region name; "" when fine.
func checkRegion(s string) string {
	if validRegion(s) {
		return ""
	}
	return fmt.Sprintf("%q is not an AWS region", s)
}

// canonicalCIDR validates s (a prefix or a bare address) and returns it in
// canonical form: masked, and IPv4-mapped IPv6 prefixes written as IPv4 so
// they match the unmapped addresses SourceIPAllowed compares.
func canonicalCIDR(s string) (string, string) {
	if strings.Contains(s, "%") {
		return "", fmt.Sprintf("%q: zoned addresses are not allowed", s)
	}
	pfx, err := parseCIDR(s)
	if err != nil || !pfx.IsValid() {
		return "", fmt.Sprintf("%q is not a CIDR prefix or IP address", s)
	}
	if a := pfx.Addr(); a.Is4In6() && pfx.Bits() >= 96 {
		pfx = netip.PrefixFrom(a.Unmap(), pfx.Bits()-96)
	}
	return pfx.String(), ""
}

// checkVPCE validates a VPC endpoint id ("vpce-" and 8 to 17 lowercase hex
// digits); "" when fine.
func checkVPCE(s string) string {
	hex, ok := strings.CutPrefix(s, "vpce-")
	if ok && len(hex) >= 8 && len(hex) <= 17 {
		good := true
		for i := 0; i < len(hex); i++ {
			c := hex[i]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				good = false
			}
		}
		if good {
			return ""
		}
	}
	return fmt.Sprintf("%q is not a VPC endpoint id (want \"vpce-\" and 8 to 17 hex digits)", s)
}

// checkTagKey validates an IAM tag key: 1 to 128 characters, letters,
// digits, spaces and _ . : / = + - @, not starting with "aws:".
func checkTagKey(s string) string {
	switch {
	case s == "":
		return "tag key must not be empty"
	case utf8.RuneCountInString(s) > 128:
		return fmt.Sprintf("tag key %q is longer than 128 characters", s)
	case strings.HasPrefix(strings.ToLower(s), "aws:"):
		return fmt.Sprintf("tag key %q uses the reserved prefix \"aws:\"", s)
	case !utf8.ValidString(s):
		return fmt.Sprintf("tag key %q is not valid UTF-8", s)
	}
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || strings.ContainsRune("_.:/=+-@", r) {
			continue
		}
		return fmt.Sprintf("tag key %q contains %q (allowed: letters, digits, spaces and _ . : / = + - @)", s, r)
	}
	return ""
}

// ruleIDs returns every catalogue rule id.
func ruleIDs() []string {
	ids := make([]string, len(findings.Catalogue))
	for i, r := range findings.Catalogue {
		ids[i] = r.ID
	}
	return ids
}

// checkRuleID validates a rule id against the catalogue; "" when fine.
func checkRuleID(id string) string {
	if _, ok := findings.Lookup(id); ok {
		return ""
	}
	msg := fmt.Sprintf("unknown rule %q", id)
	if s := suggest.Closest(id, ruleIDs()); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg
}
