package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/alerts/hubpub"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/remediation"
	"github.com/bedrock-warden/warden/pkg/remediation/iamstate"
	"github.com/bedrock-warden/warden/pkg/remediation/ledgerdb"
	"github.com/bedrock-warden/warden/pkg/remediation/ssmmode"
	"github.com/bedrock-warden/warden/pkg/seal"
	"github.com/bedrock-warden/warden/pkg/seal/kmsmac"
)

// remCLI runs `warden remediation ARGS` against srv and returns stdout,
// stderr and the exit status.
func remCLI(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	sio := &IO{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] }}
	code := run(context.Background(), append([]string{"remediation"}, args...), sio)
	return out.String(), errOut.String(), code
}

// useMoto points the CLI's AWS clients at srv.
func useMoto(t *testing.T, srv *motoserver.Server) {
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
}

func TestRemediationCLI(t *testing.T) {
	srv := motoserver.Start(t)
	useMoto(t, srv)
	now := time.Date(2026, 11, 24, 10, 30, 0, 0, time.UTC)
	remNow = func() time.Time { return now }
	t.Cleanup(func() { remNow = time.Now })
	ledgerKey := srv.CreateHMACKey(t, "ledger")
	bw := srv.CreateStack(t, "bw", motoserver.StackOptions{LedgerKey: ledgerKey, Parameters: map[string]string{"EnableSecurityHub": "true"}})
	table := bw.Outputs["StateTableName"]
	env := map[string]string{"WARDEN_STACK": "bw"}

	out, errOut, code := remCLI(t, env, "status")
	if code != exitOK || !strings.Contains(out, "Mode:     dry-run  [/bedrock-warden/bw/remediation/mode]") || !strings.Contains(out, "closed") {
		t.Fatalf("status: %d %q %q", code, out, errOut)
	}
	out, _, code = remCLI(t, env, "set", "enforce")
	if code != exitOK || !strings.Contains(out, "/bedrock-warden/bw/remediation/mode to enforce (was dry-run) for stack bw") {
		t.Fatalf("set: %d %q", code, out)
	}
	if _, _, code := remCLI(t, env, "set", "yolo"); code != exitUsage {
		t.Errorf("set yolo: exit %d", code)
	}
	out, _, code = remCLI(t, env, "status", "--json")
	var st remStatusReport
	if code != exitOK || json.Unmarshal([]byte(out), &st) != nil || st.Mode != remediation.ModeEnforce || !st.ModeSet {
		t.Fatalf("status --json: %d %q", code, out)
	}

	// One enforce action through the real remediator, so there is
	// something to list and undo.
	cfg := srv.Config(t)
	ctx := context.Background()
	iamc := iam.NewFromConfig(cfg)
	role, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("app"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	key := kmsmac.New(cfg, ledgerKey)
	store := ledgerdb.New(cfg, table, seal.Records{Gen: key, Check: key})
	client := iamstate.New(cfg)
	rem := &remediation.Remediator{
		Config: remediation.Config{Actions: map[string]string{findings.RuleUnauthorizedRegion: remediation.ActionQuarantine}, MaxActionsPerHour: 10,
			Guard: remediation.Guard{Account: "123456789012"}},
		Mode: &remediation.ModeCache{Store: ssmmode.New(cfg, "bw"), Now: func() time.Time { return now }},
		IAM:  client, Applier: remediation.Applier{IAM: client, Sleep: func(time.Duration) {}},
		Ledger: store, Claims: store, Breaker: store, Now: func() time.Time { return now },
	}
	arn := aws.ToString(role.Role.Arn)
	f := findings.Finding{Rule: findings.RuleUnauthorizedRegion, Principal: arn, PrincipalType: "AssumedRole", Account: "123456789012", Region: "eu-west-1",
		Fingerprint: findings.Fingerprint(findings.RuleUnauthorizedRegion, arn, "", "eu-west-1")}
	rec, err := rem.Handle(ctx, f)
	if err != nil || rec.Result != remediation.ResultApplied {
		t.Fatalf("seed: %+v %v", rec, err)
	}

	out, _, code = remCLI(t, env, "list", "--since", "1h", "--principal", arn)
	if code != exitOK || !strings.Contains(out, rec.ID) || !strings.Contains(out, "1 record since") {
		t.Fatalf("list: %d %q", code, out)
	}
	out, _, code = remCLI(t, env, "list", "--principal", "arn:aws:iam::123456789012:role/other", "--json")
	if code != exitOK || strings.TrimSpace(out) != "[]" {
		t.Fatalf("list other principal: %d %q", code, out)
	}
	out, _, code = remCLI(t, env, "status")
	if !strings.Contains(out, "1/10 enforce actions in account 123456789012") || !strings.Contains(out, "Last hour: 1 enforce action,") {
		t.Errorf("status after one action: %q", out)
	}

	// A stack deployed without the remediator has no ledger key output.
	srv.CreateStack(t, "bw-noremediator", motoserver.StackOptions{})
	if _, errOut, code := remCLI(t, map[string]string{"WARDEN_STACK": "bw-noremediator"}, "undo", rec.ID); code != exitUsage ||
		!strings.Contains(errOut, "no LedgerKeyArn output") || !strings.Contains(errOut, "EnableRemediator=false") {
		t.Errorf("undo without the ledger key: %d %q", code, errOut)
	}
	// The incident is in Security Hub (the alerting functions imported
	// it); undo archives it.
	hub := hubpub.New(cfg, hubpub.Options{Stack: "bw", Account: "123456789012", Region: "us-east-1"})
	if err := hub.Import(ctx, []findings.Finding{f}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = remCLI(t, env, "undo", rec.ID)
	if code != exitOK || !strings.Contains(out, "Undid "+rec.ID) || !strings.Contains(out, "Verified:  true") || !strings.Contains(out, "Archived the incident's Security Hub finding") {
		t.Fatalf("undo: %d %q %q", code, out, errOut)
	}
	shf, err := securityhub.NewFromConfig(cfg).GetFindings(ctx, &securityhub.GetFindingsInput{})
	if err != nil || len(shf.Findings) != 1 || shf.Findings[0].RecordState != shtypes.RecordStateArchived {
		t.Fatalf("security hub after undo: %+v %v", shf, err)
	}
	pols, err := iamc.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("app")})
	if err != nil || len(pols.PolicyNames) != 0 {
		t.Fatalf("quarantine still there after CLI undo: %v %v", pols.PolicyNames, err)
	}
	if _, errOut, code := remCLI(t, env, "undo", rec.ID); code != exitUsage || !strings.Contains(errOut, "already undone") {
		t.Errorf("second undo: %d %q", code, errOut)
	}

	out, _, code = remCLI(t, env, "breaker", "reset", "--json")
	var reset map[string]any
	if code != exitOK || json.Unmarshal([]byte(out), &reset) != nil || reset["previousCount"] != float64(1) {
		t.Fatalf("breaker reset: %d %q", code, out)
	}
	out, _, _ = remCLI(t, env, "status")
	if !strings.Contains(out, "0/10 enforce actions") {
		t.Errorf("status after reset: %q", out)
	}

	for _, bad := range [][]string{{}, {"frobnicate"}, {"undo"}, {"breaker", "open"}, {"list", "--since", "yesterday-ish"}} {
		if _, _, code := remCLI(t, env, bad...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", bad, code, exitUsage)
		}
	}
	if _, errOut, code := remCLI(t, map[string]string{}, "status"); code != exitUsage || !strings.Contains(errOut, "WARDEN_STACK") {
		t.Errorf("missing stack: %d %q", code, errOut)
	}
}

