package pipeline

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bedrock-warden/warden/pkg/lambdaenv"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// switchable is a policy source a test changes, as a push would.
type switchable struct {
	mu sync.Mutex
	p  *policy.Policy
}

func (s *switchable) Policy(context.Context) (*policy.Policy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p, nil
}

func (s *switchable) set(p *policy.Policy) { s.mu.Lock(); s.p = p; s.mu.Unlock() }

// TestLiveDetectorFollowsThePolicy: once the policy in force changes, the
// next event is judged by the new one, with no new detector built by hand.
func TestLiveDetectorFollowsThePolicy(t *testing.T) {
	allowAll, err := policy.Load("allow-all", []byte("models: {allow: [\"*\"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	src := &switchable{p: allowAll}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	env := &lambdaenv.Env{Log: log, AWS: aws.Config{Region: "us-east-1"}, Policy: allowAll, Policies: src,
		Getenv: func(string) string { return "" }}
	d, err := NewLiveDetector(context.Background(), env, outputs.Clients{EMFOut: io.Discard, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	event, err := os.ReadFile("../../events/invoke-model-unapproved-opus.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Handle(context.Background(), event); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), `"rule":"unauthorized-model"`) {
		t.Fatal("the allow-all policy reported the model")
	}
	src.set(policy.Default())
	if _, err := d.Handle(context.Background(), event); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"msg":"finding","finding":{"schemaVersion":1,"rule":"unauthorized-model"`) {
		t.Fatalf("the new policy was not applied (or the finding not logged in the contract):\n%s", logs.String())
	}
}
