package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/history"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/stack"
	"github.com/bedrock-warden/warden/pkg/stack/cfnsrc"
	"github.com/bedrock-warden/warden/pkg/suggest"
)

// stackFlags are --stack and --region: which deployment a verb talks to.
// Every verb that reads or writes a deployment resolves the stack by name
// from CloudFormation first, and takes its topic, table, parameters and
// keys from the stack's outputs.
type stackFlags struct {
	name   *string
	region *string
	sio    *IO
}

func addStackFlags(fl *cmdFlags, sio *IO) *stackFlags {
	return &stackFlags{
		name:   fl.fs.String("stack", "", "Bedrock Warden stack `NAME`, as given to sam deploy (default $WARDEN_STACK)"),
		region: fl.fs.String("region", "", "AWS `REGION` of the stack (default AWS_REGION or the AWS config)"),
		sio:    sio,
	}
}

// stackName is --stack, else $WARDEN_STACK.
func (s *stackFlags) stackName() string {
	if n := strings.TrimSpace(*s.name); n != "" {
		return n
	}
	return strings.TrimSpace(s.sio.Getenv("WARDEN_STACK"))
}

// named reports whether a stack was named at all.
func (s *stackFlags) named() bool { return s.stackName() != "" }

// config loads the AWS configuration for the Region asked for; a Region
// that cannot be one is refused before any call.
func (s *stackFlags) config(ctx context.Context) (aws.Config, error) {
	region := strings.TrimSpace(*s.region)
	if region != "" && !policy.ValidRegion(region) {
		msg := fmt.Sprintf("--region %q is not an AWS Region name", region)
		if c := suggest.Closest(region, history.Regions); c != "" {
			msg += fmt.Sprintf(": did you mean %s?", c)
		}
		return aws.Config{}, errors.New(msg)
	}
	cfg, err := awsconf.Load(ctx, region, "", nil)
	if err != nil {
		return aws.Config{}, err
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("no AWS Region: pass --region or set AWS_REGION to the stack's Region")
	}
	return cfg, nil
}

// resolve finds the stack (stack.Resolve): an unknown name is an error
// that names the stacks there are.
func (s *stackFlags) resolve(ctx context.Context, cfg aws.Config) (stack.Stack, error) {
	return stack.Resolve(ctx, cfnsrc.New(cfg), s.stackName(), cfg.Region)
}
