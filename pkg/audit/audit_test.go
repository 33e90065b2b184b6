package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/export"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
	"github.com/bedrock-warden/warden/pkg/policy"
)

const acct = "111122223333"

// directory is an in-memory Directory for pure tests.
type directory struct {
	principals []Principal
	gone       map[string]bool
	fail       map[string]error
}

func (d *directory) Principals(context.Context) ([]Ref, error) {
	var out []Ref
	for _, p := range d.principals {
		out = append(out, Ref{ARN: p.ARN, Name: p.Name, Path: p.Path, Kind: p.Kind})
	}
	return out, nil
}

func (d *directory) Principal(_ context.Context, r Ref) (Principal, error) {
	if d.gone[r.ARN] {
		return Principal{}, fmt.Errorf("GetRole: %w", ErrGone)
	}
	if err := d.fail[r.ARN]; err != nil {
		return Principal{}, err
	}
	for _, p := range d.principals {
		if p.ARN == r.ARN {
			return p, nil
		}
	}
	return Principal{}, ErrGone
}

type scpReader struct{ scps SCPs }

func (s scpReader) SCPs(context.Context, string) (SCPs, error) { return s.scps, nil }

func mustDoc(t *testing.T, text string) iampolicy.Document {
	t.Helper()
	d, err := iampolicy.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// bedrockFullAccess is the Bedrock statement of the AWS managed policy
// AmazonBedrockFullAccess.
const bedrockFullAccess = `{"Version":"2012-10-17","Statement":[{"Sid":"BedrockAll","Effect":"Allow","Action":["bedrock:*"],"Resource":"*"},{"Sid":"APIsWithAllResourceAccess","Effect":"Allow","Action":["iam:ListRoles","ec2:DescribeVpcs"],"Resource":"*"}]}`

func role(name string, docs ...Document) Principal {
	return Principal{ARN: "arn:aws:iam::" + acct + ":role/" + name, Name: name, Path: "/", Kind: KindRole, Account: acct, Identity: docs, Tags: map[string]string{}}
}

func user(name string, docs ...Document) Principal {
	p := role(name, docs...)
	p.ARN = "arn:aws:iam::" + acct + ":user/" + name
	p.Kind = KindUser
	return p
}

func awsManaged(t *testing.T, name, text string) Document {
	return Document{Name: name, ARN: "arn:aws:iam::aws:policy/" + name, Source: SourceAWSManaged, Policy: mustDoc(t, text)}
}

func inline(t *testing.T, name, text string) Document {
	return Document{Name: name, Source: SourceInline, Policy: mustDoc(t, text)}
}

func run(t *testing.T, p *policy.Policy, scps SCPReader, ps ...Principal) *Report {
	t.Helper()
	a := &Auditor{Policy: p, PolicyName: "test", Directory: &directory{principals: ps}, SCPs: scps, Workers: 2,
		Now: func() time.Time { return time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC) }}
	rep, err := a.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func find(t *testing.T, rep *Report, arnSuffix string) PrincipalReport {
	t.Helper()
	for _, p := range append(append([]PrincipalReport{}, rep.Principals...), rep.Apart...) {
		if strings.HasSuffix(p.ARN, arnSuffix) {
			return p
		}
	}
	t.Fatalf("no principal %s in %+v", arnSuffix, rep)
	return PrincipalReport{}
}

func verdict(t *testing.T, p PrincipalReport, dim string) VerdictReport {
	t.Helper()
	for _, v := range p.Verdicts {
		if v.Dimension == dim {
			return v
		}
	}
	t.Fatalf("%s: no %s verdict in %+v", p.ARN, dim, p.Verdicts)
	return VerdictReport{}
}

func loadPolicy(t *testing.T, yaml string) *policy.Policy {
	t.Helper()
	p, err := policy.Load("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFullAccessIsAllowedEverywhere(t *testing.T) {
	rep := run(t, policy.Default(), nil, role("app-chat", awsManaged(t, "AmazonBedrockFullAccess", bedrockFullAccess)))
	p := find(t, rep, "role/app-chat")
	if !p.Exceeds || p.Risk != "critical" {
		t.Errorf("risk = %s exceeds = %v", p.Risk, p.Exceeds)
	}
	models := verdict(t, p, DimModels)
	if models.Verdict != Allowed || models.Example == nil || !strings.Contains(models.Example.Model, "opus") {
		t.Fatalf("models: %+v", models)
	}
	for _, f := range models.Families {
		if f.Verdict != Allowed {
			t.Errorf("family %s: %s", f.Family, f.Verdict)
		}
	}
	if len(models.Grants) != 1 || models.Grants[0].Sid != "BedrockAll" || models.Grants[0].Source != SourceAWSManaged {
		t.Errorf("grants: %+v", models.Grants)
	}
	if models.Fix == nil || models.Fix.Kind != "boundary" || !models.Fix.Verified {
		t.Errorf("fix: %+v", models.Fix)
	}
	for _, dim := range []string{DimRegions, DimLogging, DimGuardrails, DimModelAccess, DimCostly} {
		if v := verdict(t, p, dim); v.Verdict != Allowed {
			t.Errorf("%s: %+v", dim, v)
		}
	}
	if v := verdict(t, p, DimLogging); v.Fix == nil || v.Fix.Kind != "deny-statement" || !v.Fix.Verified || !strings.Contains(v.Fix.Document, "DeleteModelInvocationLoggingConfiguration") {
		t.Errorf("logging fix: %+v", v.Fix)
	}
	// bedrock:* does not reach iam:CreateServiceSpecificCredential.
	if v := verdict(t, p, DimAPIKeys); v.Verdict != Denied {
		t.Errorf("api-keys: %+v", v)
	}
	// The default policy restricts neither networks nor principals.
	for _, d := range rep.Dimensions {
		if (d.ID == DimNetwork || d.ID == DimPrincipals) == d.Judged {
			t.Errorf("dimension %s judged = %v (%s)", d.ID, d.Judged, d.Note)
		}
	}
	if rep.Summary.Exceeding != 1 || rep.Summary.Principals != 1 {
		t.Errorf("summary %+v", rep.Summary)
	}
}

func TestExportedBoundaryRestricts(t *testing.T) {
	p := policy.Default()
	bd, err := export.Export(p, export.Boundary, export.Options{Account: acct})
	if err != nil {
		t.Fatal(err)
	}
	r := role("app-bounded", awsManaged(t, "AmazonBedrockFullAccess", bedrockFullAccess))
	r.Boundary = &Document{Name: "warden-boundary", ARN: "arn:aws:iam::" + acct + ":policy/warden-boundary", Source: SourceManaged, Policy: bd}
	rep := run(t, p, nil, r)
	pr := find(t, rep, "role/app-bounded")
	// No model of a denied or unlisted family can be invoked; invocation
	// in the allowed regions remains.
	for dim, want := range map[string]Verdict{DimModels: Denied, DimRegions: Restricted} {
		v := verdict(t, pr, dim)
		if v.Verdict != want {
			t.Fatalf("%s: %+v", dim, v)
		}
		if !strings.Contains(v.Reason, "permissions boundary") {
			t.Errorf("%s reason %q", dim, v.Reason)
		}
	}
	// The boundary leaves the control plane to the role's own policies.
	if v := verdict(t, pr, DimLogging); v.Verdict != Allowed {
		t.Errorf("logging: %+v", v)
	}
	if pr.Boundary != "warden-boundary" {
		t.Errorf("boundary = %q", pr.Boundary)
	}
}

const networkPolicy = `
models:
  allow: ["amazon.nova-*", "anthropic.claude-3-5-sonnet-*"]
  deny: ["*opus*"]
regions:
  allow: [us-east-1, eu-west-1]
network:
  allowCidrs: ["10.0.0.0/8"]
  allowVpcEndpoints: ["vpce-0a1b2c3d4e5f60718"]
principals:
  allow: ["arn:aws:iam::*:role/app-*", "arn:aws:iam::*:user/*"]
  exempt: ["arn:aws:iam::*:role/BreakGlass*"]
apiKeys:
  allow: false
`

func TestNetworkRestricted(t *testing.T) {
	p := loadPolicy(t, networkPolicy)
	only := inline(t, "alice/from-office", `{"Version":"2012-10-17","Statement":[{"Sid":"OfficeOnly","Effect":"Allow","Action":"bedrock:InvokeModel*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`)
	open := inline(t, "bob/anywhere", `{"Version":"2012-10-17","Statement":[{"Sid":"Anywhere","Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"*"}]}`)
	rep := run(t, p, nil, user("alice", only), user("bob", open))
	alice := find(t, rep, "user/alice")
	if v := verdict(t, alice, DimNetwork); v.Verdict != Restricted || v.Example == nil || v.Example.Source == "" {
		t.Fatalf("alice network: %+v", v)
	}
	// Her policy does not restrict models or regions.
	if v := verdict(t, alice, DimModels); v.Verdict != Allowed {
		t.Errorf("alice models: %+v", v)
	}
	bob := find(t, rep, "user/bob")
	v := verdict(t, bob, DimNetwork)
	if v.Verdict != Allowed || v.Example.Source == "" || strings.HasPrefix(v.Example.Source, "10.") {
		t.Fatalf("bob network: %+v", v)
	}
	if !strings.Contains(v.Summary, "network.allowCidrs") {
		t.Errorf("summary does not give the detector's reason: %q", v.Summary)
	}
	// An inline policy is narrowed in place.
	if v.Fix == nil || v.Fix.Kind != "narrow-statement" || !v.Fix.Verified || v.Fix.Statement.Sid != "Anywhere" {
		t.Errorf("bob fix: %+v", v.Fix)
	}
	// Both are in principals.allow (users/*): the principals dimension is
	// judged and restricted... bob can invoke and is allowed to.
	if v := verdict(t, bob, DimPrincipals); v.Verdict != Restricted && v.Verdict != Denied {
		t.Errorf("bob principals: %+v", v)
	}
}

func TestPrincipalsAndAPIKeys(t *testing.T) {
	p := loadPolicy(t, networkPolicy)
	ds := role("data-science", inline(t, "data-science/invoke", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["bedrock:InvokeModel"],"Resource":"*"}]}`))
	keys := user("carol", inline(t, "carol/keys", `{"Version":"2012-10-17","Statement":[{"Sid":"OwnKeys","Effect":"Allow","Action":"iam:CreateServiceSpecificCredential","Resource":"arn:aws:iam::*:user/${aws:username}"}]}`))
	rep := run(t, p, nil, ds, keys)
	if v := verdict(t, find(t, rep, "role/data-science"), DimPrincipals); v.Verdict != Allowed {
		t.Errorf("data-science is not in principals.allow yet can invoke: %+v", v)
	}
	v := verdict(t, find(t, rep, "user/carol"), DimAPIKeys)
	if v.Verdict != Allowed || v.Example.Resources[0] != "arn:aws:iam::"+acct+":user/carol" {
		t.Fatalf("carol api keys: %+v", v)
	}
	if v.Fix == nil || !v.Fix.Verified {
		t.Errorf("carol fix: %+v", v.Fix)
	}
}

func TestUnknownNamesTheCondition(t *testing.T) {
	mfa := inline(t, "app-mfa/invoke", `{"Version":"2012-10-17","Statement":[{"Sid":"WithMFA","Effect":"Allow","Action":"bedrock:*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}`)
	rep := run(t, policy.Default(), nil, role("app-mfa", mfa))
	pr := find(t, rep, "role/app-mfa")
	v := verdict(t, pr, DimModels)
	if v.Verdict != Unknown || len(v.Undecided) == 0 || !strings.Contains(v.Undecided[0], "aws:MultiFactorAuthPresent") {
		t.Fatalf("models: %+v", v)
	}
	if !strings.Contains(v.Summary, "aws:MultiFactorAuthPresent") {
		t.Errorf("summary: %q", v.Summary)
	}
	if pr.Risk != "unknown" || pr.Exceeds || rep.Summary.Unknown != 1 {
		t.Errorf("risk %s exceeds %v summary %+v", pr.Risk, pr.Exceeds, rep.Summary)
	}
}

func TestDenyAndNotResource(t *testing.T) {
	// Allows everything but denies invocation outside the allowed models
	// with NotResource, and denies other regions: what the exported SCP
	// does, written by hand.
	guarded := inline(t, "app-guarded/invoke", `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":"bedrock:*","Resource":"*"},
	 {"Sid":"OnlyNova","Effect":"Deny","Action":["bedrock:Invoke*","bedrock:StartAsyncInvoke"],"NotResource":["arn:aws:bedrock:*::foundation-model/amazon.nova-*","arn:aws:bedrock:*:*:inference-profile/*.amazon.nova-*"]},
	 {"Sid":"OnlyUS","Effect":"Deny","Action":"bedrock:*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":["us-east-1","us-east-2","us-west-2"]}}}]}`)
	rep := run(t, policy.Default(), nil, role("app-guarded", guarded))
	pr := find(t, rep, "role/app-guarded")
	v := verdict(t, pr, DimModels)
	if v.Verdict != Denied || len(v.Blocks) == 0 || v.Blocks[0].Sid != "OnlyNova" {
		t.Fatalf("models: %+v", v)
	}
	// Profiles route us. calls to us-west-1 (not in the deny's list), which
	// regions.inference allows; the calling regions are limited to the US
	// ones: restricted. Global profiles land on "unspecified", which the
	// deny refuses.
	if v := verdict(t, pr, DimRegions); v.Verdict != Restricted {
		t.Errorf("regions: %+v", v)
	}
}

// A deny on bedrock:Invoke* misses StartAsyncInvoke, which the detector
// judges as an invocation: the audit finds the gap.
func TestInvokeWildcardMissesStartAsyncInvoke(t *testing.T) {
	leaky := inline(t, "app-leaky/invoke", `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":"bedrock:*","Resource":"*"},
	 {"Sid":"NoOpus","Effect":"Deny","Action":"bedrock:Invoke*","Resource":["arn:aws:bedrock:*::foundation-model/*opus*","arn:aws:bedrock:*:*:inference-profile/*opus*"]}]}`)
	rep := run(t, policy.Default(), nil, role("app-leaky", leaky))
	v := verdict(t, find(t, rep, "role/app-leaky"), DimModels)
	if v.Families[0].Family != "*opus*" || v.Families[0].Verdict != Allowed {
		t.Fatalf("families: %+v", v.Families)
	}
	if v.Example.Operation != "StartAsyncInvoke" || v.Example.Actions[0] != "bedrock:StartAsyncInvoke" {
		t.Errorf("example: %+v", v.Example)
	}
}

func TestSCPsIntersect(t *testing.T) {
	full := Document{Name: "FullAWSAccess", ARN: "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess", Source: SourceSCP,
		Policy: mustDoc(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)}
	guard := Document{Name: "bedrock-guard", ARN: "arn:aws:organizations::999999999999:policy/o-x/service_control_policy/p-1", Source: SourceSCP,
		Policy: mustDoc(t, `{"Version":"2012-10-17","Statement":[{"Sid":"NoOpus","Effect":"Deny","Action":["bedrock:Invoke*","bedrock:StartAsyncInvoke"],"Resource":["arn:aws:bedrock:*::foundation-model/*opus*","arn:aws:bedrock:*:*:inference-profile/*opus*"]},
		 {"Sid":"NoLogChanges","Effect":"Deny","Action":["bedrock:DeleteModelInvocationLoggingConfiguration","bedrock:PutModelInvocationLoggingConfiguration"],"Resource":"*"}]}`)}
	scps := SCPs{Applied: true, Levels: [][]Document{{full}, {full, guard}}, Targets: []string{"root r-1", "account " + acct}}
	rep := run(t, policy.Default(), scpReader{scps}, role("app", awsManaged(t, "AmazonBedrockFullAccess", bedrockFullAccess)),
		Principal{ARN: "arn:aws:iam::" + acct + ":role/aws-service-role/bedrock.amazonaws.com/AWSServiceRoleForAmazonBedrock", Name: "AWSServiceRoleForAmazonBedrock",
			Path: "/aws-service-role/bedrock.amazonaws.com/", Kind: KindRole, Identity: []Document{awsManaged(t, "AmazonBedrockFullAccess", bedrockFullAccess)}})
	if !rep.SCPs.Applied || len(rep.SCPs.Policies) != 3 {
		t.Fatalf("scps: %+v", rep.SCPs)
	}
	pr := find(t, rep, "role/app")
	models := verdict(t, pr, DimModels)
	for _, f := range models.Families {
		if (f.Family == "*opus*") != (f.Verdict != Allowed) {
			t.Errorf("family %s: %s", f.Family, f.Verdict)
		}
	}
	lg := verdict(t, pr, DimLogging)
	if lg.Verdict != Denied || len(lg.Blocks) != 1 || lg.Blocks[0].Layer != "scp" || lg.Blocks[0].Sid != "NoLogChanges" {
		t.Errorf("logging: %+v", lg)
	}
	// SCPs do not apply to service-linked roles; they are listed apart.
	sl := find(t, rep, "AWSServiceRoleForAmazonBedrock")
	if sl.Status != StatusServiceLinked || verdict(t, sl, DimLogging).Verdict != Allowed {
		t.Errorf("service-linked: %+v", sl)
	}
	if len(rep.Principals) != 1 || len(rep.Apart) != 1 {
		t.Errorf("judged %d, apart %d", len(rep.Principals), len(rep.Apart))
	}
}

func TestApartAndRiskOrder(t *testing.T) {
	p := loadPolicy(t, networkPolicy)
	fa := awsManaged(t, "AmazonBedrockFullAccess", bedrockFullAccess)
	logsOnly := inline(t, "app-ops/logs", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:PutModelInvocationLoggingConfiguration","Resource":"*"}]}`)
	costly := inline(t, "app-ml/train", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:CreateModelCustomizationJob","Resource":"*"}]}`)
	protected := role("app-protected", fa)
	protected.Tags["bedrock-warden:protected"] = ""
	rep := run(t, p, nil, role("app-ml", costly), role("BreakGlassAdmin", fa), protected, role("app-ops", logsOnly), role("app-none"))
	var order []string
	for _, pr := range rep.Principals {
		order = append(order, pr.Name+":"+pr.Risk)
	}
	want := "app-ops:critical app-ml:medium app-none:none"
	if strings.Join(order, " ") != want {
		t.Errorf("order = %v, want %s", order, want)
	}
	if len(rep.Apart) != 2 {
		t.Fatalf("apart: %+v", rep.Apart)
	}
	for _, pr := range rep.Apart {
		switch pr.Name {
		case "BreakGlassAdmin":
			if pr.Status != StatusExempt || !pr.Exceeds {
				t.Errorf("break glass: %+v", pr)
			}
		case "app-protected":
			if pr.Status != StatusProtected {
				t.Errorf("protected: %+v", pr)
			}
		}
	}
	if rep.Summary.Exceeding != 2 || rep.Summary.Apart != 2 {
		t.Errorf("summary: %+v", rep.Summary)
	}
}

func TestReadErrorsAndGone(t *testing.T) {
	d := &directory{principals: []Principal{role("a"), role("b"), role("c", inline(t, "c/bad", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringLikeish":{"k":"v"}}}]}`))},
		gone: map[string]bool{"arn:aws:iam::" + acct + ":role/a": true},
		fail: map[string]error{"arn:aws:iam::" + acct + ":role/b": fmt.Errorf("throttled")}}
	rep, err := (&Auditor{Policy: policy.Default(), Directory: d}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "role/a was deleted") {
		t.Errorf("notes: %v", rep.Notes)
	}
	if len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "throttled") {
		t.Errorf("errors: %v", rep.Errors)
	}
	c := find(t, rep, "role/c")
	if c.Error == "" || !strings.Contains(c.Error, "c/bad") {
		t.Errorf("bad document: %+v", c)
	}
}

func TestFilterAndCancel(t *testing.T) {
	d := &directory{principals: []Principal{role("app-1"), role("app-2"), role("other")}}
	a := &Auditor{Policy: policy.Default(), Directory: d, Filter: func(r Ref) bool { return strings.Contains(r.Name, "app-") }}
	rep, err := a.Run(context.Background())
	if err != nil || len(rep.Principals) != 2 || rep.Account != acct {
		t.Fatalf("filter: %v %+v", err, rep)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&Auditor{Policy: policy.Default(), Directory: d}).Run(ctx); err == nil {
		t.Error("a cancelled run reports no error")
	}
}

// TestFixesCloseWhenApplied applies every verified fix the audit proposes
// and audits again: the dimension is no longer allowed.
func TestFixesCloseWhenApplied(t *testing.T) {
	p := loadPolicy(t, networkPolicy)
	fa := awsManaged(t, "AmazonBedrockFullAccess", bedrockFullAccess)
	broad := Document{Name: "app-broad/all", Source: SourceManaged, ARN: "arn:aws:iam::" + acct + ":policy/all",
		Policy: mustDoc(t, `{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":"bedrock:List*","Resource":"*"},{"Sid":"All","Effect":"Allow","Action":["bedrock:*","iam:CreateServiceSpecificCredential"],"Resource":"*"}]}`)}
	keys := inline(t, "carol/keys", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:CreateServiceSpecificCredential","Resource":"*"}]}`)
	principals := []Principal{role("app-full", fa), role("app-broad", broad), user("carol", keys), role("data-science", fa)}
	rep := run(t, p, nil, principals...)
	bd, err := export.Export(p, export.Boundary, export.Options{Account: acct})
	if err != nil {
		t.Fatal(err)
	}
	iamPolicy, err := export.Export(p, export.IAMPolicy, export.Options{Account: acct})
	if err != nil {
		t.Fatal(err)
	}
	applied := 0
	for _, pr := range rep.Principals {
		for _, v := range pr.Verdicts {
			if v.Verdict != Allowed {
				continue
			}
			if v.Fix == nil || !v.Fix.Verified {
				t.Errorf("%s %s: no verified fix: %+v", pr.Name, v.Dimension, v.Fix)
				continue
			}
			var fixed Principal
			for _, x := range principals {
				if x.ARN == pr.ARN {
					fixed = x
				}
			}
			fixed.Identity = append([]Document{}, fixed.Identity...)
			switch v.Fix.Kind {
			case "boundary":
				fixed.Boundary = &Document{Name: "warden-boundary", Source: SourceManaged, Policy: bd}
			case "deny-statement":
				fixed.Identity = append(fixed.Identity, inline(t, "deny", v.Fix.Document))
			case "narrow-statement":
				for i, d := range fixed.Identity {
					if d.Name == v.Fix.Statement.Policy {
						d.Policy.Statement = slices.Delete(slices.Clone(d.Policy.Statement), v.Fix.Statement.Index, v.Fix.Statement.Index+1)
						fixed.Identity[i] = d
					}
				}
				fixed.Identity = append(fixed.Identity, Document{Name: "warden-identity", Source: SourceManaged, Policy: iamPolicy})
			default:
				t.Errorf("%s %s: fix kind %s not applied by this test", pr.Name, v.Dimension, v.Fix.Kind)
				continue
			}
			again := run(t, p, nil, fixed)
			if w := verdict(t, find(t, again, pr.Name), v.Dimension); w.Verdict == Allowed {
				t.Errorf("%s %s: fix %s applied, still allowed: %s", pr.Name, v.Dimension, v.Fix.Kind, w.Summary)
			}
			applied++
		}
	}
	if applied < 10 {
		t.Errorf("only %d fixes applied", applied)
	}
}

// TestSharedVerdictsRenderedPerPrincipal: roles with the same
// Bedrock-relevant policies share one computation, but each report names
// its own policies and its own role.
func TestSharedVerdictsRenderedPerPrincipal(t *testing.T) {
	p := loadPolicy(t, networkPolicy)
	mk := func(name string) Principal {
		return role(name,
			Document{Name: name + "/bedrock", Source: SourceInline, Policy: mustDoc(t, `{"Version":"2012-10-17","Statement":[{"Sid":"Invoke","Effect":"Allow","Action":"bedrock:*","Resource":"*"}]}`)},
			Document{Name: name + "/data", Source: SourceInline, Policy: mustDoc(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data-`+name+`/*"}]}`)})
	}
	a, b := mk("ml-a"), mk("ml-b")
	j1, _ := mustPlan(t, p).newJudgement(a)
	j2, _ := mustPlan(t, p).newJudgement(b)
	if j1.shareKey() == "" || j1.shareKey() != j2.shareKey() {
		t.Fatalf("share keys %q %q", j1.shareKey(), j2.shareKey())
	}
	rep := run(t, p, nil, a, b)
	for _, name := range []string{"ml-a", "ml-b"} {
		pr := find(t, rep, "role/"+name)
		v := verdict(t, pr, DimPrincipals)
		if v.Verdict != Allowed || !strings.Contains(v.Summary, `"arn:aws:iam::`+acct+`:role/`+name+`"`) {
			t.Errorf("%s principals summary: %q", name, v.Summary)
		}
		if v.Grants[0].Policy != name+"/bedrock" || v.Fix == nil || !strings.Contains(v.Fix.Summary, name+"/bedrock") {
			t.Errorf("%s grants %+v fix %+v", name, v.Grants, v.Fix)
		}
		if lg := verdict(t, pr, DimLogging); lg.Fix == nil || lg.Fix.Kind != "narrow-statement" || !strings.Contains(lg.Fix.Summary, name+"/bedrock") {
			t.Errorf("%s logging fix: %+v", name, lg.Fix)
		}
	}
	// Commands name each principal.
	fa := awsManaged(t, "AmazonBedrockFullAccess", bedrockFullAccess)
	rep = run(t, p, nil, role("app-x", fa), role("app-y", fa))
	for _, name := range []string{"app-x", "app-y"} {
		if lg := verdict(t, find(t, rep, "role/"+name), DimLogging); !strings.Contains(lg.Fix.Command, "--role-name "+name+" ") {
			t.Errorf("%s logging fix command: %q", name, lg.Fix.Command)
		}
	}
	// A condition on the principal makes its verdicts its own.
	c := mk("ml-c")
	c.Identity[0] = Document{Name: "ml-c/bedrock", Source: SourceInline, Policy: mustDoc(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"ml"}}}]}`)}
	if j, _ := mustPlan(t, p).newJudgement(c); j.shareKey() != "" {
		t.Error("a statement reading the principal's tags is shared")
	}
}

func mustPlan(t *testing.T, p *policy.Policy) *plan {
	t.Helper()
	pl, err := newPlan(p, acct, "", SCPs{}, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return pl
}
