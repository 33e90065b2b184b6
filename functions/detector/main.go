// Command detector is the Lambda that judges Bedrock CloudTrail events,
// delivered by EventBridge directly or through an SQS buffer.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	p, err := policy.FromEnv(os.Getenv)
	if err != nil {
		log.Error("policy", "error", err.Error())
		os.Exit(1)
	}
	h := &detector.Handler{Core: &detector.Core{Rules: rules.New(p)}, Log: log}
	lambda.Start(h.Handle)
}
