// Command sentinel is the Lambda behind Bedrock Warden's second EventBridge
// rule: it receives CloudTrail events about the stack's own EventBridge
// rules, functions, topic, table and toggle parameters and reports
// monitor-tampered findings (see docs/history.md).
//
// Environment: WARDEN_STACK, WARDEN_RULE_NAMES, WARDEN_FUNCTION_NAMES,
// WARDEN_TOPIC_ARN, WARDEN_TABLE, WARDEN_PARAMETER_PATH (package tamper;
// WARDEN_TOPIC_ARN and WARDEN_TABLE also configure the alerts, package
// outputs), WARDEN_ALERT_FORMAT, and the policy (package lambdaenv).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bedrock-warden/warden/pkg/lambdaenv"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/tamper"
)

func main() {
	ctx := context.Background()
	env := lambdaenv.MustLoad(ctx)
	log, cfg, p, fatal := env.Log, env.AWS, env.Policy, env.Fatal
	stack, err := tamper.StackFromEnv(env.Getenv)
	if err != nil {
		fatal("stack resources", err)
	}
	out, err := outputs.BuildSinks(ctx, cfg, env.Getenv, p, outputs.Clients{Log: log})
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
