package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwltypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/remediation"
	"github.com/bedrock-warden/warden/pkg/seal"
	"github.com/bedrock-warden/warden/pkg/usage"
	"github.com/bedrock-warden/warden/pkg/usage/assemble"
	"github.com/bedrock-warden/warden/pkg/usage/logsrc"
	"github.com/bedrock-warden/warden/pkg/usage/usagedb"
)

// invocationLogGroup is where Bedrock model invocation logging writes, as
// a deployer would pass it in InvocationLogGroupName.
const invocationLogGroup = "/aws/bedrock/modelinvocations"

// usageLimits is the policy's limits section in these tests.
const usageLimits = `
limits:
  - name: team-a-claude
    principals: ["arn:aws:iam::*:role/team-a-*"]
    models: ["anthropic.claude-*"]
    period: month
    maxTokens: 10000
    warnAt: 0.8
    action: block
`

// runningClock is the injected clock of the usage function, the
// remediator and the sweeper: the test sets when "now" is and moves it
// forward; between settings it runs at the speed of the wall clock, so
// what the path costs in time shows up in the timestamps it writes.
type runningClock struct {
	mu      sync.Mutex
	base    time.Time
	started time.Time
}

func newRunningClock(at time.Time) *runningClock { return &runningClock{base: at, started: time.Now()} }

func (c *runningClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Add(time.Since(c.started))
}

// Set makes now be t.
func (c *runningClock) Set(t time.Time) {
	c.mu.Lock()
	c.base, c.started = t, time.Now()
	c.mu.Unlock()
}

// usageEnv is the remediation rig (moto with the state table, the topic,
// the HMAC keys, IAM, SSM; the remediator and sweeper as assembled) plus
// the usage function as assembled, the invocation log group in moto's
// CloudWatch Logs and the usage dead-letter queue.
type usageEnv struct {
	*remEnv
	handler *logsrc.Handler
	logs    *cloudwatchlogs.Client
	dlq     string
	clock   *runningClock
	seqByID map[string]int
}

