package lambdaenv

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

type fakeSSM map[string]string

func (f fakeSSM) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	v, ok := f[aws.ToString(in.Name)]
	if !ok {
		return nil, &ssmtypes.ParameterNotFound{Message: aws.String("no such parameter")}
	}
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Value: aws.String(v)}}, nil
}

func TestLoadPrefersTheParameter(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	env := map[string]string{"WARDEN_POLICY_PARAMETER": "/bedrock-warden/s/policy", "WARDEN_POLICY": "regions: {allow: [eu-west-1]}"}
	e, err := load(context.Background(), func(k string) string { return env[k] }, fakeSSM{"/bedrock-warden/s/policy": "regions: {allow: [ap-south-1]}"})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Policy.RegionAllowed("ap-south-1") || e.Policy.RegionAllowed("eu-west-1") {
		t.Fatalf("regions = %v", e.Policy.Regions.Allow)
	}
	if e.AWS.Region != "us-east-1" || e.Log == nil {
		t.Fatalf("env = %+v", e)
	}
}

func TestLoadFailsOnABadPolicy(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	env := map[string]string{"WARDEN_POLICY": "models: {alow: [x]}"}
	_, err := load(context.Background(), func(k string) string { return env[k] }, fakeSSM{})
	if err == nil || !strings.Contains(err.Error(), "alow") {
		t.Fatalf("err = %v", err)
	}
	env = map[string]string{"WARDEN_POLICY_PARAMETER": "/missing"}
	if _, err := load(context.Background(), func(k string) string { return env[k] }, fakeSSM{}); err == nil {
		t.Fatal("missing parameter accepted")
	}
}
