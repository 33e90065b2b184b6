package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/internal/motoserver"
	usagepkg "github.com/bedrock-warden/warden/pkg/usage"
	"github.com/bedrock-warden/warden/pkg/usage/usagedb"
)

const usagePolicyYAML = `
limits:
  - {name: team-a-claude, principals: ["arn:aws:iam::*:role/team-a-*"], models: ["anthropic.claude-*"], period: month, maxTokens: 10000, maxUSD: 5, action: block}
  - {name: shared, principals: ["*"], period: month, maxUSD: 100, per: team}
  - {name: daily, period: day, maxTokens: 1}
`

func TestUsageAgainstMoto(t *testing.T) {
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	pointSDKAt(t, srv)
	setStatusClock(t, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	st := usagedb.New(dynamodb.NewFromConfig(srv.Config(t)), "warden")
	nov := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	add := func(subject, model string, c usagepkg.Counters) {
		t.Helper()
		k := usagepkg.Key{Period: "month", Start: nov, Subject: subject, Model: model}
		if _, err := st.Add(context.Background(), k, c, usagepkg.Digest(k, []string{subject + model}), nov); err != nil {
			t.Fatal(err)
		}
	}
	teamA := "arn:aws:iam::123456789012:role/team-a-app"
	other := "arn:aws:iam::123456789012:user/dev/dheeraj"
	add(usagepkg.PrincipalSubject(teamA), "anthropic.claude-3-5-haiku-20241022-v1:0", usagepkg.Counters{Invocations: 40, InputTokens: 6000, OutputTokens: 2500, USD: 0.0148})
	add(usagepkg.PrincipalSubject(teamA), "amazon.nova-pro-v1:0", usagepkg.Counters{Invocations: 2, InputTokens: 100, OutputTokens: 10, USD: 0.00011})
	add(usagepkg.PrincipalSubject(other), "amazon.nova-lite-v1:0", usagepkg.Counters{Invocations: 1, InputTokens: 4, OutputTokens: 38, CacheReadTokens: 2000, USD: 0.00002})
	add(usagepkg.TeamSubject("shared"), "amazon.nova-lite-v1:0", usagepkg.Counters{Invocations: 1, InputTokens: 4, OutputTokens: 38, USD: 0.00002})

	env := map[string]string{"WARDEN_TABLE": "warden", "WARDEN_POLICY_DOCUMENT": usagePolicyYAML}
	code, out, errOut := runStatusCLI(t, env, "usage", "--format", "json")
	if code != exitFindings {
		t.Fatalf("exit = %d, want %d (team-a is at 85 %% of its tokens); stderr %s\n%s", code, exitFindings, errOut, out)
	}
	var rep usagepkg.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	if rep.Period != "month" || !rep.Start.Equal(nov) || len(rep.Rows) != 2 || rep.Rows[0].Name != teamA || rep.Rows[0].Counters.Tokens() != 8610 {
		t.Fatalf("rows = %+v", rep.Rows)
	}
	// team-a-claude for the team role (Claude only: 8,500 of 10,000), the
	// shared team; the day limit is not a month's.
	if len(rep.Limits) != 2 || rep.Limits[0].Limit.Name != "team-a-claude" || rep.Limits[0].Used.Tokens() != 8500 || rep.Limits[0].Level() != "warning" ||
		rep.Limits[1].Who() != "team shared" {
		t.Fatalf("limits = %+v", rep.Limits)
	}
	code, out, _ = runStatusCLI(t, env, "usage", "--by", "model")
	for _, want := range []string{"Usage month 2026-11-01 – 2026-11-30 (UTC)", "MODEL", "anthropic.claude-3-5-haiku-20241022-v1:0", "8,500",
		"team-a-claude", "role/team-a-app", "8,500 tokens, $0.01", "10,000 tokens, $5.00", "[#################---]  85 %", "block", "warning", "team shared"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if code != exitFindings {
		t.Errorf("table exit = %d", code)
	}
	// A past period, by limit only; an empty one.
	code, out, _ = runStatusCLI(t, env, "usage", "--by", "limit", "--at", "2026-10-15T00:00:00Z")
	if code != exitOK || !strings.Contains(out, "team shared  $0.00  $100.00  [--------------------]   0 %") || strings.Contains(out, "team-a-claude") || strings.Contains(out, "CALLS") {
		t.Errorf("October: %d\n%s", code, out)
	}
	for _, bad := range [][]string{{"--period", "year"}, {"--by", "region"}, {"--format", "yaml"}, {"--at", "yesterday"}, {"extra"}} {
		if code, _, _ := runStatusCLI(t, env, append([]string{"usage"}, bad...)...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", bad, code, exitUsage)
		}
	}
	if code, _, errOut := runStatusCLI(t, map[string]string{}, "usage"); code != exitUsage || !strings.Contains(errOut, "--table TABLE") {
		t.Errorf("no table: %d %s", code, errOut)
	}
}

func TestPolicyExportSaysLimitsAreNotExported(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte(usagePolicyYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "", "policy", "export", "--as", "iam-policy", "--policy", path)
	if code != exitOK || strings.Contains(stdout, "team-a-claude") {
		t.Fatalf("exit %d; a limit leaked into the document:\n%s", code, stdout)
	}
	if !strings.Contains(stderr, "note: limits (team-a-claude, shared, daily) are not in this document") || !strings.Contains(stderr, "IAM cannot count tokens or dollars") {
		t.Errorf("stderr does not say limits are not exported: %q", stderr)
	}
}