func newUsageEnv(t *testing.T, start time.Time) *usageEnv {
	t.Helper()
	e := newRemEnv(t, map[string]string{}, 10, 24*time.Hour)
	lp, err := policy.Load("limits", []byte(usageLimits))
	if err != nil {
		t.Fatal(err)
	}
	// One policy for the usage function and the remediator, as deployed.
	e.pol.Limits, e.pol.Prices = lp.Limits, policy.DefaultPrices()
	u := &usageEnv{remEnv: e, clock: newRunningClock(start), seqByID: map[string]int{}}
	ctx := context.Background()
	setup := e.srv.Config(t)
	u.logs = cloudwatchlogs.NewFromConfig(setup)
	if _, err := u.logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(invocationLogGroup)}); err != nil {
		t.Fatal(err)
	}
	if _, err := u.logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(invocationLogGroup),
		LogStreamName: aws.String("aws/bedrock/modelinvocations")}); err != nil {
		t.Fatal(err)
	}
	q, err := sqs.NewFromConfig(setup).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("usage-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	u.dlq = aws.ToString(q.QueueUrl)
	env := map[string]string{
		outputs.EnvTable: remTable, outputs.EnvTopicARN: e.topic, outputs.EnvFindingKey: e.findingKey, outputs.EnvStack: remStack,
		assemble.EnvDeadLetterQueue: u.dlq,
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	u.handler, err = assemble.Usage(ctx, e.srv.ConfigFor(t, "usage"), func(k string) string { return env[k] }, e.pol,
		outputs.Clients{EMFOut: io.Discard, Now: u.clock.Now, Log: log})
	if err != nil {
		t.Fatalf("usage: %v", err)
	}
	// The remediator and the sweeper on the same clock.
	e.rem.Now, e.rem.Admission.Verifier.Now, e.undo.Now = u.clock.Now, u.clock.Now, u.clock.Now
	e.rem.Mode.(*remediation.ModeCache).Now = u.clock.Now
	return u
}

// invocation is one model invocation log record in the shape Bedrock
// writes it (see pkg/usage/testdata/README.md for the captures it follows),
// bodies included.
func invocation(requestID string, at time.Time, role, modelID string, in, out int64) string {
	return fmt.Sprintf(`{"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":%q,"accountId":%q,`+
		`"identity":{"arn":"arn:aws:sts::%s:assumed-role/%s/botocore-session-1"},"region":"us-east-1","requestId":%q,`+
		`"operation":"Converse","modelId":%q,"input":{"inputContentType":"application/json","inputBodyJson":{"messages":[{"role":"user",`+
		`"content":[{"text":"SECRET-PROMPT"}]}]},"inputTokenCount":%d,"cacheReadInputTokenCount":0,"cacheWriteInputTokenCount":0},`+
		`"output":{"outputContentType":"application/json","outputBodyJson":{"output":{"message":{"role":"assistant","content":[{"text":`+
		`"SECRET-RESPONSE"}]}},"stopReason":"end_turn","usage":{"inputTokens":%d,"outputTokens":%d}},"outputTokenCount":%d},`+
		`"requestMetadata":{"traceId":"%s-trace"}}`,
		at.UTC().Format(time.RFC3339), remAccount, remAccount, role, requestID, modelID, in, in, out, out, requestID)
}

// deliver writes records to the invocation log group in moto's
// CloudWatch Logs, reads them back with FilterLogEvents (event ids and
// timestamps as the Logs service assigns them), and hands the usage
// function the awslogs payload a subscription filter sends. It returns
// the payload, so a test can deliver it again.
func (u *usageEnv) deliver(t *testing.T, records ...string) events.CloudwatchLogsEvent {
	t.Helper()
	ctx := context.Background()
	var in []cwltypes.InputLogEvent
	for _, r := range records {
		// Ingestion time is the real one (CloudWatch Logs refuses events
		// two hours ahead of it); the meter goes by the record's own
		// timestamp.
		in = append(in, cwltypes.InputLogEvent{Message: aws.String(r), Timestamp: aws.Int64(time.Now().UnixMilli())})
	}
	if _, err := u.logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(invocationLogGroup),
		LogStreamName: aws.String("aws/bedrock/modelinvocations"), LogEvents: in}); err != nil {
		t.Fatalf("put log events: %v", err)
	}
	out, err := u.logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(invocationLogGroup)})
	if err != nil {
		t.Fatalf("filter log events: %v", err)
	}
	b := usage.Batch{LogGroup: invocationLogGroup, LogStream: "aws/bedrock/modelinvocations"}
	for _, ev := range out.Events {
		id := aws.ToString(ev.EventId)
		if _, done := u.seqByID[id]; done {
			continue // delivered before
		}
		u.seqByID[id] = len(u.seqByID)
		b.Events = append(b.Events, usage.Event{ID: id, Time: time.UnixMilli(aws.ToInt64(ev.Timestamp)), Message: aws.ToString(ev.Message)})
	}
	if len(b.Events) != len(records) {
		t.Fatalf("read back %d events, wrote %d", len(b.Events), len(records))
	}
	payload, err := logsrc.Encode(b, logsrc.DataMessage, remAccount, remStack+"-usage")
	if err != nil {
		t.Fatal(err)
	}
	u.handle(t, payload)
	return payload
}

func (u *usageEnv) handle(t *testing.T, payload events.CloudwatchLogsEvent) {
	t.Helper()
	if err := u.handler.Handle(context.Background(), payload); err != nil {
		t.Fatalf("usage function: %v", err)
	}
}

// alerts returns the finding alerts (sealed: the remediator's own
// notices are not) published with rule rule.
func (u *usageEnv) alerts(t *testing.T, rule string) []motoserver.SNSMessage {
	t.Helper()
	var out []motoserver.SNSMessage
	for _, m := range u.srv.SNSMessages(t) {
		if m.Attributes["rule"].StringValue == rule && m.Attributes[seal.AttrMAC].StringValue != "" {
			out = append(out, m)
		}
	}
	return out
}

