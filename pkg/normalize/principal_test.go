package normalize

import (
	"testing"

	"github.com/bedrock-warden/warden/pkg/decode"
)

func TestPrincipal(t *testing.T) {
	tests := []struct {
		name string
		ui   decode.UserIdentity
		want Principal
	}{
		{
			name: "IAM user",
			ui: decode.UserIdentity{
				Type: "IAMUser", PrincipalID: "AIDAEXAMPLE", ARN: "arn:aws:iam::111122223333:user/alice",
				AccountID: "111122223333", AccessKeyID: "AKIAEXAMPLE", UserName: "alice",
			},
			want: Principal{
				Type: PrincipalIAMUser, ARN: "arn:aws:iam::111122223333:user/alice", RawARN: "arn:aws:iam::111122223333:user/alice",
				Name: "alice", Path: "/", Account: "111122223333", AccessKeyID: "AKIAEXAMPLE", PrincipalID: "AIDAEXAMPLE",
			},
		},
		{
			name: "IAM user with path, no userName, no accountId",
			ui:   decode.UserIdentity{Type: "IAMUser", ARN: "arn:aws:iam::111122223333:user/dev/team/bob"},
			want: Principal{
				Type: PrincipalIAMUser, ARN: "arn:aws:iam::111122223333:user/dev/team/bob", RawARN: "arn:aws:iam::111122223333:user/dev/team/bob",
				Name: "bob", Path: "/dev/team/", Account: "111122223333",
			},
		},
		{
			name: "assumed role with session issuer and MFA",
			ui: decode.UserIdentity{
				Type: "AssumedRole", PrincipalID: "AROAEXAMPLE:alice-session", ARN: "arn:aws:sts::111122223333:assumed-role/Deployer/alice-session",
				AccountID: "111122223333", AccessKeyID: "ASIAEXAMPLE",
				SessionContext: &decode.SessionContext{
					Attributes: decode.SessionAttributes{MFAAuthenticated: "true"},
					SessionIssuer: &decode.SessionIssuer{
						Type: "Role", PrincipalID: "AROAEXAMPLE", ARN: "arn:aws:iam::111122223333:role/ops/Deployer",
						AccountID: "111122223333", UserName: "Deployer",
					},
				},
			},
			want: Principal{
				Type: PrincipalAssumedRole, ARN: "arn:aws:iam::111122223333:role/ops/Deployer",
				RawARN: "arn:aws:sts::111122223333:assumed-role/Deployer/alice-session",
				Name:   "Deployer", Path: "/ops/", SessionName: "alice-session", Account: "111122223333",
				AccessKeyID: "ASIAEXAMPLE", PrincipalID: "AROAEXAMPLE:alice-session", MFA: true,
			},
		},
		{
			name: "assumed role without session issuer derives the role ARN",
			ui: decode.UserIdentity{
				Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/LambdaExec/fn-session",
			},
			want: Principal{
				Type: PrincipalAssumedRole, ARN: "arn:aws:iam::111122223333:role/LambdaExec",
				RawARN: "arn:aws:sts::111122223333:assumed-role/LambdaExec/fn-session",
				Name:   "LambdaExec", SessionName: "fn-session", Account: "111122223333",
			},
		},
		{
			name: "assumed role in aws-cn without issuer keeps the partition",
			ui:   decode.UserIdentity{Type: "AssumedRole", ARN: "arn:aws-cn:sts::111122223333:assumed-role/R/s"},
			want: Principal{
				Type: PrincipalAssumedRole, ARN: "arn:aws-cn:iam::111122223333:role/R",
				RawARN: "arn:aws-cn:sts::111122223333:assumed-role/R/s", Name: "R", SessionName: "s", Account: "111122223333",
			},
		},
		{
			name: "Identity Center role",
			ui: decode.UserIdentity{
				Type: "AssumedRole", ARN: "arn:aws:sts::123123123123:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/dr.evil@example.com",
				AccountID: "123123123123",
				SessionContext: &decode.SessionContext{
					Attributes: decode.SessionAttributes{MFAAuthenticated: "false"},
					SessionIssuer: &decode.SessionIssuer{
						Type: "Role", ARN: "arn:aws:iam::123123123123:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123456789abcdef",
						UserName: "AWSReservedSSO_Admin_0123456789abcdef",
					},
				},
			},
			want: Principal{
				Type: PrincipalAssumedRole, ARN: "arn:aws:iam::123123123123:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123456789abcdef",
				RawARN: "arn:aws:sts::123123123123:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/dr.evil@example.com",
				Name:   "AWSReservedSSO_Admin_0123456789abcdef", Path: "/aws-reserved/sso.amazonaws.com/eu-west-1/",
				SessionName: "dr.evil@example.com", Account: "123123123123", IdentityCenter: true,
			},
		},
		{
			name: "Identity Center role without issuer recognised by name",
			ui:   decode.UserIdentity{Type: "AssumedRole", ARN: "arn:aws:sts::123123123123:assumed-role/AWSReservedSSO_Dev_abc/jane"},
			want: Principal{
				Type: PrincipalAssumedRole, ARN: "arn:aws:iam::123123123123:role/AWSReservedSSO_Dev_abc",
				RawARN: "arn:aws:sts::123123123123:assumed-role/AWSReservedSSO_Dev_abc/jane",
				Name:   "AWSReservedSSO_Dev_abc", SessionName: "jane", Account: "123123123123", IdentityCenter: true,
			},
		},
		{
			name: "service-linked role",
			ui: decode.UserIdentity{
				Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForAmazonBedrock/bedrock",
				InvokedBy: "bedrock.amazonaws.com",
				SessionContext: &decode.SessionContext{SessionIssuer: &decode.SessionIssuer{
					Type: "Role", ARN: "arn:aws:iam::111122223333:role/aws-service-role/bedrock.amazonaws.com/AWSServiceRoleForAmazonBedrock",
				}},
			},
			want: Principal{
				Type: PrincipalAssumedRole, ARN: "arn:aws:iam::111122223333:role/aws-service-role/bedrock.amazonaws.com/AWSServiceRoleForAmazonBedrock",
				RawARN: "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForAmazonBedrock/bedrock",
				Name:   "AWSServiceRoleForAmazonBedrock", Path: "/aws-service-role/bedrock.amazonaws.com/", SessionName: "bedrock",
				Account: "111122223333", InvokedBy: "bedrock.amazonaws.com", ServiceLinked: true,
			},
		},
		{
			name: "root",
			ui: decode.UserIdentity{
				Type: "Root", PrincipalID: "123456789012", ARN: "arn:aws:iam::123456789012:root", AccountID: "123456789012",
				SessionContext: &decode.SessionContext{Attributes: decode.SessionAttributes{MFAAuthenticated: "false"}},
			},
			want: Principal{
				Type: PrincipalRoot, ARN: "arn:aws:iam::123456789012:root", RawARN: "arn:aws:iam::123456789012:root",
				Path: "/", Account: "123456789012", PrincipalID: "123456789012",
			},
		},
		{
			name: "root without ARN gets one from the account",
			ui:   decode.UserIdentity{Type: "Root", AccountID: "123456789012"},
			want: Principal{Type: PrincipalRoot, ARN: "arn:aws:iam::123456789012:root", Path: "/", Account: "123456789012"},
		},
		{
			name: "AWS service",
			ui:   decode.UserIdentity{Type: "AWSService", InvokedBy: "bedrock.amazonaws.com"},
			want: Principal{Type: PrincipalAWSService, ARN: "bedrock.amazonaws.com", Name: "bedrock.amazonaws.com", InvokedBy: "bedrock.amazonaws.com"},
		},
		{
			name: "federated user",
			ui: decode.UserIdentity{
				Type: "FederatedUser", PrincipalID: "111122223333:carol", ARN: "arn:aws:sts::111122223333:federated-user/carol",
				AccountID: "111122223333", AccessKeyID: "ASIAFED",
				SessionContext: &decode.SessionContext{SessionIssuer: &decode.SessionIssuer{
					Type: "IAMUser", ARN: "arn:aws:iam::111122223333:user/broker", UserName: "broker",
				}},
			},
			want: Principal{
				Type: PrincipalFederatedUser, ARN: "arn:aws:sts::111122223333:federated-user/carol",
				RawARN: "arn:aws:sts::111122223333:federated-user/carol", Name: "carol", Path: "/", SessionName: "carol",
				Account: "111122223333", AccessKeyID: "ASIAFED", PrincipalID: "111122223333:carol",
			},
		},
		{
			name: "Identity Center user",
			ui:   decode.UserIdentity{Type: "IdentityCenterUser", AccountID: "111122223333", CredentialID: "cred"},
			want: Principal{Type: PrincipalIdentityCtr, Account: "111122223333"},
		},
		{
			name: "web identity user",
			ui: decode.UserIdentity{
				Type: "WebIdentityUser", PrincipalID: "accounts.google.com:app:user", UserName: "user",
				IdentityProvider: "accounts.google.com",
			},
			want: Principal{Type: PrincipalWebIdentity, Name: "user", PrincipalID: "accounts.google.com:app:user"},
		},
		{
			name: "SAML user",
			ui:   decode.UserIdentity{Type: "SAMLUser", PrincipalID: "SAMLID:dave", UserName: "dave"},
			want: Principal{Type: PrincipalSAMLUser, Name: "dave", PrincipalID: "SAMLID:dave"},
		},
		{
			name: "AWS account",
			ui:   decode.UserIdentity{Type: "AWSAccount", PrincipalID: "AIDAX", AccountID: "444455556666"},
			want: Principal{Type: PrincipalAWSAccount, Account: "444455556666", PrincipalID: "AIDAX"},
		},
		{
			name: "unknown type",
			ui:   decode.UserIdentity{Type: "SomethingNew", ARN: "arn:aws:iam::111122223333:user/x"},
			want: Principal{Type: PrincipalUnknown, ARN: "arn:aws:iam::111122223333:user/x", RawARN: "arn:aws:iam::111122223333:user/x", Account: "111122223333"},
		},
		{
			name: "empty identity",
			ui:   decode.UserIdentity{},
			want: Principal{Type: PrincipalUnknown},
		},
		{
			name: "missing type inferred from an assumed-role ARN",
			ui:   decode.UserIdentity{ARN: "arn:aws:sts::111122223333:assumed-role/R/s"},
			want: Principal{
				Type: PrincipalAssumedRole, ARN: "arn:aws:iam::111122223333:role/R", RawARN: "arn:aws:sts::111122223333:assumed-role/R/s",
				Name: "R", SessionName: "s", Account: "111122223333",
			},
		},
		{
			name: "redacted IAM user",
			ui: decode.UserIdentity{
				Type: "IAMUser", PrincipalID: "[REDACTED]", ARN: "[REDACTED]", AccountID: "[REDACTED]",
				AccessKeyID: "[REDACTED]", UserName: "[REDACTED]",
			},
			want: Principal{Type: PrincipalIAMUser, RawARN: "[REDACTED]"},
		},
		{
			name: "redacted assumed role",
			ui: decode.UserIdentity{
				Type: "AssumedRole", ARN: "[REDACTED]", PrincipalID: "AROAX:[REDACTED]",
				SessionContext: &decode.SessionContext{SessionIssuer: &decode.SessionIssuer{ARN: "[REDACTED]", UserName: "[REDACTED]"}},
			},
			want: Principal{Type: PrincipalAssumedRole, RawARN: "[REDACTED]", PrincipalID: "AROAX:[REDACTED]"},
		},
		{
			name: "malformed ARNs do not crash",
			ui: decode.UserIdentity{
				Type: "AssumedRole", ARN: "arn:aws:sts::1:assumed-role/",
				SessionContext: &decode.SessionContext{SessionIssuer: &decode.SessionIssuer{ARN: "arn:aws:iam::1:role/"}},
			},
			want: Principal{Type: PrincipalAssumedRole, RawARN: "arn:aws:sts::1:assumed-role/", Account: "1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := principal(&tt.ui)
			if got != tt.want {
				t.Errorf("principal()\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSplitPathName(t *testing.T) {
	tests := []struct {
		resource, kind, path, name string
		ok                         bool
	}{
		{"role/R", "role/", "/", "R", true},
		{"role/a/b/R", "role/", "/a/b/", "R", true},
		{"role/", "role/", "", "", false},
		{"role/a/", "role/", "", "", false},
		{"user/u", "role/", "", "", false},
	}
	for _, tt := range tests {
		path, name, ok := splitPathName(tt.resource, tt.kind)
		if path != tt.path || name != tt.name || ok != tt.ok {
			t.Errorf("splitPathName(%q, %q) = %q, %q, %v; want %q, %q, %v", tt.resource, tt.kind, path, name, ok, tt.path, tt.name, tt.ok)
		}
	}
}

func TestPrincipalOfARN(t *testing.T) {
	for arn, want := range map[string]struct {
		typ        PrincipalType
		arn, name  string
		path       string
		identityCt bool
	}{
		"arn:aws:sts::123456789012:assumed-role/team-a-app/i-0abc":        {PrincipalAssumedRole, "arn:aws:iam::123456789012:role/team-a-app", "team-a-app", "", false},
		"arn:aws:iam::123456789012:user/dev/dheeraj":                      {PrincipalIAMUser, "arn:aws:iam::123456789012:user/dev/dheeraj", "dheeraj", "/dev/", false},
		"arn:aws:iam::123456789012:root":                                  {PrincipalRoot, "arn:aws:iam::123456789012:root", "", "/", false},
		"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev_01/al": {PrincipalAssumedRole, "arn:aws:iam::123456789012:role/AWSReservedSSO_Dev_01", "AWSReservedSSO_Dev_01", "", true},
		"not an arn": {PrincipalUnknown, "", "", "", false},
	} {
		p := PrincipalOfARN(arn)
		if p.Type != want.typ || p.ARN != want.arn || p.Name != want.name || p.Path != want.path || p.IdentityCenter != want.identityCt || p.RawARN != arn {
			t.Errorf("PrincipalOfARN(%q) = %+v", arn, p)
		}
	}
}
