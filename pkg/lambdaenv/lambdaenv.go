// Package lambdaenv is what every Bedrock Warden Lambda starts from: a JSON
// logger, the AWS configuration, and the policy — read from the SSM
// parameter the stack keeps (WARDEN_POLICY_PARAMETER), else from
// WARDEN_POLICY, else the embedded default with the list overrides. Each
// functions/<name>/main.go calls Load once at cold start.
package lambdaenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/policy/ssmpolicy"
)

// Env is a Lambda's cold-start environment.
type Env struct {
	Log    *slog.Logger
	AWS    aws.Config
	Policy *policy.Policy
	// Getenv reads the process environment.
	Getenv func(string) string
}

// Load builds the Env from the process environment.
func Load(ctx context.Context) (*Env, error) {
	return load(ctx, os.Getenv, nil)
}

// load is Load with the environment and the SSM client injectable.
func load(ctx context.Context, getenv func(string) string, client ssmpolicy.Getter) (*Env, error) {
	e := &Env{Log: slog.New(slog.NewJSONHandler(os.Stdout, nil)), Getenv: getenv}
	cfg, err := awsConfig(getenv)
	if err != nil {
		return nil, err
	}
	e.AWS = cfg
	if client == nil {
		client = ssmpolicy.NewClient(cfg)
	}
	if e.Policy, err = ssmpolicy.Load(ctx, client, getenv); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return e, nil
}

// awsConfig is a Lambda's AWS configuration, from the environment Lambda
// gives every function: the region (AWS_REGION), the execution role's
// credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)
// and, for tests and local peers, AWS_ENDPOINT_URL. It is built without
// the SDK's config package, which resolves shared files, SSO and web
// identity and so links the SSO, SSO-OIDC, sign-in and STS clients: none
// of them is ever called in a Lambda, and their initialisation is paid at
// every cold start. Clients keep the SDK's defaults (standard retryer,
// HTTP client).
func awsConfig(getenv func(string) string) (aws.Config, error) {
	cfg := aws.Config{Region: strings.TrimSpace(getenv("AWS_REGION"))}
	if cfg.Region == "" {
		cfg.Region = strings.TrimSpace(getenv("AWS_DEFAULT_REGION"))
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("load AWS config: AWS_REGION is not set")
	}
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return aws.Config{}, errors.New("load AWS config: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them from the execution role)")
	}
	cfg.Credentials = credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN"))
	if ep := strings.TrimSpace(getenv("AWS_ENDPOINT_URL")); ep != "" {
		cfg.BaseEndpoint = aws.String(ep)
	}
	return cfg, nil
}

// MustLoad is Load for main: it logs the error and exits with status 1, so
// that Lambda reports an init failure rather than running half-configured.
func MustLoad(ctx context.Context) *Env {
	e, err := Load(ctx)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("cold start failed", "error", err.Error())
		os.Exit(1)
	}
	return e
}

// SoftMemoryLimit sets the Go runtime's soft memory limit to limit bytes
// unless GOMEMLIMIT is set. A function whose payload can be large (an SQS
// batch of thousands of records is tens of MB, held for the whole
// invocation) otherwise lets its heap grow to twice its live data before a
// collection; under the limit the collector runs sooner instead, trading
// some CPU on large batches for a lower peak.
func (e *Env) SoftMemoryLimit(limit int64) {
	if e.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit)
	}
}

// Fatal logs msg with err and exits with status 1.
func (e *Env) Fatal(msg string, err error) {
	e.Log.Error(msg, "error", err.Error())
	os.Exit(1)
}
