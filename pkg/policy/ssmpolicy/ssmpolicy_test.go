package ssmpolicy

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/bedrock-warden/warden/internal/motoserver"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadFromParameter(t *testing.T) {
	srv := motoserver.Start(t)
	client := ssm.NewFromConfig(srv.Config(t))
	ctx := context.Background()
	doc := "models:\n  allow: [\"amazon.nova-*\"]\nregions:\n  allow: [eu-west-1]\n"
	if _, err := client.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/bedrock-warden/s/policy"),
		Type: ssmtypes.ParameterTypeString, Value: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	p, err := Load(ctx, client, env(map[string]string{EnvParameter: "/bedrock-warden/s/policy", "WARDEN_ALLOWED_REGIONS": "us-east-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if !p.RegionAllowed("eu-west-1") || p.RegionAllowed("us-east-1") || p.ModelAllowed("anthropic.claude-3-haiku-20240307-v1:0") {
		t.Fatalf("policy not taken from the parameter: %+v", p.Regions)
	}

	// A broken document is an error naming the parameter and the line.
	client.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/bedrock-warden/s/policy"), Overwrite: aws.Bool(true),
		Type: ssmtypes.ParameterTypeString, Value: aws.String("models:\n  alow: [x]\n")})
	_, err = Load(ctx, client, env(map[string]string{EnvParameter: "/bedrock-warden/s/policy"}))
	if err == nil || !strings.Contains(err.Error(), "ssm:/bedrock-warden/s/policy") || !strings.Contains(err.Error(), ":2") {
		t.Fatalf("err = %v", err)
	}
	// A missing parameter is an error, never a silent default.
	if _, err := Load(ctx, client, env(map[string]string{EnvParameter: "/nope"})); err == nil {
		t.Fatal("missing parameter accepted")
	}
}

func TestLoadFromEnvironment(t *testing.T) {
	p, err := Load(context.Background(), nil, env(map[string]string{"WARDEN_ALLOWED_REGIONS": "ap-south-1, eu-west-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if !p.RegionAllowed("ap-south-1") || p.RegionAllowed("us-east-1") {
		t.Fatalf("regions = %v", p.Regions.Allow)
	}
	// The default's model lists survive a region override.
	if _, denied := p.ModelDenied("anthropic.claude-3-opus-20240229-v1:0"); !denied {
		t.Fatal("default deny list lost")
	}
	if _, err := Load(context.Background(), nil, env(map[string]string{"WARDEN_ALLOWED_CIDRS": "10.0.0.0/33"})); err == nil {
		t.Fatal("bad CIDR accepted")
	}
	if _, err := Load(context.Background(), nil, env(map[string]string{"WARDEN_POLICY_DOCUMENT": "models: {deny: [\"*opus*\"]}"})); err != nil {
		t.Fatal(err)
	}
}

func TestAllowedModelsOverrideOverlappingDenies(t *testing.T) {
	p, err := Load(context.Background(), nil, env(map[string]string{"WARDEN_ALLOWED_MODELS": "anthropic.claude-opus-4*, amazon.nova-*"}))
	if err != nil {
		t.Fatal(err)
	}
	id := "anthropic.claude-opus-4-20250514-v1:0"
	if _, denied := p.ModelDenied(id); denied || !p.ModelAllowed(id) {
		t.Fatalf("explicitly allowed Opus still denied: deny = %v", p.Models.Deny)
	}
	// The default's unrelated denies stay.
	if _, denied := p.ModelDenied("anthropic.claude-v2:1"); !denied {
		t.Fatalf("legacy deny lost: %v", p.Models.Deny)
	}
}
