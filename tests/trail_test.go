package tests

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/archive/intake"
	"github.com/bedrock-warden/warden/pkg/archive/intake/assemble"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/heartbeat"
	"github.com/bedrock-warden/warden/pkg/lambdaenv"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/pipeline"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/reconcile"
	"github.com/bedrock-warden/warden/pkg/seal"
	"github.com/bedrock-warden/warden/pkg/spikes"
	"github.com/bedrock-warden/warden/pkg/state"
)

const (
	trailBucket  = "org-trail-logs"
	centralAcct  = "999988887777" // the stack's account (moto's)
	memberAcct   = "444455556666" // a member account of the organisation
	trailOrgPath = "AWSLogs/o-abcdef1234/"
)

// staticPolicy serves one policy (lambdaenv.PolicySource).
type staticPolicy struct{ p *policy.Policy }

func (s staticPolicy) Policy(context.Context) (*policy.Policy, error) { return s.p, nil }

// trailRig is the S3 intake as functions/trail builds it (assemble.Handler),
// on moto: the trail bucket notifying an SQS queue, the state table, the
// topic and the finding key of a central stack.
type trailRig struct {
	srv    *motoserver.Server
	s3     *s3.Client
	sqs    *sqs.Client
	queue  string
	env    map[string]string
	h      *intake.Handler
	emf    *bytes.Buffer
	seqNum int
}

func newTrailRig(t *testing.T) *trailRig {
	t.Helper()
	srv := motoserver.Start(t, motoserver.Env("MOTO_ACCOUNT_ID", centralAcct))
	srv.CreateTable(t, "warden")
	ctx := context.Background()
	setup := srv.Config(t)
	topic, err := sns.NewFromConfig(setup).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("warden-alerts")})
	if err != nil {
		t.Fatal(err)
	}
	r := &trailRig{srv: srv, s3: s3.NewFromConfig(setup, func(o *s3.Options) { o.UsePathStyle = true }), sqs: sqs.NewFromConfig(setup), emf: &bytes.Buffer{}}
	q, err := r.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("warden-trail")})
	if err != nil {
		t.Fatal(err)
	}
	r.queue = aws.ToString(q.QueueUrl)
	if _, err := r.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(trailBucket)}); err != nil {
		t.Fatal(err)
	}
	// The bucket owner's notification to the stack's queue (parameter
	// TrailNotifications=s3): S3 sends a test event at once.
	if _, err := r.s3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(trailBucket),
		NotificationConfiguration: &s3types.NotificationConfiguration{QueueConfigurations: []s3types.QueueConfiguration{{
			QueueArn: aws.String("arn:aws:sqs:us-east-1:" + centralAcct + ":warden-trail"),
			Events:   []s3types.Event{"s3:ObjectCreated:*"},
			Filter: &s3types.NotificationConfigurationFilter{Key: &s3types.S3KeyFilter{FilterRules: []s3types.FilterRule{
				{Name: s3types.FilterRuleNamePrefix, Value: aws.String("AWSLogs/")},
				{Name: s3types.FilterRuleNameSuffix, Value: aws.String(".json.gz")},
			}}},
		}}},
	}); err != nil {
		t.Fatal(err)
	}
	r.env = map[string]string{
		outputs.EnvTopicARN: aws.ToString(topic.TopicArn), outputs.EnvTable: "warden", outputs.EnvStack: "warden-test",
		outputs.EnvMetricsMode: "emf", outputs.EnvFindingKey: srv.CreateHMACKey(t, "findings"),
		intake.EnvBucket: trailBucket,
	}
	env := &lambdaenv.Env{Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), AWS: srv.ConfigFor(t, "trail"),
		Policy: policy.Default(), Policies: staticPolicy{policy.Default()}, Getenv: func(k string) string { return r.env[k] }}
	h, err := assemble.Handler(ctx, env, assemble.Clients{Clients: outputs.Clients{EMFOut: r.emf, Log: env.Log}})
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	return r
}

// record returns a sample event's CloudTrail record moved to account, with
// event id id.
func trailRecord(t *testing.T, sample, account, id string) json.RawMessage {
	t.Helper()
	var env struct{ Detail json.RawMessage }
	if err := json.Unmarshal(readSample(t, sample), &env); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(bytes.ReplaceAll(env.Detail, []byte("111122223333"), []byte(account)), &rec); err != nil {
		t.Fatal(err)
	}
	rec["eventID"] = id
	b, _ := json.Marshal(rec)
	return b
}

