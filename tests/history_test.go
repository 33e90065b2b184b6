package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/heartbeat"
	"github.com/bedrock-warden/warden/pkg/heartbeat/cwmetric"
	"github.com/bedrock-warden/warden/pkg/heartbeat/statedb"
	"github.com/bedrock-warden/warden/pkg/history"
	"github.com/bedrock-warden/warden/pkg/history/trail"
	"github.com/bedrock-warden/warden/pkg/history/trailtest"
	"github.com/bedrock-warden/warden/pkg/metrics"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/reconcile"
	"github.com/bedrock-warden/warden/pkg/rules"
	"github.com/bedrock-warden/warden/pkg/tamper"
)

var histNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// bedrockRecord is a CloudTrail InvokeModel record as LookupEvents'
// CloudTrailEvent field carries it.
func bedrockRecord(id, source, model, region string, at time.Time) string {
	return fmt.Sprintf(`{"eventVersion":"1.11","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:app","arn":"arn:aws:sts::111122223333:assumed-role/app-chat/s1","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLE","arn":"arn:aws:iam::111122223333:role/app-chat","accountId":"111122223333","userName":"app-chat"},"attributes":{"creationDate":"2026-11-24T10:00:00Z","mfaAuthenticated":"false"}}},"eventTime":%q,"eventSource":%q,"eventName":"InvokeModel","awsRegion":%q,"sourceIPAddress":"AWS Internal","userAgent":"Boto3/1.35","requestParameters":{"modelId":%q},"responseElements":null,"requestID":"req-%s","eventID":%q,"readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}`,
		at.UTC().Format(time.RFC3339), source, region, model, id, id)
}