// toRemediator hands every remediable alert published so far that the
// remediator has not seen to it, as the topic's filtered subscription
// does, with the message and attributes exactly as published.
func (u *usageEnv) toRemediator(t *testing.T, seen map[string]bool) int {
	t.Helper()
	n := 0
	for _, m := range u.srv.SNSMessages(t) {
		if seen[m.MessageID] || m.Attributes[findings.AttrRemediable].StringValue != "true" {
			continue
		}
		seen[m.MessageID] = true
		attrs := map[string]string{}
		for k, v := range m.Attributes {
			attrs[k] = v.StringValue
		}
		ev := events.SNSEvent{Records: []events.SNSEventRecord{snsRecord(m.MessageID, u.topic, m.Subject, m.Message, attrs)}}
		if err := u.rem.HandleSNS(context.Background(), ev); err != nil {
			t.Fatalf("remediator: %v", err)
		}
		// A publish the SDK retried after moto had taken it (a lost
		// response on a loaded machine) is the same alert twice, as SNS
		// may deliver it: the remediator gets both, and the count is of
		// distinct alerts.
		if body := "body\x00" + m.Message; !seen[body] {
			seen[body] = true
			n++
		}
	}
	return n
}

func (u *usageEnv) monthUsage(t *testing.T, roleARN string, start time.Time) usage.Counters {
	t.Helper()
	st := usagedb.New(dynamodb.NewFromConfig(u.srv.Config(t)), remTable)
	m, err := st.Usage(context.Background(), policy.PeriodMonth, start, usage.PrincipalSubject(roleARN))
	if err != nil {
		t.Fatal(err)
	}
	var c usage.Counters
	for _, v := range m {
		c.Add(v)
	}
	return c
}

const claudeHaiku = "anthropic.claude-3-5-haiku-20241022-v1:0"

var (
	novemberStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	decemberStart = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
)

