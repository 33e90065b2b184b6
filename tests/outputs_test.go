package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/alerts"
	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/metrics"
	"github.com/bedrock-warden/warden/pkg/metrics/cwput"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
	"github.com/bedrock-warden/warden/pkg/state"
)

var updateAlertExample = flag.Bool("update", false, "rewrite docs/alerts-example.txt from the test's real alert")

// outT0 is the fake "now" of the alert tests.
var outT0 = time.Date(2026, 11, 20, 14, 5, 0, 0, time.UTC)

// alertClock is a settable clock shared by the alerter and metrics.
type alertClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *alertClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *alertClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// outputsRig is a detector handler wired to moto through BuildSinks.
type outputsRig struct {
	srv     *motoserver.Server
	topic   string
	table   string
	clock   *alertClock
	rec     *awsconf.Recorder
	emf     *bytes.Buffer
	handler *detector.Handler
	out     *outputs.Outputs
	snsDown *atomic.Bool
}

func outputsPolicy() *policy.Policy {
	return &policy.Policy{
		Models:      policy.ModelRules{Allow: []string{"anthropic.claude-3-5-sonnet*", "amazon.titan-*"}},
		Regions:     policy.RegionRules{Allow: []string{"us-east-1", "us-west-2"}},
		Remediation: policy.RemediationSettings{Actions: map[string]string{findings.RuleUnauthorizedModel: "detach"}},
	}
}

// newOutputsRig starts moto, creates the table and topic, and builds the
// handler with env (extra WARDEN_* values) on top of topic and table. SNS
// goes through a proxy that the test can switch off.
func newOutputsRig(t *testing.T, env map[string]string) *outputsRig {
	t.Helper()
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	cfg := srv.ConfigFor(t, "detector")
	rec := awsconf.NewRecorder()
	rec.Attach(&cfg)
	ctx := context.Background()
	topic, err := sns.NewFromConfig(srv.Config(t)).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("warden-alerts")})
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	rec.Reset()

	down := &atomic.Bool{}
	target, _ := url.Parse(srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "sns unavailable (test)", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	r := &outputsRig{srv: srv, topic: aws.ToString(topic.TopicArn), table: "warden",
		clock: &alertClock{t: outT0}, rec: rec, emf: &bytes.Buffer{}, snsDown: down}
	vars := map[string]string{outputs.EnvTopicARN: r.topic, outputs.EnvTable: r.table, outputs.EnvStack: "warden-test"}
	for k, v := range env {
		vars[k] = v
	}
	pol := outputsPolicy()
	r.out, err = outputs.BuildSinks(ctx, cfg, func(k string) string { return vars[k] }, pol, outputs.Clients{
		SNS: []func(*sns.Options){func(o *sns.Options) {
			o.BaseEndpoint = aws.String(front.URL)
			o.RetryMaxAttempts = 1
		}},
		CloudWatch: []func(*cloudwatch.Options){func(o *cloudwatch.Options) {
			// moto does not speak CBOR; production keeps the default.
			o.Protocol = awsjson.New10(cwschemas.GraniteServiceVersion20100801)
		}},
		EMFOut: r.emf,
		Now:    r.clock.Now,
	})
	if err != nil {
		t.Fatalf("BuildSinks: %v", err)
	}
	r.handler = &detector.Handler{Core: &detector.Core{Rules: rules.New(pol)}, Sinks: r.out.Sinks}
	return r
}

// opusEvent returns the sample unapproved-Opus EventBridge event with its
// ids replaced by id.
func opusEvent(t *testing.T, id string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "events", "invoke-model-unapproved-opus.json"))
	if err != nil {
		t.Fatal(err)
	}
	if id == "" {
		return raw
	}
	var env map[string]any
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	env["id"] = "env-" + id
	env["detail"].(map[string]any)["eventID"] = id
	out, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// alertSQSBatch wraps envelopes as an SQS event; message ids are "msg-<i>".
