package lambdaenv

import (
	"context"
	"errors"
	"os/exec"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

type fakeSSM map[string]string

func (f fakeSSM) Parameter(_ context.Context, name string) (string, error) {
	v, ok := f[name]
	if !ok {
		return "", errors.New("ParameterNotFound")
	}
	return v, nil
}

// lambdaEnv is what Lambda puts in a function's environment, plus m.
func lambdaEnv(m map[string]string) func(string) string {
	base := map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"}
	return func(k string) string {
		if v, ok := m[k]; ok {
			return v
		}
		return base[k]
	}
}

func TestLoadPrefersTheParameter(t *testing.T) {
	env := map[string]string{"WARDEN_POLICY_PARAMETER": "/bedrock-warden/s/policy", "WARDEN_POLICY": "regions: {allow: [eu-west-1]}"}
	e, err := load(context.Background(), lambdaEnv(env), fakeSSM{"/bedrock-warden/s/policy": "regions: {allow: [ap-south-1]}"})
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
	env := map[string]string{"WARDEN_POLICY": "models: {alow: [x]}"}
	_, err := load(context.Background(), lambdaEnv(env), fakeSSM{})
	if err == nil || !strings.Contains(err.Error(), "alow") {
		t.Fatalf("err = %v", err)
	}
	env = map[string]string{"WARDEN_POLICY_PARAMETER": "/missing"}
	if _, err := load(context.Background(), lambdaEnv(env), fakeSSM{}); err == nil {
		t.Fatal("missing parameter accepted")
	}
}

// The configuration comes from the Lambda environment alone, and the
// Lambda binaries link neither the SDK's config package (SSO, STS, …) nor
// the SSM client.
func TestAWSConfigFromLambdaEnvironment(t *testing.T) {
	cfg, err := awsConfig(lambdaEnv(map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "ASIAEXAMPLE" || creds.SessionToken != "t" || cfg.Region != "us-east-1" ||
		cfg.BaseEndpoint == nil || *cfg.BaseEndpoint != "http://127.0.0.1:5000" {
		t.Fatalf("cfg = %+v, creds %+v, %v", cfg, creds, err)
	}
	if _, err := awsConfig(lambdaEnv(map[string]string{"AWS_REGION": ""})); err == nil {
		t.Error("no region accepted")
	}
	if _, err := awsConfig(lambdaEnv(map[string]string{"AWS_SECRET_ACCESS_KEY": ""})); err == nil {
		t.Error("no credentials accepted")
	}
	out, err := exec.Command("go", "list", "-deps", "../../functions/detector").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, pkg := range []string{"github.com/aws/aws-sdk-go-v2/config", "github.com/aws/aws-sdk-go-v2/service/ssm", "github.com/aws/aws-sdk-go-v2/service/sso"} {
		if slices.Contains(strings.Fields(string(out)), pkg) {
			t.Errorf("the detector links %s", pkg)
		}
	}
}

func TestSoftMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	(&Env{Getenv: lambdaEnv(nil)}).SoftMemoryLimit(40 << 20)
	if got := debug.SetMemoryLimit(-1); got != 40<<20 {
		t.Errorf("limit = %d, want 40 MiB", got)
	}
	debug.SetMemoryLimit(old)
	(&Env{Getenv: lambdaEnv(map[string]string{"GOMEMLIMIT": "1GiB"})}).SoftMemoryLimit(40 << 20)
	if got := debug.SetMemoryLimit(-1); got != old {
		t.Errorf("GOMEMLIMIT ignored: limit = %d", got)
	}
}
