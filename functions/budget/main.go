// Command budget is the scheduled Lambda (default every 5 minutes) that
// compares per-model Bedrock usage from CloudWatch with the policy's
// budgets and raises budget-warning and budget-exceeded findings once per
// period each.
//
// Environment: WARDEN_TABLE (state table, required); the policy from the SSM
// parameter named by WARDEN_POLICY_PARAMETER, else WARDEN_POLICY (YAML),
// else the embedded default (see ssmpolicy.Load and policy.FromEnv);
// WARDEN_TOPIC_ARN (alert topic, for the SNS publisher; until it is wired
// here, findings are written to the JSON log by budget.LogNotifier).
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/budget"
	"github.com/bedrock-warden/warden/pkg/budget/budgetdb"
	"github.com/bedrock-warden/warden/pkg/budget/metricsource"
	"github.com/bedrock-warden/warden/pkg/policy/ssmpolicy"
)

func main() {
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	table := os.Getenv("WARDEN_TABLE")
	if table == "" {
		log.Error("WARDEN_TABLE is not set")
		os.Exit(1)
	}
	cfg, err := awsconf.Load(ctx, "", "", nil)
	if err != nil {
		log.Error("aws config", "error", err.Error())
		os.Exit(1)
	}
	p, err := ssmpolicy.Load(ctx, ssm.NewFromConfig(cfg), os.Getenv)
	if err != nil {
		log.Error("policy", "error", err.Error())
		os.Exit(1)
	}
	if os.Getenv("WARDEN_TOPIC_ARN") != "" {
		log.Warn("WARDEN_TOPIC_ARN is set but the SNS publisher is not wired yet: budget findings go to this log only")
	}
	c := &budget.Checker{
		Policy:   p,
		Source:   metricsource.NewFromConfig(cfg),
		Marks:    budgetdb.New(dynamodb.NewFromConfig(cfg), table),
		Notifier: budget.LogNotifier{Logger: log}, // TODO(lead): the SNS alert publisher
		Now:      time.Now,
		Logger:   log,
		Region:   cfg.Region,
	}
	lambda.Start(c.Handle)
}
