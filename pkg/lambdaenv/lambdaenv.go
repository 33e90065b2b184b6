// Package lambdaenv is what every Bedrock Warden Lambda starts from: a JSON
// logger, the AWS configuration, and the policy — read from the SSM
// parameter the stack keeps (WARDEN_POLICY_PARAMETER), else from
// WARDEN_POLICY, else the embedded default with the list overrides. Each
// functions/<name>/main.go calls Load once at cold start.
package lambdaenv

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/bedrock-warden/warden/pkg/awsconf"
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
func load(ctx context.Context, getenv func(string) string, client ssmpolicy.GetParameterAPI) (*Env, error) {
	e := &Env{Log: slog.New(slog.NewJSONHandler(os.Stdout, nil)), Getenv: getenv}
	cfg, err := awsconf.Load(ctx, "", "", nil)
	if err != nil {
		return nil, err
	}
	e.AWS = cfg
	if client == nil {
		client = ssm.NewFromConfig(cfg)
	}
	if e.Policy, err = ssmpolicy.Load(ctx, client, getenv); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return e, nil
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

// Fatal logs msg with err and exits with status 1.
func (e *Env) Fatal(msg string, err error) {
	e.Log.Error(msg, "error", err.Error())
	os.Exit(1)
}
