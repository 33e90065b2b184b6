// Command remediator is the Lambda that takes away misused Bedrock
// permissions. It is subscribed to the alert topic with a filter policy on
// the message attribute remediable = "true", acts only as the SSM mode
// toggle allows, and records everything in the ledger. See
// docs/remediation.md.
//
// Environment: WARDEN_STACK, WARDEN_TABLE, WARDEN_TOPIC_ARN (required),
// WARDEN_OWN_ROLE_ARNS (comma list), and the policy (package lambdaenv).
package main

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bedrock-warden/warden/pkg/lambdaenv"
	"github.com/bedrock-warden/warden/pkg/remediation"
	"github.com/bedrock-warden/warden/pkg/remediation/iamstate"
	"github.com/bedrock-warden/warden/pkg/remediation/ledgerdb"
	"github.com/bedrock-warden/warden/pkg/remediation/snsalert"
	"github.com/bedrock-warden/warden/pkg/remediation/ssmmode"
)

func main() {
	env := lambdaenv.MustLoad(context.Background())
	log, cfg, p := env.Log, env.AWS, env.Policy
	fatal := func(msg string, args ...any) {
		log.Error(msg, args...)
		os.Exit(1)
	}
	for rule, action := range p.Remediation.Actions {
		if !remediation.ValidAction(action) {
			fatal("policy: remediation.actions has an unknown action", "rule", rule, "action", action)
		}
	}
	stack, table, topic := os.Getenv("WARDEN_STACK"), os.Getenv("WARDEN_TABLE"), os.Getenv("WARDEN_TOPIC_ARN")
	if stack == "" || table == "" || topic == "" {
		fatal("WARDEN_STACK, WARDEN_TABLE and WARDEN_TOPIC_ARN must be set")
	}
	var own []string
	for _, a := range strings.Split(os.Getenv("WARDEN_OWN_ROLE_ARNS"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			own = append(own, a)
		}
	}
	// The account these credentials act in: findings about principals of
	// any other account are refused (IAM calls by name would reach a
	// same-named principal here).
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		fatal("sts get-caller-identity", "error", err.Error())
	}
	iamc := iamstate.New(cfg)
	store := ledgerdb.New(cfg, table)
	r := &remediation.Remediator{
		Config: remediation.Config{
			Actions:           p.Remediation.Actions,
			MaxActionsPerHour: p.Remediation.MaxActionsPerHour,
			QuarantineTTL:     p.Remediation.QuarantineTTL.D(),
			Guard:             remediation.Guard{Policy: p, ProtectedTag: p.Remediation.ProtectedTag, OwnRoleARNs: own, StackName: stack, Account: aws.ToString(id.Account)},
		},
		Mode:    &remediation.ModeCache{Store: ssmmode.New(cfg, stack), Log: log},
		IAM:     iamc,
		Applier: remediation.Applier{IAM: iamc},
		Ledger:  store,
		Claims:  store,
		Breaker: store,
		Alerts:  snsalert.New(cfg, topic),
		Now:     time.Now,
		Log:     log,
		Actor:   "lambda:" + os.Getenv("AWS_LAMBDA_FUNCTION_NAME"),
	}
	lambda.Start(r.HandleSNS)
}
