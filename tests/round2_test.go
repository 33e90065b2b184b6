package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go/middleware"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/pipeline"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/statetable"
)

// round2Rig is the detector Lambda's handler exactly as functions/detector
// builds it (pipeline.Detector), with the default policy, on moto.
type round2Rig struct {
	srv        *motoserver.Server
	h          *detector.Handler
	reconReads atomic.Int64 // BatchGetItem calls that read RECON# items
	failReads  atomic.Int64 // fail this many RECON# reads (throttling)
}

func newRound2Rig(t *testing.T) *round2Rig {
	t.Helper()
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	ctx := context.Background()
	topic, err := sns.NewFromConfig(srv.Config(t)).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("warden-alerts")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := srv.ConfigFor(t, "detector")
	r := &round2Rig{srv: srv}
	countReconReads := func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("countReconReads",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if bg, ok := in.Parameters.(*dynamodb.BatchGetItemInput); ok && readsRecon(bg) {
						r.reconReads.Add(1)
						if r.failReads.Add(-1) >= 0 {
							return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("throttled (test)")
						}
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.Before)
		})
	}
	env := map[string]string{outputs.EnvTopicARN: aws.ToString(topic.TopicArn), outputs.EnvTable: "warden",
		outputs.EnvStack: "warden-test", outputs.EnvMetricsMode: "emf"}
	now := func() time.Time { return time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC) }
	h, err := pipeline.Detector(ctx, cfg, func(k string) string { return env[k] }, policy.Default(),
		outputs.Clients{EMFOut: &discard{}, Now: now, DynamoDB: []func(*dynamodb.Options){countReconReads}})
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	return r
}

func readsRecon(in *dynamodb.BatchGetItemInput) bool {
	for _, ka := range in.RequestItems {
		for _, k := range ka.Keys {
			if pk, ok := k[statetable.PK].(*ddbtypes.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, statetable.PrefixRecon) {
				return true
			}
		}
	}
	return false
}

type discard struct{}

func (*discard) Write(p []byte) (int, error) { return len(p), nil }

// alertRules returns the rule attribute of every published alert.
func (r *round2Rig) alertRules(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range r.srv.SNSMessages(t) {
		out[m.Attributes["rule"].StringValue]++
	}
	return out
}

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRound2RulesThroughTheLambda sends one sample of each new rule through
// the detector handler, straight from EventBridge or through the SQS
// intake, and expects its alert on the topic.
func TestRound2RulesThroughTheLambda(t *testing.T) {
	for _, c := range []struct {
		sample string
		sqs    bool
		rules  []string
	}{
		{"invoke-model-validation-probe-opus-unknown-ip.json", false, []string{findings.RuleDeniedInvocation, findings.RuleUnauthorizedModel}},
		{"get-foundation-model-availability-long-term-key.json", false, []string{findings.RuleModelRecon}},
		{"iam/create-service-specific-credential-bedrock.json", true, []string{findings.RuleAPIKeyCreated}},
		{"delete-custom-model-bedrock-api-key.json", false, []string{findings.RuleAPIKeyUsed}},
		{"delete-guardrail-access-denied.json", true, []string{findings.RuleDeniedChange}},
		{"create-agent-action-group.json", false, []string{findings.RuleAgentChanged}},
		{"create-data-source-web-crawler.json", false, []string{findings.RuleKnowledgeBaseChanged}},
		{"delete-enforced-guardrail-configuration.json", false, []string{findings.RuleGuardrailChanged}},
		{"create-model-copy-job-cross-region.json", true, []string{findings.RuleModelExfiltration}},
		// Benign neighbours: nothing.
		{"list-guardrails.json", false, nil},
		{"converse-cross-region-allowed.json", false, nil},
	} {
		t.Run(c.sample, func(t *testing.T) {
			r := newRound2Rig(t)
			payload := readSample(t, c.sample)
			if c.sqs {
				payload = alertSQSBatch(t, payload)
			}
			resp, err := r.h.Handle(context.Background(), payload)
			if err != nil || (resp != nil && len(resp.BatchItemFailures) != 0) {
				t.Fatalf("Handle = %+v, %v", resp, err)
			}
			got := r.alertRules(t)
			want := map[string]int{}
			for _, rule := range c.rules {
				want[rule]++
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("alerts %v, want %v", got, want)
			}
		})
	}
}

