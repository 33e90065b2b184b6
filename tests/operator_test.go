package tests

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/bedrock-warden/warden/pkg/alerts"
	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
	"github.com/bedrock-warden/warden/pkg/seal"
	"github.com/bedrock-warden/warden/pkg/stack"
	"github.com/bedrock-warden/warden/pkg/tamper"
)

// TestStackOutputsInTemplate holds the CLI's output names (package stack)
// to template.yaml: every one is an output, and only the ledger key, which
// exists with the remediator, is conditional.
func TestStackOutputsInTemplate(t *testing.T) {
	tpl := loadTemplate(t)
	outs, _ := tpl["Outputs"].(map[string]any)
	for _, key := range []string{stack.OutputAlertTopic, stack.OutputStateTable, stack.OutputModeParameter, stack.OutputPolicyParameter,
		stack.OutputFindingKey, stack.OutputLedgerKey, stack.OutputDetectorFunction} {
		o, ok := outs[key].(map[string]any)
		if !ok {
			t.Errorf("template.yaml has no output %s (package stack reads it)", key)
			continue
		}
		if _, cond := o["Condition"]; cond != (key == stack.OutputLedgerKey) {
			t.Errorf("output %s: Condition present = %v", key, cond)
		}
	}
	for name, o := range outs {
		if d, _ := o.(map[string]any)["Description"].(string); strings.TrimSpace(d) == "" {
			t.Errorf("output %s has no Description", name)
		}
	}
	params, _ := tpl["Parameters"].(map[string]any)
	for _, p := range []string{stack.ParameterMetricsMode, stack.ParameterEnableRemediator, stack.ParameterSecurityHub} {
		if _, ok := params[p]; !ok {
			t.Errorf("template.yaml has no parameter %s (package stack reads it)", p)
		}
	}
}

// TestTemplateParametersDocumented: every parameter says what it does, and
// docs/deploy.md has a row for each.
func TestTemplateParametersDocumented(t *testing.T) {
	tpl := loadTemplate(t)
	doc, err := os.ReadFile("../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	name := regexp.MustCompile("`([A-Za-z]+)`")
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, m := range name.FindAllStringSubmatch(first, -1) {
			rows[m[1]] = true
		}
	}
	params, _ := tpl["Parameters"].(map[string]any)
	for name, p := range params {
		if d, _ := p.(map[string]any)["Description"].(string); strings.TrimSpace(d) == "" {
			t.Errorf("parameter %s has no Description", name)
		}
		if !rows[name] {
			t.Errorf("docs/deploy.md's parameter table has no row for %s", name)
		}
	}
}

// envFile is events/env.json: sam local invoke --env-vars.
type envFile map[string]map[string]string

func loadEnvFile(t *testing.T) envFile {
	t.Helper()
	raw, err := os.ReadFile("../events/env.json")
	if err != nil {
		t.Fatal(err)
	}
	var f envFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("events/env.json: %v", err)
	}
	return f
}

// getenv is a function's environment under sam local invoke with
// events/env.json: Parameters for every function, then its own entry.
func (f envFile) getenv(fn string) func(string) string {
	return func(k string) string {
		if v, ok := f[fn][k]; ok {
			return v
		}
		return f["Parameters"][k]
	}
}

func (f envFile) has(fn, k string) bool {
	if _, ok := f[fn][k]; ok {
		return true
	}
	_, ok := f["Parameters"][k]
	return ok
}

