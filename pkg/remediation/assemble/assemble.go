// Package assemble builds the remediator and sweeper Lambdas from their
// environment: the remediation domain with its AWS adapters (IAM, the
// sealed DynamoDB ledger, SSM mode, SNS notices, KMS seal keys). The
// functions' main.go and the integration tests build them here, so what is
// tested is what is deployed. It is apart from package pipeline so that
// the detector never links IAM-writing code.
package assemble

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bedrock-warden/warden/pkg/alerts/hubpub"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/remediation"
	"github.com/bedrock-warden/warden/pkg/remediation/iamstate"
	"github.com/bedrock-warden/warden/pkg/remediation/ledgerdb"
	"github.com/bedrock-warden/warden/pkg/remediation/snsalert"
	"github.com/bedrock-warden/warden/pkg/remediation/ssmmode"
	"github.com/bedrock-warden/warden/pkg/seal"
	"github.com/bedrock-warden/warden/pkg/seal/kmsmac"
	"github.com/bedrock-warden/warden/pkg/usage"
)

// Environment variables of the remediator and the sweeper (besides the
// policy's, package lambdaenv).
const (
	EnvStack      = "WARDEN_STACK"       // stack name: the mode parameter and the guard
	EnvTable      = "WARDEN_TABLE"       // state table: ledger, claims, breaker, notices
	EnvTopicARN   = "WARDEN_TOPIC_ARN"   // the alert topic: the only one findings may come from; notices go there
	EnvFindingKey = "WARDEN_FINDING_KEY" // KMS HMAC key that seals findings (the remediator verifies)
	EnvLedgerKey  = "WARDEN_LEDGER_KEY"  // KMS HMAC key that seals ledger records
	// EnvSecurityHub is outputs.EnvSecurityHub: "true" when alerted
	// findings are mirrored in Security Hub (the sweeper archives them).
	EnvSecurityHub = "WARDEN_SECURITY_HUB"
	EnvFunction    = "AWS_LAMBDA_FUNCTION_NAME"
)

// required reads the named variables and fails naming every one missing.
func required(getenv func(string) string, names ...string) (map[string]string, error) {
	out := map[string]string{}
	var missing []string
	for _, n := range names {
		v := strings.TrimSpace(getenv(n))
		if v == "" {
			missing = append(missing, n)
		}
		out[n] = v
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s must be set", strings.Join(missing, ", "))
	}
	return out, nil
}

// ownAccount asks STS which account these credentials act in: the
// remediator's guard and breaker use it, whatever a finding says. (The
// stack's own roles need no list: the template puts them under
// /bedrock-warden/<stack>/, a path the guard always refuses.)
func ownAccount(ctx context.Context, cfg aws.Config) (string, error) {
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("sts get-caller-identity: %w", err)
	}
	return aws.ToString(id.Account), nil
}

// limitBlocks resolves limit-exceeded findings against the remediator's
// own policy (usage.BlockFor): the limit's action, models and period come
// from the policy, never from the finding.
type limitBlocks struct{ p *policy.Policy }

func (l limitBlocks) Block(f findings.Finding, now time.Time) (remediation.Block, bool, error) {
	models, until, ok, err := usage.BlockFor(l.p, f, now)
	if err != nil || !ok {
		return remediation.Block{}, ok, err
	}
	return remediation.Block{Limit: f.Details[findings.DetailLimit], Models: models, Until: until}, true, nil
}

// Remediator builds the remediator Lambda's handler: findings are admitted
// only from the stack's topic with a valid seal (WARDEN_FINDING_KEY), the
// ledger is sealed with WARDEN_LEDGER_KEY, the guard and the breaker act
// in the account STS names.
func Remediator(ctx context.Context, cfg aws.Config, getenv func(string) string, p *policy.Policy, log *slog.Logger) (*remediation.Remediator, error) {
	for rule, action := range p.Remediation.Actions {
		if !remediation.ValidAction(action) {
			return nil, fmt.Errorf("policy: remediation.actions[%s] = %q is not an action", rule, action)
		}
	}
	env, err := required(getenv, EnvStack, EnvTable, EnvTopicARN, EnvFindingKey, EnvLedgerKey)
	if err != nil {
		return nil, err
	}
	account, err := ownAccount(ctx, cfg)
	if err != nil {
		return nil, err
	}
	ledgerKey := kmsmac.New(cfg, env[EnvLedgerKey])
	store := ledgerdb.New(cfg, env[EnvTable], seal.Records{Gen: ledgerKey, Check: ledgerKey})
	iamc := iamstate.New(cfg)
	return &remediation.Remediator{
		Config: remediation.Config{
			Actions:           p.Remediation.Actions,
			Limits:            limitBlocks{p},
			MaxActionsPerHour: p.Remediation.MaxActionsPerHour,
			QuarantineTTL:     p.Remediation.QuarantineTTL.D(),
			Guard: remediation.Guard{Policy: p, ProtectedTag: p.Remediation.ProtectedTag,
				StackName: env[EnvStack], Account: account},
		},
		Admission: remediation.Admission{
			TopicARN: env[EnvTopicARN],
			Verifier: seal.FindingVerifier{MAC: kmsmac.New(cfg, env[EnvFindingKey])},
		},
		Mode:    &remediation.ModeCache{Store: ssmmode.New(cfg, env[EnvStack]), Log: log},
		IAM:     iamc,
		Applier: remediation.Applier{IAM: iamc},
		Ledger:  store,
		Claims:  store,
		Breaker: store,
		Notices: store,
		Alerts:  snsalert.New(cfg, env[EnvTopicARN]),
		Log:     log,
		Actor:   "lambda:" + getenv(EnvFunction),
	}, nil
}

// Sweeper builds the sweeper Lambda's undoer: records are verified with
// WARDEN_LEDGER_KEY before any IAM write, and the guard re-screens their
// principals in the account STS names. Alerts go to WARDEN_TOPIC_ARN when
// set.
func Sweeper(ctx context.Context, cfg aws.Config, getenv func(string) string, log *slog.Logger) (*remediation.Undoer, error) {
	env, err := required(getenv, EnvTable, EnvLedgerKey)
	if err != nil {
		return nil, err
	}
	account, err := ownAccount(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if account == "" {
		return nil, errors.New("sts named no account")
	}
	ledgerKey := kmsmac.New(cfg, env[EnvLedgerKey])
	store := ledgerdb.New(cfg, env[EnvTable], seal.Records{Gen: ledgerKey, Check: ledgerKey})
	u := &remediation.Undoer{
		Applier: remediation.Applier{IAM: iamstate.New(cfg)},
		Ledger:  store,
		Claims:  store,
		Notices: store,
		Guard:   remediation.Guard{StackName: strings.TrimSpace(getenv(EnvStack)), Account: account},
		Log:     log,
	}
	if topic := strings.TrimSpace(getenv(EnvTopicARN)); topic != "" {
		u.Alerts = snsalert.New(cfg, topic)
		// An expired quarantine lifted: its Security Hub finding is
		// archived, as on-call's undo does.
		if strings.EqualFold(strings.TrimSpace(getenv(EnvSecurityHub)), "true") {
			o, err := hubpub.OptionsFromTopic(getenv(EnvStack), topic)
			if err != nil {
				return nil, err
			}
			u.Resolver = hubpub.New(cfg, o)
		}
	}
	return u, nil
}