// envelopes wraps the bare records of a CloudTrail log file sample in
// EventBridge envelopes.
func envelopes(t *testing.T, name string) [][]byte {
	t.Helper()
	var log struct{ Records []map[string]any }
	if err := json.Unmarshal(readSample(t, name), &log); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, rec := range log.Records {
		b, err := json.Marshal(map[string]any{"version": "0", "id": "env-" + fmt.Sprint(rec["eventID"]),
			"detail-type": "AWS API Call via CloudTrail", "source": "aws.bedrock", "account": "111122223333",
			"time": rec["eventTime"], "region": rec["awsRegion"], "resources": []any{}, "detail": rec})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestReconThenInvokeAcrossInvocations: the recon calls arrive in one SQS
// batch, the invocation minutes later in another Lambda invocation; the
// state table joins them into one critical alert. Benign and recon-only
// batches cost no state read; the invocation batch costs one.
func TestReconThenInvokeAcrossInvocations(t *testing.T) {
	r := newRound2Rig(t)
	ctx := context.Background()
	evs := envelopes(t, "sequences/llmjacking-recon-then-invoke.json")
	recon, invoke := evs[:len(evs)-1], evs[len(evs)-1]

	reads := func() int { return int(r.reconReads.Load()) }
	if resp, err := r.h.Handle(ctx, alertSQSBatch(t, recon...)); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("recon batch: %+v, %v", resp, err)
	}
	if n := reads(); n != 0 {
		t.Fatalf("recon batch read the state %d times", n)
	}
	if _, err := r.h.Handle(ctx, readSample(t, "converse-cross-region-allowed.json")); err != nil {
		t.Fatal(err)
	}
	if n := reads(); n != 0 {
		t.Fatalf("benign invocation read the state %d times", n)
	}
	if got := r.alertRules(t); got[findings.RuleModelRecon] != 1 || got[findings.RuleReconThenInvoke] != 0 {
		t.Fatalf("after recon: alerts %v (model-recon: one per principal)", got)
	}
	if _, err := r.h.Handle(ctx, invoke); err != nil {
		t.Fatal(err)
	}
	if n := reads(); n != 1 {
		t.Fatalf("invocation batch read the state %d times, want 1", n)
	}
	// A duplicate delivery of the invocation alerts no second time.
	if _, err := r.h.Handle(ctx, invoke); err != nil {
		t.Fatal(err)
	}
	got := r.alertRules(t)
	if got[findings.RuleReconThenInvoke] != 1 {
		t.Fatalf("alerts %v, want one recon-then-invoke", got)
	}
	for _, m := range r.srv.SNSMessages(t) {
		if m.Attributes["rule"].StringValue == findings.RuleReconThenInvoke && m.Attributes["severity"].StringValue != "critical" {
			t.Fatalf("recon-then-invoke alert severity %v", m.Attributes["severity"])
		}
	}
}

// TestReconThenInvokeSurvivesAStateFailure: the recon state cannot be read
// when the invocation arrives. The invocation's own finding is delivered,
// the batch fails and comes back, and the retry raises recon-then-invoke:
// the alert state does not drop it as a duplicate of the handled event.
func TestReconThenInvokeSurvivesAStateFailure(t *testing.T) {
	r := newRound2Rig(t)
	ctx := context.Background()
	evs := envelopes(t, "sequences/llmjacking-recon-then-invoke.json")
	recon, invoke := evs[:len(evs)-1], evs[len(evs)-1]
	// The stolen key invokes a denied model: the event has a finding of
	// its own (unauthorized-model) besides the sequence.
	var env map[string]any
	if err := json.Unmarshal(invoke, &env); err != nil {
		t.Fatal(err)
	}
	env["detail"].(map[string]any)["requestParameters"] = map[string]any{"modelId": "anthropic.claude-3-opus-20240229-v1:0"}
	invoke, _ = json.Marshal(env)

	if _, err := r.h.Handle(ctx, alertSQSBatch(t, recon...)); err != nil {
		t.Fatal(err)
	}
	r.failReads.Store(1)
	if _, err := r.h.Handle(ctx, invoke); err == nil {
		t.Fatal("a failed state read did not fail the invocation")
	}
	if got := r.alertRules(t); got[findings.RuleUnauthorizedModel] != 1 || got[findings.RuleReconThenInvoke] != 0 {
		t.Fatalf("after the failure: alerts %v", got)
	}
	if _, err := r.h.Handle(ctx, invoke); err != nil {
		t.Fatal(err)
	}
	if _, err := r.h.Handle(ctx, invoke); err != nil {
		t.Fatal(err)
	}
	if got := r.alertRules(t); got[findings.RuleUnauthorizedModel] != 1 || got[findings.RuleReconThenInvoke] != 1 {
		t.Fatalf("after the retries: alerts %v, want one of each", got)
	}
}