// TestEnvFileReplacesEveryReference: under sam local invoke, a template
// value that is a reference (!Ref, !GetAtt, !Sub, !If, !Join) reaches the
// function as a logical id; events/env.json must replace every one, for
// every function. The detector and the sentinel then start with no AWS at
// all: no alerter (topic and table empty), the embedded default policy.
func TestEnvFileReplacesEveryReference(t *testing.T) {
	tpl := loadTemplate(t)
	env := loadEnvFile(t)
	globals := envVars(tpl["Globals"].(map[string]any)["Function"])
	for _, f := range templateFunctions(t, tpl) {
		if _, ok := env[f.LogicalID]; !ok && f.LogicalID != "DetectorFunction" {
			t.Errorf("events/env.json has no entry for %s", f.LogicalID)
		}
		vars := map[string]any{}
		for k, v := range globals {
			vars[k] = v
		}
		for k, v := range envVars(props(tpl.resources()[f.LogicalID])) {
			vars[k] = v
		}
		for k, v := range vars {
			if _, literal := v.(string); !literal && !env.has(f.LogicalID, k) {
				t.Errorf("%s: %s is a reference in template.yaml (%v) and events/env.json does not replace it", f.LogicalID, k, v)
			}
		}
	}
	for _, fn := range []string{"DetectorFunction", "SentinelFunction"} {
		getenv := env.getenv(fn)
		out, err := outputs.BuildSinks(context.Background(), awsConfigOffline(), getenv, policy.Default(), outputs.Clients{})
		if err != nil || out.Alerter != nil || out.Metrics == nil {
			t.Errorf("%s offline: alerter %v, metrics %v, err %v", fn, out != nil && out.Alerter != nil, out != nil && out.Metrics != nil, err)
		}
		loc, err := policy.Locate("", getenv)
		if err != nil || loc.Kind != policy.FromDefault {
			t.Errorf("%s offline: policy location %v %v, want the embedded default", fn, loc, err)
		}
	}
	if _, err := tamper.StackFromEnv(env.getenv("SentinelFunction")); err != nil {
		t.Errorf("sentinel offline: %v", err)
	}
}

// TestFunctionSamples: events/functions/ holds what the other functions
// receive. The schedules are EventBridge scheduled events; the remediator's
// sample is an SNS delivery of a real alert (regenerated with -update), not
// sealed, so the remediator refuses it as it would a forged one.
func TestFunctionSamples(t *testing.T) {
	for _, name := range []string{"budget", "reconciler", "sweeper"} {
		raw, err := os.ReadFile("../events/functions/" + name + "-schedule.json")
		if err != nil {
			t.Fatal(err)
		}
		var ev events.EventBridgeEvent
		if err := json.Unmarshal(raw, &ev); err != nil || ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" || len(ev.Resources) != 1 || ev.AccountID == "" {
			t.Errorf("%s-schedule.json: %+v %v", name, ev, err)
		}
	}

	want := remediatorSample(t)
	path := "../events/functions/remediator-alert.json"
	if *updateAlertExample {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s is stale; run go test ./tests -run TestFunctionSamples -update", path)
	}
	var ev events.SNSEvent
	if err := json.Unmarshal(got, &ev); err != nil || len(ev.Records) != 1 {
		t.Fatalf("remediator sample: %v", err)
	}
	msg := ev.Records[0].SNS
	f, raw, err := findings.ParseAlertJSON(msg.Message)
	if err != nil || f.Rule != findings.RuleUnauthorizedModel || msg.MessageAttributes[findings.AttrRemediable] == nil {
		t.Fatalf("remediator sample finding: %+v %v", f, err)
	}
	attrs := map[string]string{}
	for k, v := range msg.MessageAttributes {
		attrs[k] = v.(map[string]any)["Value"].(string)
	}
	if attrs[findings.AttrRemediable] != "true" {
		t.Errorf("the sample must reach the remediator's filter (remediable=true): %v", attrs)
	}
	if _, err := (seal.FindingVerifier{}).Verify(context.Background(), raw, attrs); !errors.Is(err, seal.ErrMissing) {
		t.Errorf("the sample must be unsealed (the remediator refuses it): %v", err)
	}
}

