// Package assemble builds the usage Lambda from its environment: the
// meter with its AWS adapters (the state table, IAM, the alert topic
// through the same sealed, deduplicated alerter as every function, and the
// dead-letter queue). functions/usage/main.go and the integration tests
// build it here, so what is tested is what is deployed.
package assemble

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/usage"
	"github.com/bedrock-warden/warden/pkg/usage/iamsrc"
	"github.com/bedrock-warden/warden/pkg/usage/logsrc"
	"github.com/bedrock-warden/warden/pkg/usage/sqspub"
	"github.com/bedrock-warden/warden/pkg/usage/usagedb"
)

// EnvDeadLetterQueue is the URL of the queue rejected log events go to
// (without their content).
const EnvDeadLetterQueue = "WARDEN_USAGE_DLQ_URL"

// Usage builds the usage Lambda's handler. Alerts need WARDEN_TOPIC_ARN
// and WARDEN_TABLE (package outputs); findings are sealed with
// WARDEN_FINDING_KEY so the remediator acts on limit-exceeded blocks.
func Usage(ctx context.Context, cfg aws.Config, getenv func(string) string, p *policy.Policy, c outputs.Clients) (*logsrc.Handler, error) {
	table := strings.TrimSpace(getenv(outputs.EnvTable))
	if table == "" {
		return nil, fmt.Errorf("%s must be set", outputs.EnvTable)
	}
	out, err := outputs.BuildSinks(ctx, cfg, getenv, p, c)
	if err != nil {
		return nil, err
	}
	if out.Alerter == nil {
		return nil, errors.New("the usage function needs alerts: set " + outputs.EnvTopicARN)
	}
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	store := usagedb.New(dynamodb.NewFromConfig(cfg, c.DynamoDB...), table)
	m := &usage.Meter{
		Policy:    p,
		Store:     store,
		Marks:     store,
		Notifier:  out.Alerter,
		Directory: iamsrc.New(cfg),
		Metrics:   c.EMFOut,
		Namespace: strings.TrimSpace(getenv(outputs.EnvMetricsNamespace)),
		Now:       c.Now,
		Log:       log,
	}
	if q := strings.TrimSpace(getenv(EnvDeadLetterQueue)); q != "" {
		m.DeadLetters = sqspub.New(cfg, q)
	}
	return &logsrc.Handler{Meter: m, Log: log}, nil
}