// put writes a log file of records for account in us-east-1 and returns
// its key.
func (r *trailRig) put(t *testing.T, account string, records ...json.RawMessage) string {
	t.Helper()
	r.seqNum++
	key := fmt.Sprintf("%s%s/CloudTrail/us-east-1/2026/11/20/%s_CloudTrail_us-east-1_20261120T14%02dZ_UniqueString%04d.json.gz", trailOrgPath, account, account, r.seqNum, r.seqNum)
	body, _ := json.Marshal(map[string]any{"Records": records})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(body)
	zw.Close()
	if _, err := r.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(trailBucket), Key: aws.String(key), Body: bytes.NewReader(gz.Bytes())}); err != nil {
		t.Fatal(err)
	}
	return key
}

// receive returns the queue's messages as Lambda delivers them (and
// deletes them from the queue, as Lambda does after the invocation).
func (r *trailRig) receive(t *testing.T) events.SQSEvent {
	t.Helper()
	ctx := context.Background()
	var ev events.SQSEvent
	for range 3 {
		out, err := r.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(r.queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), EventSource: "aws:sqs", AWSRegion: "us-east-1"})
			r.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(r.queue), ReceiptHandle: m.ReceiptHandle})
		}
		if len(out.Messages) == 0 && len(ev.Records) > 0 {
			break
		}
	}
	return ev
}

