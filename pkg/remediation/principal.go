package remediation

import (
	"fmt"
	"strings"

	"github.com/bedrock-warden/warden/pkg/findings"
)

// ParsePrincipal turns a normalised principal ARN (an IAM user or role ARN;
// an STS assumed-role ARN is accepted and mapped to its role, with the path
// unknown until IAM is read) into a Principal. Root and anything else is an
// error.
func ParsePrincipal(arn string) (Principal, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" {
		return Principal{}, fmt.Errorf("principal %q: not an ARN", arn)
	}
	p := Principal{ARN: arn, Partition: parts[1], Account: parts[4]}
	res := parts[5]
	switch parts[2] {
	case "iam":
		kind, rest, ok := strings.Cut(res, "/")
		if !ok || rest == "" {
			return Principal{}, fmt.Errorf("principal %q: not an IAM user or role", arn)
		}
		switch kind {
		case "user":
			p.Kind = KindUser
		case "role":
			p.Kind = KindRole
		default:
			return Principal{}, fmt.Errorf("principal %q: IAM %s is not a user or role", arn, kind)
		}
		i := strings.LastIndex(rest, "/")
		p.Name = rest[i+1:]
		p.Path = "/" + rest[:i+1]
		if i < 0 {
			p.Path = "/"
		}
	case "sts":
		kind, rest, _ := strings.Cut(res, "/")
		if kind != "assumed-role" {
			return Principal{}, fmt.Errorf("principal %q: STS %s is not an assumed role", arn, kind)
		}
		name, _, _ := strings.Cut(rest, "/")
		p.Kind, p.Name = KindRole, name
		p.ARN = "arn:" + p.Partition + ":iam::" + p.Account + ":role/" + name
	default:
		return Principal{}, fmt.Errorf("principal %q: service %s is not IAM", arn, parts[2])
	}
	if p.Name == "" {
		return Principal{}, fmt.Errorf("principal %q: no name", arn)
	}
	return p, nil
}

// Exempter says whether a principal ARN is in the policy's
// principals.exempt; *policy.Policy satisfies it.
type Exempter interface {
	PrincipalExempt(arn string) bool
}

// Guard holds what decides that a principal must never be touched.
type Guard struct {
	Policy       Exempter
	ProtectedTag string   // default "bedrock-warden:protected"; any value protects
	OwnRoleARNs  []string // the stack's own roles
	StackName    string   // principals named "<stack>-…" are the stack's; any under /bedrock-warden/ belong to a stack
	// Account is the account the remediator's credentials act in. A finding
	// about a principal of another account (events forwarded from member
	// accounts) is refused: IAM calls by name would reach a same-named
	// principal here.
	Account string
}

// identityCenterAdvice tells on-call what to do for an IAM Identity Center
// role, which IAM changes would not stick to.
const identityCenterAdvice = "this role is managed by IAM Identity Center: changes made in IAM are overwritten. " +
	"In Identity Center, remove the user's assignment to the permission set (or edit the permission set's policies) " +
	"for this account, and revoke the user's active sessions there."

// Screen decides, from the finding alone, whether the principal may be
// acted on. It returns the parsed principal, or a refusal reason (and
// advice for a person when there is something better to do).
func (g Guard) Screen(f findings.Finding) (p Principal, refused, advice string) {
	if f.PrincipalType == "Root" || strings.HasSuffix(f.Principal, ":root") {
		return Principal{ARN: f.Principal}, "the principal is the account root user, which remediation never touches",
			"secure the root user by hand: rotate its password, remove any root access keys, check MFA"
	}
	p, err := ParsePrincipal(f.Principal)
	if err != nil {
		return Principal{ARN: f.Principal}, "the principal is not an IAM user or role: " + err.Error(), ""
	}
	if r, a := g.screenPrincipal(p, f.Principal); r != "" {
		return p, r, a
	}
	return p, "", ""
}

func (g Guard) screenPrincipal(p Principal, original string) (refused, advice string) {
	if g.Account != "" && p.Account != g.Account {
		return "the principal is in account " + p.Account + "; this remediator acts only in its own account " + g.Account,
			"remediate it from a Bedrock Warden stack deployed in account " + p.Account + " (see docs/deploy.md, a whole organisation)"
	}
	if strings.HasPrefix(p.Path, "/aws-service-role/") {
		return "the principal is a service-linked role", ""
	}
	if strings.HasPrefix(p.Path, "/aws-reserved/sso.amazonaws.com/") || strings.HasPrefix(p.Name, "AWSReservedSSO_") {
		return "the principal is an IAM Identity Center role", identityCenterAdvice
	}
	if g.Policy != nil && (g.Policy.PrincipalExempt(p.ARN) || (original != p.ARN && g.Policy.PrincipalExempt(original))) {
		return "the principal is in the policy's principals.exempt", ""
	}
	for _, own := range g.OwnRoleARNs {
		if own != "" && own == p.ARN {
			return "the principal is one of Bedrock Warden's own roles", ""
		}
	}
	// Every Bedrock Warden stack keeps its roles under /bedrock-warden/
	// (the remediator role's IAM deny says the same): none is ever touched,
	// whichever stack this remediator belongs to.
	if strings.HasPrefix(p.Path, "/bedrock-warden/") {
		return "the principal is a role of a Bedrock Warden stack (path " + p.Path + ")", ""
	}
	if g.StackName != "" && strings.HasPrefix(p.Name, g.StackName+"-") {
		return "the principal belongs to the Bedrock Warden stack " + g.StackName, ""
	}
	return "", ""
}

func (g Guard) protectedTag() string {
	if g.ProtectedTag != "" {
		return g.ProtectedTag
	}
	return "bedrock-warden:protected"
}

// ScreenState repeats the screen with what IAM says (the path, which an
// assumed-role ARN does not carry) and checks the protected tag.
func (g Guard) ScreenState(st State) (refused, advice string) {
	if r, a := g.screenPrincipal(st.Principal, st.Principal.ARN); r != "" {
		return r, a
	}
	// Any value protects, as the remediator role's IAM deny does
	// (a Null condition on aws:ResourceTag/<tag>).
	tag := g.protectedTag()
	if _, ok := st.Tags[tag]; ok {
		return "the principal carries the protected tag " + tag, ""
	}
	return "", ""
}
