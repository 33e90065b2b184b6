package tests

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/alerts"
	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/remediation"
	"github.com/bedrock-warden/warden/pkg/remediation/assemble"
	"github.com/bedrock-warden/warden/pkg/remediation/ledgerdb"
	"github.com/bedrock-warden/warden/pkg/remediation/ssmmode"
	"github.com/bedrock-warden/warden/pkg/seal"
	"github.com/bedrock-warden/warden/pkg/seal/kmsmac"
)

const (
	remAccount = "123456789012"
	remStack   = "bw-test"
	remTable   = "warden-state"
	opusID     = "anthropic.claude-3-opus-20240229-v1:0"
)

// fakeClock is a settable clock for the mode cache and records.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// remEnv is one moto_server with the state table, the alert topic, the
// stack's two KMS HMAC keys, and the remediator and sweeper as the Lambdas
// build them (pipeline.Remediator, pipeline.Sweeper), on a fake clock.
type remEnv struct {
	t          *testing.T
	srv        *motoserver.Server
	cfg        aws.Config
	rec        *awsconf.Recorder
	iam        *iam.Client
	ssm        *ssm.Client
	topic      string
	findingKey string
	ledgerKey  string
	store      ledgerdb.Store // the test's view of the ledger
	detector   seal.Findings  // seals as the detector does
	clock      *fakeClock
	pol        *policy.Policy
	rem        *remediation.Remediator
	undo       *remediation.Undoer
}

func newRemEnv(t *testing.T, actions map[string]string, maxPerHour int, ttl time.Duration) *remEnv {
	t.Helper()
	// AWS managed policies (AmazonBedrockFullAccess, …) exist only with
	// this flag; loading them costs a second or two per server.
	var opts []motoserver.Option
	if remManagedPolicies[t.Name()] {
		opts = append(opts, motoserver.Env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true"))
	}
	srv := motoserver.Start(t, opts...)
	srv.CreateTable(t, remTable)
	// setup is the test's own client config; cfg is what the remediator's
	// clients use (its calls are recorded for the template's IAM check);
	// sweepCfg is the undo side (sweeper Lambda and CLI); detCfg seals
	// findings as the detector does.
	setup := srv.Config(t)
	cfg := srv.ConfigFor(t, "remediator")
	sweepCfg := srv.ConfigFor(t, "sweeper")
	detCfg := srv.ConfigFor(t, "detector")
	rec := awsconf.NewRecorder()
	rec.Attach(&cfg)
	ctx := context.Background()
	topic, err := sns.NewFromConfig(setup).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("warden-alerts")})
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	findingKey, ledgerKey := srv.CreateHMACKey(t, "findings"), srv.CreateHMACKey(t, "ledger")
	testLedger := kmsmac.New(setup, ledgerKey)
	e := &remEnv{
		t: t, srv: srv, cfg: cfg, rec: rec, iam: iam.NewFromConfig(setup), ssm: ssm.NewFromConfig(setup),
		topic: aws.ToString(topic.TopicArn), findingKey: findingKey, ledgerKey: ledgerKey,
		store:    ledgerdb.New(setup, remTable, seal.Records{Gen: testLedger, Check: testLedger}),
		detector: seal.Findings{MAC: kmsmac.New(detCfg, findingKey)},
		clock:    &fakeClock{t: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)},
		pol: &policy.Policy{
			Principals: policy.PrincipalRules{Exempt: []string{"arn:aws:iam::" + remAccount + ":role/break-glass*"}},
			Remediation: policy.RemediationSettings{
				Actions: actions, MaxActionsPerHour: maxPerHour, QuarantineTTL: policy.Duration(ttl), ProtectedTag: "bedrock-warden:protected",
			},
		},
	}
	env := map[string]string{
		assemble.EnvStack: remStack, assemble.EnvTable: remTable, assemble.EnvTopicARN: e.topic,
		assemble.EnvFindingKey: findingKey, assemble.EnvLedgerKey: ledgerKey,
		assemble.EnvFunction: remStack + "-remediator",
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if e.rem, err = assemble.Remediator(ctx, cfg, func(k string) string { return env[k] }, e.pol, log); err != nil {
		t.Fatalf("remediator: %v", err)
	}
	e.rem.Now, e.rem.Metrics, e.rem.Actor = e.clock.Now, io.Discard, "test"
	e.rem.Mode = &remediation.ModeCache{Store: ssmmode.New(cfg, remStack), Now: e.clock.Now, Log: log}
	e.rem.Applier.Sleep = func(time.Duration) {}
	e.rem.Admission.Verifier.Now = e.clock.Now
	if e.undo, err = assemble.Sweeper(ctx, sweepCfg, func(k string) string { return env[k] }, log); err != nil {
		t.Fatalf("sweeper: %v", err)
	}
	e.undo.Applier.Sleep, e.undo.Now, e.undo.Metrics = func(time.Duration) {}, e.clock.Now, io.Discard
	return e
}

