// Package cfnsrc reads Bedrock Warden stacks with CloudFormation's
// DescribeStacks (stack.Source).
package cfnsrc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"

	"github.com/bedrock-warden/warden/pkg/stack"
)

// API is the one CloudFormation call this package makes; *cloudformation.Client
// satisfies it.
type API interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, opts ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

// Source implements stack.Source.
type Source struct {
	API    API
	Region string
}

var _ stack.Source = Source{}

// New returns a Source over the SDK client built from cfg.
func New(cfg aws.Config, opts ...func(*cloudformation.Options)) Source {
	return Source{API: cloudformation.NewFromConfig(cfg, opts...), Region: cfg.Region}
}

// maxPages bounds List: suggestions are not worth reading thousands of
// stacks.
const maxPages = 10

// Describe implements stack.Source. CloudFormation answers an unknown
// name with a ValidationError "Stack with id NAME does not exist".
func (s Source) Describe(ctx context.Context, name string) (stack.Stack, error) {
	out, err := s.API.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "ValidationError" && strings.Contains(api.ErrorMessage(), "does not exist") {
		return stack.Stack{}, fmt.Errorf("%s: %w", name, stack.ErrNotFound)
	}
	if err != nil {
		return stack.Stack{}, err
	}
	if len(out.Stacks) == 0 {
		return stack.Stack{}, fmt.Errorf("%s: %w", name, stack.ErrNotFound)
	}
	return s.convert(out.Stacks[0]), nil
}

// List implements stack.Source: the stacks DescribeStacks lists (live
// ones), up to maxPages pages.
func (s Source) List(ctx context.Context) ([]stack.Stack, error) {
	var all []stack.Stack
	in := &cloudformation.DescribeStacksInput{}
	for range maxPages {
		out, err := s.API.DescribeStacks(ctx, in)
		if err != nil {
			return all, err
		}
		for _, st := range out.Stacks {
			all = append(all, s.convert(st))
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	return all, nil
}

func (s Source) convert(st types.Stack) stack.Stack {
	out := stack.Stack{
		Name: aws.ToString(st.StackName), ID: aws.ToString(st.StackId), Region: s.Region, Status: string(st.StackStatus),
		Outputs: map[string]string{}, Parameters: map[string]string{},
	}
	for _, o := range st.Outputs {
		out.Outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	for _, p := range st.Parameters {
		v := aws.ToString(p.ParameterValue)
		if r := aws.ToString(p.ResolvedValue); r != "" {
			v = r
		}
		out.Parameters[aws.ToString(p.ParameterKey)] = v
	}
	return out
}
