// Command detector is the Lambda that judges Bedrock CloudTrail events,
// delivered by EventBridge directly or through an SQS buffer: it counts
// invocations for spike detection and emits alerts and metrics (see
// docs/alerts.md and docs/spikes-and-budgets.md for its environment).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bedrock-warden/warden/pkg/lambdaenv"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/pipeline"
)

func main() {
	ctx := context.Background()
	env := lambdaenv.MustLoad(ctx)
	// A 10,000-record SQS batch is a 22 MB payload (BENCHMARKS.md, peak RSS).
	env.SoftMemoryLimit(40 << 20)
	h, err := pipeline.Detector(ctx, env.AWS, env.Getenv, env.Policy, outputs.Clients{Log: env.Log})
	if err != nil {
		env.Fatal("detector", err)
	}
	// The Handler takes the payload's bytes, not a decoded argument, so
	// that a payload which is not JSON reaches the decoder; lambdaenv.Serve
	// reads it into one buffer of its announced size (see its doc).
	var _ lambda.Handler = h
	if err := lambdaenv.Serve(ctx, h); err != nil {
		env.Fatal("runtime", err)
	}
}