// delivery is what Lambda hands the remediator for findings alerted by
// the detector: the alert body and attributes alerts.Build makes, sealed
// with the stack's finding key at the current (fake) time, from the
// stack's topic.
func (e *remEnv) delivery(fs ...findings.Finding) events.SNSEvent {
	e.t.Helper()
	var ev events.SNSEvent
	for i, f := range fs {
		m, err := alerts.Build(f, alerts.Options{Format: alerts.FormatText, Remediable: true, Stack: remStack})
		if err != nil {
			e.t.Fatal(err)
		}
		attrs, err := e.detector.Seal(context.Background(), m.FindingJSON, e.clock.Now())
		if err != nil {
			e.t.Fatalf("seal: %v", err)
		}
		for k, v := range attrs {
			m.Attributes[k] = v
		}
		ev.Records = append(ev.Records, snsRecord(fmt.Sprint("m", i), e.topic, m.Subject, m.Body, m.Attributes))
	}
	return ev
}

// snsRecord is one SNS record as Lambda delivers it.
func snsRecord(id, topic, subject, body string, attrs map[string]string) events.SNSEventRecord {
	e := events.SNSEntity{MessageID: id, TopicArn: topic, Subject: subject, Message: body, MessageAttributes: map[string]any{}}
	for k, v := range attrs {
		e.MessageAttributes[k] = map[string]any{"Type": "String", "Value": v}
	}
	return events.SNSEventRecord{EventSource: "aws:sns", SNS: e}
}

func (e *remEnv) setMode(m string) {
	e.t.Helper()
	_, err := e.ssm.PutParameter(context.Background(), &ssm.PutParameterInput{
		Name: aws.String("/bedrock-warden/" + remStack + "/remediation/mode"), Value: aws.String(m),
		Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true),
	})
	if err != nil {
		e.t.Fatalf("put mode: %v", err)
	}
}