func alertSQSBatch(t *testing.T, bodies ...[]byte) []byte {
	t.Helper()
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: fmt.Sprintf("msg-%d", i), Body: string(b), EventSource: "aws:sqs",
			EventSourceARN: "arn:aws:sqs:us-east-1:111122223333:warden-buffer", AWSRegion: "us-east-1",
		})
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (r *outputsRig) handle(t *testing.T, payload []byte) (*events.SQSEventResponse, error) {
	t.Helper()
	return r.handler.Handle(context.Background(), payload)
}

func (r *outputsRig) alerts(t *testing.T) []motoserver.SNSMessage {
	t.Helper()
	return r.srv.SNSMessages(t)
}

// item reads one state item (nil when absent).
func (r *outputsRig) item(t *testing.T, pk, sk string) map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := dynamodb.NewFromConfig(r.srv.Config(t)).GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(r.table),
		Key: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: pk}, "sk": &ddbtypes.AttributeValueMemberS{Value: sk},
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("get %s: %v", pk, err)
	}
	return out.Item
}

func alertNumAttr(t *testing.T, item map[string]ddbtypes.AttributeValue, name string) string {
	t.Helper()
	v, ok := item[name].(*ddbtypes.AttributeValueMemberN)
	if !ok {
		t.Fatalf("item has no number %s: %v", name, item)
	}
	return v.Value
}

const opusEventID = "b22f7ece-583d-429c-ae0b-5f2f8b38fcb2"

// A violating event produces exactly one SNS message with the filter
// attributes, a readable body that round-trips through findings.ParseAlert,
// a handled marker and a window item. The message is the README example.
func TestOutputsViolationPublishesOneReadableAlert(t *testing.T) {
	r := newOutputsRig(t, nil)
	resp, err := r.handle(t, opusEvent(t, ""))
	if err != nil || resp != nil {
		t.Fatalf("Handle = %v, %v; want nil, nil", resp, err)
	}
	msgs := r.alerts(t)
	if len(msgs) != 1 {
		t.Fatalf("published %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	wantAttrs := map[string]string{
		"severity": "high", "rule": findings.RuleUnauthorizedModel, "account": "111122223333",
		"region": "us-east-1", findings.AttrRemediable: "true",
	}
	for k, v := range wantAttrs {
		if got := m.Attributes[k]; got.StringValue != v || got.DataType != "String" {
			t.Errorf("attribute %s = %+v, want String %q", k, got, v)
		}
	}
	if len(m.Subject) >= 100 || strings.ContainsAny(m.Subject, "\r\n") {
		t.Errorf("subject %q: want < 100 chars, one line", m.Subject)
	}
	if !strings.HasPrefix(m.Subject, "[HIGH] unauthorized-model: role/app-chat invoked anthropic.claude-3-opus") {
		t.Errorf("subject = %q", m.Subject)
	}
	for _, want := range []string{
		"arn:aws:iam::111122223333:role/app-chat (type AssumedRole, session chat-7f3a",
		"anthropic.claude-3-opus-20240229-v1:0",
		"10.20.30.40 via vpce-0a1b2c3d4e5f60718",
		"2026-11-20T14:03:11Z",
		"https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/" + opusEventID,
		"Next steps:",
		"none: first alert for this incident (suppression window 1h)",
	} {
		if !strings.Contains(m.Message, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Message)
		}
	}
	f, err := findings.ParseAlert(m.Message)
	if err != nil {
		t.Fatalf("ParseAlert: %v", err)
	}
	if f.EventID != opusEventID || f.Rule != findings.RuleUnauthorizedModel || f.Details[alerts.DetailSuppressed] != "0" {
		t.Errorf("parsed finding = %+v", f)
	}
	if r.item(t, state.EventPrefix+opusEventID, state.EventSK) == nil {
		t.Error("event not marked handled")
	}
	w := r.item(t, state.AlertPrefix+f.Fingerprint, state.AlertSK)
	if w == nil {
		t.Fatal("no window item")
	}
	if st := w["st"].(*ddbtypes.AttributeValueMemberS).Value; st != "sent" {
		t.Errorf("window status %q, want sent", st)
	}
	wantTTL := fmt.Sprint(outT0.Add(time.Hour).Add(state.DefaultWindowRetention).Unix())
	if got := alertNumAttr(t, w, "ttl"); got != wantTTL {
		t.Errorf("window ttl = %s, want %s", got, wantTTL)
	}
	// Least privilege: exactly these calls.
	calls := r.rec.Actions()
	want := []string{"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:TransactWriteItems", "dynamodb:UpdateItem", "sns:PublishBatch"}
	if strings.Join(calls, ",") != strings.Join(want, ",") {
		t.Errorf("AWS calls = %v, want %v", calls, want)
	}
	checkAlertExample(t, m)
}

