// Command usage is the Lambda a CloudWatch Logs subscription filter feeds
// with the Bedrock model invocation log: it counts tokens and dollars per
// principal and model and enforces the policy's limits (limit-warning,
// limit-exceeded, and a block-until the period ends through the
// remediator). See docs/usage-limits.md.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bedrock-warden/warden/pkg/lambdaenv"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/usage/assemble"
	"github.com/bedrock-warden/warden/pkg/usage/logsrc"
)

func main() {
	ctx := context.Background()
	env := lambdaenv.MustLoad(ctx)
	handler, err := lambdaenv.Rebuild(env, func(p *policy.Policy) (*logsrc.Handler, error) {
		return assemble.Usage(ctx, env.AWS, env.Getenv, p, outputs.Clients{Log: env.Log})
	})
	if err != nil {
		env.Fatal("usage", err)
	}
	lambda.Start(func(ctx context.Context, ev events.CloudwatchLogsEvent) error {
		return handler.Get(ctx).Handle(ctx, ev)
	})
}
