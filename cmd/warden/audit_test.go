package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/audit"
)

func auditCLI(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	sio := &IO{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] }}
	code := run(context.Background(), append([]string{"audit"}, args...), sio)
	return out.String(), errOut.String(), code
}

func TestAuditCLI(t *testing.T) {
	srv := motoserver.Start(t, motoserver.Env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true"))
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	ctx := context.Background()
	client := iam.NewFromConfig(srv.Config(t))
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	for _, name := range []string{"app-chat", "app-idle", "BreakGlassAdmin"} {
		if _, err := client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"app-chat", "BreakGlassAdmin"} {
		if _, err := client.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String("arn:aws:iam::aws:policy/AmazonBedrockFullAccess")}); err != nil {
			t.Fatal(err)
		}
	}

	out, errOut, code := auditCLI(t, nil)
	if code != exitFindings {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"CRITICAL  role/app-chat", "MODELS", "allowed", "granted by statement \"BedrockAll\" (#1) of AmazonBedrockFullAccess (AWS managed)",
		"fix (verified): attach the exported permissions boundary", "$ warden policy export --as boundary --account 123456789012",
		"Listed apart", "exempt", "role/BreakGlassAdmin", "Not judged: network",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "role/app-chat") > strings.Index(out, "role/app-idle") {
		t.Errorf("not sorted by risk:\n%s", out)
	}
	if !strings.Contains(errOut, "2 principals judged: 1 exceed the policy (1 critical); 1 listed apart; SCPs not applied (the account is not in an organization: no SCPs apply)") {
		t.Errorf("summary: %q", errOut)
	}
	t.Log(out)

	// JSON: one document with the documented schema version.
	out, _, code = auditCLI(t, nil, "--format", "json", "--principal", "role/app-*")
	var rep audit.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitFindings {
		t.Fatalf("json: exit %d, %v\n%s", code, err, out)
	}
	if rep.SchemaVersion != audit.SchemaVersion || rep.Account != "123456789012" || len(rep.Principals) != 2 || len(rep.Apart) != 0 {
		t.Errorf("report: %+v", rep)
	}
	if rep.Principals[0].Name != "app-chat" || !rep.Principals[0].Exceeds {
		t.Errorf("first principal: %+v", rep.Principals[0])
	}

	// A policy the roles cannot exceed: exit 0.
	dir := t.TempDir()
	open := filepath.Join(dir, "open.yaml")
	if err := os.WriteFile(open, []byte("rules:\n  invocation-logging-disabled: {enabled: false}\n  guardrail-changed: {enabled: false}\n  model-access-changed: {enabled: false}\n  costly-resource-created: {enabled: false}\nregions:\n  allowGlobalProfiles: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = auditCLI(t, nil, "--policy", open, "--principal", "arn:aws:iam::*:role/app-chat")
	if code != exitOK || !strings.Contains(errOut, "1 principal judged: none exceeds the policy") {
		t.Errorf("open policy: exit %d\n%s\n%s", code, out, errOut)
	}

	// Usage errors.
	for _, args := range [][]string{{"--format", "yaml"}, {"extra"}, {"--concurrency", "0"}, {"--policy", filepath.Join(dir, "missing.yaml")}} {
		if _, _, code := auditCLI(t, nil, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// TestAuditCLIListingFails: no IAM to talk to is exit 2 with the reason.
func TestAuditCLIListingFails(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	_, errOut, code := auditCLI(t, nil, "--no-scps")
	if code != exitUsage || !strings.Contains(errOut, "list principals") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}