// trailConfig is an aws.Config whose clients talk to the fake endpoint.
func trailConfig(t testing.TB, url string) aws.Config {
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithBaseEndpoint(url),
	)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestHistoryScanPaginatesOverTheWire(t *testing.T) {
	srv := trailtest.New(t)
	srv.PageSize = 3
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("evt-%02d", i)
		srv.Add(t, "us-east-1", bedrockRecord(id, "bedrock.amazonaws.com", "anthropic.claude-3-5-sonnet-20240620-v1:0", "us-east-1", histNow.Add(-time.Duration(i+1)*time.Minute)))
		want = append(want, id)
	}
	srv.Add(t, "us-east-1", bedrockRecord("mantle-1", "bedrock-mantle.amazonaws.com", "openai.gpt-oss-120b-1:0", "us-east-1", histNow.Add(-30*time.Minute)))
	want = append(want, "mantle-1")
	// Outside the window: must not come back.
	srv.Add(t, "us-east-1", bedrockRecord("old", "bedrock.amazonaws.com", "anthropic.claude-3-5-sonnet-20240620-v1:0", "us-east-1", histNow.Add(-48*time.Hour)))
	srv.Add(t, "eu-west-1", bedrockRecord("eu-1", "bedrock.amazonaws.com", "amazon.nova-lite-v1:0", "eu-west-1", histNow.Add(-2*time.Minute)))

	clock := trailtest.NewClock(histNow)
	srv.Now = clock.Now
	s := &history.Scanner{Lookup: trail.Factory(trailConfig(t, srv.URL)), Clock: clock}
	var got []string
	st, err := s.Scan(context.Background(), []string{"us-east-1"}, histNow.Add(-24*time.Hour), histNow, func(e history.Event) error {
		if e.Record == "" || e.Time.IsZero() {
			t.Errorf("event %s lacks record or time", e.ID)
		}
		got = append(got, e.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	// 7 bedrock events in pages of 3 = 3 pages; mantle = 1 page.
	if st.Pages != 4 || st.Requests != 4 {
		t.Fatalf("stats %+v", st)
	}
	reqs := srv.Requests()
	for _, r := range reqs {
		if r.Status != 200 || r.Region != "us-east-1" {
			t.Fatalf("request %+v", r)
		}
	}
	if reqs[1].Token == "" || reqs[2].Token == "" || reqs[3].Token != "" {
		t.Fatalf("tokens not chained: %+v", reqs)
	}
}

func TestHistoryScanThrottledThenSucceeds(t *testing.T) {
	srv := trailtest.New(t)
	srv.Add(t, "us-west-2", bedrockRecord("w-1", "bedrock.amazonaws.com", "amazon.nova-pro-v1:0", "us-west-2", histNow.Add(-time.Minute)))
	srv.Throttle("us-west-2", 2)
	clock := trailtest.NewClock(histNow)
	srv.Now = clock.Now
	s := &history.Scanner{Lookup: trail.Factory(trailConfig(t, srv.URL)), Clock: clock,
		Sources: []string{"bedrock.amazonaws.com"},
		Backoff: history.Backoff{Base: time.Second, Rand: func() float64 { return 0.75 }}}
	var got []string
	st, err := s.Scan(context.Background(), []string{"us-west-2"}, histNow.Add(-time.Hour), histNow, func(e history.Event) error {
		got = append(got, e.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"w-1"}) {
		t.Fatalf("events %v", got)
	}
	// Exactly three requests reached the server: the SDK did not retry on
	// its own, the scanner did, twice.
	reqs := srv.Requests()
	if len(reqs) != 3 || !reqs[0].Throttled || !reqs[1].Throttled || reqs[2].Status != 200 {
		t.Fatalf("requests %+v", reqs)
	}
	if st.Throttled != 2 || st.Requests != 3 {
		t.Fatalf("stats %+v", st)
	}
	// Backoff.Delay(0) = 1s·0.75 + 0.5s: longer than the limiter's 500ms.
	if gap := reqs[1].At.Sub(reqs[0].At); gap != 1250*time.Millisecond {
		t.Fatalf("retried %v after a throttle, want the 1.25s backoff", gap)
	}
}

func TestHistoryLimiterHoldsTwoPerSecondPerRegion(t *testing.T) {
	srv := trailtest.New(t)
	srv.PageSize = 1
	for i := range 9 {
		srv.Add(t, "ap-south-1", bedrockRecord(fmt.Sprintf("a-%d", i), "bedrock.amazonaws.com", "amazon.nova-lite-v1:0", "ap-south-1", histNow.Add(-time.Duration(i+1)*time.Minute)))
	}
	clock := trailtest.NewClock(histNow)
	srv.Now = clock.Now
	s := &history.Scanner{Lookup: trail.Factory(trailConfig(t, srv.URL)), Clock: clock}
	st, err := s.Scan(context.Background(), []string{"ap-south-1"}, histNow.Add(-time.Hour), histNow, func(history.Event) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if st.Events != 9 || len(reqs) != 10 { // 9 one-event pages + 1 empty mantle page
		t.Fatalf("events %d, requests %d", st.Events, len(reqs))
	}
	for i := range reqs {
		n := 0
		for j := range reqs {
			if !reqs[j].At.Before(reqs[i].At) && reqs[j].At.Before(reqs[i].At.Add(time.Second)) {
				n++
			}
		}
		if n > 2 {
			t.Fatalf("%d requests in the second from %v", n, reqs[i].At)
		}
	}
	if span := reqs[len(reqs)-1].At.Sub(reqs[0].At); span != 4500*time.Millisecond {
		t.Fatalf("10 requests at 2/s should span 4.5s, spanned %v", span)
	}
}

func TestHistoryScanRegionsInParallel(t *testing.T) {
	srv := trailtest.New(t)
	regions := []string{"us-east-1", "eu-west-1", "ap-northeast-1"}
	for _, r := range regions {
		srv.Add(t, r, bedrockRecord("e-"+r, "bedrock.amazonaws.com", "amazon.nova-lite-v1:0", r, histNow.Add(-time.Minute)))
	}
	s := &history.Scanner{Lookup: trail.Factory(trailConfig(t, srv.URL)), Clock: trailtest.NewClock(histNow)}
	got := map[string]string{}
	if _, err := s.Scan(context.Background(), regions, histNow.Add(-time.Hour), histNow, func(e history.Event) error {
		got[e.Region] = e.ID
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, r := range regions {
		if got[r] != "e-"+r {
			t.Fatalf("region %s returned %q (all: %v)", r, got[r], got)
		}
	}
}

// --- reconciler and heartbeat against moto (SNS, DynamoDB, CloudWatch) ---

// histRig is the stack as the reconciler Lambda composes it: the real
// alerter (SNS + DynamoDB state in moto), a detector handler for the
// EventBridge path, a second one (alert sink only) for the reconciler, the
// fake CloudTrail endpoint for LookupEvents, and CloudWatch in moto.
type histRig struct {
	moto     *motoserver.Server
	trail    *trailtest.Server
	cfg      aws.Config
	out      *outputs.Outputs
	detector *detector.Handler
	recon    *detector.Handler
	cw       *cloudwatch.Client
	trailCfg aws.Config
	table    string
	now      time.Time
}

func cwProtocol(o *cloudwatch.Options) {
	// moto does not speak CBOR; production keeps the default.
	o.Protocol = awsjson.New10(cwschemas.GraniteServiceVersion20100801)
}

func newHistRig(t *testing.T, now time.Time) *histRig {
	t.Helper()
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	// setup is the test's own client config; the detector's and the
	// reconciler's clients record their calls for the template's IAM check.
	setup := srv.Config(t)
	cfg := srv.ConfigFor(t, "reconciler")
	ctx := context.Background()
	topic, err := sns.NewFromConfig(setup).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("warden-alerts")})
	if err != nil {
		t.Fatal(err)
	}
	r := &histRig{moto: srv, trail: trailtest.New(t), cfg: cfg, table: "warden", now: now,
		cw: cloudwatch.NewFromConfig(setup, cwProtocol)}
	vars := map[string]string{outputs.EnvTopicARN: aws.ToString(topic.TopicArn), outputs.EnvTable: r.table,
		outputs.EnvStack: "warden-test", outputs.EnvMetricsMode: outputs.MetricsAPI}
	p := policy.Default()
	build := func(fn string) *outputs.Outputs {
		out, err := outputs.BuildSinks(ctx, srv.ConfigFor(t, fn), func(k string) string { return vars[k] }, p, outputs.Clients{
			CloudWatch: []func(*cloudwatch.Options){cwProtocol},
			Now:        func() time.Time { return r.now },
		})
		if err != nil || out.Alerter == nil {
			t.Fatalf("BuildSinks(%s): %v", fn, err)
		}
		return out
	}
	detectorOut := build("detector")
	r.out = build("reconciler")
	r.trailCfg = trailConfig(t, r.trail.URL)
	motoserver.RecorderFor("reconciler").Attach(&r.trailCfg)
	core := &detector.Core{Rules: rules.New(p)}
	r.detector = &detector.Handler{Core: core, Sinks: detectorOut.Sinks}
	r.recon = &detector.Handler{Core: core, Sinks: []detector.Sink{r.out.Alerter}}
	return r
}

// reconciler builds the reconciler as functions/reconciler does, with a
// fake clock, reading us-east-1 through the fake CloudTrail endpoint.
func (r *histRig) reconciler(hb reconcile.Heartbeat) *reconcile.Reconciler {
	return &reconcile.Reconciler{
		Config:    reconcile.Config{Window: reconcile.DefaultWindow, Overlap: reconcile.DefaultOverlap, Regions: []string{"us-east-1"}},
		History:   &history.Scanner{Lookup: trail.Factory(r.trailCfg), Clock: trailtest.NewClock(r.now)},
		Pipeline:  r.recon,
		Heartbeat: hb,
		Now:       func() time.Time { return r.now },
	}
}

func envelopeOf(record string) []byte {
	return []byte(`{"version":"0","id":"env-1","detail-type":"AWS API Call via CloudTrail","source":"aws.bedrock","account":"111122223333","time":"2026-11-24T11:50:00Z","region":"us-east-1","resources":[],"detail":` + record + `}`)
}

func alertedEvents(t *testing.T, msgs []motoserver.SNSMessage) []string {
	t.Helper()
	var ids []string
	for _, m := range msgs {
		f, err := findings.ParseAlert(m.Message)
		if err != nil {
			t.Fatalf("ParseAlert: %v\n%s", err, m.Message)
		}
		ids = append(ids, f.Rule+"/"+f.EventID)
	}
	slices.Sort(ids)
	return ids
}

// An event the detector saw through EventBridge and the reconciler read
// again from CloudTrail alerts once; an event EventBridge dropped alerts
// through the reconciler, once, however often the reconciler runs.
func TestReconcilerAlertsOnceForEventSeenByBoth(t *testing.T) {
	r := newHistRig(t, time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	at := r.now.Add(-10 * time.Minute)
	seen := bedrockRecord("both-1", "bedrock.amazonaws.com", "anthropic.claude-3-opus-20240229-v1:0", "us-east-1", at)
	// Dropped by EventBridge: another model, so another incident.
	dropped := bedrockRecord("dropped-1", "bedrock.amazonaws.com", "mistral.mistral-large-2402-v1:0", "us-east-1", at.Add(time.Minute))
	benign := bedrockRecord("ok-1", "bedrock.amazonaws.com", "anthropic.claude-3-5-sonnet-20240620-v1:0", "us-east-1", at.Add(2*time.Minute))
	r.trail.Add(t, "us-east-1", seen, dropped, benign)

	if _, err := r.detector.Handle(context.Background(), envelopeOf(seen)); err != nil {
		t.Fatal(err)
	}
	if got := alertedEvents(t, r.moto.SNSMessages(t)); !slices.Equal(got, []string{"unauthorized-model/both-1"}) {
		t.Fatalf("after the detector: %v", got)
	}
	rec := r.reconciler(nil)
	for run := range 3 {
		res, err := rec.Run(context.Background())
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if res.Events != 3 || res.Batches != 1 {
			t.Fatalf("run %d: %+v", run, res)
		}
		r.now = r.now.Add(time.Minute)
	}
	want := []string{"unauthorized-model/both-1", "unauthorized-model/dropped-1"}
	if got := alertedEvents(t, r.moto.SNSMessages(t)); !slices.Equal(got, want) {
		t.Fatalf("after three reconciler runs: %v, want %v", got, want)
	}
	// The reconciler read exactly its window: now-35m .. now.
	reqs := r.trail.Requests()
	if len(reqs) == 0 || !reqs[0].Start.Equal(time.Date(2026, 11, 24, 11, 25, 0, 0, time.UTC)) {
		t.Fatalf("first window starts %v", reqs[0].Start)
	}
}

// The heartbeat fires once while the detector is silent and CloudTrail
// shows activity, stays quiet while the outage lasts, and says "cleared"
// once when EventsProcessed moves again. Metrics and state live in moto;
// the alerts go out through the real alerter.
func TestHeartbeatFiresAndClears(t *testing.T) {
	// Everything in the past, as CloudWatch wants datapoints.
	base := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	r := newHistRig(t, base)
	ctx := context.Background()
	put := func(at time.Time, n float64) {
		t.Helper()
		_, err := r.cw.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String(metrics.DefaultNamespace),
			MetricData: []cwtypes.MetricDatum{{MetricName: aws.String(metrics.EventsProcessed), Timestamp: aws.Time(at), Value: aws.Float64(n), Unit: cwtypes.StandardUnitCount}}})
		if err != nil {
			t.Fatalf("PutMetricData: %v", err)
		}
	}
	put(base.Add(-2*time.Hour), 4) // last EventBridge delivery two hours ago
	r.trail.Add(t, "us-east-1", bedrockRecord("act-1", "bedrock.amazonaws.com", "anthropic.claude-3-5-sonnet-20240620-v1:0", "us-east-1", base.Add(-20*time.Minute)))

	store := statedb.New(dynamodb.NewFromConfig(r.cfg), r.table)
	mon := &heartbeat.Monitor{Policy: policy.Default(), Metrics: cwmetric.NewFromConfig(r.cfg, "", cwProtocol), Store: store,
		Notifier: r.out.Alerter, Region: "us-east-1", Now: func() time.Time { return r.now }}
	rec := r.reconciler(mon)

	heartbeats := func() []findings.Finding {
		t.Helper()
		var out []findings.Finding
		for _, m := range r.moto.SNSMessages(t) {
			f, err := findings.ParseAlert(m.Message)
			if err != nil {
				t.Fatalf("ParseAlert: %v", err)
			}
			if f.Rule == findings.RulePipelineSilent {
				out = append(out, f)
			}
		}
		return out
	}

	res, err := rec.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.LastActivity.Equal(base.Add(-20 * time.Minute)) {
		t.Fatalf("last activity %v", res.LastActivity)
	}
	hb := heartbeats()
	if len(hb) != 1 || hb[0].Severity != findings.High || hb[0].Details["kind"] != heartbeat.KindSilent ||
		hb[0].Details["lastProcessed"] != base.Add(-2*time.Hour+time.Minute).Format(time.RFC3339) {
		t.Fatalf("after the first run: %+v", hb)
	}
	st, err := store.Load(ctx)
	if err != nil || !st.Open() || st.Fingerprint != hb[0].Fingerprint {
		t.Fatalf("stored state %+v, %v", st, err)
	}

	// 15 and 30 minutes later, still silent: no second alert.
	for range 2 {
		r.now = r.now.Add(15 * time.Minute)
		if _, err := rec.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if hb := heartbeats(); len(hb) != 1 {
		t.Fatalf("outage alerted %d times", len(hb))
	}

	// EventBridge delivers again: the detector's metric moves.
	put(r.now.Add(-5*time.Minute), 2)
	r.now = r.now.Add(15 * time.Minute)
	if _, err := rec.Run(ctx); err != nil {
		t.Fatal(err)
	}
	hb = heartbeats()
	if len(hb) != 2 || hb[1].Severity != findings.Info || hb[1].Details["cleared"] != "true" {
		t.Fatalf("clear: %+v", hb)
	}
	if st, _ := store.Load(ctx); st.Open() {
		t.Fatalf("state still open: %+v", st)
	}
	r.now = r.now.Add(15 * time.Minute)
	if _, err := rec.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if hb := heartbeats(); len(hb) != 2 {
		t.Fatalf("cleared more than once: %d heartbeat alerts", len(hb))
	}
}

// Two checks that read the same state cannot both save: the second gets
// ErrConflict from DynamoDB's condition.
func TestHeartbeatStateIsConditional(t *testing.T) {
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	s := statedb.New(dynamodb.NewFromConfig(srv.Config(t)), "warden")
	ctx := context.Background()
	st, err := s.Load(ctx)
	if err != nil || st.Open() || st.Version != 0 {
		t.Fatalf("empty load %+v %v", st, err)
	}
	open := heartbeat.State{Kind: heartbeat.KindSilent, OutageStart: histNow, AlertedAt: histNow.Add(time.Hour), Fingerprint: "fp", Watching: histNow.Add(-time.Hour)}
	if err := s.Save(ctx, open); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, open); !errors.Is(err, heartbeat.ErrConflict) {
		t.Fatalf("stale save: %v", err)
	}
	got, err := s.Load(ctx)
	if err != nil || got.Version != 1 || got.Kind != heartbeat.KindSilent || !got.OutageStart.Equal(histNow) || got.Fingerprint != "fp" ||
		!got.Watching.Equal(histNow.Add(-time.Hour)) || !got.AlertedAt.Equal(histNow.Add(time.Hour)) {
		t.Fatalf("loaded %+v %v", got, err)
	}
	got.Kind = ""
	if err := s.Save(ctx, got); err != nil {
		t.Fatalf("save at the read version: %v", err)
	}
}

// --- the second rule's event pattern (docs/history.md) ---

// tamperPattern reads the JSON block between the tamper-pattern markers.
func tamperPattern(t *testing.T) map[string]any {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "history.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i := strings.Index(text, "<!-- tamper-pattern:begin -->")
	j := strings.Index(text, "<!-- tamper-pattern:end -->")
	if i < 0 || j < i {
		t.Fatal("docs/history.md has no tamper-pattern block")
	}
	block := text[i:j]
	block = block[strings.Index(block, "```json")+len("```json"):]
	block = block[:strings.LastIndex(block, "```")]
	var p map[string]any
	if err := json.Unmarshal([]byte(block), &p); err != nil {
		t.Fatalf("pattern is not JSON: %v", err)
	}
	return p
}

func tamperEnvelope(source, name, params, response string) string {
	if response == "" {
		response = "null"
	}
	return `{"version":"0","id":"e","detail-type":"AWS API Call via CloudTrail","source":"aws.` + strings.TrimSuffix(source, ".amazonaws.com") + `","account":"111122223333","time":"2026-11-24T10:00:00Z","region":"us-east-1","resources":[],
"detail":{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDA","arn":"arn:aws:iam::111122223333:user/mallory","accountId":"111122223333","userName":"mallory"},
"eventTime":"2026-11-24T10:00:00Z","eventSource":"` + source + `","eventName":"` + name + `","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","requestParameters":` + params + `,"responseElements":` + response + `,"eventID":"id-1","eventType":"AwsApiCall","recipientAccountId":"111122223333"}}`
}

// The documented pattern lets through every change the sentinel reports for
// a stack named bedrock-warden, and keeps out other resources, reads and
// other services; what it lets through, tamper.Check judges the same way.
func TestTamperEventPattern(t *testing.T) {
	pattern := tamperPattern(t)
	stack := tamper.Stack{Name: "bedrock-warden", TopicARN: "arn:aws:sns:us-east-1:111122223333:bedrock-warden-alerts", ParameterPath: "/bedrock-warden"}
	topic := stack.TopicARN
	p := policy.Default()
	cases := []struct {
		source, name, params, response string
		want                           bool
	}{
		{"events.amazonaws.com", "DisableRule", `{"name":"bedrock-warden-BedrockEvents-1AB2"}`, "", true},
		{"events.amazonaws.com", "PutRule", `{"name":"arn:aws:events:us-east-1:111122223333:rule/bedrock-warden-Tamper-9Z"}`, "", true},
		{"events.amazonaws.com", "RemoveTargets", `{"rule":"bedrock-warden-BedrockEvents-1AB2","ids":["d"]}`, "", true},
		{"lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2", `{"functionName":"bedrock-warden-detector"}`, "", true},
		{"lambda.amazonaws.com", "UpdateFunctionCode20150331v2", `{"functionName":"arn:aws:lambda:us-east-1:111122223333:function:bedrock-warden-sentinel:live"}`, "", true},
		{"lambda.amazonaws.com", "DeleteFunction20150331", `{"functionName":"111122223333:function:bedrock-warden-detector"}`, "", true},
		{"lambda.amazonaws.com", "PutFunctionConcurrency20171031", `{"functionName":"bedrock-warden-detector","reservedConcurrentExecutions":0}`, "", true},
		{"lambda.amazonaws.com", "DeleteEventSourceMapping20150331", `{"uUID":"a1b2"}`, `{"uUID":"a1b2","functionArn":"arn:aws:lambda:us-east-1:111122223333:function:bedrock-warden-detector"}`, true},
		{"sns.amazonaws.com", "DeleteTopic", `{"topicArn":"` + topic + `"}`, "", true},
		{"sns.amazonaws.com", "Unsubscribe", `{"subscriptionArn":"` + topic + `:0b69-41c3"}`, "", true},
		{"dynamodb.amazonaws.com", "DeleteTable", `{"tableName":"bedrock-warden-state"}`, "", true},
		{"dynamodb.amazonaws.com", "UpdateTimeToLive", `{"tableName":"arn:aws:dynamodb:us-east-1:111122223333:table/bedrock-warden-state"}`, "", true},
		{"ssm.amazonaws.com", "PutParameter", `{"name":"/bedrock-warden/remediation/enabled","overwrite":true}`, "", true},
		{"ssm.amazonaws.com", "DeleteParameters", `{"names":["/x","/bedrock-warden/dry-run"]}`, "", true},
		{"ssm.amazonaws.com", "LabelParameterVersion", `{"name":"arn:aws:ssm:us-east-1:111122223333:parameter/bedrock-warden/mode"}`, "", true},

		{"events.amazonaws.com", "DisableRule", `{"name":"payments-nightly"}`, "", false},
		{"events.amazonaws.com", "DescribeRule", `{"name":"bedrock-warden-BedrockEvents-1AB2"}`, "", false},
		{"lambda.amazonaws.com", "UpdateFunctionCode20150331v2", `{"functionName":"payments-api"}`, "", false},
		{"lambda.amazonaws.com", "Invoke", `{"functionName":"bedrock-warden-detector"}`, "", false},
		{"sns.amazonaws.com", "DeleteTopic", `{"topicArn":"` + topic + `-2"}`, "", false},
		{"sns.amazonaws.com", "Publish", `{"topicArn":"` + topic + `"}`, "", false},
		{"dynamodb.amazonaws.com", "DeleteTable", `{"tableName":"orders"}`, "", false},
		{"ssm.amazonaws.com", "PutParameter", `{"name":"/bedrock-warden-other/x"}`, "", false},
		{"s3.amazonaws.com", "DeleteBucket", `{"bucketName":"bedrock-warden-logs"}`, "", false},
	}
	for _, c := range cases {
		env := tamperEnvelope(c.source, c.name, c.params, c.response)
		var ev any
		if err := json.Unmarshal([]byte(env), &ev); err != nil {
			t.Fatalf("%s %s: bad test envelope: %v", c.source, c.name, err)
		}
		got, err := matchPattern(pattern, ev)
		if err != nil {
			t.Fatalf("pattern: %v", err)
		}
		if got != c.want {
			t.Errorf("%s %s %s: pattern match %v, want %v", c.source, c.name, c.params, got, c.want)
		}
		// What the rule delivers, the sentinel judges alike.
		for it := range decode.Bytes("eventbridge", []byte(env)) {
			if it.Err != nil {
				t.Fatalf("decode: %v", it.Err)
			}
			if _, reported := tamper.Check(p, stack, &it.Record, it.Origin); reported != c.want {
				t.Errorf("%s %s %s: tamper.Check reported %v, want %v", c.source, c.name, c.params, reported, c.want)
			}
		}
	}
}
