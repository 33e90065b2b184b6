package tests

// The trust boundary, tried as an attacker inside the account would
// (issue 12): each attack of the review runs against moto with the real
// adapters and the functions as they are assembled for Lambda, and is
// refused with the IAM state unchanged byte for byte; the genuine path
// still works. Moto enforces no IAM, so what the table's and the topic's
// resource policies stop in AWS is shown in the template tests
// (TestResourcePoliciesDenyEveryoneButTheStack); here the code's own
// defences are shown to hold even when such a write got through.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/alerts"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/pipeline"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/remediation"
	"github.com/bedrock-warden/warden/pkg/remediation/assemble"
	"github.com/bedrock-warden/warden/pkg/remediation/ledgerdb"
	"github.com/bedrock-warden/warden/pkg/seal"
	"github.com/bedrock-warden/warden/pkg/seal/kmsmac"
	"github.com/bedrock-warden/warden/pkg/state"
)

const adminDoc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`

// rejections counts the finding-rejected alerts moto recorded.
func (e *remEnv) rejections() int {
	n := 0
	for _, m := range e.srv.SNSMessages(e.t) {
		if m.Attributes["rule"].StringValue == findings.RuleFindingRejected {
			if m.Attributes["severity"].StringValue != "critical" {
				e.t.Errorf("rejection alert severity %q", m.Attributes["severity"].StringValue)
			}
			n++
		}
	}
	return n
}

// iamWrites returns the IAM write calls the remediator made.
func (e *remEnv) iamWrites() []string {
	var out []string
	for a := range e.rec.Calls() {
		for _, w := range []string{"iam:Put", "iam:Delete", "iam:Detach", "iam:Attach", "iam:Update"} {
			if strings.HasPrefix(a, w) {
				out = append(out, a)
			}
		}
	}
	return out
}

// Attack 1: a forged ledger record plus its expiry item, whose "removed"
// steps are an admin inline policy and an admin managed policy, must not
// be restored by the sweeper — neither unsealed nor with a MAC copied from
// a genuine record — and must not lift a genuine record early.
func TestTrustForgedLedgerRecordIsNotRestored(t *testing.T) {
	e := newRemEnv(t, map[string]string{findings.RuleUnauthorizedModel: remediation.ActionQuarantine}, 10, time.Hour)
	e.setMode("enforce")
	ctx := context.Background()
	victim := e.createRole("attacker-chosen", "/", nil)
	corpAdmin := e.createPolicy("CorpAdmin", adminDoc)
	// A genuine remediation elsewhere, so a genuine MAC exists to copy.
	appARN := e.createRole("app-batch", "/", nil)
	genuine, err := e.rem.Handle(ctx, finding(findings.RuleUnauthorizedModel, appARN, opusID))
	if err != nil || genuine.Result != remediation.ResultApplied {
		t.Fatalf("genuine: %+v %v", genuine, err)
	}
	before := e.roleState("attacker-chosen")
	appBefore := e.roleState("app-batch")

	db := dynamodb.NewFromConfig(e.srv.Config(t)) // the attacker's own credentials
	p, _ := remediation.ParsePrincipal(victim)
	past := e.clock.Now().Add(-2 * time.Hour)
	forge := func(mac ddbtypes.AttributeValue) string {
		t.Helper()
		steps := []remediation.Step{
			{Kind: remediation.StepDeleteInline, PolicyName: "admin", Document: adminDoc},
			{Kind: remediation.StepDetachManaged, PolicyARN: corpAdmin},
		}
		rec := remediation.Record{ID: remediation.NewID(past), Time: past, Mode: remediation.ModeEnforce, Action: "detach",
			Result: remediation.ResultApplied, Principal: victim, ExpiresAt: &past,
			Plan:    remediation.Plan{Action: "detach", Principal: p, Steps: steps},
			Before:  &remediation.Before{Managed: []string{corpAdmin}, Inline: []remediation.InlinePolicy{{Name: "admin", Document: adminDoc}}},
			Outcome: &remediation.Outcome{Steps: []remediation.StepResult{{Step: steps[0]}, {Step: steps[1]}}, Verified: true}}
		body, _ := remediation.MarshalRecord(rec)
		item, err := ledgerdb.RecordKey(rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		item["id"] = &ddbtypes.AttributeValueMemberS{Value: rec.ID}
		item["record"] = &ddbtypes.AttributeValueMemberS{Value: string(body)}
		if mac != nil {
			item["mac"] = mac
		}
		exp := map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: ledgerdb.PKExpiry},
			"sk": &ddbtypes.AttributeValueMemberS{Value: past.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + rec.ID},
			"id": &ddbtypes.AttributeValueMemberS{Value: rec.ID},
		}
		for _, it := range []map[string]ddbtypes.AttributeValue{item, exp} {
			if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(remTable), Item: it}); err != nil {
				t.Fatal(err)
			}
		}
		return rec.ID
	}
	unsealed := forge(nil)
	gk, _ := ledgerdb.RecordKey(genuine.ID)
	gItem, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(remTable), Key: gk})
	if err != nil {
		t.Fatal(err)
	}
	copied := forge(gItem.Item["mac"])
	// A forged expiry entry pointing at the genuine record (expires in an
	// hour): lifting it early would hand back what was taken away.
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(remTable), Item: map[string]ddbtypes.AttributeValue{
		"pk": &ddbtypes.AttributeValueMemberS{Value: ledgerdb.PKExpiry},
		"sk": &ddbtypes.AttributeValueMemberS{Value: past.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + genuine.ID},
		"id": &ddbtypes.AttributeValueMemberS{Value: genuine.ID},
	}}); err != nil {
		t.Fatal(err)
	}

	res, err := e.undo.Sweep(ctx, e.clock.Now(), "sweeper")
	if err == nil || len(res.Undone) != 0 {
		t.Fatalf("sweep of forged records: %+v, %v; want every one refused", res, err)
	}
	for id, reason := range map[string]string{unsealed: "unsealed", copied: "bad-mac", genuine.ID: "not-expired"} {
		if !strings.Contains(res.Failed[id], reason) {
			t.Errorf("record %s: failure %q, want %s", id, res.Failed[id], reason)
		}
	}
	after := e.roleState("attacker-chosen")
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("the forged record changed IAM:\n before %+v\n after  %+v", before, after)
	}
	if fmt.Sprint(e.roleState("app-batch")) != fmt.Sprint(appBefore) {
		t.Fatal("the forged expiry lifted the genuine quarantine early")
	}
	if n := e.rejections(); n != 3 {
		t.Errorf("%d critical refusal alerts, want one per refused record (3)", n)
	}
	// The next sweep refuses again but does not alert again.
	if _, err := e.undo.Sweep(ctx, e.clock.Now(), "sweeper"); err == nil {
		t.Error("second sweep accepted a forged record")
	}
	if n := e.rejections(); n != 3 {
		t.Errorf("refusal alerts repeated: %d", n)
	}
	// The genuine record is still undone when it expires.
	res, err = e.undo.Sweep(ctx, e.clock.Now().Add(2*time.Hour), "sweeper")
	if err == nil || len(res.Undone) != 1 || res.Undone[0] != genuine.ID {
		t.Fatalf("genuine expiry: %+v %v", res, err)
	}
}

// Attack 2: messages that are not findings the stack sealed — a hand-made
// body without attributes from another topic, no seal, another key's seal,
// a sealed finding altered to name an admin role, one replayed hours later
// — change nothing, whatever they name; a genuine sealed finding acts.
func TestTrustForgedAlertsAreRefused(t *testing.T) {
	e := newRemEnv(t, map[string]string{
		findings.RuleUnauthorizedRegion: remediation.ActionRevokeSessions,
		findings.RuleUnauthorizedModel:  remediation.ActionQuarantine,
	}, 10, 0)
	e.setMode("enforce")
	ctx := context.Background()
	admin := e.createRole("Admin", "/", nil)
	appARN := e.createRole("app-batch", "/", nil)
	adminBefore := e.roleState("Admin")
	forged := finding(findings.RuleUnauthorizedRegion, admin, "")
	attackerKey := kmsmac.New(e.srv.Config(t), e.srv.CreateHMACKey(t, "the attacker's own key"))
	withAttrs := func(f findings.Finding, mac seal.Generator, at time.Time, edit func(body string) string) events.SNSEvent {
		m, err := alerts.Build(f, alerts.Options{Format: alerts.FormatText, Remediable: true})
		if err != nil {
			t.Fatal(err)
		}
		if mac != nil {
			a, err := seal.Findings{MAC: mac}.Seal(ctx, m.FindingJSON, at)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range a {
				m.Attributes[k] = v
			}
		}
		body := m.Body
		if edit != nil {
			body = edit(body)
		}
		return events.SNSEvent{Records: []events.SNSEventRecord{snsRecord("m", e.topic, m.Subject, body, m.Attributes)}}
	}
	app := finding(findings.RuleUnauthorizedModel, appARN, opusID)
	cases := map[string]events.SNSEvent{
		"wrong-topic": {Records: []events.SNSEventRecord{snsRecord("m", "arn:aws:sns:us-east-1:999988887777:elsewhere", "x",
			"anything\n"+findings.AlertMarker+"\n"+`{"rule":"unauthorized-region","principal":"`+admin+`","fingerprint":"`+forged.Fingerprint+`","account":"`+remAccount+`"}`, nil)}},
		"unsealed": withAttrs(forged, nil, e.clock.Now(), nil),
		"bad-mac":  withAttrs(forged, attackerKey, e.clock.Now(), nil),
		"stale":    withAttrs(forged, e.detector.MAC, e.clock.Now().Add(-3*time.Hour), nil),
	}
	// A genuine sealed finding about app-batch, altered to name Admin.
	cases["bad-mac (altered)"] = withAttrs(app, e.detector.MAC, e.clock.Now(), func(body string) string {
		return strings.Replace(body, `role/app-batch"`, `role/Admin"`, 1)
	})
	for name, ev := range cases {
		if err := e.rem.HandleSNS(ctx, ev); err != nil {
			t.Errorf("%s: a refused message is not retried: %v", name, err)
		}
	}
	if fmt.Sprint(e.roleState("Admin")) != fmt.Sprint(adminBefore) {
		t.Fatalf("a forged alert changed Admin: %+v", e.roleState("Admin"))
	}
	if w := e.iamWrites(); len(w) != 0 {
		t.Fatalf("IAM writes after forged alerts: %v", w)
	}
	if recs, _ := e.store.List(ctx, e.clock.Now().Add(-time.Hour), ""); len(recs) != 0 {
		t.Fatalf("forged alerts left ledger records: %+v", recs)
	}
	if n := e.rejections(); n != 4 { // one per reason this hour: wrong-topic, unsealed, bad-mac, stale
		t.Errorf("%d rejection alerts, want 4 (one per reason)", n)
	}
	// The genuine alert, as the detector sealed it, still remediates.
	if err := e.rem.HandleSNS(ctx, e.delivery(app)); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.roleState("app-batch").Inline[remediation.QuarantinePolicyName]; !ok {
		t.Fatal("a genuine sealed finding did not remediate")
	}
}

// Attack 3: with the breaker open, findings naming another account for a
// principal of this one are not enforced, and open no breaker of their
// own.
func TestTrustBreakerCountsWhereIAMCallsLand(t *testing.T) {
	e := newRemEnv(t, map[string]string{findings.RuleUnauthorizedModel: remediation.ActionQuarantine}, 3, 0)
	e.setMode("enforce")
	ctx := context.Background()
	roleARN := e.createRole("app-batch", "/", nil)
	for i := range 6 {
		f := finding(findings.RuleUnauthorizedModel, roleARN, fmt.Sprintf("vendor.model-%d", i))
		if i >= 3 {
			f.Account = "999988887777"
		}
		if err := e.rem.HandleSNS(ctx, e.delivery(f)); err != nil {
			t.Fatal(err)
		}
	}
	qd, err := iampolicy.Parse(e.roleState("app-batch").Inline[remediation.QuarantinePolicyName])
	if err != nil || len(qd.Statement) != 3 {
		t.Fatalf("quarantine statements: %d (%v), want exactly maxActionsPerHour = 3", len(qd.Statement), err)
	}
	if st, _ := e.store.Status(ctx, "999988887777", e.clock.Now()); st.Count != 0 {
		t.Errorf("a message's account opened a breaker of its own: %+v", st)
	}
	if st, _ := e.store.Status(ctx, remAccount, e.clock.Now()); !st.Open || st.Count != 3 {
		t.Errorf("own breaker: %+v", st)
	}
}

// Attack 5: a forged finding carrying a genuine incident's fingerprint is
// refused before any claim, so the genuine finding is not a "duplicate".
func TestTrustForgedFindingDoesNotPreemptTheGenuineOne(t *testing.T) {
	e := newRemEnv(t, map[string]string{findings.RuleUnauthorizedModel: remediation.ActionQuarantine}, 10, 0)
	e.setMode("enforce")
	ctx := context.Background()
	roleARN := e.createRole("app-batch", "/", nil)
	f := finding(findings.RuleUnauthorizedModel, roleARN, opusID)
	m, _ := alerts.Build(f, alerts.Options{Remediable: true})
	if err := e.rem.HandleSNS(ctx, events.SNSEvent{Records: []events.SNSEventRecord{snsRecord("x", e.topic, m.Subject, m.Body, m.Attributes)}}); err != nil {
		t.Fatal(err)
	}
	if err := e.rem.HandleSNS(ctx, e.delivery(f)); err != nil {
		t.Fatal(err)
	}
	recs, _ := e.store.List(ctx, e.clock.Now().Add(-time.Hour), "")
	if len(recs) != 1 || recs[0].Result != remediation.ResultApplied {
		t.Fatalf("ledger after forged then genuine: %+v", recs)
	}
}

// Attack 4 and the whole genuine path: the detector judges the sample
// Opus event with a forged "sent" alert window (never ending) already in
// the table, alerts anyway, seals the alert; the remediator receives the
// message as SNS hands it to Lambda and quarantines.
func TestTrustDetectorSealedAlertIsRemediatedAndNotSuppressedByAForgedWindow(t *testing.T) {
	const acct = "111122223333" // the sample event's account
	srv := motoserver.Start(t, motoserver.Env("MOTO_ACCOUNT_ID", acct))
	srv.CreateTable(t, remTable)
	ctx := context.Background()
	setup := srv.Config(t)
	topic, err := sns.NewFromConfig(setup).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("warden-alerts")})
	if err != nil {
		t.Fatal(err)
	}
	findingKey, ledgerKey := srv.CreateHMACKey(t, "findings"), srv.CreateHMACKey(t, "ledger")
	iamc := iam.NewFromConfig(setup)
	if _, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("app-chat"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ssm.NewFromConfig(setup).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(remediation.ModeParameter(remStack)),
		Value: aws.String("enforce"), Type: ssmtypes.ParameterTypeString}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		outputs.EnvTable: remTable, outputs.EnvTopicARN: aws.ToString(topic.TopicArn), outputs.EnvFindingKey: findingKey,
		outputs.EnvMetricsMode: outputs.MetricsOff, outputs.EnvStack: remStack, assemble.EnvLedgerKey: ledgerKey,
	}
	getenv := func(k string) string { return env[k] }
	pol := policy.Default()
	raw, err := os.ReadFile(filepath.Join("..", "events", "invoke-model-unapproved-opus.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The attacker pre-writes the incident's alert window: sent, ending in
	// ten years.
	principal := "arn:aws:iam::" + acct + ":role/app-chat"
	fp := findings.Fingerprint(findings.RuleUnauthorizedModel, principal, opusID, "us-east-1")
	now := time.Now()
	if _, err := dynamodb.NewFromConfig(setup).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(remTable), Item: map[string]ddbtypes.AttributeValue{
		"pk": &ddbtypes.AttributeValueMemberS{Value: state.AlertPrefix + fp}, "sk": &ddbtypes.AttributeValueMemberS{Value: state.AlertSK},
		"st": &ddbtypes.AttributeValueMemberS{Value: "sent"}, "owner": &ddbtypes.AttributeValueMemberS{Value: "evt:forged"},
		"tok": &ddbtypes.AttributeValueMemberS{Value: "x"}, "claimedAt": &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(now.UnixMilli())},
		"windowEnd": &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(now.AddDate(10, 0, 0).UnixMilli())},
		"cnt":       &ddbtypes.AttributeValueMemberN{Value: "0"}, "rep": &ddbtypes.AttributeValueMemberN{Value: "0"},
		"alerts": &ddbtypes.AttributeValueMemberN{Value: "1"}, "v": &ddbtypes.AttributeValueMemberN{Value: "1"},
	}}); err != nil {
		t.Fatal(err)
	}

	det, err := pipeline.Detector(ctx, srv.ConfigFor(t, "detector"), getenv, pol, outputs.Clients{Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := det.Handle(ctx, raw); err != nil {
		t.Fatalf("detector: %v", err)
	}
	var rec events.SNSEvent
	for _, m := range srv.SNSMessages(t) {
		if m.Attributes[findings.AttrRemediable].StringValue != "true" {
			continue
		}
		attrs := map[string]string{}
		for k, v := range m.Attributes {
			attrs[k] = v.StringValue
		}
		if attrs[seal.AttrMAC] == "" {
			t.Fatal("the detector's alert is not sealed")
		}
		rec.Records = append(rec.Records, snsRecord(m.MessageID, m.TopicARN, m.Subject, m.Message, attrs))
	}
	if len(rec.Records) != 1 {
		t.Fatalf("%d remediable alerts published, want 1 despite the forged window", len(rec.Records))
	}
	rem, err := assemble.Remediator(ctx, srv.ConfigFor(t, "remediator"), getenv, pol, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	rem.Metrics = io.Discard
	rem.Applier.Sleep = func(time.Duration) {}
	if err := rem.HandleSNS(ctx, rec); err != nil {
		t.Fatalf("remediator: %v", err)
	}
	doc, err := iamc.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("app-chat"), PolicyName: aws.String(remediation.QuarantinePolicyName)})
	if err != nil || !strings.Contains(aws.ToString(doc.PolicyDocument), remediation.QuarantineSid(fp)) {
		t.Fatalf("the sealed alert was not remediated: %v", err)
	}
}
