// Command budget is the scheduled Lambda (default every 5 minutes) that
// compares per-model Bedrock usage from CloudWatch with the policy's
// budgets and raises budget-warning and budget-exceeded findings once per
// period each, through the same alert path as the detector.
//
// Environment: WARDEN_TABLE (state table, required), WARDEN_TOPIC_ARN and
// the other alert variables (package outputs), and the policy (package
// lambdaenv: re-read within a minute of a change).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/pkg/budget"
	"github.com/bedrock-warden/warden/pkg/budget/budgetdb"
	"github.com/bedrock-warden/warden/pkg/budget/metricsource"
	"github.com/bedrock-warden/warden/pkg/lambdaenv"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
)

func main() {
	ctx := context.Background()
	env := lambdaenv.MustLoad(ctx)
	table := env.Getenv(outputs.EnvTable)
	if table == "" {
		env.Fatal("config", errors.New("WARDEN_TABLE is not set"))
	}
	checker, err := lambdaenv.Rebuild(env, func(p *policy.Policy) (*budget.Checker, error) {
		out, err := outputs.BuildSinks(ctx, env.AWS, env.Getenv, p, outputs.Clients{Log: env.Log})
		if err != nil {
			return nil, err
		}
		var notifier budget.Notifier = budget.LogNotifier{Logger: env.Log}
		if out.Alerter != nil {
			notifier = out.Alerter
			env.ReportRejectedPolicies(ctx, out.Alerter)
		} else {
			env.Log.Warn("alerts disabled: WARDEN_TOPIC_ARN is not set; budget findings are only logged")
		}
		return &budget.Checker{
			Policy:   p,
			Source:   metricsource.NewFromConfig(env.AWS),
			Marks:    budgetdb.New(dynamodb.NewFromConfig(env.AWS), table),
			Notifier: notifier,
			Now:      time.Now,
			Logger:   env.Log,
			Region:   env.AWS.Region,
		}, nil
	})
	if err != nil {
		env.Fatal("outputs", err)
	}
	lambda.Start(func(ctx context.Context, payload json.RawMessage) error {
		return checker.Get(ctx).Handle(ctx, payload)
	})
}
