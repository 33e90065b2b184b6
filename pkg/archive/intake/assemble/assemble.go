// Package assemble builds the S3 intake's handler (functions/trail) from
// its environment: the trail bucket read with the function's role, the
// detector's pipeline kept current with the policy, the judged log files
// marked in the state table.
package assemble

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bedrock-warden/warden/pkg/archive/intake"
	"github.com/bedrock-warden/warden/pkg/archive/intake/objectdb"
	"github.com/bedrock-warden/warden/pkg/archive/s3src"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/lambdaenv"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/pipeline"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/spikes"
)

// ChunkDeadline bounds the delivery of each chunk of a log file (see
// intake.WithDeadline): shorter than the alert claim's lease
// (state.DefaultLease, 45 s), as the detector's whole timeout is.
const ChunkDeadline = 30 * time.Second

// Clients are the S3 intake's client options beyond the outputs'.
type Clients struct {
	outputs.Clients
	S3 []func(*s3.Options)
}

// Pipeline builds the S3 intake's pipeline for policy p: the detector's
// (pipeline.Detector: the same core, analyzers and sinks), each sink
// bounded by ChunkDeadline.
func Pipeline(ctx context.Context, cfg aws.Config, getenv func(string) string, p *policy.Policy, c outputs.Clients) (*detector.Handler, error) {
	h, err := pipeline.Detector(ctx, cfg, getenv, p, c)
	if err != nil {
		return nil, err
	}
	own := ownAccount(getenv)
	for _, a := range h.Analyzers {
		if sa, ok := a.(*spikes.Analyzer); ok {
			sa.PerAccountModels = true // an organisation's accounts
		}
	}
	for i, s := range h.Sinks {
		switch s := s.(type) {
		case *outputs.Alerter:
			s.Remediable = func(f *findings.Finding) bool { return intake.Remediable(f, own) }
		case *outputs.Metrics:
			s.ByAccount = true // an organisation's accounts
		}
		h.Sinks[i] = intake.WithDeadline(s, ChunkDeadline)
	}
	return h, nil
}

// ownAccount is the stack's account, from its alert topic's ARN ("" when
// unknown: then nothing the intake finds is remediable).
func ownAccount(getenv func(string) string) string {
	a, err := arn.Parse(strings.TrimSpace(getenv(outputs.EnvTopicARN)))
	if err != nil {
		return ""
	}
	return a.AccountID
}

// Handler builds the S3 intake's handler (functions/trail): the trail
// bucket from intake.ConfigFromEnv, read with the function's role; the
// pipeline (Pipeline) kept current with the policy in force; the judged
// log files marked in the state table (WARDEN_TABLE); the intake's own
// counters on the metrics sink.
func Handler(ctx context.Context, env *lambdaenv.Env, c Clients) (*intake.Handler, error) {
	conf, err := intake.ConfigFromEnv(env.Getenv)
	if err != nil {
		return nil, err
	}
	live, err := lambdaenv.Rebuild(env, func(p *policy.Policy) (*detector.Handler, error) {
		return Pipeline(ctx, env.AWS, env.Getenv, p, c.Clients)
	})
	if err != nil {
		return nil, err
	}
	// Invalid policy versions are reported through an alerter of the
	// pipeline's sinks (the same alert path).
	if out, err := outputs.BuildSinks(ctx, env.AWS, env.Getenv, env.Policy, c.Clients); err == nil && out.Alerter != nil {
		env.ReportRejectedPolicies(ctx, out.Alerter)
	}
	h := &intake.Handler{
		Trail:          conf.Trail,
		Pipeline:       live.Get,
		Bucket:         s3src.New(env.AWS, c.S3...),
		MaxObjectBytes: conf.MaxObjectBytes,
		Now:            c.Now,
		Log:            c.Log,
	}
	if table := env.Getenv(outputs.EnvTable); table != "" {
		h.Marks = objectdb.New(env.AWS, table, c.DynamoDB...)
	}
	m, err := outputs.BuildMetrics(env.AWS, env.Getenv, c.Clients)
	if err != nil {
		return nil, err
	}
	if m != nil { // not a typed nil in the interface
		h.Metrics = m
	}
	return h, nil
}
