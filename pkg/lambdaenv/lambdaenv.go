// Package lambdaenv is what every Bedrock Warden Lambda starts from: a JSON
// logger, the AWS configuration, and the policy, located as the CLI
// locates it (policy.Locate). The stack names its policy parameter in
// WARDEN_POLICY_PARAMETER: the functions re-read it at most once a minute
// (package policy/live), so `warden policy push` takes effect without a
// redeploy, and an invalid version written by hand is ignored with a
// critical alert while the last good policy stays in force.
//
// Each functions/<name>/main.go calls MustLoad once at cold start, builds
// what it serves with Rebuild (rebuilt when the policy in force changes),
// and hands its alerter to ReportRejectedPolicies when it has one.
package lambdaenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/policy/live"
	"github.com/bedrock-warden/warden/pkg/policy/ssmpolicy"
)

// PolicySource serves the policy in force.
type PolicySource interface {
	Policy(ctx context.Context) (*policy.Policy, error)
}

// Notifier raises findings through the alert path (*outputs.Alerter).
type Notifier interface {
	Notify(ctx context.Context, fs []findings.Finding) error
}

// Env is a Lambda's cold-start environment.
type Env struct {
	Log *slog.Logger
	AWS aws.Config
	// Policy is the policy in force at cold start.
	Policy *policy.Policy
	// Policies serves the policy in force now: re-read from the policy
	// parameter within live.MaxTTL of a change; for any other location
	// the cold-start policy.
	Policies PolicySource
	// Getenv reads the process environment.
	Getenv func(string) string

	mu       sync.Mutex
	notifier Notifier
	pending  []live.Rejection
}

// Load builds the Env from the process environment.
func Load(ctx context.Context) (*Env, error) {
	return load(ctx, os.Getenv, nil)
}

// load is Load with the environment and the parameter store injectable.
func load(ctx context.Context, getenv func(string) string, store live.Store) (*Env, error) {
	e := &Env{Log: slog.New(slog.NewJSONHandler(os.Stdout, nil)), Getenv: getenv}
	cfg, err := awsConfig(getenv)
	if err != nil {
		return nil, err
	}
	e.AWS = cfg
	loc, err := policy.Locate("", getenv)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	switch loc.Kind {
	case policy.FromParameter:
		if store == nil {
			// The SDK-less client: the SSM SDK's initialisation would cost
			// every cold start more than a millisecond.
			store = ssmpolicy.NewClient(cfg)
		}
		prov := &live.Provider{
			Name:     loc.Name,
			Store:    store,
			Fallback: func() (*policy.Policy, error) { return policy.FromEnv(getenv) },
			OnReject: e.rejected,
			Log:      e.Log,
		}
		e.Policies = prov
	case policy.FromFile:
		p, err := policy.LoadFile(loc.Name)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		e.Policies = static{p}
	default:
		p, err := policy.FromEnv(getenv)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		e.Policies = static{p}
	}
	if e.Policy, err = e.Policies.Policy(ctx); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return e, nil
}

// static is a policy that does not change.
type static struct{ p *policy.Policy }

func (s static) Policy(context.Context) (*policy.Policy, error) { return s.p, nil }

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

// ReportRejectedPolicies sends every invalid policy version this function
// meets as a critical policy-rejected finding through n — including those
// met before n was known (at cold start). The alert path sends one alert
// per version however many functions report it.
func (e *Env) ReportRejectedPolicies(ctx context.Context, n Notifier) {
	e.mu.Lock()
	e.notifier = n
	pending := e.pending
	e.pending = nil
	e.mu.Unlock()
	for _, r := range pending {
		e.notify(ctx, n, r)
	}
}

// rejected is the live provider's OnReject.
func (e *Env) rejected(ctx context.Context, r live.Rejection) {
	e.mu.Lock()
	n := e.notifier
	if n == nil {
		e.pending = append(e.pending, r)
	}
	e.mu.Unlock()
	if n != nil {
		e.notify(ctx, n, r)
	}
}

func (e *Env) notify(ctx context.Context, n Notifier, r live.Rejection) {
	f := r.Finding(e.AWS.Region, e.account())
	if err := n.Notify(ctx, []findings.Finding{f}); err != nil {
		e.Log.ErrorContext(ctx, "policy-rejected alert not sent", "parameter", r.Parameter.Name, "version", r.Parameter.Version, "error", err.Error())
	}
}

// account is the stack's account, from the alert topic's ARN.
func (e *Env) account() string {
	if e.Getenv == nil {
		return ""
	}
	if a, err := arn.Parse(strings.TrimSpace(e.Getenv("WARDEN_TOPIC_ARN"))); err == nil {
		return a.AccountID
	}
	return ""
}

// Live holds what a function builds from the policy (a handler, a checker)
// and rebuilds it when the policy in force changes.
type Live[T any] struct {
	env   *Env
	build func(*policy.Policy) (T, error)

	mu sync.Mutex
	p  *policy.Policy
	v  T
}

// Rebuild builds the first value from the cold-start policy; Get keeps it
// current.
func Rebuild[T any](e *Env, build func(p *policy.Policy) (T, error)) (*Live[T], error) {
	v, err := build(e.Policy)
	if err != nil {
		return nil, err
	}
	return &Live[T]{env: e, build: build, p: e.Policy, v: v}, nil
}

// Get returns the value built from the policy in force. When the policy
// changed it rebuilds; a rebuild that fails keeps the previous value (and
// logs why), as a failed read of the policy does.
func (l *Live[T]) Get(ctx context.Context) T {
	p, err := l.env.Policies.Policy(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil || p == nil || p == l.p {
		return l.v
	}
	v, err := l.build(p)
	if err != nil {
		l.env.Log.ErrorContext(ctx, "rebuild with the new policy failed; the previous one stays in force", "error", err.Error())
		l.p = p // do not retry on every event
		return l.v
	}
	l.p, l.v = p, v
	return v
}
