// Command usage is the Lambda a CloudWatch Logs subscription filter feeds
// with the Bedrock model invocation log: it counts tokens and dollars per
// principal and model and enforces the policy's limits (limit-warning,
// limit-exceeded, and a block-until the period ends through the
// remediator). See docs/usage-limits.md.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bedrock-warden/warden/pkg/lambdaenv"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/usage/assemble"
)

func main() {
	ctx := context.Background()
	env := lambdaenv.MustLoad(ctx)
	h, err := assemble.Usage(ctx, env.AWS, env.Getenv, env.Policy, outputs.Clients{Log: env.Log})
	if err != nil {
		env.Fatal("usage", err)
	}
	lambda.Start(h.Handle)
}
