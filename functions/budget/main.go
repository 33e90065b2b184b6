// Command budget is the scheduled Lambda (default every 5 minutes) that
// compares per-model Bedrock usage from CloudWatch with the policy's
// budgets and raises budget-warning and budget-exceeded findings once per
// period each, through the same alert path as the detector.
//
// Environment: WARDEN_TABLE (state table, required), WARDEN_TOPIC_ARN and
// the other alert variables (package outputs), and the policy (package
// lambdaenv).
package main

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/pkg/budget"
	"github.com/bedrock-warden/warden/pkg/budget/budgetdb"
	"github.com/bedrock-warden/warden/pkg/budget/metricsource"
	"github.com/bedrock-warden/warden/pkg/lambdaenv"
	"github.com/bedrock-warden/warden/pkg/outputs"
)

func main() {
	ctx := context.Background()
	env := lambdaenv.MustLoad(ctx)
	table := env.Getenv(outputs.EnvTable)
	if table == "" {
		env.Fatal("config", errors.New("WARDEN_TABLE is not set"))
	}
	out, err := outputs.BuildSinks(ctx, env.AWS, env.Getenv, env.Policy, outputs.Clients{Log: env.Log})
	if err != nil {
		env.Fatal("outputs", err)
	}
	var notifier budget.Notifier = budget.LogNotifier{Logger: env.Log}
	if out.Alerter != nil {
		notifier = out.Alerter
	} else {
		env.Log.Warn("alerts disabled: WARDEN_TOPIC_ARN is not set; budget findings are only logged")
	}
	c := &budget.Checker{
		Policy:   env.Policy,
		Source:   metricsource.NewFromConfig(env.AWS),
		Marks:    budgetdb.New(dynamodb.NewFromConfig(env.AWS), table),
		Notifier: notifier,
		Now:      time.Now,
		Logger:   env.Log,
		Region:   env.AWS.Region,
	}
	lambda.Start(c.Handle)
}
