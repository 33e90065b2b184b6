// Command detector is the Lambda that judges Bedrock CloudTrail events,
// delivered by EventBridge directly or through an SQS buffer, and emits
// alerts and metrics (see docs/alerts.md for its environment).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
)

func main() {
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	p, err := policy.FromEnv(os.Getenv)
	if err != nil {
		log.Error("policy", "error", err.Error())
		os.Exit(1)
	}
	cfg, err := awsconf.Load(ctx, "", "", nil)
	if err != nil {
		log.Error("aws config", "error", err.Error())
		os.Exit(1)
	}
	out, err := outputs.BuildSinks(ctx, cfg, os.Getenv, p, outputs.Clients{Log: log})
	if err != nil {
		log.Error("outputs", "error", err.Error())
		os.Exit(1)
	}
	h := &detector.Handler{Core: &detector.Core{Rules: rules.New(p)}, Sinks: out.Sinks, Log: log}
	lambda.Start(h.Handle)
}