// A team role crosses 80 % then 100 % of its monthly limit: exactly one
// warning and one exceeded alert; in enforce, within two minutes of the
// crossing record's delivery, its role is denied exactly the limit's
// models; a batch delivered twice counts once; the sweeper lifts the
// block at the period's end and IAM is back byte for byte.
func TestUsageLimitWarnsBlocksAndLiftsAtPeriodEnd(t *testing.T) {
	u := newUsageEnv(t, time.Date(2026, 11, 30, 23, 40, 0, 0, time.UTC))
	u.setMode("enforce")
	roleARN := u.createRole("team-a-app", "/", nil)
	u.putInline("team-a-app", "app-data", inlineS3Doc)
	before := u.roleState("team-a-app")
	seen := map[string]bool{}

	// 6,000 tokens: 60 %, nothing.
	u.deliver(t, invocation("r1", u.clock.Now().Add(-30*time.Second), "team-a-app", "us."+claudeHaiku, 4000, 2000))
	// Nova does not count towards a Claude limit.
	u.deliver(t, invocation("r2", u.clock.Now().Add(-20*time.Second), "team-a-app", "amazon.nova-pro-v1:0", 50000, 0))
	// 8,500: the warning.
	u.deliver(t, invocation("r3", u.clock.Now().Add(-10*time.Second), "team-a-app", claudeHaiku, 2000, 500))
	if n := u.toRemediator(t, seen); n != 0 {
		t.Fatalf("%d remediable alerts below 100 %%", n)
	}
	if w := u.alerts(t, findings.RuleLimitWarning); len(w) != 1 || !strings.HasPrefix(w[0].Subject, "[MEDIUM] limit-warning: role/team-a-app at 85 % of limit team-a-claude (8,500 of 10,000 tokens") {
		t.Fatalf("warning alerts = %+v", w)
	}

	// The crossing record, delivered at T.
	delivered := u.clock.Now()
	crossing := u.deliver(t, invocation("r4", delivered.Add(-5*time.Second), "team-a-app", claudeHaiku, 1000, 600))
	if n := u.toRemediator(t, seen); n != 1 {
		t.Fatalf("remediable alerts for the crossing = %d, want 1", n)
	}
	recs, err := u.store.List(context.Background(), delivered.Add(-time.Minute), roleARN)
	if err != nil || len(recs) != 1 {
		t.Fatalf("ledger = %+v %v", recs, err)
	}
	rec := recs[0]
	if rec.Action != remediation.ActionBlockUntil || rec.Result != remediation.ResultApplied || rec.Mode != remediation.ModeEnforce ||
		rec.ExpiresAt == nil || !rec.ExpiresAt.Equal(decemberStart) {
		t.Fatalf("block record = %+v", rec)
	}
	latency := rec.Time.Sub(delivered)
	t.Logf("crossing record delivered %s, block applied %s: %s", delivered.Format(time.RFC3339Nano), rec.Time.Format(time.RFC3339Nano), latency)
	if latency < 0 || latency > 2*time.Minute {
		t.Errorf("block %s after the crossing record's delivery, want within 2 minutes", latency)
	}

	// The block: exactly the limit's models, until the month ends.
	blocked := u.roleState("team-a-app")
	doc, ok := blocked.Inline[remediation.BlockPolicyName]
	if !ok || blocked.Inline["app-data"] != inlineS3Doc {
		t.Fatalf("after the block: %+v", blocked)
	}
	d, err := iampolicy.Parse(doc)
	if err != nil || len(d.Statement) != 1 {
		t.Fatalf("block policy %s: %v", doc, err)
	}
	st := d.Statement[0]
	for arn, want := range map[string]bool{
		"arn:aws:bedrock:us-east-1::foundation-model/" + claudeHaiku:                                                true,
		"arn:aws:bedrock:us-west-2:" + remAccount + ":inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0": true,
		"arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0":                                          false,
	} {
		if st.Effect != "Deny" || st.AppliesToResource(arn) != want || !st.AppliesToAction("bedrock:InvokeModel") {
			t.Errorf("block applies to %s = %v, want %v (%+v)", arn, st.AppliesToResource(arn), want, st)
		}
	}
	if !strings.Contains(string(st.Condition), `"aws:CurrentTime":"2026-12-01T00:00:00Z"`) {
		t.Errorf("condition %s: the deny must stop applying when the month ends", st.Condition)
	}

	// More calls, and the crossing batch again: no second alert, the
	// counters do not move for the replay.
	used := u.monthUsage(t, roleARN, novemberStart)
	u.handle(t, crossing)
	if again := u.monthUsage(t, roleARN, novemberStart); again != used {
		t.Errorf("replay changed the counters: %+v → %+v", used, again)
	}
	if used.Tokens() != 60100 || used.Invocations != 4 {
		t.Errorf("November usage = %+v, want 4 calls and 60,100 tokens (Claude and Nova)", used)
	}
	u.deliver(t, invocation("r5", u.clock.Now(), "team-a-app", claudeHaiku, 10, 10))
	u.toRemediator(t, seen)
	if w, x := u.alerts(t, findings.RuleLimitWarning), u.alerts(t, findings.RuleLimitExceeded); len(w) != 1 || len(x) != 1 {
		t.Fatalf("%d warnings and %d exceeded alerts, want exactly one each", len(w), len(x))
	}
	for _, m := range u.srv.SNSMessages(t) {
		if strings.Contains(m.Message, "SECRET") {
			t.Fatalf("a prompt or response body reached an alert: %s", m.Subject)
		}
	}
	items, err := dynamodb.NewFromConfig(u.srv.Config(t)).Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(remTable)})
	if err != nil || len(items.Items) == 0 {
		t.Fatalf("scan: %v", err)
	}
	var dump strings.Builder
	for _, item := range items.Items {
		for k, v := range item {
			dump.WriteString(k + "=" + attributeText(v) + "\n")
		}
	}
	if !strings.Contains(dump.String(), "principal:"+roleARN) {
		t.Fatalf("the dump does not show the stored values:\n%s", dump.String())
	}
	if strings.Contains(dump.String(), "SECRET") {
		t.Fatal("a prompt or response body reached the state table")
	}

	// The sweeper: not a second early, exactly at the period's end.
	u.clock.Set(decemberStart.Add(-time.Second))
	if res, err := u.undo.Sweep(context.Background(), u.clock.Now(), "sweeper"); err != nil || len(res.Undone) != 0 {
		t.Fatalf("sweep before the end: %+v %v", res, err)
	}
	u.clock.Set(decemberStart)
	res, err := u.undo.Sweep(context.Background(), decemberStart, "sweeper")
	if err != nil || len(res.Undone) != 1 || res.Undone[0] != rec.ID {
		t.Fatalf("sweep at the end: %+v %v", res, err)
	}
	after := u.roleState("team-a-app")
	if len(after.Inline) != len(before.Inline) || after.Inline["app-data"] != before.Inline["app-data"] {
		t.Errorf("after the sweep the role is not as before:\n got %+v\nwant %+v", after, before)
	}
	// December starts from zero: the late November record counts in
	// November, December's in December.
	u.deliver(t,
		invocation("r6", decemberStart.Add(-time.Second), "team-a-app", claudeHaiku, 5, 5),
		invocation("r7", decemberStart.Add(time.Second), "team-a-app", claudeHaiku, 7, 7))
	if nov, dec := u.monthUsage(t, roleARN, novemberStart), u.monthUsage(t, roleARN, decemberStart); nov.Tokens() != 60130 || dec.Tokens() != 14 {
		t.Errorf("straddling batch: November %d tokens (want 60,130), December %d (want 14)", nov.Tokens(), dec.Tokens())
	}
}

