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
	h, err := pipeline.NewLiveDetector(ctx, env, outputs.Clients{Log: env.Log})
	if err != nil {
		env.Fatal("detector", err)
	}
	lambda.Start(h.Handle)
}
