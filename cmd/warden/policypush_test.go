package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// TestPolicyPushAndPull: push validates before writing, says what changes,
// writes nothing twice, fits the default policy into the free tier without
// its comments, and pull gives back what the functions read.
func TestPolicyPushAndPull(t *testing.T) {
	srv := motoserver.Start(t)
	useMoto(t, srv)
	st := srv.CreateStack(t, "bw", motoserver.StackOptions{})
	param := st.Outputs["PolicyParameterName"]
	ssmc := ssm.NewFromConfig(srv.Config(t))
	ctx := context.Background()
	version := func() int64 {
		out, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param)})
		if err != nil {
			t.Fatal(err)
		}
		return out.Parameter.Version
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	env := map[string]string{"WARDEN_STACK": "bw"}

	bad := write("bad.yaml", "models:\n  deny: [x, *opus*]\n")
	_, errOut, code := remPolicyCLI(t, env, "push", bad)
	if code != exitUsage || !strings.Contains(errOut, "quote the pattern") || !strings.Contains(errOut, "nothing was written") || version() != 1 {
		t.Fatalf("invalid push: exit %d %q (version %d)", code, errOut, version())
	}

	mine := write("mine.yaml", "# mine\nmodels:\n  allow: [\"amazon.nova-*\"]\n  deny: [\"*opus*\"]\nalerts:\n  window: 30m\n")
	out, errOut, code := remPolicyCLI(t, env, "push", mine, "--dry-run")
	if code != exitOK || !strings.Contains(out, "Dry run: nothing written") || version() != 1 {
		t.Fatalf("dry run: %d %q %q", code, out, errOut)
	}
	out, _, code = remPolicyCLI(t, env, "push", mine)
	if code != exitOK || version() != 2 || !strings.Contains(out, "Wrote "+param+" version 2 for stack bw") ||
		!strings.Contains(out, "~ alerts.window: 1h → 30m") || !strings.Contains(out, "- models.allow: anthropic.claude-3-5-sonnet-*") {
		t.Fatalf("push: %d %q", code, out)
	}
	out, _, _ = remPolicyCLI(t, env, "push", mine)
	if !strings.Contains(out, "No change in effect") || !strings.Contains(out, "already holds this document") || version() != 2 {
		t.Fatalf("second push: %q", out)
	}

	// The default policy is over 4 KB with its comments: stored without
	// them, in the standard tier, as the same policy.
	def, _ := os.ReadFile("../../pkg/policy/default.yaml")
	out, _, code = remPolicyCLI(t, env, "push", write("default.yaml", string(def)), "--json")
	var rep pushReport
	if code != exitOK || json.Unmarshal([]byte(out), &rep) != nil || !rep.Written || !rep.Stripped || rep.Tier != "standard" || rep.Bytes > 4096 {
		t.Fatalf("push default: %d %s", code, out)
	}
	out, _, code = remPolicyCLI(t, env, "pull")
	if p, err := policy.Load("pulled", []byte(out)); code != exitOK || err != nil || strings.Contains(out, "# ") {
		t.Fatalf("pull: %d %v %q", code, err, out)
	} else if a, b := mustYAML(t, p), mustYAML(t, policy.Default()); a != b {
		t.Fatal("the stored default is not the default policy")
	}

	// Too big even without comments.
	var huge strings.Builder
	huge.WriteString("models:\n  allow:\n")
	for i := 0; i < 400; i++ {
		huge.WriteString("    - \"vendor.model-number-" + strings.Repeat("x", 10) + "-" + string(rune('a'+i%26)) + "*\"\n")
	}
	_, errOut, code = remPolicyCLI(t, env, "push", write("huge.yaml", huge.String()))
	if code != exitUsage || !strings.Contains(errOut, "at most 8,192") {
		t.Fatalf("huge push: %d %q", code, errOut)
	}

	// A version written by hand that is not valid: pull warns.
	ssmc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(param), Value: aws.String("models:\n  alow: [x]\n"), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)})
	_, errOut, code = remPolicyCLI(t, env, "pull")
	if code != exitOK || !strings.Contains(errOut, "not a valid policy") || !strings.Contains(errOut, "alow") {
		t.Fatalf("pull of an invalid version: %d %q", code, errOut)
	}
	out, _, code = remPolicyCLI(t, env, "push", "--reset")
	if code != exitOK || !strings.Contains(out, "the embedded default (the current version is not valid") {
		t.Fatalf("reset: %d %q", code, out)
	}
	out, errOut, _ = remPolicyCLI(t, env, "pull", "--json")
	var pulled pullReport
	if json.Unmarshal([]byte(out), &pulled) != nil || !pulled.Blank || !pulled.Valid || errOut != "" {
		t.Fatalf("pull after reset: %s %q", out, errOut)
	}

	// Every verb can judge with the stack's policy: ssm://NAME.
	code, _, errOut = runCLIEnv(t, map[string]string{"WARDEN_POLICY": "ssm://" + param}, "policy", "show")
	if code != exitOK {
		t.Fatalf("policy show from ssm: %d %q", code, errOut)
	}
	if _, errOut, code := remPolicyCLI(t, map[string]string{"WARDEN_STACK": "bw-nope"}, "push", mine); code != exitUsage || !strings.Contains(errOut, "does not exist") {
		t.Fatalf("unknown stack: %d %q", code, errOut)
	}
}

func remPolicyCLI(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	code, out, errOut := runCLIEnv(t, env, append([]string{"policy"}, args...)...)
	return out, errOut, code
}

func runCLIEnv(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	return runStatusCLI(t, env, args...)
}

func mustYAML(t *testing.T, p *policy.Policy) string {
	t.Helper()
	b, err := p.YAML()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
