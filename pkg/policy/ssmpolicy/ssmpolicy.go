// Package ssmpolicy loads the Bedrock Warden policy a Lambda runs with from
// SSM Parameter Store, where the stack keeps the optional full policy
// document, falling back to the environment (policy.FromEnv).
package ssmpolicy

import (
	"context"
	"fmt"
	"strings"

	"github.com/bedrock-warden/warden/pkg/policy"
)

// EnvParameter names the SSM parameter holding the policy YAML.
const EnvParameter = "WARDEN_POLICY_PARAMETER"

// Getter reads the decrypted value of a parameter: a *Client.
type Getter interface {
	Parameter(ctx context.Context, name string) (string, error)
}

// Load returns the policy from the parameter named by WARDEN_POLICY_PARAMETER
// when it is set, else policy.FromEnv(getenv). client may be nil when the
// variable is unset.
func Load(ctx context.Context, client Getter, getenv func(string) string) (*policy.Policy, error) {
	name := strings.TrimSpace(getenv(EnvParameter))
	if name == "" {
		return policy.FromEnv(getenv)
	}
	if client == nil {
		return nil, fmt.Errorf("%s=%s is set but no SSM client was given", EnvParameter, name)
	}
	value, err := client.Parameter(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read policy parameter %s: %w", name, err)
	}
	p, err := policy.Load("ssm:"+name, []byte(value))
	if err != nil {
		return nil, err
	}
	return p, nil
}
