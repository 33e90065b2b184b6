// Command sentinel is the Lambda behind Bedrock Warden's second EventBridge
// rule: it receives CloudTrail events about the stack's own EventBridge
// rules, functions, topic, table and toggle parameters and reports
// monitor-tampered findings (see docs/history.md).
//
// Environment: WARDEN_STACK, WARDEN_RULE_NAMES, WARDEN_FUNCTION_NAMES,
// WARDEN_TOPIC_ARN, WARDEN_TABLE, WARDEN_PARAMETER_PATH (package tamper;
// WARDEN_TOPIC_ARN and WARDEN_TABLE also configure the alerts, package
// outputs), WARDEN_ALERT_FORMAT, and the policy (package lambdaenv:
// re-read within a minute of a change).
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bedrock-warden/warden/pkg/lambdaenv"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/tamper"
	"github.com/bedrock-warden/warden/pkg/tamper/markdb"
)

func main() {
	ctx := context.Background()
	env := lambdaenv.MustLoad(ctx)
	stack, err := tamper.StackFromEnv(env.Getenv)
	if err != nil {
		env.Fatal("stack resources", err)
	}
	h, err := lambdaenv.Rebuild(env, func(p *policy.Policy) (*tamper.Handler, error) {
		out, err := outputs.BuildSinks(ctx, env.AWS, env.Getenv, p, outputs.Clients{Log: env.Log})
		if err != nil {
			return nil, err
		}
		h := &tamper.Handler{Policy: p, Stack: stack, Log: env.Log}
		if stack.Table != "" {
			// Self-test subscriptions are noted, so removing them is not
			// reported as tampering.
			h.Marks = markdb.New(env.AWS, stack.Table)
		}
		if out.Alerter != nil {
			h.Notifier = out.Alerter
			env.ReportRejectedPolicies(ctx, out.Alerter)
		} else {
			env.Log.Warn("alerts disabled: WARDEN_TOPIC_ARN and WARDEN_TABLE unset; findings are only logged")
		}
		return h, nil
	})
	if err != nil {
		env.Fatal("outputs", err)
	}
	lambda.Start(func(ctx context.Context, payload json.RawMessage) error {
		return h.Get(ctx).Handle(ctx, payload)
	})
}
