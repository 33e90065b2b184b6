package lambdaenv

import (
	"context"
	"errors"
	"os/exec"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/policy/live"
)

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

// fakeStore is a parameter store whose versions a test writes.
type fakeStore struct {
	mu       sync.Mutex
	versions map[string][]live.Parameter
	reads    int
}

func (f *fakeStore) put(name, value, by string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.versions == nil {
		f.versions = map[string][]live.Parameter{}
	}
	v := int64(len(f.versions[name]) + 1)
	f.versions[name] = append(f.versions[name], live.Parameter{Name: name, Value: value, Version: v, ModifiedBy: by,
		Modified: time.Date(2026, 11, 20, 10, 0, int(v), 0, time.UTC)})
}

func (f *fakeStore) Get(_ context.Context, name string) (live.Parameter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	vs := f.versions[name]
	if len(vs) == 0 {
		return live.Parameter{}, live.ErrNotFound
	}
	p := vs[len(vs)-1]
	p.ModifiedBy = "" // GetParameter does not say who wrote it
	return p, nil
}

func (f *fakeStore) History(_ context.Context, name string) ([]live.Parameter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]live.Parameter(nil), f.versions[name]...), nil
}

type notes struct{ got []findings.Finding }

func (n *notes) Notify(_ context.Context, fs []findings.Finding) error {
	n.got = append(n.got, fs...)
	return nil
}

const param = "/bedrock-warden/s/policy"

func TestLoadReadsTheParameter(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	store := &fakeStore{}
	store.put(param, "regions: {allow: [ap-south-1]}", "arn:aws:iam::1:user/a")
	env := map[string]string{"WARDEN_POLICY_PARAMETER": param, "WARDEN_POLICY_DOCUMENT": "regions: {allow: [eu-west-1]}"}
	e, err := load(context.Background(), lambdaEnv(env), store)
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

func TestLoadFromTheEnvironment(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	env := map[string]string{"WARDEN_POLICY_DOCUMENT": "models: {alow: [x]}"}
	if _, err := load(context.Background(), lambdaEnv(env), nil); err == nil || !strings.Contains(err.Error(), "alow") {
		t.Fatalf("err = %v", err)
	}
	// WARDEN_POLICY is a location now: a document there says where it goes.
	env = map[string]string{"WARDEN_POLICY": "models:\n  allow: [x]\n"}
	if _, err := load(context.Background(), lambdaEnv(env), nil); err == nil || !strings.Contains(err.Error(), "WARDEN_POLICY_DOCUMENT") {
		t.Fatalf("document in WARDEN_POLICY: %v", err)
	}
	// A parameter that does not exist fails the cold start.
	env = map[string]string{"WARDEN_POLICY_PARAMETER": "/missing"}
	if _, err := load(context.Background(), lambdaEnv(env), &fakeStore{}); err == nil || !errors.Is(err, live.ErrNotFound) {
		t.Fatalf("missing parameter: %v", err)
	}
}

// TestHotReloadAndRejection walks one function instance through a policy
// change, a hand-written invalid version, and a fix: the built value
// follows the policy in force, the invalid version is reported once (after
// the alerter is known), and the last good policy stays meanwhile.
func TestHotReloadAndRejection(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	store := &fakeStore{}
	store.put(param, "regions: {allow: [us-east-1]}", "arn:aws:iam::1:user/a")
	env := map[string]string{"WARDEN_POLICY_PARAMETER": param, "WARDEN_TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:alerts"}
	e, err := load(context.Background(), lambdaEnv(env), store)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now() // the cold start read at time.Now()
	e.Policies.(*live.Provider).Now = func() time.Time { return now }
	builds := 0
	l, err := Rebuild(e, func(p *policy.Policy) ([]string, error) {
		builds++
		return p.Regions.Allow, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &notes{}
	ctx := context.Background()
	e.ReportRejectedPolicies(ctx, n)

	store.put(param, "regions: {allow: [eu-west-1]}", "arn:aws:iam::1:user/a")
	if got := l.Get(ctx); strings.Join(got, ",") != "us-east-1" {
		t.Fatalf("re-read inside the TTL: %v", got)
	}
	now = now.Add(live.MaxTTL)
	if got := l.Get(ctx); strings.Join(got, ",") != "eu-west-1" || builds != 2 {
		t.Fatalf("after the TTL: %v (builds %d)", got, builds)
	}

	store.put(param, "regions: {allow: [us-esat-1]}", "arn:aws:iam::1:user/mallory")
	now = now.Add(live.MaxTTL)
	if got := l.Get(ctx); strings.Join(got, ",") != "eu-west-1" || builds != 2 {
		t.Fatalf("invalid version replaced the policy: %v (builds %d)", got, builds)
	}
	now = now.Add(live.MaxTTL)
	l.Get(ctx)
	if len(n.got) != 1 {
		t.Fatalf("rejections reported: %d, want 1", len(n.got))
	}
	f := n.got[0]
	if f.Rule != findings.RulePolicyRejected || f.Severity != findings.Critical || f.Principal != "arn:aws:iam::1:user/mallory" ||
		f.Account != "111122223333" || f.Details["version"] != "3" || !strings.Contains(f.Reason, "us-esat-1") || !strings.Contains(f.Title, "version 2") {
		t.Fatalf("finding = %+v", f)
	}

	store.put(param, "regions: {allow: [ap-south-1]}", "arn:aws:iam::1:user/a")
	now = now.Add(live.MaxTTL)
	if got := l.Get(ctx); strings.Join(got, ",") != "ap-south-1" {
		t.Fatalf("after the fix: %v", got)
	}
}

// TestColdStartOnAnInvalidVersion: a new instance that meets an invalid
// version runs with the newest valid one, and reports the invalid one as
// soon as it has an alerter.
func TestColdStartOnAnInvalidVersion(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	store := &fakeStore{}
	store.put(param, "regions: {allow: [eu-west-1]}", "arn:aws:iam::1:user/a")
	store.put(param, "models:\n\tdeny: [x]\n", "arn:aws:iam::1:user/b")
	env := map[string]string{"WARDEN_POLICY_PARAMETER": param}
	e, err := load(context.Background(), lambdaEnv(env), store)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Policy.RegionAllowed("eu-west-1") || e.Policy.RegionAllowed("us-east-1") {
		t.Fatalf("cold start did not fall back to version 1: %v", e.Policy.Regions.Allow)
	}
	n := &notes{}
	e.ReportRejectedPolicies(context.Background(), n)
	if len(n.got) != 1 || !strings.Contains(n.got[0].Reason, "tabs") || n.got[0].Principal != "arn:aws:iam::1:user/b" {
		t.Fatalf("pending rejection: %+v", n.got)
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
