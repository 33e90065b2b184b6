package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/budget/metricsource"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/pipeline"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/selftest"
	"github.com/bedrock-warden/warden/pkg/tamper"
	"github.com/bedrock-warden/warden/pkg/tamper/markdb"
)

// fakeLambda serves Lambda's Invoke (POST /2015-03-31/functions/NAME/
// invocations) by running handle, as the Lambda runtime would: a handler
// error is a 200 with X-Amz-Function-Error: Unhandled.
func fakeLambda(t *testing.T, handle func(ctx context.Context, name string, payload []byte) ([]byte, error)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/2015-03-31/functions/")
		name, ok2 := strings.CutSuffix(name, "/invocations")
		if !ok || !ok2 || r.Method != http.MethodPost {
			http.Error(w, `{"Type":"User","message":"unexpected request"}`, http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		out, err := handle(r.Context(), name, body)
		if err != nil {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			json.NewEncoder(w).Encode(map[string]string{"errorMessage": err.Error(), "errorType": "error"})
			return
		}
		w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// selftestDeployment is a stand-in deployment on moto: the stack's
// resources, the real detector pipeline behind a fake Lambda endpoint, and
// the real sentinel handler playing self-protection.
type selftestDeployment struct {
	srv    *motoserver.Server
	stack  motoserver.Stack
	broken bool // the detector fails every invocation
}

func newSelftestDeployment(t *testing.T, securityHub string) *selftestDeployment {
	srv := motoserver.Start(t)
	useMoto(t, srv)
	d := &selftestDeployment{srv: srv}
	findingKey := srv.CreateHMACKey(t, "findings")
	d.stack = srv.CreateStack(t, "bw", motoserver.StackOptions{FindingKey: findingKey, DetectorFunction: "bw-detector",
		Parameters: map[string]string{"MetricsMode": "api", "EnableSecurityHub": securityHub}})
	cfg := srv.Config(t)
	vars := map[string]string{
		outputs.EnvTable: d.stack.Outputs["StateTableName"], outputs.EnvTopicARN: d.stack.Outputs["AlertTopicArn"],
		outputs.EnvFindingKey: findingKey, outputs.EnvMetricsMode: "api", outputs.EnvStack: "bw", outputs.EnvSecurityHub: securityHub,
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := pipeline.Detector(context.Background(), cfg, func(k string) string { return vars[k] }, policy.Default(),
		outputs.Clients{CloudWatch: []func(*cloudwatch.Options){metricsource.WithQueryProtocol()}, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	lambdaSrv := fakeLambda(t, func(ctx context.Context, name string, payload []byte) ([]byte, error) {
		if name != "bw-detector" {
			return nil, io.ErrUnexpectedEOF
		}
		if d.broken {
			return nil, io.ErrClosedPipe
		}
		resp, err := h.Handle(ctx, payload)
		if err != nil {
			return nil, err
		}
		return json.Marshal(resp)
	})
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", lambdaSrv.URL)

	// The sentinel sees the subscription's CloudTrail record.
	sentinel := &tamper.Handler{Policy: policy.Default(), Log: quiet,
		Stack: tamper.Stack{Name: "bw", TopicARN: d.stack.Outputs["AlertTopicArn"], Table: d.stack.Outputs["StateTableName"]},
		Marks: markdb.New(cfg, d.stack.Outputs["StateTableName"])}
	old := selftestSubscribed
	selftestSubscribed = func(ctx context.Context, s selftest.Subscription) {
		subs, err := sns.NewFromConfig(cfg).ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(d.stack.Outputs["AlertTopicArn"])})
		if err != nil {
			t.Error(err)
			return
		}
		for _, sub := range subs.Subscriptions {
			if aws.ToString(sub.SubscriptionArn) != s.ARN() {
				continue
			}
			detail, _ := json.Marshal(map[string]any{
				"eventVersion": "1.09", "eventSource": "sns.amazonaws.com", "eventName": "Subscribe", "awsRegion": "us-east-1",
				"eventTime": time.Now().UTC().Format(time.RFC3339), "eventID": "sub-1", "eventType": "AwsApiCall", "recipientAccountId": "123456789012",
				"userIdentity":      map[string]any{"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/oncall", "accountId": "123456789012"},
				"requestParameters": map[string]any{"topicArn": d.stack.Outputs["AlertTopicArn"], "protocol": "sqs", "endpoint": aws.ToString(sub.Endpoint)},
				"responseElements":  map[string]any{"subscriptionArn": s.ARN()},
			})
			ev, _ := json.Marshal(map[string]any{"version": "0", "id": "e1", "detail-type": "AWS API Call via CloudTrail", "source": "aws.sns",
				"account": "123456789012", "region": "us-east-1", "time": time.Now().UTC().Format(time.RFC3339), "detail": json.RawMessage(detail)})
			if err := sentinel.Handle(ctx, ev); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(func() { selftestSubscribed = old })
	oldCW, oldPoll := selftestCloudWatchOptions, selftestPoll
	selftestCloudWatchOptions = []func(*cloudwatch.Options){metricsource.WithQueryProtocol()}
	selftestPoll = 50 * time.Millisecond
	t.Cleanup(func() { selftestCloudWatchOptions, selftestPoll = oldCW, oldPoll })
	return d
}

// TestSelftestAgainstMoto runs `warden selftest` end to end: the detector
// judges the synthetic event, the alert reaches the temporary queue
// sealed, state, metrics, Security Hub and the sentinel all see it, and
// nothing is left behind. The synthetic finding is not remediable.
func TestSelftestAgainstMoto(t *testing.T) {
	d := newSelftestDeployment(t, "true")
	code, out, errOut := runCLI(t, "", "selftest", "--stack", "bw", "--timeout", "30s", "--settle", "30s")
	if code != exitOK {
		t.Fatalf("selftest: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, hop := range []string{"temporary subscription to the alert topic", "detector", "alert on the topic", "alert seal", "state table",
		"metrics", "Security Hub", "self-protection", "cleanup"} {
		if !strings.Contains(out, "✓ "+hop) {
			t.Errorf("hop %q did not pass:\n%s", hop, out)
		}
	}
	if !strings.Contains(out, "The stack works: 9 hops checked") {
		t.Errorf("summary:\n%s", out)
	}

	ctx := context.Background()
	cfg := d.srv.Config(t)
	// Nothing left behind.
	subs, _ := sns.NewFromConfig(cfg).ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(d.stack.Outputs["AlertTopicArn"])})
	if len(subs.Subscriptions) != 0 {
		t.Errorf("subscriptions left: %+v", subs.Subscriptions)
	}
	queues, _ := sqs.NewFromConfig(cfg).ListQueues(ctx, &sqs.ListQueuesInput{})
	if len(queues.QueueUrls) != 0 {
		t.Errorf("queues left: %v", queues.QueueUrls)
	}
	// The alert said: not remediable, rule selftest, severity info.
	var alert *motoserver.SNSMessage
	for _, m := range d.srv.SNSMessages(t) {
		if m.Attributes["rule"].StringValue == findings.RuleSelfTest {
			alert = &m
		}
	}
	if alert == nil || alert.Attributes["remediable"].StringValue != "false" || alert.Attributes["severity"].StringValue != "info" {
		t.Fatalf("selftest alert attributes: %+v", alert)
	}
	f, err := findings.ParseAlert(alert.Message)
	if err != nil || f.Details[findings.DetailSynthetic] != "true" || !strings.Contains(f.Principal, ":role/bedrock-warden/bw/") {
		t.Fatalf("selftest finding: %+v %v", f, err)
	}
	// The Security Hub finding is there, archived at once.
	got, err := securityhub.NewFromConfig(cfg).GetFindings(ctx, &securityhub.GetFindingsInput{})
	if err != nil || len(got.Findings) != 1 || got.Findings[0].RecordState != shtypes.RecordStateArchived {
		t.Fatalf("security hub: %+v %v", got, err)
	}

	// --json reports the same hops.
	code, out, _ = runCLI(t, "", "selftest", "--stack", "bw", "--timeout", "30s", "--settle", "30s", "--json")
	var rep selftest.Report
	if code != exitOK || json.Unmarshal([]byte(out), &rep) != nil || !rep.OK || len(rep.Hops) != 9 {
		t.Fatalf("--json: exit %d %s", code, out)
	}
}

// TestSelftestReportsABrokenDetector: a failing hop is ✗ with the fix,
// exit 1, and the temporary subscription is still removed.
func TestSelftestReportsABrokenDetector(t *testing.T) {
	d := newSelftestDeployment(t, "false")
	d.broken = true
	code, out, _ := runCLI(t, "", "selftest", "--stack", "bw", "--timeout", "5s", "--settle", "1s")
	if code != exitFindings {
		t.Fatalf("exit %d, want %d\n%s", code, exitFindings, out)
	}
	if !strings.Contains(out, "✗ detector") || !strings.Contains(out, "fix: read the detector's log group /aws/lambda/bw-detector") ||
		!strings.Contains(out, "✓ cleanup") || !strings.Contains(out, "1 hop of 3 hops failed") {
		t.Errorf("report:\n%s", out)
	}
	subs, _ := sns.NewFromConfig(d.srv.Config(t)).ListSubscriptionsByTopic(context.Background(),
		&sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(d.stack.Outputs["AlertTopicArn"])})
	if len(subs.Subscriptions) != 0 {
		t.Errorf("subscription left behind after a failure: %+v", subs.Subscriptions)
	}
	// An unknown stack: exit 2 before anything is created.
	code, _, errOut := runCLI(t, "", "selftest", "--stack", "bw-typo")
	if code != exitUsage || !strings.Contains(errOut, "Bedrock Warden stacks there: bw") {
		t.Errorf("unknown stack: %d %q", code, errOut)
	}
}
