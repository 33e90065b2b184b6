// Package lambdainv invokes the detector function synchronously with Lambda
// Invoke (selftest.Invoker).
package lambdainv

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/bedrock-warden/warden/pkg/selftest"
)

// API is the Lambda call this package makes; *lambda.Client satisfies it.
type API interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// Invoker implements selftest.Invoker.
type Invoker struct{ API API }

var _ selftest.Invoker = Invoker{}

// New returns an Invoker over the SDK client built from cfg.
func New(cfg aws.Config, opts ...func(*lambda.Options)) Invoker {
	return Invoker{API: lambda.NewFromConfig(cfg, opts...)}
}

// Invoke runs function with payload (InvocationType RequestResponse) and
// returns Lambda's FunctionError and the response payload.
func (i Invoker) Invoke(ctx context.Context, function string, payload []byte) (string, []byte, error) {
	out, err := i.API.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(function),
		InvocationType: types.InvocationTypeRequestResponse,
		Payload:        payload,
	})
	if err != nil {
		return "", nil, fmt.Errorf("lambda Invoke %s: %w", function, err)
	}
	return aws.ToString(out.FunctionError), out.Payload, nil
}
