// Package stack finds a deployed Bedrock Warden stack by name: its
// CloudFormation outputs (the alert topic, the state table, the toggle and
// policy parameters, the seal keys, the detector) and parameters. Every CLI
// verb that talks to a deployment resolves the stack first, so a mistyped
// name is refused before anything is read or written, instead of creating
// a stray parameter that nothing reads.
//
// The package is pure; package cfnsrc reads stacks with CloudFormation's
// DescribeStacks.
package stack

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/smithy-go"

	"github.com/bedrock-warden/warden/pkg/suggest"
)

// Output keys of template.yaml the CLI reads; tests/template_test.go holds
// the template to them.
const (
	OutputAlertTopic       = "AlertTopicArn"
	OutputStateTable       = "StateTableName"
	OutputModeParameter    = "RemediationModeParameterName"
	OutputPolicyParameter  = "PolicyParameterName"
	OutputFindingKey       = "FindingKeyArn"
	OutputLedgerKey        = "LedgerKeyArn"
	OutputDetectorFunction = "DetectorFunctionName"
)

// Template parameters the CLI reads.
const (
	ParameterMetricsMode      = "MetricsMode"
	ParameterEnableRemediator = "EnableRemediator"
	ParameterSecurityHub      = "EnableSecurityHub"
)

// Stack is a deployed stack.
type Stack struct {
	Name       string
	ID         string
	Region     string
	Status     string
	Outputs    map[string]string
	Parameters map[string]string
}

// Output returns the value of output key, or an error that names the
// output and the fix.
func (s Stack) Output(key string) (string, error) {
	if v := strings.TrimSpace(s.Outputs[key]); v != "" {
		return v, nil
	}
	why := "deployed from an older template? `sam deploy` the current one"
	if key == OutputLedgerKey {
		why = "the stack was deployed with EnableRemediator=false"
	}
	return "", fmt.Errorf("stack %s has no %s output (%s)", s.Name, key, why)
}

// Parameter returns the value of template parameter key ("" when absent).
func (s Stack) Parameter(key string) string { return s.Parameters[key] }

// Source reads stacks.
type Source interface {
	// Describe returns the stack named name; a stack that does not exist
	// is an error wrapping ErrNotFound.
	Describe(ctx context.Context, name string) (Stack, error)
	// List returns the live stacks of the account and Region (for
	// suggestions).
	List(ctx context.Context) ([]Stack, error)
}

// ErrNotFound is wrapped when no stack has the name.
var ErrNotFound = errors.New("stack not found")

// NotFoundError is a stack name that names no stack, with the Bedrock
// Warden stacks that do exist.
type NotFoundError struct {
	Name, Region string
	// Closest is the existing Bedrock Warden stack the name is likely a
	// typo of ("" when none is close).
	Closest string
	// Others are the other Bedrock Warden stacks in the Region.
	Others []string
}

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("stack %q does not exist in %s", e.Name, orUnknown(e.Region))
	switch {
	case e.Closest != "":
		msg += fmt.Sprintf(": did you mean %q?", e.Closest)
	case len(e.Others) > 0:
		msg += " (Bedrock Warden stacks there: " + strings.Join(e.Others, ", ") + ")"
	default:
		msg += " (no Bedrock Warden stack there: check --region / AWS_REGION)"
	}
	return msg + "; nothing was changed"
}

func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// IsWarden reports whether s looks like a Bedrock Warden stack (it has the
// outputs every version of the template has).
func IsWarden(s Stack) bool {
	return s.Outputs[OutputStateTable] != "" && s.Outputs[OutputAlertTopic] != ""
}

// Resolve finds the stack named name. An empty name, a stack that does not
// exist, one that is not a Bedrock Warden stack, or one whose creation
// failed is an error that says what to do.
func Resolve(ctx context.Context, src Source, name, region string) (Stack, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Stack{}, errors.New("no stack named: pass --stack NAME or set WARDEN_STACK (the name you gave sam deploy)")
	}
	s, err := src.Describe(ctx, name)
	if errors.Is(err, ErrNotFound) {
		nf := &NotFoundError{Name: name, Region: region}
		if all, lerr := src.List(ctx); lerr == nil {
			var names []string
			for _, o := range all {
				if IsWarden(o) {
					names = append(names, o.Name)
				}
			}
			sort.Strings(names)
			nf.Closest = suggest.Closest(name, names)
			nf.Others = names
		}
		return Stack{}, nf
	}
	if err != nil {
		return Stack{}, Explain(err, "read stack "+name, "the CLI reads the stack's outputs with cloudformation:DescribeStacks; grant it")
	}
	if s.Region == "" {
		s.Region = region
	}
	if !IsWarden(s) {
		return Stack{}, fmt.Errorf("stack %s in %s is not a Bedrock Warden stack (it has no %s and %s outputs)", name, orUnknown(s.Region), OutputStateTable, OutputAlertTopic)
	}
	switch s.Status {
	case "CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_IN_PROGRESS", "DELETE_FAILED":
		return Stack{}, fmt.Errorf("stack %s is %s: its resources are gone or going; deploy it again (sam deploy)", name, s.Status)
	}
	return s, nil
}

// Explain rewrites an AWS error into one that names what failed and how to
// fix it: missing permissions, a missing resource, bad credentials. Other
// errors are wrapped as they are.
func Explain(err error, what, fix string) error {
	if err == nil {
		return nil
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		return fmt.Errorf("%s: %w", what, err)
	}
	code := api.ErrorCode()
	switch {
	case strings.Contains(code, "AccessDenied") || code == "UnauthorizedOperation" || code == "AuthorizationError" || code == "AuthorizationErrorException":
		return fmt.Errorf("%s: not allowed (%s): %s", what, code, fix)
	case code == "ExpiredToken" || code == "ExpiredTokenException" || code == "InvalidClientTokenId" || code == "UnrecognizedClientException" || code == "InvalidSignatureException":
		return fmt.Errorf("%s: the AWS credentials are expired or invalid (%s): refresh them (aws sso login, or new keys)", what, code)
	case strings.Contains(code, "NotFound") || code == "ParameterNotFound":
		return fmt.Errorf("%s: not found (%s): %s", what, code, fix)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func orUnknown(s string) string {
	if s == "" {
		return "the configured Region"
	}
	return s
}