func (r *trailRig) handle(t *testing.T, ev events.SQSEvent) []string {
	t.Helper()
	resp, err := r.h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("trail handler: %v", err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	slices.Sort(failed)
	return failed
}

func (r *trailRig) alerts(t *testing.T) []motoserver.SNSMessage {
	t.Helper()
	return r.srv.SNSMessages(t)
}

// TestTrailIntakeEndToEnd: a member account's log file, announced by the
// bucket's own S3 notification, alerts once — sealed, naming the member
// account — whatever else the file holds; announced again, it is not read
// again and alerts nothing; an event the detector already alerted through
// EventBridge does not alert again from the log file.
func TestTrailIntakeEndToEnd(t *testing.T) {
	r := newTrailRig(t)
	getsBefore := getObjects()
	r.put(t, memberAcct,
		trailRecord(t, "invoke-model-unapproved-opus.json", memberAcct, "evt-opus-member"),
		trailRecord(t, "non-bedrock/s3-create-bucket.json", memberAcct, "evt-s3"),
		trailRecord(t, "non-bedrock/iam-attach-role-policy.json", memberAcct, "evt-iam"),
	)
	batch := r.receive(t)
	if len(batch.Records) != 2 || !strings.Contains(batch.Records[0].Body+batch.Records[1].Body, "s3:TestEvent") {
		t.Fatalf("queue: %d messages, want the test event and the log file's", len(batch.Records))
	}
	if failed := r.handle(t, batch); len(failed) != 0 {
		t.Fatalf("failed messages %v", failed)
	}
	msgs := r.alerts(t)
	if len(msgs) != 1 {
		t.Fatalf("%d alerts, want 1", len(msgs))
	}
	m := msgs[0]
	// Remediable: the central remediator receives it and refuses it with
	// the plan, as the principal is in another account.
	if m.Attributes["rule"].StringValue != findings.RuleUnauthorizedModel || m.Attributes["account"].StringValue != memberAcct ||
		m.Attributes[seal.AttrMAC].StringValue == "" || !strings.Contains(m.Subject, "app-chat") ||
		m.Attributes[findings.AttrRemediable].StringValue != "true" {
		t.Fatalf("alert %q attributes %+v", m.Subject, m.Attributes)
	}
	// Metrics per member account, and the intake's own.
	for _, want := range []string{`"TrailObjects"`, `"Account":"` + memberAcct + `"`} {
		if !strings.Contains(r.emf.String(), want) {
			t.Errorf("no %s in the metrics:\n%s", want, r.emf.String())
		}
	}

	// The same announcement again (SQS redelivery, a second notification).
	r.emf.Reset()
	if failed := r.handle(t, batch); len(failed) != 0 {
		t.Fatalf("redelivery: failed %v", failed)
	}
	if n := len(r.alerts(t)); n != 1 {
		t.Fatalf("redelivery alerted: %d alerts", n)
	}
	if !strings.Contains(r.emf.String(), `"Reason":"duplicate"`) {
		t.Errorf("duplicate not counted:\n%s", r.emf.String())
	}
	if gets := getObjects() - getsBefore; gets != 1 {
		t.Errorf("the log file was read %d times, want once", gets)
	}

	// An event first seen through EventBridge by the detector, then in a
	// log file: one alert.
	ctx := context.Background()
	det, err := pipeline.Detector(ctx, r.srv.ConfigFor(t, "detector"), func(k string) string { return r.env[k] }, policy.Default(),
		outputs.Clients{EMFOut: io.Discard, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rec := trailRecord(t, "converse-model-not-allowlisted-mistral.json", memberAcct, "evt-mistral")
	envelope, _ := json.Marshal(map[string]any{"version": "0", "id": "eb-1", "detail-type": "AWS API Call via CloudTrail", "source": "aws.bedrock",
		"account": memberAcct, "time": "2026-11-20T14:10:00Z", "region": "us-east-1", "resources": []string{}, "detail": rec})
	if _, err := det.Handle(ctx, envelope); err != nil {
		t.Fatal(err)
	}
	if n := len(r.alerts(t)); n != 2 {
		t.Fatalf("%d alerts after the EventBridge delivery, want 2", n)
	}
	r.put(t, memberAcct, rec)
	if failed := r.handle(t, r.receive(t)); len(failed) != 0 {
		t.Fatalf("failed %v", failed)
	}
	if n := len(r.alerts(t)); n != 2 {
		t.Fatalf("the log file alerted again for an event EventBridge delivered: %d alerts", n)
	}
}

// getObjects is how many GetObject calls the trail function made so far.
func getObjects() int { return motoserver.RecorderFor("trail").Calls()["s3:GetObject"] }

// TestTrailIntakePartialBatchFailures: in one SQS batch, a log file over
// the size limit, a notification that is none, and one for a bucket the
// stack does not watch fail on their own — named by message id, to come
// back and dead-letter — while the good log file is judged; an oversized
// file is never read, and a digest beside the log files is skipped.
func TestTrailIntakePartialBatchFailures(t *testing.T) {
	r := newTrailRig(t)
	r.receive(t) // the test event
	small := r.put(t, memberAcct, trailRecord(t, "invoke-model-unapproved-opus.json", memberAcct, "evt-small"))
	good := r.receive(t)
	var big []json.RawMessage
	for i := range 40 {
		big = append(big, trailRecord(t, "invoke-model-allowed-sonnet.json", memberAcct, fmt.Sprintf("evt-big-%d", i)))
	}
	bigKey := r.put(t, memberAcct, big...)
	oversized := r.receive(t)
	if len(good.Records) != 1 || len(oversized.Records) != 1 {
		t.Fatalf("messages %d and %d", len(good.Records), len(oversized.Records))
	}
	// The limit between the two files' sizes.
	head := func(key string) int64 {
		out, err := r.s3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(trailBucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToInt64(out.ContentLength)
	}
	if head(small) >= head(bigKey) {
		t.Fatalf("sizes %d and %d", head(small), head(bigKey))
	}
	r.h.MaxObjectBytes = head(small) + 1
	digest, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
		"s3": map[string]any{"bucket": map[string]any{"name": trailBucket}, "object": map[string]any{"key": trailOrgPath + memberAcct +
			"/CloudTrail-Digest/us-east-1/2026/11/20/" + memberAcct + "_CloudTrail-Digest_us-east-1_org_us-east-1_20261120T140512Z.json.gz", "size": 900}}}}})
	other := strings.ReplaceAll(good.Records[0].Body, trailBucket, "someone-elses-bucket")
	batch := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m-good", Body: good.Records[0].Body},
		{MessageId: "m-oversized", Body: oversized.Records[0].Body},
		{MessageId: "m-unknown", Body: `{"hello":"world"}`},
		{MessageId: "m-other-bucket", Body: other},
		{MessageId: "m-digest", Body: string(digest)},
	}}
	before := getObjects()
	failed := r.handle(t, batch)
	if want := []string{"m-other-bucket", "m-oversized", "m-unknown"}; !slices.Equal(failed, want) {
		t.Fatalf("failed %v, want %v", failed, want)
	}
	if gets := getObjects() - before; gets != 1 {
		t.Errorf("%d objects read, want only the good log file", gets)
	}
	if n := len(r.alerts(t)); n != 1 {
		t.Errorf("%d alerts, want the good file's one", n)
	}
	for _, reason := range []string{intake.ReasonTooLarge, intake.ReasonUnknownNotice, intake.ReasonOtherBucket, intake.ReasonNotLogFile} {
		if !strings.Contains(r.emf.String(), `"Reason":"`+reason+`"`) {
			t.Errorf("no metric with Reason %s", reason)
		}
	}
}

