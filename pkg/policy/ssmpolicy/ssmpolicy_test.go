package ssmpolicy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/policy/live"
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
	getter := NewClient(srv.Config(t))
	p, err := Load(ctx, getter, env(map[string]string{EnvParameter: "/bedrock-warden/s/policy", "WARDEN_ALLOWED_REGIONS": "us-east-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if !p.RegionAllowed("eu-west-1") || p.RegionAllowed("us-east-1") || p.ModelAllowed("anthropic.claude-3-haiku-20240307-v1:0") {
		t.Fatalf("policy not taken from the parameter: %+v", p.Regions)
	}

	// A broken document is an error naming the parameter and the line.
	client.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/bedrock-warden/s/policy"), Overwrite: aws.Bool(true),
		Type: ssmtypes.ParameterTypeString, Value: aws.String("models:\n  alow: [x]\n")})
	_, err = Load(ctx, getter, env(map[string]string{EnvParameter: "/bedrock-warden/s/policy"}))
	if err == nil || !strings.Contains(err.Error(), "ssm:/bedrock-warden/s/policy") || !strings.Contains(err.Error(), ":2") {
		t.Fatalf("err = %v", err)
	}
	// A missing parameter is an error, never a silent default.
	if _, err := Load(ctx, getter, env(map[string]string{EnvParameter: "/nope"})); !errors.Is(err, live.ErrNotFound) {
		t.Fatalf("missing parameter: %v", err)
	}
	// A SecureString is read decrypted.
	client.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/bedrock-warden/s/secure"),
		Type: ssmtypes.ParameterTypeSecureString, Value: aws.String("regions:\n  allow: [sa-east-1]\n")})
	p, err = Load(ctx, getter, env(map[string]string{EnvParameter: "/bedrock-warden/s/secure"}))
	if err != nil || !p.RegionAllowed("sa-east-1") {
		t.Fatalf("secure parameter: %v", err)
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

// The client retries throttling and server errors, and reports others at
// once with SSM's error code.
func TestClientRetriesAndErrors(t *testing.T) {
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if r.Header.Get("X-Amz-Target") != "AmazonSSM.GetParameter" || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKID/") {
			t.Errorf("request headers %v", r.Header)
		}
		if calls < 3 {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"__type":"ThrottlingException","message":"slow down"}`))
			return
		}
		if calls == 3 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Write([]byte(`{"Parameter":{"Name":"/p","Value":"models: {allow: [x]}"}}`))
	}))
	defer srv.Close()
	cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")}
	v, err := NewClient(cfg).Parameter(context.Background(), "/p")
	if err != nil || v != "models: {allow: [x]}" || calls != 4 {
		t.Fatalf("Parameter = %q, %v after %d calls", v, err, calls)
	}
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"__type":"com.amazonaws.ssm#AccessDeniedException","message":"no"}`))
	}))
	defer deny.Close()
	cfg.BaseEndpoint = aws.String(deny.URL)
	if _, err := NewClient(cfg).Parameter(context.Background(), "/p"); err == nil || !strings.Contains(err.Error(), "AccessDeniedException (HTTP 400): no") {
		t.Fatalf("err = %v", err)
	}
}

// TestClientIsALiveStore: the functions' re-reads go through the SDK-less
// client — the current version with its number, the whole history, and a
// missing parameter as live.ErrNotFound.
func TestClientIsALiveStore(t *testing.T) {
	srv := motoserver.Start(t)
	cfg := srv.Config(t)
	ctx := context.Background()
	sdk := ssm.NewFromConfig(cfg)
	for _, v := range []string{"regions: {allow: [us-east-1]}", "regions: {allow: [eu-west-1]}"} {
		if _, err := sdk.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/bw/s/policy"), Value: aws.String(v),
			Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
	}
	c := NewClient(cfg)
	p, err := c.Get(ctx, "/bw/s/policy")
	if err != nil || p.Version != 2 || !strings.Contains(p.Value, "eu-west-1") || p.Modified.IsZero() {
		t.Fatalf("Get = %+v, %v", p, err)
	}
	h, err := c.History(ctx, "/bw/s/policy")
	if err != nil || len(h) != 2 || h[0].Version+h[1].Version != 3 {
		t.Fatalf("History = %+v, %v", h, err)
	}
	if _, err := c.Get(ctx, "/bw/s/none"); !errors.Is(err, live.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := c.History(ctx, "/bw/s/none"); !errors.Is(err, live.ErrNotFound) {
		t.Fatalf("missing history: %v", err)
	}
}