// TestRemediationRefusesAnUnknownStack is the toggle that cannot miss:
// `WARDEN_STACK=bedrock-wardn warden remediation set off` names no stack;
// it must exit 2, say which stack was meant, and create no parameter.
func TestRemediationRefusesAnUnknownStack(t *testing.T) {
	srv := motoserver.Start(t)
	useMoto(t, srv)
	srv.CreateStack(t, "bedrock-warden", motoserver.StackOptions{})
	srv.CreateStack(t, "no-toggle", motoserver.StackOptions{NoModeParameter: true})
	ssmc := ssm.NewFromConfig(srv.Config(t))
	ctx := context.Background()

	for _, sub := range [][]string{{"set", "off"}, {"status"}, {"list"}, {"breaker", "reset"}, {"undo", "20261124T103000.000000000Z-0d37f580"}} {
		_, errOut, code := remCLI(t, map[string]string{"WARDEN_STACK": "bedrock-wardn"}, sub...)
		if code != exitUsage || !strings.Contains(errOut, `stack "bedrock-wardn" does not exist`) || !strings.Contains(errOut, `did you mean "bedrock-warden"?`) {
			t.Errorf("%v on a mistyped stack: exit %d, %q", sub, code, errOut)
		}
		if strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: want one line, got %q", sub, errOut)
		}
	}
	if _, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/bedrock-warden/bedrock-wardn/remediation/mode")}); err == nil {
		t.Fatal("a stray mode parameter was created for the mistyped stack")
	}
	_, errOut, code := remCLI(t, map[string]string{}, "set", "off", "--stack", "elsewhere")
	if code != exitUsage || !strings.Contains(errOut, "Bedrock Warden stacks there: bedrock-warden, no-toggle") {
		t.Errorf("unrelated name: %d %q", code, errOut)
	}

	// A stack whose toggle parameter was deleted: set refuses rather than
	// creating a parameter by hand.
	_, errOut, code = remCLI(t, map[string]string{"WARDEN_STACK": "no-toggle"}, "set", "enforce")
	if code != exitUsage || !strings.Contains(errOut, "does not exist: nothing was changed") || !strings.Contains(errOut, "RemediationModeParameterName") {
		t.Errorf("set without the parameter: %d %q", code, errOut)
	}
	if _, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/bedrock-warden/no-toggle/remediation/mode")}); err == nil {
		t.Fatal("set created the mode parameter")
	}

	// An AWS error names the resource and the fix: the table was deleted.
	out := srv.CreateStack(t, "gone", motoserver.StackOptions{})
	if _, err := dynamodb.NewFromConfig(srv.Config(t)).DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(out.Outputs["StateTableName"])}); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = remCLI(t, map[string]string{"WARDEN_STACK": "gone"}, "list")
	if code != exitUsage || !strings.Contains(errOut, out.Outputs["StateTableName"]) || !strings.Contains(errOut, "StateTableName output") || !strings.Contains(errOut, "not found") {
		t.Errorf("list on a deleted table: %d %q", code, errOut)
	}
}