// TestTrailIntakeChunkDeadlineFitsTheAlertLease: however long a log file
// takes, each chunk's alerts are claimed and committed within the
// deadline, shorter than the claim's lease; the function's timeout and
// the queue's visibility timeout leave room for a whole file.
func TestTrailIntakeChunkDeadlineFitsTheAlertLease(t *testing.T) {
	if !(assemble.ChunkDeadline < state.DefaultLease) {
		t.Fatalf("chunk deadline %s, lease %s", assemble.ChunkDeadline, state.DefaultLease)
	}
	res := loadTemplate(t).resources()
	var timeout, visibility int
	fmt.Sscan(fmt.Sprint(props(res["TrailFunction"])["Timeout"]), &timeout)
	fmt.Sscan(fmt.Sprint(props(res["TrailQueue"])["VisibilityTimeout"]), &visibility)
	if time.Duration(timeout)*time.Second <= assemble.ChunkDeadline || visibility < 6*timeout {
		t.Errorf("trail timeout %ds, queue visibility %ds: want a timeout above the chunk deadline and a visibility of 6 timeouts", timeout, visibility)
	}
}

// TestTrailForgedLogFileNeverReachesTheRemediator: anyone who may put
// objects in the trail bucket can write a log file naming a principal of
// the stack's own account — the one account its remediator changes. The
// intake alerts it (sealed: it is the stack's own finding) but never as
// remediable, so the remediator, subscribed to remediable alerts only,
// never acts on a log file; even a record claiming a member account as
// its recipient does not make a principal of the stack's account
// remediable.
func TestTrailForgedLogFileNeverReachesTheRemediator(t *testing.T) {
	r := newTrailRig(t)
	r.receive(t)
	admin := trailRecord(t, "invoke-model-unapproved-opus.json", centralAcct, "evt-forged-1")
	claimsMember := bytes.Replace(trailRecord(t, "invoke-model-unapproved-opus.json", centralAcct, "evt-forged-2"),
		[]byte(`"recipientAccountId":"`+centralAcct+`"`), []byte(`"recipientAccountId":"`+memberAcct+`"`), 1)
	claimsMember = bytes.ReplaceAll(claimsMember, []byte("role/app-chat"), []byte("role/app-batch"))
	r.put(t, centralAcct, admin, claimsMember)
	if failed := r.handle(t, r.receive(t)); len(failed) != 0 {
		t.Fatalf("failed %v", failed)
	}
	msgs := r.alerts(t)
	if len(msgs) != 2 {
		t.Fatalf("%d alerts, want 2", len(msgs))
	}
	for _, m := range msgs {
		if m.Attributes[findings.AttrRemediable].StringValue != "false" || m.Attributes[seal.AttrMAC].StringValue == "" {
			t.Errorf("alert %q: remediable %q, sealed %v", m.Subject, m.Attributes[findings.AttrRemediable].StringValue, m.Attributes[seal.AttrMAC].StringValue != "")
		}
	}
}

// resolveWith replaces the template's intrinsic functions in v with the given
// parameter values: Ref of a parameter, Fn::Sub of ${Param}, and Fn::If
// of the conditions in conds.
func resolveWith(t *testing.T, v any, params map[string]string, conds map[string]bool) any {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok && len(x) == 1 {
			if p, ok := params[ref]; ok {
				return p
			}
			t.Fatalf("Ref %s unknown", ref)
		}
		if sub, ok := x["Fn::Sub"].(string); ok {
			for k, p := range params {
				sub = strings.ReplaceAll(sub, "${"+k+"}", p)
			}
			return sub
		}
		if fi, ok := x["Fn::If"].([]any); ok && len(fi) == 3 {
			c, known := conds[fmt.Sprint(fi[0])]
			if !known {
				t.Fatalf("condition %v unknown", fi[0])
			}
			if c {
				return resolveWith(t, fi[1], params, conds)
			}
			return resolveWith(t, fi[2], params, conds)
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = resolveWith(t, e, params, conds)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = resolveWith(t, e, params, conds)
		}
		return out
	}
	return v
}

