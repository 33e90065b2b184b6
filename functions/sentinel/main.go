// Command sentinel is the Lambda behind Bedrock Warden's second EventBridge
// rule: it receives CloudTrail events about the stack's own EventBridge
// rules, functions, topic, table and toggle parameters and reports
// monitor-tampered findings (see docs/history.md).
//
// Environment: WARDEN_STACK, WARDEN_RULE_NAMES, WARDEN_FUNCTION_NAMES,
// WARDEN_TOPIC_ARN, WARDEN_TABLE, WARDEN_PARAMETER_PATH (package tamper;
// WARDEN_TOPIC_ARN and WARDEN_TABLE also configure the alerts, package
// outputs), WARDEN_ALERT_FORMAT, and the policy variables (WARDEN_POLICY, …).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/tamper"
)

func main() {
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	fatal := func(what string, err error) {
		log.Error(what, "error", err.Error())
		os.Exit(1)
	}
	p, err := policy.FromEnv(os.Getenv)
	if err != nil {
		fatal("policy", err)
	}
	stack, err := tamper.StackFromEnv(os.Getenv)
	if err != nil {
		fatal("stack resources", err)
	}
	cfg, err := awsconf.Load(ctx, "", "", nil)
	if err != nil {
		fatal("aws config", err)
	}
	out, err := outputs.BuildSinks(ctx, cfg, os.Getenv, p, outputs.Clients{Log: log})
	if err != nil {
		fatal("outputs", err)
	}
	h := &tamper.Handler{Policy: p, Stack: stack, Log: log}
	if out.Alerter != nil {
		h.Notifier = out.Alerter
	} else {
		log.Warn("alerts disabled: WARDEN_TOPIC_ARN and WARDEN_TABLE unset; findings are only logged")
	}
	lambda.Start(h.Handle)
}