func (e *remEnv) createRole(name, path string, tags map[string]string) string {
	e.t.Helper()
	in := &iam.CreateRoleInput{
		RoleName: aws.String(name), Path: aws.String(path),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`),
	}
	for k, v := range tags {
		in.Tags = append(in.Tags, iamtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := e.iam.CreateRole(context.Background(), in)
	if err != nil {
		e.t.Fatalf("create role %s: %v", name, err)
	}
	return aws.ToString(out.Role.Arn)
}

func (e *remEnv) createPolicy(name, doc string) string {
	e.t.Helper()
	out, err := e.iam.CreatePolicy(context.Background(), &iam.CreatePolicyInput{PolicyName: aws.String(name), PolicyDocument: aws.String(doc)})
	if err != nil {
		e.t.Fatalf("create policy %s: %v", name, err)
	}
	return aws.ToString(out.Policy.Arn)
}

func (e *remEnv) attach(role, arn string) {
	e.t.Helper()
	if _, err := e.iam.AttachRolePolicy(context.Background(), &iam.AttachRolePolicyInput{RoleName: aws.String(role), PolicyArn: aws.String(arn)}); err != nil {
		e.t.Fatalf("attach %s: %v", arn, err)
	}
}

func (e *remEnv) putInline(role, name, doc string) {
	e.t.Helper()
	if _, err := e.iam.PutRolePolicy(context.Background(), &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(name), PolicyDocument: aws.String(doc)}); err != nil {
		e.t.Fatalf("put inline %s: %v", name, err)
	}
}

// roleState is what the tests compare: attached ARNs and inline documents
// exactly as IAM returns them (decoded).
type roleState struct {
	Attached []string
	Inline   map[string]string
}

func (e *remEnv) roleState(role string) roleState {
	e.t.Helper()
	ctx := context.Background()
	st := roleState{Inline: map[string]string{}}
	att, err := e.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil {
		e.t.Fatalf("list attached: %v", err)
	}
	for _, p := range att.AttachedPolicies {
		st.Attached = append(st.Attached, aws.ToString(p.PolicyArn))
	}
	sort.Strings(st.Attached)
	names, err := e.iam.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil {
		e.t.Fatalf("list inline: %v", err)
	}
	for _, n := range names.PolicyNames {
		out, err := e.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(n)})
		if err != nil {
			e.t.Fatalf("get inline %s: %v", n, err)
		}
		doc := aws.ToString(out.PolicyDocument)
		if !strings.HasPrefix(strings.TrimSpace(doc), "{") {
			if doc, err = url.PathUnescape(doc); err != nil {
				e.t.Fatalf("decode inline %s: %v", n, err)
			}
		}
		st.Inline[n] = doc
	}
	return st
}

// remManagedPolicies lists the tests that attach AWS managed policies.
var remManagedPolicies = map[string]bool{"TestRemediationEnforceDetachThenUndoRestoresExactly": true}

func finding(rule, principal, model string) findings.Finding {
	f := findings.Finding{
		Rule: rule, Severity: findings.High, EventID: "ev-" + model, EventName: "Converse",
		EventTime: time.Date(2026, 11, 24, 9, 59, 0, 0, time.UTC), Account: remAccount, Region: "us-east-1",
		Principal: principal, PrincipalType: "AssumedRole", SessionName: "s1", Model: model, BaseModel: model,
	}
	f.Fingerprint = findings.Fingerprint(rule, principal, model, "us-east-1")
	return f
}

const (
	bedrockOnlyDoc = `{"Version":"2012-10-17","Statement":[{"Sid":"Invoke","Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream"],"Resource":"*"}]}`
	mixedDoc       = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*"},{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/*"}]}`
	// Odd spacing and key order: undo must give back exactly these bytes.
	inlineBedrockDoc = "{\n  \"Statement\": [ {\"Effect\": \"Allow\", \"Resource\": \"arn:aws:bedrock:*::foundation-model/anthropic.*\",\n    \"Action\": \"bedrock:Invoke*\"} ],\n  \"Version\": \"2012-10-17\"\n}"
	inlineS3Doc      = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}`
)

func TestRemediationEnforceDetachThenUndoRestoresExactly(t *testing.T) {
	e := newRemEnv(t, map[string]string{findings.RuleUnauthorizedModel: remediation.ActionDetach}, 10, 0)
	e.setMode("enforce")
	roleARN := e.createRole("app-batch", "/", nil)
	fullAccess := "arn:aws:iam::aws:policy/AmazonBedrockFullAccess"
	only := e.createPolicy("BedrockInvokeOnly", bedrockOnlyDoc)
	mixed := e.createPolicy("DataScienceMixed", mixedDoc)
	e.attach("app-batch", fullAccess)
	e.attach("app-batch", only)
	e.attach("app-batch", mixed)
	e.putInline("app-batch", "bedrock-inline", inlineBedrockDoc)
	e.putInline("app-batch", "s3-inline", inlineS3Doc)
	before := e.roleState("app-batch")
	if before.Inline["bedrock-inline"] != inlineBedrockDoc {
		t.Fatalf("precondition: moto changed the inline document: %q", before.Inline["bedrock-inline"])
	}

	f := finding(findings.RuleUnauthorizedModel, roleARN, opusID)
	if err := e.rem.HandleSNS(context.Background(), e.delivery(f)); err != nil {
		t.Fatalf("HandleSNS: %v", err)
	}
	after := e.roleState("app-batch")
	// AmazonBedrockFullAccess (AWS's own Bedrock policy) and the
	// customer Bedrock-only policy are detached; the mixed one stays.
	wantAttached := []string{mixed}
	if strings.Join(after.Attached, ",") != strings.Join(wantAttached, ",") {
		t.Errorf("attached after enforce = %v, want %v", after.Attached, wantAttached)
	}
	if _, ok := after.Inline["bedrock-inline"]; ok {
		t.Error("inline Bedrock-only policy was not deleted")
	}
	if after.Inline["s3-inline"] != inlineS3Doc {
		t.Error("unrelated inline policy was touched")
	}
	q, ok := after.Inline[remediation.QuarantinePolicyName]
	if !ok {
		t.Fatal("mixed policy left in place but no quarantine was put")
	}
	qd, err := iampolicy.Parse(q)
	if err != nil {
		t.Fatalf("quarantine document: %v", err)
	}
	i := qd.StatementBySid(remediation.QuarantineSid(f.Fingerprint))
	if i < 0 {
		t.Fatalf("quarantine lacks the finding's statement: %s", q)
	}
	st := qd.Statement[i]
	if st.Effect != "Deny" || !st.AppliesToAction("bedrock:InvokeModel") || !st.AppliesToAction("bedrock:InvokeModelWithResponseStream") ||
		!st.AppliesToResource("arn:aws:bedrock:eu-west-3::foundation-model/"+opusID) ||
		!st.AppliesToResource("arn:aws:bedrock:us-west-2:"+remAccount+":inference-profile/us."+opusID) ||
		st.AppliesToResource("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1") {
		t.Errorf("quarantine statement does not deny exactly the model's invocation: %+v", st)
	}

	recs, err := e.store.List(context.Background(), e.clock.Now().Add(-time.Minute), roleARN)
	if err != nil || len(recs) != 1 {
		t.Fatalf("ledger: %d records, err %v", len(recs), err)
	}
	r := recs[0]
	if r.Result != remediation.ResultApplied || r.Mode != remediation.ModeEnforce || r.Rule != f.Rule || r.EventID != f.EventID || r.Model != opusID {
		t.Errorf("ledger record = %+v", r)
	}
	if r.Outcome == nil || !r.Outcome.Verified {
		t.Errorf("applier did not verify: %+v", r.Outcome)
	}
	if r.Before == nil || len(r.Before.Managed) != 3 || len(r.Before.Inline) != 2 {
		t.Errorf("before-state not saved: %+v", r.Before)
	}
	if !strings.Contains(strings.Join(r.Plan.Notes, "\n"), "DataScienceMixed") {
		t.Errorf("plan does not say the mixed policy was kept: %v", r.Plan.Notes)
	}

	undo, err := e.undo.Undo(context.Background(), r.ID, "oncall@example.com")
	if err != nil {
		t.Fatalf("undo: %v", err)
	}
	restored := e.roleState("app-batch")
	if strings.Join(restored.Attached, ",") != strings.Join(before.Attached, ",") {
		t.Errorf("attached after undo = %v, want %v", restored.Attached, before.Attached)
	}
	if len(restored.Inline) != len(before.Inline) {
		t.Errorf("inline policies after undo = %v, want %v", keys(restored.Inline), keys(before.Inline))
	}
	for name, doc := range before.Inline {
		if restored.Inline[name] != doc {
			t.Errorf("inline %s after undo is not byte-identical:\n got %q\nwant %q", name, restored.Inline[name], doc)
		}
	}
	orig, err := e.store.Get(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if orig.Result != remediation.ResultUndone || orig.UndoneBy != undo.ID || undo.UndoOf != r.ID || undo.Actor != "oncall@example.com" {
		t.Errorf("undo not recorded: original %+v, undo %+v", orig, undo)
	}
	if _, err := e.undo.Undo(context.Background(), r.ID, "x"); err == nil {
		t.Error("a second undo of the same record must fail")
	}
	// Least privilege: every call made is one docs/remediation.md lists
	// for the remediator's role (test set-up calls excluded).
	allowed := map[string]bool{}
	for _, a := range remediatorActions {
		allowed[a] = true
	}
	for _, a := range e.rec.Actions() {
		if !allowed[a] && !remSetupActions[a] {
			t.Errorf("undocumented AWS call %s", a)
		}
	}
}

// remediatorActions is the remediator's and sweeper's IAM policy as
// documented in docs/remediation.md.
var remediatorActions = []string{
	"iam:GetRole", "iam:GetUser", "iam:ListRoleTags", "iam:ListUserTags", "iam:ListAttachedRolePolicies",
	"iam:ListAttachedUserPolicies", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListRolePolicies",
	"iam:ListUserPolicies", "iam:GetRolePolicy", "iam:GetUserPolicy", "iam:ListAccessKeys",
	"iam:ListServiceSpecificCredentials", "iam:PutRolePolicy", "iam:PutUserPolicy", "iam:DeleteRolePolicy",
	"iam:DeleteUserPolicy", "iam:DetachRolePolicy", "iam:DetachUserPolicy", "iam:AttachRolePolicy",
	"iam:AttachUserPolicy", "iam:UpdateAccessKey", "iam:UpdateServiceSpecificCredential",
	"ssm:GetParameter", "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
	"dynamodb:Query", "sns:Publish", "kms:GenerateMac", "kms:VerifyMac", "sts:GetCallerIdentity",
}

// remSetupActions are calls the tests themselves make.
var remSetupActions = map[string]bool{"sns:CreateTopic": true, "ssm:PutParameter": true, "iam:CreateRole": true, "iam:CreatePolicy": true}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestRemediationNeverTouchesProtectedPrincipals(t *testing.T) {
	e := newRemEnv(t, map[string]string{findings.RuleUnauthorizedModel: remediation.ActionQuarantine}, 10, 0)
	e.setMode("enforce")
	ctx := context.Background()
	exempt := e.createRole("break-glass-admin", "/", nil)
	tagged := e.createRole("payments", "/", map[string]string{"bedrock-warden:protected": "true"})
	sso := e.createRole("AWSReservedSSO_DataScientist_0123456789abcdef", "/aws-reserved/sso.amazonaws.com/eu-west-1/", nil)
	own := e.createRole(remStack+"-detector", "/", nil)
	slrOut, err := e.iam.CreateServiceLinkedRole(ctx, &iam.CreateServiceLinkedRoleInput{AWSServiceName: aws.String("bedrock.amazonaws.com")})
	var slr string
	if err != nil {
		// moto may not know the service; build one with the reserved path.
		slr = e.createRole("AWSServiceRoleForAmazonBedrock", "/aws-service-role/bedrock.amazonaws.com/", nil)
	} else {
		slr = aws.ToString(slrOut.Role.Arn)
	}
	cases := map[string]string{"exempt": exempt, "tagged": tagged, "identity-center": sso, "service-linked": slr, "own": own,
		"root": "arn:aws:iam::" + remAccount + ":root"}
	for name, arn := range cases {
		f := finding(findings.RuleUnauthorizedModel, arn, opusID)
		if name == "root" {
			f.PrincipalType = "Root"
		}
		rec, err := e.rem.Handle(ctx, f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rec.Result != remediation.ResultRefused {
			t.Errorf("%s: result %q, want refused", name, rec.Result)
		}
		if name == "identity-center" && !strings.Contains(rec.Plan.Advice, "Identity Center") {
			t.Errorf("identity-center: no advice for on-call: %+v", rec.Plan)
		}
	}
	for _, role := range []string{"break-glass-admin", "payments", "AWSReservedSSO_DataScientist_0123456789abcdef", remStack + "-detector"} {
		if st := e.roleState(role); len(st.Inline) != 0 || len(st.Attached) != 0 {
			t.Errorf("%s was touched: %+v", role, st)
		}
	}
	for action := range e.rec.Calls() {
		if strings.HasPrefix(action, "iam:Put") || strings.HasPrefix(action, "iam:Detach") || strings.HasPrefix(action, "iam:Delete") || strings.HasPrefix(action, "iam:Update") {
			t.Errorf("a write IAM call was made: %s", action)
		}
	}
	var advised bool
	for _, m := range e.srv.SNSMessages(t) {
		if m.Attributes[findings.AttrRemediable].StringValue == "true" {
			t.Errorf("remediator alert marked remediable (loop): %s", m.Subject)
		}
		if strings.Contains(m.Message, "Identity Center") && strings.Contains(m.Message, "permission set") {
			advised = true
		}
	}
	if !advised {
		t.Error("no alert told on-call what to do in Identity Center")
	}
}

func TestRemediationBreakerCapsActionsAndAlertsOnce(t *testing.T) {
	e := newRemEnv(t, map[string]string{findings.RuleUnauthorizedModel: remediation.ActionQuarantine}, 10, 0)
	e.setMode("enforce")
	ctx := context.Background()
	roleARN := e.createRole("app-batch", "/", nil)
	for i := 0; i < 100; i++ {
		f := finding(findings.RuleUnauthorizedModel, roleARN, fmt.Sprintf("vendor.model-%03d-v1:0", i))
		if _, err := e.rem.Handle(ctx, f); err != nil {
			t.Fatalf("finding %d: %v", i, err)
		}
	}
	qd, err := iampolicy.Parse(e.roleState("app-batch").Inline[remediation.QuarantinePolicyName])
	if err != nil {
		t.Fatal(err)
	}
	if len(qd.Statement) != 10 {
		t.Errorf("quarantine holds %d statements, want exactly maxActionsPerHour = 10", len(qd.Statement))
	}
	recs, err := e.store.List(ctx, e.clock.Now().Add(-time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, r := range recs {
		counts[string(r.Mode)+"/"+r.Result]++
	}
	if counts["enforce/applied"] != 10 || counts["dry-run/planned"] != 90 {
		t.Errorf("ledger = %v, want 10 enforce/applied and 90 dry-run/planned", counts)
	}
	breakerAlerts := func() int {
		n := 0
		for _, m := range e.srv.SNSMessages(t) {
			if m.Attributes["rule"].StringValue == findings.RuleRemediationBreakerOpen {
				n++
				if m.Attributes["severity"].StringValue != "critical" {
					t.Errorf("breaker alert severity %q", m.Attributes["severity"].StringValue)
				}
			}
		}
		return n
	}
	if n := breakerAlerts(); n != 1 {
		t.Errorf("%d breaker-open alerts, want exactly 1", n)
	}
	st, err := e.store.Status(ctx, remAccount, e.clock.Now())
	if err != nil || !st.Open || st.Count != 10 {
		t.Errorf("breaker status = %+v, %v; want open with count 10", st, err)
	}
	if err := e.store.Reset(ctx, remAccount, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	rec, err := e.rem.Handle(ctx, finding(findings.RuleUnauthorizedModel, roleARN, "vendor.after-reset-v1:0"))
	if err != nil || rec.Mode != remediation.ModeEnforce || rec.Result != remediation.ResultApplied {
		t.Errorf("after reset: %+v, %v; want an enforce action", rec, err)
	}
}

func TestRemediationModeFlipTakesEffectWithinCacheWindow(t *testing.T) {
	e := newRemEnv(t, map[string]string{findings.RuleUnauthorizedModel: remediation.ActionQuarantine}, 10, 0)
	ctx := context.Background()
	roleARN := e.createRole("app-batch", "/", nil)
	// No parameter yet: the default is dry-run.
	r1, err := e.rem.Handle(ctx, finding(findings.RuleUnauthorizedModel, roleARN, "m1"))
	if err != nil || r1.Mode != remediation.ModeDryRun || r1.Result != remediation.ResultPlanned {
		t.Fatalf("default mode: %+v %v", r1, err)
	}
	if _, ok := e.roleState("app-batch").Inline[remediation.QuarantinePolicyName]; ok {
		t.Fatal("dry-run changed IAM")
	}
	if len(r1.Plan.Steps) != 1 || r1.Plan.Steps[0].Kind != remediation.StepPutQuarantine {
		t.Errorf("dry-run must record exactly what enforce would do: %+v", r1.Plan)
	}
	e.setMode("enforce")
	e.clock.Advance(20 * time.Second)
	r2, err := e.rem.Handle(ctx, finding(findings.RuleUnauthorizedModel, roleARN, "m2"))
	if err != nil || r2.Mode != remediation.ModeDryRun {
		t.Fatalf("inside the cache window the old mode holds: %+v %v", r2, err)
	}
	e.clock.Advance(11 * time.Second)
	r3, err := e.rem.Handle(ctx, finding(findings.RuleUnauthorizedModel, roleARN, "m3"))
	if err != nil || r3.Mode != remediation.ModeEnforce || r3.Result != remediation.ResultApplied {
		t.Fatalf("after 31 s the flip must show: %+v %v", r3, err)
	}
	e.setMode("off")
	e.clock.Advance(31 * time.Second)
	r4, err := e.rem.Handle(ctx, finding(findings.RuleUnauthorizedModel, roleARN, "m4"))
	if err != nil || r4.Result != "off" || r4.ID != "" {
		t.Fatalf("off must not act or record: %+v %v", r4, err)
	}
}

// TestRemediationSameFindingThreeTimesActsOnce delivers the same sealed
// finding three times, one after the other, as SNS and Lambda's retries
// do: one action, one record. Concurrent deliveries rely on DynamoDB
// serialising the claim's conditional put, which moto does not promise:
// that case is TestConcurrentDeliveriesActOnce on the in-process ledger
// (pkg/remediation/memledger).
func TestRemediationSameFindingThreeTimesActsOnce(t *testing.T) {
	e := newRemEnv(t, map[string]string{findings.RuleUnauthorizedModel: remediation.ActionQuarantine}, 10, 0)
	e.setMode("enforce")
	ctx := context.Background()
	roleARN := e.createRole("app-batch", "/", nil)
	f := finding(findings.RuleUnauthorizedModel, roleARN, opusID)
	for i := range 3 {
		if err := e.rem.HandleSNS(ctx, e.delivery(f)); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	recs, err := e.store.List(ctx, e.clock.Now().Add(-time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Result != remediation.ResultApplied {
		t.Fatalf("ledger has %d records, want exactly 1 applied: %+v", len(recs), recs)
	}
	qd, _ := iampolicy.Parse(e.roleState("app-batch").Inline[remediation.QuarantinePolicyName])
	if len(qd.Statement) != 1 {
		t.Errorf("quarantine has %d statements, want 1", len(qd.Statement))
	}
	if n := e.rec.Calls()["iam:PutRolePolicy"]; n != 1 {
		t.Errorf("PutRolePolicy called %d times, want 1", n)
	}
}

func TestRemediationMalformedMessageIsRefused(t *testing.T) {
	e := newRemEnv(t, map[string]string{findings.RuleUnauthorizedModel: remediation.ActionQuarantine}, 10, 0)
	e.rec.Reset()
	attrs := map[string]string{findings.AttrRemediable: "true"}
	for i, body := range []string{"hello", findings.AlertMarker + "\n{not json", findings.AlertMarker + "\n{\"rule\":\"unauthorized-model\"}"} {
		ev := events.SNSEvent{Records: []events.SNSEventRecord{snsRecord(fmt.Sprint("x", i), e.topic, "s", body, attrs)}}
		// Refused, not retried: no retry can make it a finding.
		if err := e.rem.HandleSNS(context.Background(), ev); err != nil {
			t.Errorf("body %q: %v", body, err)
		}
	}
	for action := range e.rec.Calls() {
		if strings.HasPrefix(action, "iam:") || strings.HasPrefix(action, "kms:") {
			t.Errorf("a malformed message made a %s call", action)
		}
	}
	n := 0
	for _, m := range e.srv.SNSMessages(t) {
		if m.Attributes["rule"].StringValue == findings.RuleFindingRejected {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d rejection alerts for three malformed messages in one hour, want 1", n)
	}
}

func TestRemediationDisableCredentialsAndRevokeSessionsUndo(t *testing.T) {
	e := newRemEnv(t, map[string]string{
		findings.RuleUnauthorizedSourceIP: remediation.ActionDisableCredentials,
		findings.RuleUnauthorizedRegion:   remediation.ActionRevokeSessions,
	}, 10, 0)
	e.setMode("enforce")
	ctx := context.Background()
	user, err := e.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("ci-bot")})
	if err != nil {
		t.Fatal(err)
	}
	key, err := e.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("ci-bot")})
	if err != nil {
		t.Fatal(err)
	}
	keyID := aws.ToString(key.AccessKey.AccessKeyId)
	keyStatus := func() string {
		out, err := e.iam.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("ci-bot")})
		if err != nil || len(out.AccessKeyMetadata) != 1 {
			t.Fatalf("list keys: %v", err)
		}
		return string(out.AccessKeyMetadata[0].Status)
	}
	f := finding(findings.RuleUnauthorizedSourceIP, aws.ToString(user.User.Arn), "")
	f.PrincipalType, f.AccessKeyID = "IAMUser", keyID
	rec, err := e.rem.Handle(ctx, f)
	if err != nil || rec.Result != remediation.ResultApplied {
		t.Fatalf("disable: %+v %v", rec, err)
	}
	if s := keyStatus(); s != "Inactive" {
		t.Fatalf("key status %s after disable", s)
	}
	if _, err := e.undo.Undo(ctx, rec.ID, "oncall"); err != nil {
		t.Fatal(err)
	}
	if s := keyStatus(); s != "Active" {
		t.Fatalf("key status %s after undo", s)
	}

	roleARN := e.createRole("etl", "/jobs/", nil)
	g := finding(findings.RuleUnauthorizedRegion, roleARN, opusID)
	rec, err = e.rem.Handle(ctx, g)
	if err != nil || rec.Result != remediation.ResultApplied {
		t.Fatalf("revoke: %+v %v", rec, err)
	}
	doc := e.roleState("etl").Inline[remediation.RevokePolicyName]
	if !strings.Contains(doc, `"aws:TokenIssueTime":"`+e.clock.Now().Format(time.RFC3339)+`"`) || !strings.Contains(doc, `"Effect":"Deny"`) {
		t.Fatalf("revoke policy = %s", doc)
	}
	if _, err := e.undo.Undo(ctx, rec.ID, "oncall"); err != nil {
		t.Fatal(err)
	}
	if st := e.roleState("etl"); len(st.Inline) != 0 {
		t.Fatalf("revoke policy left after undo: %v", keys(st.Inline))
	}
}

func TestRemediationSweeperUndoesExpiredQuarantines(t *testing.T) {
	e := newRemEnv(t, map[string]string{findings.RuleUnauthorizedModel: remediation.ActionQuarantine}, 10, 24*time.Hour)
	e.setMode("enforce")
	ctx := context.Background()
	roleARN := e.createRole("app-batch", "/", nil)
	e.putInline("app-batch", remediation.QuarantinePolicyName, `{"Version":"2012-10-17","Statement":[{"Sid":"ByHand","Effect":"Deny","Action":"bedrock:*","Resource":"*"}]}`)
	before := e.roleState("app-batch")
	rec, err := e.rem.Handle(ctx, finding(findings.RuleUnauthorizedModel, roleARN, opusID))
	if err != nil || rec.ExpiresAt == nil {
		t.Fatalf("%+v %v", rec, err)
	}
	qd, _ := iampolicy.Parse(e.roleState("app-batch").Inline[remediation.QuarantinePolicyName])
	if len(qd.Statement) != 2 || qd.StatementBySid("ByHand") != 0 {
		t.Fatalf("merge lost the existing statement: %+v", qd)
	}
	res, err := e.undo.Sweep(ctx, e.clock.Now().Add(23*time.Hour), "sweeper")
	if err != nil || len(res.Undone) != 0 {
		t.Fatalf("nothing has expired yet: %+v %v", res, err)
	}
	res, err = e.undo.Sweep(ctx, e.clock.Now().Add(25*time.Hour), "sweeper")
	if err != nil || len(res.Undone) != 1 || res.Undone[0] != rec.ID {
		t.Fatalf("sweep: %+v %v", res, err)
	}
	if got := e.roleState("app-batch").Inline[remediation.QuarantinePolicyName]; got != before.Inline[remediation.QuarantinePolicyName] {
		t.Errorf("after the sweep the quarantine policy is not the hand-made one byte for byte:\n got %s\nwant %s", got, before.Inline[remediation.QuarantinePolicyName])
	}
	res, err = e.undo.Sweep(ctx, e.clock.Now().Add(26*time.Hour), "sweeper")
	if err != nil || len(res.Undone) != 0 {
		t.Fatalf("second sweep must find nothing: %+v %v", res, err)
	}
}