// checkAlertExample compares the message with docs/alerts-example.txt, or
// rewrites it with -update.
func checkAlertExample(t *testing.T, m motoserver.SNSMessage) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "Subject: %s\n\nMessage attributes (String):\n", m.Subject)
	keys := make([]string, 0, len(m.Attributes))
	for k := range m.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s = %s\n", k, m.Attributes[k].StringValue)
	}
	fmt.Fprintf(&b, "\nBody:\n%s", m.Message)
	path := filepath.Join("..", "docs", "alerts-example.txt")
	if *updateAlertExample {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./tests -run TestOutputsViolation -update to create it)", err)
	}
	if string(want) != b.String() {
		t.Errorf("docs/alerts-example.txt is stale; run go test ./tests -run TestOutputsViolation -update\n--- got:\n%s", b.String())
	}
	// docs/alerts.md quotes the example (abridged): its subject and
	// attribute lines must match the real message.
	doc, err := os.ReadFile(filepath.Join("..", "docs", "alerts.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(b.String(), "\n")[:9] {
		if line != "" && !strings.Contains(string(doc), line) {
			t.Errorf("docs/alerts.md does not quote the example line %q", line)
		}
	}
	// The README's Alerts section quotes it down to the fingerprint line.
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, "Next steps:") {
			break
		}
		if line != "" && !strings.Contains(string(readme), line) {
			t.Errorf("README.md does not quote the example line %q", line)
		}
	}
}

// The chat format goes through SNS unchanged: a Chatbot custom
// notification that findings.ParseAlert reads back.
func TestOutputsChatFormat(t *testing.T) {
	r := newOutputsRig(t, map[string]string{outputs.EnvAlertFormat: "chat"})
	if _, err := r.handle(t, opusEvent(t, "")); err != nil {
		t.Fatal(err)
	}
	msgs := r.alerts(t)
	if len(msgs) != 1 {
		t.Fatalf("published %d, want 1", len(msgs))
	}
	var n struct {
		Version, Source string
		Content         struct{ TextType, Title string }
	}
	if err := json.Unmarshal([]byte(msgs[0].Message), &n); err != nil || n.Version != "1.0" || n.Source != "custom" || n.Content.Title == "" {
		t.Fatalf("not a custom notification (%v): %s", err, msgs[0].Message)
	}
	f, err := findings.ParseAlert(msgs[0].Message)
	if err != nil || f.EventID != opusEventID {
		t.Fatalf("ParseAlert = %+v, %v", f, err)
	}
	if msgs[0].Attributes["severity"].StringValue != "high" {
		t.Errorf("attributes = %+v", msgs[0].Attributes)
	}
}

