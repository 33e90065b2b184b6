// Command detector is the Lambda that judges Bedrock CloudTrail events,
// delivered by EventBridge directly or through an SQS buffer: it counts
// invocations for spike detection and emits alerts and metrics (see
// docs/alerts.md and docs/spikes-and-budgets.md for its environment).
package main

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/lambdaenv"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/rules"
	"github.com/bedrock-warden/warden/pkg/spikes"
	"github.com/bedrock-warden/warden/pkg/spikes/counterdb"
)

func main() {
	ctx := context.Background()
	env := lambdaenv.MustLoad(ctx)
	out, err := outputs.BuildSinks(ctx, env.AWS, env.Getenv, env.Policy, outputs.Clients{Log: env.Log})
	if err != nil {
		env.Fatal("outputs", err)
	}
	h := &detector.Handler{Core: &detector.Core{Rules: rules.New(env.Policy)}, Sinks: out.Sinks, Log: env.Log}
	if table := env.Getenv(outputs.EnvTable); table != "" {
		h.Analyzers = append(h.Analyzers,
			spikes.New(counterdb.New(dynamodb.NewFromConfig(env.AWS), table), env.Policy, time.Now, env.Log))
	} else {
		env.Log.Warn("spike detection disabled: WARDEN_TABLE is not set")
	}
	lambda.Start(h.Handle)
}
