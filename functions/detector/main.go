// Command detector is the Lambda that judges Bedrock CloudTrail events,
// delivered by EventBridge directly or through an SQS buffer: it counts
// invocations for spike detection and emits alerts and metrics (see
// docs/alerts.md and docs/spikes-and-budgets.md for its environment). It
// re-reads the policy parameter within a minute of a change (package
// lambdaenv).
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
	// The payload is decoded as it is read, a chunk of events at a time:
	// the heap stays far below this whatever the batch's size
	// (BENCHMARKS.md, peak RSS); the limit bounds the garbage in between.
	env.SoftMemoryLimit(40 << 20)
	h, err := pipeline.NewLiveDetector(ctx, env, outputs.Clients{Log: env.Log})
	if err != nil {
		env.Fatal("detector", err)
	}
	// The Handler takes the payload's bytes (lambda.Handler), not a
	// decoded argument, so that a payload which is not JSON reaches the
	// decoder; lambdaenv.Serve hands it the payload as a stream
	// (ReaderHandler), decoded as it is read, never held whole.
	var _ lambda.Handler = h
	var _ lambdaenv.ReaderHandler = h
	if err := lambdaenv.Serve(ctx, h); err != nil {
		env.Fatal("runtime", err)
	}
}
