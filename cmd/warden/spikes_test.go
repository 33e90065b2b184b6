package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/spikes"
	"github.com/bedrock-warden/warden/pkg/spikes/counterdb"
)

// runStatusCLI runs the CLI in-process with env as its environment (IO.Getenv).
func runStatusCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	sio := &IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	code := run(context.Background(), args, sio)
	return code, out.String(), errb.String()
}

// pointSDKAt makes awsconf.Load (the CLI's config) reach srv.
func pointSDKAt(t *testing.T, srv *motoserver.Server) {
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
}

func setStatusClock(t *testing.T, at time.Time) {
	t.Helper()
	old := statusNow
	statusNow = func() time.Time { return at }
	t.Cleanup(func() { statusNow = old })
}

const spikesPolicyYAML = `
spikes:
  window: 5m
  perPrincipal: {max: 10}
  perModel: {max: 1000}
  overrides:
    - principal: "arn:aws:iam::*:role/batch-*"
      max: 20000
`

func TestSpikesStatusAgainstMoto(t *testing.T) {
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	pointSDKAt(t, srv)
	now := time.Date(2026, 8, 1, 10, 7, 0, 0, time.UTC)
	setStatusClock(t, now)

	pol, err := policy.Load("test", []byte(spikesPolicyYAML))
	if err != nil {
		t.Fatal(err)
	}
	a := spikes.New(counterdb.New(dynamodb.NewFromConfig(srv.Config(t)), "warden"), pol, func() time.Time { return now }, nil)
	ev := func(i int, principal string, at time.Time) normalize.Event {
		return normalize.Event{ID: fmt.Sprint(i), Time: at, Category: normalize.CategoryInvocation,
			Principal: normalize.Principal{ARN: principal}, Model: normalize.Model{Base: "amazon.nova-lite-v1:0"}}
	}
	var events []normalize.Event
	for i := range 12 {
		events = append(events, ev(i, "arn:aws:iam::123456789012:role/app", now))
	}
	for i := range 30 {
		events = append(events, ev(100+i, "arn:aws:iam::123456789012:role/batch-etl", now.Add(-time.Minute)))
	}
	events = append(events, ev(999, "arn:aws:iam::123456789012:user/bob", now.Add(-5*time.Minute))) // previous window
	if _, err := a.Analyze(context.Background(), events); err != nil {
		t.Fatal(err)
	}

	env := map[string]string{"WARDEN_TABLE": "warden", "WARDEN_POLICY_DOCUMENT": spikesPolicyYAML}
	code, out, errOut := runStatusCLI(t, env, "spikes", "status", "--json")
	if code != exitFindings {
		t.Fatalf("exit = %d, want %d (role/app is over its max); stderr %s", code, exitFindings, errOut)
	}
	var rep struct {
		Window  string
		Windows []struct {
			Start time.Time
			Keys  []struct {
				Kind, ID  string
				Count     int64
				Over      bool
				AlertedAt string
				Threshold spikes.Threshold
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	if rep.Window != "5m" || len(rep.Windows) != 2 || !rep.Windows[0].Start.Equal(time.Date(2026, 8, 1, 10, 5, 0, 0, time.UTC)) {
		t.Fatalf("report = %+v", rep)
	}
	cur := rep.Windows[0].Keys
	if len(cur) != 3 {
		t.Fatalf("current window keys = %+v", cur)
	}
	// Sorted by count: model 42, batch role 30, app role 12.
	if cur[0].Kind != "model" || cur[0].Count != 42 || cur[0].Over {
		t.Errorf("row 0 = %+v", cur[0])
	}
	if cur[1].ID != "arn:aws:iam::123456789012:role/batch-etl" || cur[1].Count != 30 || cur[1].Over || cur[1].Threshold.Max != 20000 {
		t.Errorf("row 1 (override) = %+v", cur[1])
	}
	if cur[2].ID != "arn:aws:iam::123456789012:role/app" || cur[2].Count != 12 || !cur[2].Over || cur[2].AlertedAt == "" || cur[2].Threshold.Max != 10 {
		t.Errorf("row 2 = %+v", cur[2])
	}
	if prev := rep.Windows[1].Keys; len(prev) != 2 || prev[0].Count != 1 {
		t.Errorf("previous window = %+v", prev)
	}

	code, out, _ = runStatusCLI(t, env, "spikes", "status", "--windows", "1")
	if code != exitFindings {
		t.Fatalf("table exit = %d", code)
	}
	for _, want := range []string{"Window 2026-08-01 10:05 – 10:10 UTC (5m, current)", "KIND", "role/app", "max 10", "role/batch-etl", "max 20000", "amazon.nova-lite-v1:0=12"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "user/bob") {
		t.Errorf("--windows 1 showed the previous window:\n%s", out)
	}
}

func TestSpikesStatusUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"spikes"},
		{"spikes", "bogus"},
		{"spikes", "status"}, // no table
		{"spikes", "status", "--table", "t", "--windows", "0"},
		{"spikes", "status", "--table", "t", "extra"},
	} {
		if code, _, errOut := runStatusCLI(t, nil, args...); code != exitUsage || errOut == "" {
			t.Errorf("%v: exit %d stderr %q, want usage error", args, code, errOut)
		}
	}
	if code, out, _ := runStatusCLI(t, nil, "spikes", "--help"); code != exitOK || !strings.Contains(out, "status") {
		t.Errorf("--help: %d %q", code, out)
	}
	// Per-verb help lists the flags (it printed an empty "Flags:" once).
	code, out, _ := runStatusCLI(t, nil, "spikes", "status", "--help")
	if code != exitOK || !strings.Contains(out, "Usage: warden spikes status") || !strings.Contains(out, "--windows N") || !strings.Contains(out, "Examples:") {
		t.Errorf("status --help: %d %q", code, out)
	}
}
