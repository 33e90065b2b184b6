// Command posture is the optional weekly Lambda (template parameter
// EnablePosture, schedule PostureSchedule) that runs the audit of `warden
// audit` over the account and raises one over-permissioned finding per
// principal newly allowed, in some dimension, to do what the policy forbids
// since the last run, through the same alert path as the detector. The
// last run's verdicts live in the state table (package audit/posturedb);
// the first run records them without alerting.
//
// Environment: WARDEN_TABLE and WARDEN_TOPIC_ARN (required: the state and
// the alerts), the other alert variables (package outputs), and the policy
// (package lambdaenv).
package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/pkg/audit"
	"github.com/bedrock-warden/warden/pkg/audit/iamsrc"
	"github.com/bedrock-warden/warden/pkg/audit/orgsrc"
	"github.com/bedrock-warden/warden/pkg/audit/posturedb"
	"github.com/bedrock-warden/warden/pkg/lambdaenv"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
)

func main() {
	ctx := context.Background()
	env := lambdaenv.MustLoad(ctx)
	posture, err := lambdaenv.Rebuild(env, func(p *policy.Policy) (*audit.Posture, error) {
		out, err := outputs.BuildSinks(ctx, env.AWS, env.Getenv, p, outputs.Clients{Log: env.Log})
		if err != nil {
			return nil, err
		}
		if out.Alerter == nil {
			return nil, errors.New("the posture audit needs WARDEN_TABLE and WARDEN_TOPIC_ARN")
		}
		env.ReportRejectedPolicies(ctx, out.Alerter)
		return &audit.Posture{
			Policy:    p,
			Directory: func() audit.Directory { return iamsrc.NewFromConfig(env.AWS) },
			SCPs:      orgsrc.NewFromConfig(env.AWS),
			Baseline:  posturedb.New(dynamodb.NewFromConfig(env.AWS), env.Getenv(outputs.EnvTable)),
			Notifier:  out.Alerter,
			Log:       env.Log,
			Region:    env.AWS.Region,
		}, nil
	})
	if err != nil {
		env.Fatal("posture", err)
	}
	lambda.Start(func(ctx context.Context, payload json.RawMessage) error {
		return posture.Get(ctx).Handle(ctx, payload)
	})
}
