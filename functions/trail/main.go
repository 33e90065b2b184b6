// Command trail is the S3 intake of organisation trails (template
// parameter Intake=s3): fed by an SQS queue that receives the trail
// bucket's ObjectCreated notifications, it streams each new CloudTrail
// log file from S3 and judges its Bedrock records (and the IAM calls that
// create Bedrock API keys) with the detector's pipeline: alerts, metrics,
// spikes and dedup as the detector does (see docs/deploy.md, "A whole
// organisation"). It re-reads the policy parameter within a minute of a
// change (package lambdaenv).
//
// Environment: WARDEN_TRAIL_BUCKET, WARDEN_TRAIL_PREFIX,
// WARDEN_TRAIL_MAX_OBJECT_BYTES (package archive/intake), the outputs
// and policy variables.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bedrock-warden/warden/pkg/archive/intake/assemble"
	"github.com/bedrock-warden/warden/pkg/lambdaenv"
	"github.com/bedrock-warden/warden/pkg/outputs"
)

func main() {
	ctx := context.Background()
	env := lambdaenv.MustLoad(ctx)
	h, err := assemble.Handler(ctx, env, assemble.Clients{Clients: outputs.Clients{Log: env.Log}})
	if err != nil {
		env.Fatal("trail intake", err)
	}
	lambda.Start(h.Handle)
}