// TestRemediationUndoRefusesForgedRecord is attack 1 of the trust-boundary
// review through the CLI: someone with dynamodb:PutItem on the table
// writes a ledger record whose "removed" steps are an admin inline policy
// and an admin managed policy on a role of their choice. `warden
// remediation undo` run by on-call must refuse it (exit 2) and change
// nothing in IAM.
func TestRemediationUndoRefusesForgedRecord(t *testing.T) {
	srv := motoserver.Start(t)
	useMoto(t, srv)
	cfg := srv.Config(t)
	ctx := context.Background()
	bw := srv.CreateStack(t, "bw", motoserver.StackOptions{LedgerKey: srv.CreateHMACKey(t, "ledger")})
	env := map[string]string{"WARDEN_STACK": "bw"}
	iamc := iam.NewFromConfig(cfg)
	if _, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("attacker"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)}); err != nil {
		t.Fatal(err)
	}
	adminPolicy, err := iamc.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("CorpAdmin"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 10, 30, 0, 0, time.UTC)
	p, _ := remediation.ParsePrincipal("arn:aws:iam::123456789012:role/attacker")
	admin := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	steps := []remediation.Step{
		{Kind: remediation.StepDeleteInline, PolicyName: "admin", Document: admin},
		{Kind: remediation.StepDetachManaged, PolicyARN: aws.ToString(adminPolicy.Policy.Arn)},
	}
	forged := remediation.Record{ID: remediation.NewID(now), Time: now, Mode: remediation.ModeEnforce, Action: "detach",
		Result: remediation.ResultApplying, Principal: p.ARN, Plan: remediation.Plan{Action: "detach", Principal: p, Steps: steps},
		Before: &remediation.Before{Managed: []string{aws.ToString(adminPolicy.Policy.Arn)}, Inline: []remediation.InlinePolicy{{Name: "admin", Document: admin}}}}
	// The attacker has no ledger key: a plain PutItem of the record.
	body, _ := remediation.MarshalRecord(forged)
	item, err := ledgerdb.RecordKey(forged.ID)
	if err != nil {
		t.Fatal(err)
	}
	item["id"] = &ddbtypes.AttributeValueMemberS{Value: forged.ID}
	item["record"] = &ddbtypes.AttributeValueMemberS{Value: string(body)}
	if _, err := dynamodb.NewFromConfig(cfg).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(bw.Outputs["StateTableName"]), Item: item}); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := remCLI(t, env, "undo", forged.ID)
	if code != exitUsage || !strings.Contains(errOut, "undo refused") || !strings.Contains(errOut, "unsealed") {
		t.Fatalf("undo of a forged record: exit %d, stderr %q", code, errOut)
	}
	inline, _ := iamc.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("attacker")})
	attached, _ := iamc.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("attacker")})
	if len(inline.PolicyNames) != 0 || len(attached.AttachedPolicies) != 0 {
		t.Fatalf("the forged record changed IAM: inline %v, attached %v", inline.PolicyNames, attached.AttachedPolicies)
	}
}