// The same event delivered three times (EventBridge retry, SQS redelivery,
// a duplicate inside one SQS batch) alerts once.
func TestOutputsDuplicateDeliveriesAlertOnce(t *testing.T) {
	r := newOutputsRig(t, nil)
	ev := opusEvent(t, "")
	if _, err := r.handle(t, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := r.handle(t, ev); err != nil {
		t.Fatal(err)
	}
	resp, err := r.handle(t, alertSQSBatch(t, ev, ev))
	if err != nil || resp == nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("SQS redelivery: %+v, %v; want no failures", resp, err)
	}
	if n := len(r.alerts(t)); n != 1 {
		t.Fatalf("published %d alerts for one event delivered 4 times, want 1", n)
	}
}

// 50 violations of one fingerprint inside the window: one alert; the 49
// follow-ups are counted and reported by the next alert after the window.
func TestOutputsRepeatsInWindowAreCounted(t *testing.T) {
	r := newOutputsRig(t, nil)
	for i := range 50 {
		if _, err := r.handle(t, opusEvent(t, fmt.Sprintf("evt-%02d", i))); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		r.clock.Add(time.Minute / 2)
	}
	msgs := r.alerts(t)
	if len(msgs) != 1 {
		t.Fatalf("published %d alerts for 50 repeats in the window, want 1", len(msgs))
	}
	first, err := findings.ParseAlert(msgs[0].Message)
	if err != nil {
		t.Fatal(err)
	}
	if w := r.item(t, state.AlertPrefix+first.Fingerprint, state.AlertSK); alertNumAttr(t, w, "cnt") != "49" {
		t.Errorf("window count = %s, want 49", alertNumAttr(t, w, "cnt"))
	}
	// After the window the next violation alerts and reports the 49.
	r.clock.Add(time.Hour)
	if _, err := r.handle(t, opusEvent(t, "evt-after")); err != nil {
		t.Fatal(err)
	}
	msgs = r.alerts(t)
	if len(msgs) != 2 {
		t.Fatalf("published %d alerts, want 2", len(msgs))
	}
	second, err := findings.ParseAlert(msgs[1].Message)
	if err != nil {
		t.Fatal(err)
	}
	if second.EventID != "evt-after" || second.Details[alerts.DetailSuppressed] != "49" {
		t.Errorf("second alert: event %s suppressedSince %q, want evt-after and 49", second.EventID, second.Details[alerts.DetailSuppressed])
	}
	if !strings.Contains(msgs[1].Message, "49 similar events since the last alert") {
		t.Errorf("second alert body does not state the count:\n%s", msgs[1].Message)
	}
	if w := r.item(t, state.AlertPrefix+first.Fingerprint, state.AlertSK); alertNumAttr(t, w, "cnt") != "0" || alertNumAttr(t, w, "alerts") != "2" {
		t.Errorf("window after second alert: cnt %s alerts %s, want 0 and 2", alertNumAttr(t, w, "cnt"), alertNumAttr(t, w, "alerts"))
	}
}

// 50 violations of one fingerprint in one SQS batch: one alert that
// reports the other 49.
func TestOutputsRepeatsInOneBatchFoldIntoOneAlert(t *testing.T) {
	r := newOutputsRig(t, nil)
	var bodies [][]byte
	for i := range 50 {
		bodies = append(bodies, opusEvent(t, fmt.Sprintf("batch-%02d", i)))
	}
	resp, err := r.handle(t, alertSQSBatch(t, bodies...))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle: %+v, %v", resp, err)
	}
	msgs := r.alerts(t)
	if len(msgs) != 1 {
		t.Fatalf("published %d alerts, want 1", len(msgs))
	}
	f, err := findings.ParseAlert(msgs[0].Message)
	if err != nil {
		t.Fatal(err)
	}
	if f.Details[alerts.DetailSuppressed] != "49" {
		t.Errorf("suppressedSince = %q, want 49", f.Details[alerts.DetailSuppressed])
	}
	for _, id := range []string{"batch-00", "batch-25", "batch-49"} {
		if r.item(t, state.EventPrefix+id, state.EventSK) == nil {
			t.Errorf("event %s not marked handled", id)
		}
	}
}

