package normalize

import (
	"strings"

	"github.com/bedrock-warden/warden/pkg/decode"
)

// Role path prefixes that mark special roles.
const (
	identityCenterPath = "/aws-reserved/sso.amazonaws.com/"
	serviceLinkedPath  = "/aws-service-role/"
	// identityCenterRolePrefix starts the name of every role IAM Identity
	// Center creates for a permission set.
	identityCenterRolePrefix = "AWSReservedSSO_"
)

// present returns s trimmed, or "" when s is a placeholder that stands for
// an absent value in published samples: "[REDACTED]", "[…]" or "...".
func present(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		return ""
	}
	if s == "..." || s == "…" {
		return ""
	}
	return s
}

// principal interprets userIdentity.
//
// ARN is the identity to judge and to remediate:
//   - IAMUser: the user ARN.
//   - AssumedRole: the role ARN from sessionContext.sessionIssuer.arn. When
//     the issuer is absent it is derived from the sts ARN
//     "arn:PART:sts::ACCT:assumed-role/NAME/SESSION" as
//     "arn:PART:iam::ACCT:role/NAME". That role's IAM path is unknown: the
//     derived ARN omits it and Path is "" (unknown), so a role with a path
//     will not match a policy pattern written with the path. A role whose
//     name starts with "AWSReservedSSO_" is still marked IdentityCenter.
//   - Root: the root ARN; when the record omits it, it is built as
//     "arn:aws:iam::ACCOUNT:root" (partition assumed to be aws).
//   - AWSService: the service name in invokedBy (e.g. "bedrock.amazonaws.com").
//   - FederatedUser: the sts federated-user ARN as written; the IAM user
//     that called GetFederationToken is in sessionContext.sessionIssuer and
//     is not copied into Principal.
//   - IdentityCenterUser, WebIdentityUser, SAMLUser, AWSAccount: userIdentity.arn
//     when it is an ARN (usually absent), else "".
//
// Values that are placeholders ("[REDACTED]") count as absent; RawARN keeps
// userIdentity.arn as written. When userIdentity.type is missing the type
// is inferred from the ARN (user/, assumed-role/, root, federated-user/),
// else it is Unknown.
func principal(ui *decode.UserIdentity) Principal {
	p := Principal{
		RawARN:      ui.ARN,
		AccessKeyID: present(ui.AccessKeyID),
		PrincipalID: present(ui.PrincipalID),
		InvokedBy:   present(ui.InvokedBy),
		Account:     present(ui.AccountID),
	}
	arn := present(ui.ARN)
	a, isARN := splitARN(arn)
	if !isARN {
		arn = ""
	}
	if p.Account == "" && isARN {
		p.Account = a.account
	}
	var issuer *decode.SessionIssuer
	if sc := ui.SessionContext; sc != nil {
		p.MFA = strings.EqualFold(strings.TrimSpace(sc.Attributes.MFAAuthenticated), "true")
		issuer = sc.SessionIssuer
	}

	p.Type = principalType(present(ui.Type), a, isARN)
	switch p.Type {
	case PrincipalIAMUser:
		p.ARN = arn
		p.Name = present(ui.UserName)
		if isARN && a.service == "iam" {
			if path, name, ok := splitPathName(a.resource, "user/"); ok {
				p.Path = path
				if p.Name == "" {
					p.Name = name
				}
			}
		}
	case PrincipalAssumedRole:
		assumedRole(&p, a, isARN, issuer)
	case PrincipalRoot:
		p.ARN = arn
		if p.ARN == "" && p.Account != "" {
			p.ARN = "arn:aws:iam::" + p.Account + ":root"
		}
		p.Name = present(ui.UserName)
		p.Path = "/"
	case PrincipalAWSService:
		p.ARN = p.InvokedBy
		p.Name = p.InvokedBy
	case PrincipalFederatedUser:
		p.ARN = arn
		p.Path = "/"
		if isARN {
			if name, ok := strings.CutPrefix(a.resource, "federated-user/"); ok && name != "" {
				p.Name, p.SessionName = name, name
			}
		}
		if p.Name == "" {
			// principalId is "ACCOUNT:NAME" for federated users.
			if _, name, ok := strings.Cut(p.PrincipalID, ":"); ok {
				name = present(name)
				p.Name, p.SessionName = name, name
			}
		}
	default:
		p.ARN = arn
		p.Name = present(ui.UserName)
	}
	return p
}

