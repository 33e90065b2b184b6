package hubpub

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/alerts"
	"github.com/bedrock-warden/warden/pkg/findings"
)

func sample(at time.Time, suppressed string) findings.Finding {
	p := "arn:aws:iam::123456789012:role/app-chat"
	return findings.Finding{
		Rule: findings.RuleUnauthorizedModel, Severity: findings.High,
		Title:   "role/app-chat invoked anthropic.claude-3-opus-20240229-v1:0 in us-east-1: model not allowed",
		EventID: "ev-" + at.Format("150405"), EventName: "InvokeModel", EventTime: at, Account: "123456789012", Region: "us-east-1",
		Principal: p, PrincipalType: "AssumedRole", Model: "anthropic.claude-3-opus-20240229-v1:0", BaseModel: "anthropic.claude-3-opus-20240229-v1:0",
		SourceIP: "10.20.30.40", Reason: `model "anthropic.claude-3-opus-20240229-v1:0" matches models.deny "*opus*"`,
		Details:     map[string]string{alerts.DetailSuppressed: suppressed},
		Fingerprint: findings.Fingerprint(findings.RuleUnauthorizedModel, p, "anthropic.claude-3-opus-20240229-v1:0", "us-east-1"),
	}
}

// TestImportUpdateArchive against moto's Security Hub: one finding per
// incident, updated (not duplicated) by the next alert, keeping its first
// CreatedAt; archived by Resolve; the self-test's archived from the start.
func TestImportUpdateArchive(t *testing.T) {
	srv := motoserver.Start(t)
	cfg := srv.Config(t)
	now := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	p := New(cfg, Options{Stack: "bw", Account: "123456789012", Region: "us-east-1", Now: func() time.Time { return now }})
	ctx := context.Background()
	client := securityhub.NewFromConfig(cfg)
	all := func() []types.AwsSecurityFinding {
		out, err := client.GetFindings(ctx, &securityhub.GetFindingsInput{})
		if err != nil {
			t.Fatal(err)
		}
		return out.Findings
	}

	first := sample(time.Date(2026, 11, 20, 14, 3, 11, 0, time.UTC), "0")
	if err := p.Import(ctx, []findings.Finding{first}); err != nil {
		t.Fatal(err)
	}
	got := all()
	if len(got) != 1 {
		t.Fatalf("%d findings", len(got))
	}
	f := got[0]
	if aws.ToString(f.Id) != "bedrock-warden/bw/"+first.Fingerprint || aws.ToString(f.ProductArn) != "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default" ||
		aws.ToString(f.GeneratorId) != "bedrock-warden/unauthorized-model" || f.Severity.Label != types.SeverityLabelHigh ||
		aws.ToString(f.CreatedAt) != "2026-11-20T14:03:11.000Z" || f.RecordState != types.RecordStateActive || len(f.Types) != 1 {
		t.Fatalf("finding = %+v", f)
	}
	if len(f.Resources) != 2 || aws.ToString(f.Resources[0].Type) != "AwsIamRole" || aws.ToString(f.Resources[0].Id) != first.Principal ||
		aws.ToString(f.Resources[1].Id) != first.BaseModel {
		t.Fatalf("resources = %+v", f.Resources)
	}
	if !strings.Contains(aws.ToString(f.Remediation.Recommendation.Text), "Confirm with the principal's owner") ||
		!strings.Contains(aws.ToString(f.Description), "Why: model") || len(aws.ToString(f.Title)) > maxTitle {
		t.Fatalf("texts: %q / %q", aws.ToString(f.Description), aws.ToString(f.Remediation.Recommendation.Text))
	}

	// The next alert of the same incident, an hour later.
	now = now.Add(time.Hour)
	if err := p.Import(ctx, []findings.Finding{sample(time.Date(2026, 11, 20, 15, 30, 0, 0, time.UTC), "12")}); err != nil {
		t.Fatal(err)
	}
	got = all()
	if len(got) != 1 {
		t.Fatalf("repeat made %d findings, want 1 (updated)", len(got))
	}
	if aws.ToString(got[0].CreatedAt) != "2026-11-20T14:03:11.000Z" || aws.ToString(got[0].UpdatedAt) != "2026-11-20T16:00:00.000Z" ||
		got[0].ProductFields["bedrock-warden/suppressedSince"] != "12" || aws.ToString(got[0].LastObservedAt) != "2026-11-20T15:30:00.000Z" {
		t.Fatalf("updated finding = %+v", got[0])
	}

	// Undo archives it.
	if err := p.Resolve(ctx, first.Fingerprint, "remediation X undone by on-call"); err != nil {
		t.Fatal(err)
	}
	got = all()
	if len(got) != 1 || got[0].RecordState != types.RecordStateArchived || got[0].ProductFields["bedrock-warden/resolution"] != "remediation X undone by on-call" {
		t.Fatalf("after resolve: %+v", got)
	}
	// Resolving an incident never imported is no error.
	if err := p.Resolve(ctx, "0000", "nothing"); err != nil {
		t.Fatal(err)
	}

	// The self-test's finding: imported archived; Imported sees it.
	st := findings.Finding{Rule: findings.RuleSelfTest, Severity: findings.Info, Title: "Self-test", Principal: "arn:aws:iam::123456789012:role/bedrock-warden/bw/bedrock-warden-selftest",
		Details: map[string]string{findings.DetailSynthetic: "true"}, Fingerprint: "selftestfp"}
	if err := p.Import(ctx, []findings.Finding{st}); err != nil {
		t.Fatal(err)
	}
	if ok, err := p.Imported(ctx, "selftestfp"); !ok || err != nil {
		t.Fatalf("Imported: %v %v", ok, err)
	}
	for _, f := range all() {
		if aws.ToString(f.Id) == p.FindingID("selftestfp") && (f.RecordState != types.RecordStateArchived || f.Severity.Label != types.SeverityLabelInformational) {
			t.Fatalf("selftest finding = %+v", f)
		}
	}
}

// TestASFFLimits: long texts are cut to Security Hub's limits, a finding
// without principal or model still names a resource.
func TestASFFLimits(t *testing.T) {
	p := &Publisher{Opts: Options{Stack: "bw", Account: "1", Region: "us-east-1"}}
	f := findings.Finding{Rule: findings.RulePipelineSilent, Severity: findings.High, Title: strings.Repeat("é", 400), Reason: strings.Repeat("r", 2000), Fingerprint: "x"}
	a := p.ASFF(f, time.Now())
	if len(aws.ToString(a.Title)) > maxTitle || len(aws.ToString(a.Description)) > maxDesc || len(a.Resources) != 1 || aws.ToString(a.Resources[0].Id) != "bedrock-warden/bw" {
		t.Fatalf("asff = %d %d %+v", len(aws.ToString(a.Title)), len(aws.ToString(a.Description)), a.Resources)
	}
	if a.Types[0] != "Software and Configuration Checks/AWS Security Best Practices/Bedrock Warden health" {
		t.Fatalf("types = %v", a.Types)
	}
	for _, r := range findings.Catalogue {
		if parts := strings.Split(typeOf(r.ID), "/"); len(parts) != 3 {
			t.Errorf("%s: type %q is not namespace/category/classifier", r.ID, typeOf(r.ID))
		}
	}
}