// remediatorSample is the SNS event the remediator receives for the
// unauthorized-model finding of events/invoke-model-unapproved-opus.json.
func remediatorSample(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile("../events/invoke-model-unapproved-opus.json")
	if err != nil {
		t.Fatal(err)
	}
	core := &detector.Core{Rules: rules.New(policy.Default())}
	var f findings.Finding
	core.Each(decode.Bytes("sample", raw), func(r *detector.Result, err error) {
		if err == nil && len(r.Findings) > 0 {
			f = r.Findings[0]
		}
	})
	if f.Rule == "" {
		t.Fatal("the opus sample produced no finding")
	}
	f.Details = map[string]string{alerts.DetailSuppressed: "0", alerts.DetailWindow: "1h"}
	m, err := alerts.Build(f, alerts.Options{Format: alerts.FormatText, Remediable: true, Stack: "bedrock-warden"})
	if err != nil {
		t.Fatal(err)
	}
	topic := "arn:aws:sns:us-east-1:111122223333:bedrock-warden-AlertTopic-1A2B3C4D5E6F"
	attrs := map[string]any{}
	for k, v := range m.Attributes {
		attrs[k] = map[string]any{"Type": "String", "Value": v}
	}
	ev := map[string]any{"Records": []any{map[string]any{
		"EventSource":          "aws:sns",
		"EventVersion":         "1.0",
		"EventSubscriptionArn": topic + ":0b6941c3-f04d-4d3e-a70e-dc8c3c1d8cf1",
		"Sns": map[string]any{
			"Type": "Notification", "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e", "TopicArn": topic,
			"Subject": m.Subject, "Message": m.Body, "Timestamp": time.Date(2026, 11, 20, 14, 3, 14, 0, time.UTC).Format(time.RFC3339Nano),
			"SignatureVersion": "1", "Signature": "EXAMPLE", "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-EXAMPLE.pem",
			"UnsubscribeUrl":    "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=" + topic + ":0b6941c3-f04d-4d3e-a70e-dc8c3c1d8cf1",
			"MessageAttributes": attrs,
		},
	}}}
	out, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// awsConfigOffline is a configuration that reaches no AWS endpoint: what
// sam local invoke gives a function without credentials.
func awsConfigOffline() aws.Config { return aws.Config{Region: "us-east-1"} }

// TestSecurityHubSink: with WARDEN_SECURITY_HUB=true every alert is also a
// Security Hub finding, one per incident: a repeat inside the suppression
// window adds nothing, the next alert after the window updates the same
// finding with the suppressed count.
func TestSecurityHubSink(t *testing.T) {
	r := newOutputsRig(t, map[string]string{outputs.EnvSecurityHub: "true"})
	hub := securityhub.NewFromConfig(r.srv.Config(t))
	ctx := context.Background()
	count := func() []shtypes.AwsSecurityFinding {
		out, err := hub.GetFindings(ctx, &securityhub.GetFindingsInput{})
		if err != nil {
			t.Fatal(err)
		}
		return out.Findings
	}
	if _, err := r.handle(t, opusEvent(t, "sh-1")); err != nil {
		t.Fatal(err)
	}
	got := count()
	if len(got) != 1 || got[0].Severity.Label != shtypes.SeverityLabelHigh || got[0].ProductFields["bedrock-warden/rule"] != findings.RuleUnauthorizedModel {
		t.Fatalf("after the first alert: %+v", got)
	}
	first := aws.ToString(got[0].UpdatedAt)
	r.clock.Add(time.Minute)
	if _, err := r.handle(t, opusEvent(t, "sh-2")); err != nil { // suppressed: no alert
		t.Fatal(err)
	}
	if got = count(); len(got) != 1 || aws.ToString(got[0].UpdatedAt) != first {
		t.Fatalf("a suppressed repeat touched Security Hub: %+v", got)
	}
	r.clock.Add(2 * time.Hour)
	if _, err := r.handle(t, opusEvent(t, "sh-3")); err != nil {
		t.Fatal(err)
	}
	got = count()
	if len(got) != 1 || aws.ToString(got[0].UpdatedAt) == first || got[0].ProductFields["bedrock-warden/suppressedSince"] != "1" ||
		got[0].ProductFields["bedrock-warden/eventId"] != "sh-3" {
		t.Fatalf("after the second alert: %+v", got)
	}
	if n := len(r.alerts(t)); n != 2 {
		t.Fatalf("%d alerts, want 2", n)
	}
}
