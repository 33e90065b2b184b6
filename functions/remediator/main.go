// Command remediator is the Lambda that takes away misused Bedrock
// permissions. It is subscribed to the alert topic with a filter policy on
// the message attribute remediable = "true", acts only on findings the
// stack sealed (a forged, altered or replayed message is refused and
// reported), only as the SSM mode toggle allows, and records everything in
// a sealed ledger. See docs/remediation.md and docs/security.md.
//
// Environment: see assemble.Remediator, and the policy (package
// lambdaenv: re-read within a minute of a change; the functions that
// alert report an invalid version).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bedrock-warden/warden/pkg/lambdaenv"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/remediation"
	"github.com/bedrock-warden/warden/pkg/remediation/assemble"
)

func main() {
	ctx := context.Background()
	env := lambdaenv.MustLoad(ctx)
	r, err := lambdaenv.Rebuild(env, func(p *policy.Policy) (*remediation.Remediator, error) {
		return assemble.Remediator(ctx, env.AWS, env.Getenv, p, env.Log)
	})
	if err != nil {
		env.Fatal("remediator", err)
	}
	lambda.Start(func(ctx context.Context, ev events.SNSEvent) error {
		return r.Get(ctx).HandleSNS(ctx, ev)
	})
}