// SNS down: the EventBridge invocation fails, the SQS batch reports the
// message in batchItemFailures, nothing is marked handled; once SNS is
// back the retry publishes exactly one alert.
func TestOutputsSNSDownThenRetryAlertsOnce(t *testing.T) {
	r := newOutputsRig(t, nil)
	ev := opusEvent(t, "")
	benign := opusEventWithModel(t, "benign-1", "anthropic.claude-3-5-sonnet-20240620-v1:0")
	r.snsDown.Store(true)
	if _, err := r.handle(t, ev); err == nil {
		t.Fatal("EventBridge path with SNS down: want an error")
	}
	resp, err := r.handle(t, alertSQSBatch(t, benign, ev))
	if err != nil {
		t.Fatalf("SQS path: %v", err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "msg-1" {
		t.Fatalf("batchItemFailures = %+v, want [msg-1]", resp.BatchItemFailures)
	}
	if r.item(t, state.EventPrefix+opusEventID, state.EventSK) != nil {
		t.Fatal("event marked handled although its alert was not published")
	}
	if n := len(r.alerts(t)); n != 0 {
		t.Fatalf("%d alerts published while SNS was down", n)
	}
	r.snsDown.Store(false)
	r.clock.Add(time.Minute)
	resp, err = r.handle(t, alertSQSBatch(t, ev))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("retry: %+v, %v", resp, err)
	}
	if _, err := r.handle(t, ev); err != nil { // a late EventBridge retry too
		t.Fatal(err)
	}
	if n := len(r.alerts(t)); n != 1 {
		t.Fatalf("published %d alerts after recovery, want 1", n)
	}
	if r.item(t, state.EventPrefix+opusEventID, state.EventSK) == nil {
		t.Error("event not marked handled after the alert went out")
	}
	if r.item(t, state.EventPrefix+"benign-1", state.EventSK) != nil {
		t.Error("a benign event cost a DynamoDB write")
	}
}

func opusEventWithModel(t *testing.T, id, model string) []byte {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal(opusEvent(t, id), &env); err != nil {
		t.Fatal(err)
	}
	env["detail"].(map[string]any)["requestParameters"] = map[string]any{"modelId": model}
	out, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A benign batch touches no state and publishes nothing; EMF lines parse
// as EMF with the namespace, dimensions and metrics.
func TestOutputsEMFAndBenignBatch(t *testing.T) {
	r := newOutputsRig(t, map[string]string{outputs.EnvMetricsNamespace: "WardenTest"})
	benign := opusEventWithModel(t, "benign-2", "anthropic.claude-3-5-sonnet-20240620-v1:0")
	if _, err := r.handle(t, alertSQSBatch(t, benign, opusEvent(t, ""))); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(r.emf.String()), "\n") {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("EMF line is not JSON: %v: %s", err, line)
		}
		meta, ok := doc["_aws"].(map[string]any)
		if !ok {
			t.Fatalf("no _aws: %s", line)
		}
		if _, ok := meta["Timestamp"].(float64); !ok {
			t.Fatalf("no numeric Timestamp: %s", line)
		}
		dirs := meta["CloudWatchMetrics"].([]any)
		for _, d := range dirs {
			dir := d.(map[string]any)
			if dir["Namespace"] != "WardenTest" {
				t.Errorf("namespace %v", dir["Namespace"])
			}
			var dimPart []string
			for _, set := range dir["Dimensions"].([]any) {
				for _, name := range set.([]any) {
					v, ok := doc[name.(string)].(string)
					if !ok {
						t.Fatalf("dimension %v has no string value in the root: %s", name, line)
					}
					dimPart = append(dimPart, name.(string)+"="+v)
				}
			}
			for _, m := range dir["Metrics"].([]any) {
				name := m.(map[string]any)["Name"].(string)
				v, ok := doc[name].(float64)
				if !ok {
					t.Fatalf("metric %s has no numeric value: %s", name, line)
				}
				got[strings.Join(append([]string{name}, dimPart...), " ")] += v
			}
		}
	}
	want := map[string]float64{
		"EventsProcessed":  2,
		"DecodeErrors":     0,
		"AlertsSent":       1,
		"AlertsSuppressed": 0,
		"Invocations Model=anthropic.claude-3-opus-20240229-v1:0":     1,
		"Invocations Model=anthropic.claude-3-5-sonnet-20240620-v1:0": 1,
		"Invocations Region=us-east-1":                                2,
		"Findings Rule=unauthorized-model Severity=high":              1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("EMF %s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("EMF metrics %v, want exactly %v", got, want)
	}
}

// PutMetricData mode: the batch's metrics reach CloudWatch (moto) through
// the real client.
func TestOutputsPutMetricData(t *testing.T) {
	r := newOutputsRig(t, map[string]string{outputs.EnvMetricsMode: "api"})
	if _, err := r.handle(t, opusEvent(t, "")); err != nil {
		t.Fatal(err)
	}
	if r.emf.Len() != 0 {
		t.Errorf("api mode wrote EMF: %s", r.emf.String())
	}
	cw := cloudwatch.NewFromConfig(r.srv.Config(t), func(o *cloudwatch.Options) {
		o.Protocol = awsjson.New10(cwschemas.GraniteServiceVersion20100801)
	})
	out, err := cw.ListMetrics(context.Background(), &cloudwatch.ListMetricsInput{Namespace: aws.String("BedrockWarden")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, m := range out.Metrics {
		key := aws.ToString(m.MetricName)
		for _, d := range m.Dimensions {
			key += " " + aws.ToString(d.Name) + "=" + aws.ToString(d.Value)
		}
		got[key] = true
	}
	for _, want := range []string{
		"EventsProcessed", "AlertsSent", "Findings Rule=unauthorized-model Severity=high",
		"Invocations Model=anthropic.claude-3-opus-20240229-v1:0", "Invocations Region=us-east-1",
	} {
		if !got[want] {
			t.Errorf("metric %q missing; have %v", want, got)
		}
	}
	if n := r.rec.Calls()["cloudwatch:PutMetricData"]; n != 1 {
		t.Errorf("PutMetricData calls = %d, want 1 for one batch", n)
	}
}

// PutMetricData that CloudWatch throttles is retried by the putter's
// retryer and lands once.
func TestOutputsPutMetricDataRetriesThrottling(t *testing.T) {
	srv := motoserver.Start(t)
	target, _ := url.Parse(srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var throttled atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".PutMetricData") && throttled.Add(1) == 1 {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.Header().Set("X-Amzn-ErrorType", "Throttling")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"Throttling","message":"Rate exceeded"}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	p := cwput.NewFromConfig(srv.Config(t), "Throttled", func(o *cloudwatch.Options) {
		o.BaseEndpoint = aws.String(front.URL)
		o.Protocol = awsjson.New10(cwschemas.GraniteServiceVersion20100801)
	})
	err := p.Put(context.Background(), outT0, []metrics.Datum{{Name: metrics.EventsProcessed, Unit: metrics.UnitCount, Value: 3}})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if n := throttled.Load(); n != 2 {
		t.Errorf("PutMetricData reached the endpoint %d times, want 2 (throttled, then retried)", n)
	}
	cw := cloudwatch.NewFromConfig(srv.Config(t), func(o *cloudwatch.Options) {
		o.Protocol = awsjson.New10(cwschemas.GraniteServiceVersion20100801)
	})
	out, err := cw.ListMetrics(context.Background(), &cloudwatch.ListMetricsInput{Namespace: aws.String("Throttled")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Metrics) != 1 || aws.ToString(out.Metrics[0].MetricName) != metrics.EventsProcessed {
		t.Errorf("metrics = %+v", out.Metrics)
	}
}