// TestTrailObjectsRulePattern: the rule of TrailNotifications=eventbridge
// delivers the trail bucket's new log files — with and without a key
// prefix — and neither digests, Insights files, other buckets' objects nor
// deletions.
func TestTrailObjectsRulePattern(t *testing.T) {
	rule := loadTemplate(t).resources()["TrailObjectsRule"]
	if rule == nil || rule["Condition"] != "TrailViaEventBridge" {
		t.Fatalf("TrailObjectsRule %v", rule)
	}
	event := func(detailType, bucket, key string) map[string]any {
		b, _ := json.Marshal(map[string]any{"version": "0", "detail-type": detailType, "source": "aws.s3", "account": centralAcct, "region": "us-east-1",
			"detail": map[string]any{"version": "0", "bucket": map[string]any{"name": bucket}, "object": map[string]any{"key": key, "size": 1200}, "reason": "PutObject"}})
		var ev map[string]any
		json.Unmarshal(b, &ev)
		return ev
	}
	for _, prefix := range []string{"", "logs/trail"} {
		root := ""
		if prefix != "" {
			root = prefix + "/"
		}
		pattern := resolveWith(t, props(rule)["EventPattern"], map[string]string{"TrailBucketName": trailBucket, "TrailPrefix": prefix},
			map[string]bool{"HasTrailPrefix": prefix != ""}).(map[string]any)
		log := root + trailOrgPath + memberAcct + "/CloudTrail/eu-west-1/2026/11/20/" + memberAcct + "_CloudTrail_eu-west-1_20261120T1405Z_Mu0KsOhtH1ar15ZZ.json.gz"
		for _, c := range []struct {
			name string
			ev   map[string]any
			want bool
		}{
			{"log file", event("Object Created", trailBucket, log), true},
			{"account trail log file", event("Object Created", trailBucket, root+"AWSLogs/"+memberAcct+"/CloudTrail/us-east-1/2026/11/20/"+memberAcct+"_CloudTrail_us-east-1_20261120T1405Z_Mu0KsOhtH1ar15ZZ.json.gz"), true},
			{"digest", event("Object Created", trailBucket, root+trailOrgPath+memberAcct+"/CloudTrail-Digest/eu-west-1/2026/11/20/"+memberAcct+"_CloudTrail-Digest_eu-west-1_org_us-east-1_20261120T140512Z.json.gz"), false},
			{"Insights", event("Object Created", trailBucket, root+trailOrgPath+memberAcct+"/CloudTrail-Insight/eu-west-1/2026/11/20/x.json.gz"), false},
			{"other bucket", event("Object Created", "other-bucket", log), false},
			{"deletion", event("Object Deleted", trailBucket, log), false},
			{"outside the prefix", event("Object Created", trailBucket, "elsewhere/"+trailOrgPath+memberAcct+"/CloudTrail/eu-west-1/2026/11/20/f.json.gz"), false},
		} {
			got, err := matchPattern(pattern, c.ev)
			if err != nil || got != c.want {
				t.Errorf("prefix %q, %s: matches %v (%v), want %v", prefix, c.name, got, err, c.want)
			}
		}
	}
}

// TestHeartbeatGraceFollowsTheIntake: with Intake=s3 the heartbeat waits
// heartbeat.S3Grace before it misses CloudTrail activity (log files reach
// S3 minutes after the calls), otherwise heartbeat.Grace.
func TestHeartbeatGraceFollowsTheIntake(t *testing.T) {
	env := props(loadTemplate(t).resources()["ReconcilerFunction"])["Environment"].(map[string]any)["Variables"].(map[string]any)
	fi, _ := env[reconcile.EnvHeartbeatGrace].(map[string]any)["Fn::If"].([]any)
	if len(fi) != 3 || fi[0] != "UseS3Intake" {
		t.Fatalf("%s = %v", reconcile.EnvHeartbeatGrace, env[reconcile.EnvHeartbeatGrace])
	}
	for i, want := range []time.Duration{heartbeat.S3Grace, heartbeat.Grace} {
		c, err := reconcile.ConfigFromEnv(func(k string) string {
			if k == reconcile.EnvHeartbeatGrace {
				return fmt.Sprint(fi[i+1])
			}
			return ""
		}, "us-east-1")
		if err != nil || c.HeartbeatGrace != want {
			t.Errorf("%v: grace %s (%v), want %s", fi[i+1], c.HeartbeatGrace, err, want)
		}
	}
}

// TestTrailPipelineCountsModelsPerAccount: the S3 intake sees every member
// account, so its spike analyzer judges each account's use of a model on
// its own, as a stack per account would.
func TestTrailPipelineCountsModelsPerAccount(t *testing.T) {
	srv := motoserver.Start(t)
	env := map[string]string{outputs.EnvTable: "warden", outputs.EnvTopicARN: "arn:aws:sns:us-east-1:123456789012:warden-alerts", outputs.EnvMetricsMode: "off"}
	h, err := assemble.Pipeline(context.Background(), srv.Config(t), func(k string) string { return env[k] }, policy.Default(), outputs.Clients{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range h.Analyzers {
		if sa, ok := a.(*spikes.Analyzer); ok {
			found = true
			if !sa.PerAccountModels {
				t.Error("the S3 intake counts models across accounts")
			}
		}
	}
	if !found {
		t.Fatal("no spike analyzer in the S3 intake's pipeline")
	}
}
