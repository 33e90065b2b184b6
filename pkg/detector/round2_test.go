package detector_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/recon"
	"github.com/bedrock-warden/warden/pkg/rules"
)

// defaultHandler is the detector handler with the default policy and the
// recon-then-invoke analyzer on a memory store.
func defaultHandler(store *recon.MemoryStore, sinks ...detector.Sink) *detector.Handler {
	engine := rules.New(policy.Default())
	return &detector.Handler{Core: &detector.Core{Rules: engine}, Sinks: sinks,
		Analyzers: []detector.Analyzer{recon.New(engine, store, nil)}}
}

func batchRules(s *recordingSink) []string {
	var out []string
	for _, b := range s.batches {
		for _, f := range b.Findings {
			out = append(out, f.Rule)
		}
	}
	return out
}

// TestRound2Samples: one sample per new rule through the handler, from
// EventBridge and through SQS; an IAM event for a CodeCommit credential is
// rejected as not Bedrock (the EventBridge rule never delivers one).
func TestRound2Samples(t *testing.T) {
	for _, c := range []struct {
		sample string
		want   []string
	}{
		{"invoke-model-validation-probe.json", []string{findings.RuleDeniedInvocation}},
		{"get-foundation-model-availability-long-term-key.json", []string{findings.RuleModelRecon}},
		{"iam/create-user-bedrock-api-key.json", []string{findings.RuleAPIKeyCreated}},
		{"iam/attach-user-policy-bedrock-limited-access.json", []string{findings.RuleAPIKeyCreated}},
		{"delete-custom-model-bedrock-api-key.json", []string{findings.RuleAPIKeyUsed}},
		{"delete-guardrail-access-denied.json", []string{findings.RuleDeniedChange}},
		{"create-agent-action-group.json", []string{findings.RuleAgentChanged}},
		{"create-data-source-web-crawler.json", []string{findings.RuleKnowledgeBaseChanged}},
		{"create-model-copy-job-cross-region.json", []string{findings.RuleModelExfiltration}},
		{"list-guardrails.json", nil},
	} {
		for _, viaSQS := range []bool{false, true} {
			sink := &recordingSink{}
			h := defaultHandler(&recon.MemoryStore{}, sink)
			payload := sample(t, c.sample)
			if viaSQS {
				payload = sqsEvent(t, string(payload))
			}
			resp, err := h.Handle(context.Background(), payload)
			if err != nil || (resp != nil && len(resp.BatchItemFailures) != 0) {
				t.Fatalf("%s (sqs %v): %+v, %v", c.sample, viaSQS, resp, err)
			}
			if got := batchRules(sink); !slices.Equal(got, c.want) {
				t.Errorf("%s (sqs %v): rules %v, want %v", c.sample, viaSQS, got, c.want)
			}
		}
	}
	sink := &recordingSink{}
	resp, err := defaultHandler(&recon.MemoryStore{}, sink).Handle(context.Background(),
		sqsEvent(t, string(sample(t, "non-bedrock/iam-create-service-specific-credential-codecommit.json"))))
	if err != nil || resp == nil || len(resp.BatchItemFailures) != 1 {
		t.Fatalf("CodeCommit credential: %+v, %v; want the message back (not Bedrock)", resp, err)
	}
}

// TestReconThenInvokeThroughHandler: the LLM-jacking sequence of the
// sample log file, recon calls in one SQS batch and the invocation in a
// later Lambda invocation, joined through the store.
func TestReconThenInvokeThroughHandler(t *testing.T) {
	var log struct{ Records []json.RawMessage }
	if err := json.Unmarshal(sample(t, "sequences/llmjacking-recon-then-invoke.json"), &log); err != nil {
		t.Fatal(err)
	}
	envelope := func(rec json.RawMessage) string {
		b, _ := json.Marshal(map[string]any{"version": "0", "id": "e", "detail-type": "AWS API Call via CloudTrail",
			"source": "aws.bedrock", "account": "111122223333", "region": "us-east-1", "detail": rec})
		return string(b)
	}
	store := &recon.MemoryStore{}
	sink := &recordingSink{}
	h := defaultHandler(store, sink)
	var recon []string
	for _, r := range log.Records[:len(log.Records)-1] {
		recon = append(recon, envelope(r))
	}
	if _, err := h.Handle(context.Background(), sqsEvent(t, recon...)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Handle(context.Background(), []byte(envelope(log.Records[len(log.Records)-1]))); err != nil {
		t.Fatal(err)
	}
	got := batchRules(sink)
	want := []string{findings.RuleModelRecon, findings.RuleModelRecon, findings.RuleModelRecon, findings.RuleReconThenInvoke}
	if !slices.Equal(got, want) || store.Reads != 1 {
		t.Fatalf("rules %v (reads %d), want %v and one read", got, store.Reads, want)
	}
}
