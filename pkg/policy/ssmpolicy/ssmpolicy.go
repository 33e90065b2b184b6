// Package ssmpolicy loads the Bedrock Warden policy a Lambda runs with from
// SSM Parameter Store, where the stack keeps the optional full policy
// document, falling back to the environment (policy.FromEnv).
package ssmpolicy

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/bedrock-warden/warden/pkg/policy"
)

// EnvParameter names the SSM parameter holding the policy YAML.
const EnvParameter = "WARDEN_POLICY_PARAMETER"

// GetParameterAPI is the one SSM call this package makes.
type GetParameterAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// Load returns the policy from the parameter named by WARDEN_POLICY_PARAMETER
// when it is set, else policy.FromEnv(getenv). client may be nil when the
// variable is unset.
func Load(ctx context.Context, client GetParameterAPI, getenv func(string) string) (*policy.Policy, error) {
	name := strings.TrimSpace(getenv(EnvParameter))
	if name == "" {
		return policy.FromEnv(getenv)
	}
	if client == nil {
		return nil, fmt.Errorf("%s=%s is set but no SSM client was given", EnvParameter, name)
	}
	out, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read policy parameter %s: %w", name, err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return nil, fmt.Errorf("policy parameter %s has no value", name)
	}
	p, err := policy.Load("ssm:"+name, []byte(*out.Parameter.Value))
	if err != nil {
		return nil, err
	}
	return p, nil
}
