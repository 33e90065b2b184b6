package pipeline

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
)

func TestStatefulAnalyzersFollowTheirRules(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	env := map[string]string{outputs.EnvTable: "warden", outputs.EnvTopicARN: "arn:aws:sns:us-east-1:111122223333:t", outputs.EnvMetricsMode: "emf"}
	getenv := func(k string) string { return env[k] }
	off := false
	for _, c := range []struct {
		name      string
		p         *policy.Policy
		table     string
		analyzers int
	}{
		{"rules on, table set", &policy.Policy{}, "warden", 2},
		{"spike rule off", &policy.Policy{Rules: map[string]policy.RuleSetting{findings.RuleInvocationSpike: {Enabled: &off}}}, "warden", 1},
		{"both rules off", &policy.Policy{Rules: map[string]policy.RuleSetting{findings.RuleInvocationSpike: {Enabled: &off},
			findings.RuleReconThenInvoke: {Enabled: &off}}}, "warden", 0},
		{"no table", &policy.Policy{}, "", 0},
	} {
		env[outputs.EnvTable] = c.table
		if c.table == "" {
			env[outputs.EnvTopicARN] = ""
		}
		h, err := Detector(context.Background(), cfg, getenv, c.p, outputs.Clients{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(h.Analyzers) != c.analyzers || h.Core == nil {
			t.Errorf("%s: %d analyzers, want %d", c.name, len(h.Analyzers), c.analyzers)
		}
	}
}
