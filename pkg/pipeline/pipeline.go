// Package pipeline assembles the detector Lambda's handler — the detection
// core, the spike analyzer and the output sinks — from its configuration.
// functions/detector and the benchmarks build it here, so what is measured
// is what is deployed.
package pipeline

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/recon"
	"github.com/bedrock-warden/warden/pkg/recon/recondb"
	"github.com/bedrock-warden/warden/pkg/rules"
	"github.com/bedrock-warden/warden/pkg/spikes"
	"github.com/bedrock-warden/warden/pkg/spikes/counterdb"
)

// Detector builds the detector handler. Alerts and metrics come from
// outputs.BuildSinks (its environment variables); invocations are counted
// for spike detection in the state table (WARDEN_TABLE) while the
// invocation-spike rule is enabled. Counting costs one DynamoDB UpdateItem
// per window per batch (per 100 keys), even for benign traffic: turn the
// rule off (rules: {invocation-spike: {enabled: false}}) and the detector
// makes no DynamoDB write for a benign event.
//
// While recon-then-invoke is enabled, the recon calls of suspect keys are
// kept in the same table (recon/recondb): a write per key only for batches
// with such recon calls, and one read only for batches with an invocation
// by a suspect key (see recon.Analyzer.Analyze). A benign batch costs
// nothing.
func Detector(ctx context.Context, cfg aws.Config, getenv func(string) string, p *policy.Policy, c outputs.Clients) (*detector.Handler, error) {
	out, err := outputs.BuildSinks(ctx, cfg, getenv, p, c)
	if err != nil {
		return nil, err
	}
	engine := rules.New(p)
	h := &detector.Handler{Core: &detector.Core{Rules: engine}, Sinks: out.Sinks, Log: c.Log}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	table := getenv(outputs.EnvTable)
	if on, _ := p.Rule(findings.RuleInvocationSpike); on && table != "" {
		store := counterdb.New(dynamodb.NewFromConfig(cfg, c.DynamoDB...), table)
		h.Analyzers = append(h.Analyzers, spikes.New(store, p, now, c.Log))
	} else if on && c.Log != nil {
		c.Log.Warn("spike detection disabled: WARDEN_TABLE is not set")
	}
	if on, _ := p.Rule(findings.RuleReconThenInvoke); on && table != "" {
		store := recondb.New(dynamodb.NewFromConfig(cfg, c.DynamoDB...), table)
		h.Analyzers = append(h.Analyzers, recon.New(engine, store, c.Log))
	} else if on && c.Log != nil {
		c.Log.Warn("recon-then-invoke across batches disabled: WARDEN_TABLE is not set")
	}
	return h, nil
}