// principalType maps userIdentity.type to a PrincipalType, inferring it
// from the ARN when the type is missing.
func principalType(t string, a arnParts, isARN bool) PrincipalType {
	switch t {
	case "IAMUser":
		return PrincipalIAMUser
	case "AssumedRole":
		return PrincipalAssumedRole
	case "Root":
		return PrincipalRoot
	case "FederatedUser":
		return PrincipalFederatedUser
	case "AWSService":
		return PrincipalAWSService
	case "AWSAccount":
		return PrincipalAWSAccount
	case "IdentityCenterUser":
		return PrincipalIdentityCtr
	case "WebIdentityUser":
		return PrincipalWebIdentity
	case "SAMLUser":
		return PrincipalSAMLUser
	case "":
		if !isARN {
			return PrincipalUnknown
		}
		switch {
		case a.service == "iam" && strings.HasPrefix(a.resource, "user/"):
			return PrincipalIAMUser
		case a.service == "iam" && a.resource == "root":
			return PrincipalRoot
		case a.service == "sts" && strings.HasPrefix(a.resource, "assumed-role/"):
			return PrincipalAssumedRole
		case a.service == "sts" && strings.HasPrefix(a.resource, "federated-user/"):
			return PrincipalFederatedUser
		}
	}
	return PrincipalUnknown
}

// assumedRole fills the role identity of an AssumedRole principal.
func assumedRole(p *Principal, a arnParts, isARN bool, issuer *decode.SessionIssuer) {
	// The assumed-role ARN gives the role name and the session name:
	// arn:PART:sts::ACCT:assumed-role/NAME/SESSION.
	var roleFromSTS string
	if isARN && a.service == "sts" {
		if rest, ok := strings.CutPrefix(a.resource, "assumed-role/"); ok {
			name, session, _ := strings.Cut(rest, "/")
			roleFromSTS = present(name)
			p.SessionName = present(session)
		}
	}
	if p.SessionName == "" {
		// principalId is "AROA…:SESSION" for assumed roles.
		if _, s, ok := strings.Cut(p.PrincipalID, ":"); ok {
			p.SessionName = present(s)
		}
	}
	if issuer != nil {
		if ia, ok := splitARN(present(issuer.ARN)); ok && ia.service == "iam" {
			if path, name, ok := splitPathName(ia.resource, "role/"); ok {
				p.ARN = present(issuer.ARN)
				p.Path = path
				p.Name = name
				if p.Account == "" {
					p.Account = ia.account
				}
			}
		}
		if p.Name == "" {
			p.Name = present(issuer.UserName)
		}
	}
	if p.ARN == "" && roleFromSTS != "" {
		p.Name = roleFromSTS
		p.ARN = "arn:" + a.partition + ":iam::" + a.account + ":role/" + roleFromSTS
		// Path unknown: see principal.
	}
	if p.Name == "" {
		p.Name = roleFromSTS
	}
	p.IdentityCenter = strings.HasPrefix(p.Path, identityCenterPath) ||
		strings.HasPrefix(p.Name, identityCenterRolePrefix)
	p.ServiceLinked = strings.HasPrefix(p.Path, serviceLinkedPath)
}

// splitPathName splits an IAM resource "user/PATH/NAME" or "role/PATH/NAME"
// (kind is "user/" or "role/") into the path ("/" when none, else
// "/PATH/") and the name.
func splitPathName(resource, kind string) (path, name string, ok bool) {
	rest, found := strings.CutPrefix(resource, kind)
	if !found || rest == "" {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return "/", rest, true
	}
	name = rest[i+1:]
	if name == "" {
		return "", "", false
	}
	// "role/a/b/NAME" has path "/a/b/": the resource from the slash that
	// ends kind (no copy).
	return resource[len(kind)-1 : len(kind)+i+1], name, true
}

// PrincipalOfARN interprets a bare caller ARN, such as the identity.arn of
// a Bedrock model invocation log record, the way principal interprets a
// CloudTrail userIdentity that carries only that ARN: an IAM user ARN is
// kept; an STS assumed-role session ARN becomes its role's ARN (path
// unknown: Path is "", and the ARN has none); a root ARN is kept. The
// type is inferred from the ARN.
func PrincipalOfARN(arn string) Principal {
	return principal(&decode.UserIdentity{ARN: arn})
}