// Undo lifts a block early and gives IAM back byte for byte, including a
// statement a person put in the block policy meanwhile.
func TestUsageBlockUndoEarlyIsByteExact(t *testing.T) {
	u := newUsageEnv(t, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	u.setMode("enforce")
	roleARN := u.createRole("team-a-batch", "/", nil)
	// Odd spacing, existing statement: undo must give these bytes back.
	handMade := "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [ {\"Sid\": \"ByHand\", \"Effect\": \"Deny\", \"Action\": \"bedrock:*\", \"Resource\": \"*\"} ]\n}"
	u.putInline("team-a-batch", remediation.BlockPolicyName, handMade)
	before := u.roleState("team-a-batch")
	u.deliver(t, invocation("b1", u.clock.Now(), "team-a-batch", claudeHaiku, 12000, 0))
	if n := u.toRemediator(t, map[string]bool{}); n != 1 {
		t.Fatalf("remediable alerts = %d", n)
	}
	recs, _ := u.store.List(context.Background(), u.clock.Now().Add(-time.Hour), roleARN)
	if len(recs) != 1 || recs[0].Result != remediation.ResultApplied {
		t.Fatalf("ledger = %+v", recs)
	}
	if d, _ := iampolicy.Parse(u.roleState("team-a-batch").Inline[remediation.BlockPolicyName]); len(d.Statement) != 2 {
		t.Fatal("block not merged with the hand-made statement")
	}
	undo, err := u.undo.Undo(context.Background(), recs[0].ID, "arn:aws:sts::"+remAccount+":assumed-role/OnCall/alice")
	if err != nil || undo.UndoOf != recs[0].ID {
		t.Fatalf("undo: %+v %v", undo, err)
	}
	if got := u.roleState("team-a-batch").Inline[remediation.BlockPolicyName]; got != before.Inline[remediation.BlockPolicyName] {
		t.Errorf("after undo the policy is not byte-identical:\n got %q\nwant %q", got, handMade)
	}
	// The limit is not alerted or blocked again this month.
	u.deliver(t, invocation("b2", u.clock.Now(), "team-a-batch", claudeHaiku, 100, 0))
	if n := u.toRemediator(t, map[string]bool{}); n != 1 { // the first alert again in moto's list, already handled
		t.Errorf("remediable alerts = %d, want still the one", n)
	}
	if x := u.alerts(t, findings.RuleLimitExceeded); len(x) != 1 {
		t.Errorf("exceeded alerts = %d, want 1", len(x))
	}
}

// A principal in the protected set (tagged, or in principals.exempt) is
// alerted, never blocked.
func TestUsageProtectedPrincipalIsAlertedNeverBlocked(t *testing.T) {
	u := newUsageEnv(t, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	u.setMode("enforce")
	tagged := u.createRole("team-a-payments", "/", map[string]string{"bedrock-warden:protected": "true"})
	u.pol.Principals.Exempt = append(u.pol.Principals.Exempt, "arn:aws:iam::"+remAccount+":role/team-a-oncall")
	exempt := u.createRole("team-a-oncall", "/", nil)
	u.rec.Reset()
	u.deliver(t,
		invocation("p1", u.clock.Now(), "team-a-payments", claudeHaiku, 20000, 0),
		invocation("p2", u.clock.Now(), "team-a-oncall", claudeHaiku, 20000, 0))
	if n := u.toRemediator(t, map[string]bool{}); n != 2 {
		t.Fatalf("remediable alerts = %d, want one per principal", n)
	}
	for _, arn := range []string{tagged, exempt} {
		recs, err := u.store.List(context.Background(), u.clock.Now().Add(-time.Hour), arn)
		if err != nil || len(recs) != 1 || recs[0].Result != remediation.ResultRefused || recs[0].Action != remediation.ActionBlockUntil {
			t.Errorf("%s: ledger = %+v %v; want one refused block", arn, recs, err)
		}
	}
	for _, role := range []string{"team-a-payments", "team-a-oncall"} {
		if st := u.roleState(role); len(st.Inline) != 0 {
			t.Errorf("%s was changed: %+v", role, st)
		}
	}
	for action := range u.rec.Calls() {
		if strings.HasPrefix(action, "iam:Put") || strings.HasPrefix(action, "iam:Delete") {
			t.Errorf("an IAM write was made: %s", action)
		}
	}
	var refused int
	for _, m := range u.srv.SNSMessages(t) {
		if strings.HasPrefix(m.Subject, "Bedrock Warden remediation not remediated") {
			refused++
		}
	}
	if refused != 2 || len(u.alerts(t, findings.RuleLimitExceeded)) != 2 {
		t.Errorf("refusal notices = %d, limit-exceeded messages = %d", refused, len(u.alerts(t, findings.RuleLimitExceeded)))
	}
}

// A record the function cannot read goes to the dead-letter queue as a
// description, never as the record.
func TestUsageRejectedRecordsReachTheDeadLetterQueueWithoutContent(t *testing.T) {
	u := newUsageEnv(t, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	u.createRole("team-a-app", "/", nil)
	u.deliver(t, "SECRET-PROMPT this is not a record", invocation("ok", u.clock.Now(), "team-a-app", claudeHaiku, 1, 1))
	out, err := sqs.NewFromConfig(u.srv.Config(t)).ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(u.dlq), MaxNumberOfMessages: 10})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("dead letters = %+v %v", out, err)
	}
	body := aws.ToString(out.Messages[0].Body)
	var got usage.Rejected
	if err := json.Unmarshal([]byte(body), &got); err != nil || got.Reason != usage.ReasonNotJSON || got.LogGroup != invocationLogGroup || got.EventID == "" {
		t.Errorf("dead letter %s: %+v %v", body, got, err)
	}
	if strings.Contains(body, "SECRET") {
		t.Errorf("the dead letter carries the record's content: %s", body)
	}
}

// attributeText writes a DynamoDB attribute value's content.
func attributeText(v ddbtypes.AttributeValue) string {
	switch x := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return x.Value
	case *ddbtypes.AttributeValueMemberN:
		return x.Value
	case *ddbtypes.AttributeValueMemberB:
		return string(x.Value)
	case *ddbtypes.AttributeValueMemberSS:
		return strings.Join(x.Value, ",")
	case *ddbtypes.AttributeValueMemberM:
		var b strings.Builder
		for k, e := range x.Value {
			b.WriteString(k + ":" + attributeText(e) + ";")
		}
		return b.String()
	case *ddbtypes.AttributeValueMemberL:
		var b strings.Builder
		for _, e := range x.Value {
			b.WriteString(attributeText(e) + ";")
		}
		return b.String()
	}
	return fmt.Sprintf("%T", v)
}
