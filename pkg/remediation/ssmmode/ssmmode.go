// Package ssmmode keeps remediation's on-call toggle in SSM Parameter
// Store, at /bedrock-warden/<stack>/remediation/mode (a String parameter:
// off, dry-run or enforce).
package ssmmode

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/bedrock-warden/warden/pkg/remediation"
)

// API is the part of the SSM client the store calls; *ssm.Client
// satisfies it.
type API interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, opts ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
}

// Store implements remediation.ModeStore for one stack.
type Store struct {
	API   API
	Stack string
	// Parameter, when set, is the parameter's name as the stack's
	// RemediationModeParameterName output gives it; else it is derived
	// from Stack (remediation.ModeParameter).
	Parameter string
}

var _ remediation.ModeStore = Store{}

// New returns a Store over the SDK client built from cfg.
func New(cfg aws.Config, stack string, opts ...func(*ssm.Options)) Store {
	return Store{API: ssm.NewFromConfig(cfg, opts...), Stack: stack}
}

// Name returns the parameter name.
func (s Store) Name() string {
	if s.Parameter != "" {
		return s.Parameter
	}
	return remediation.ModeParameter(s.Stack)
}

// GetMode implements remediation.ModeStore.
func (s Store) GetMode(ctx context.Context) (string, bool, error) {
	out, err := s.API.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(s.Name())})
	var nf *types.ParameterNotFound
	if errors.As(err, &nf) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("get parameter %s: %w", s.Name(), err)
	}
	if out.Parameter == nil {
		return "", false, fmt.Errorf("get parameter %s: empty answer", s.Name())
	}
	return aws.ToString(out.Parameter.Value), true, nil
}

// SetMode implements remediation.ModeStore (PutParameter, overwrite).
func (s Store) SetMode(ctx context.Context, m remediation.Mode) error {
	if _, ok := remediation.ParseMode(string(m)); !ok {
		return fmt.Errorf("mode %q: want off, dry-run or enforce", m)
	}
	_, err := s.API.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(s.Name()), Value: aws.String(string(m)), Type: types.ParameterTypeString, Overwrite: aws.Bool(true),
		Description: aws.String("Bedrock Warden remediation mode: off | dry-run | enforce"),
	})
	if err != nil {
		return fmt.Errorf("put parameter %s: %w", s.Name(), err)
	}
	return nil
}
