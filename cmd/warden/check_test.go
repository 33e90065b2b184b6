package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/safetext"
)

// runCLI runs the CLI in-process from the repository root.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	sio := &IO{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code = run(context.Background(), args, sio)
	return code, out.String(), errb.String()
}

func chdirRoot(t *testing.T) {
	t.Helper()
	t.Chdir("../..")
}

// expected lists, per sample event, the rules `warden check` reports under
// the embedded default policy and under events/strict-policy.yaml. Every
// sample in events/ must be listed: a new sample needs a decision here.
var expected = map[string]struct{ def, strict []string }{
	"converse-breakglass-exempt":                      {},
	"converse-cross-region-allowed":                   {},
	"converse-global-profile-not-allowed":             {[]string{"unauthorized-region"}, []string{"unauthorized-region"}},
	"converse-model-not-allowlisted-mistral":          {[]string{"unauthorized-model"}, []string{"unauthorized-model"}},
	"converse-stream-inference-region-not-allowed":    {nil, []string{"unauthorized-region"}},
	"create-agent-action-group":                       {[]string{"agent-changed"}, []string{"agent-changed"}},
	"create-data-source-web-crawler":                  {[]string{"knowledge-base-changed"}, []string{"knowledge-base-changed"}},
	"create-model-copy-job-cross-region":              {[]string{"model-exfiltration"}, []string{"model-exfiltration"}},
	"create-provisioned-model-throughput":             {[]string{"costly-resource-created"}, []string{"costly-resource-created"}},
	"delete-custom-model-bedrock-api-key":             {[]string{"api-key-used"}, []string{"api-key-used"}},
	"delete-enforced-guardrail-configuration":         {[]string{"guardrail-changed"}, []string{"guardrail-changed"}},
	"delete-guardrail":                                {[]string{"guardrail-changed"}, []string{"guardrail-changed"}},
	"delete-guardrail-access-denied":                  {[]string{"denied-change"}, []string{"denied-change"}},
	"delete-model-invocation-logging":                 {[]string{"invocation-logging-disabled"}, []string{"invocation-logging-disabled"}},
	"get-foundation-model-availability-long-term-key": {[]string{"model-recon"}, []string{"model-recon"}},
	"get-guardrail":                                   {},
	"get-model-invocation-logging":                    {},
	"get-provisioned-model-throughput":                {},
	"invoke-model-access-denied-probe":                {[]string{"denied-invocation"}, []string{"denied-invocation"}},
	"invoke-model-allowed-sonnet":                     {},
	"invoke-model-bedrock-api-key":                    {[]string{"api-key-used"}, []string{"unauthorized-principal", "api-key-used"}},
	"invoke-model-from-unknown-ip":                    {nil, []string{"unauthorized-source-ip"}},
	"invoke-model-imported-model-arn":                 {[]string{"unauthorized-model"}, []string{"unauthorized-model"}},
	"invoke-model-ipv6-allowed":                       {},
	"invoke-model-region-not-allowed":                 {[]string{"unauthorized-region"}, []string{"unauthorized-region"}},
	"invoke-model-unapproved-opus":                    {[]string{"unauthorized-model"}, []string{"unauthorized-model"}},
	"invoke-model-user-not-allowlisted":               {nil, []string{"unauthorized-principal"}},
	// A validation probe (ValidationException) is denied-invocation, and the
	// allow-list rules still judge it: a probe of a denied model from an
	// address outside allowCidrs is three findings.
	"invoke-model-validation-probe": {[]string{"denied-invocation"}, []string{"denied-invocation"}},
	"invoke-model-validation-probe-opus-unknown-ip": {[]string{"unauthorized-model", "denied-invocation"},
		[]string{"unauthorized-model", "denied-invocation", "unauthorized-source-ip"}},
	"invoke-model-via-bedrock-agent-service": {},
	"list-foundation-models":                 {},
	"list-guardrails":                        {},
	"put-foundation-model-entitlement":       {[]string{"model-access-changed"}, []string{"model-access-changed"}},
	// IAM events (they reach EventBridge in us-east-1).
	"iam/attach-user-policy-bedrock-limited-access":  {[]string{"api-key-created"}, []string{"api-key-created"}},
	"iam/create-service-specific-credential-bedrock": {[]string{"api-key-created"}, []string{"api-key-created"}},
	"iam/create-user-bedrock-api-key":                {[]string{"api-key-created"}, []string{"api-key-created"}},
	// A CloudTrail log file: one stolen key's recon calls, then an
	// invocation seven minutes later.
	"sequences/llmjacking-recon-then-invoke": {
		[]string{"recon-then-invoke", "model-recon", "model-recon", "model-recon"},
		[]string{"recon-then-invoke", "model-recon", "model-recon", "model-recon", "unauthorized-source-ip", "unauthorized-principal"}},
}

// sampleDirs are the directories of events/ whose samples are Bedrock
// events (or the IAM calls of Bedrock API keys) judged by TestSampleEvents.
var sampleDirs = []string{"events", "events/iam", "events/sequences"}

func TestSampleEvents(t *testing.T) {
	chdirRoot(t)
	var files []string
	for _, dir := range sampleDirs {
		fs, err := filepath.Glob(dir + "/*.json")
		if err != nil || len(fs) == 0 {
			t.Fatalf("no sample events in %s: %v", dir, err)
		}
		files = append(files, fs...)
	}
	covered := map[string]bool{}
	seen := map[string]bool{}
	for _, f := range files {
		if filepath.Base(f) == "env.json" {
			continue // sam local invoke's environment, not an event
		}
		name := strings.TrimSuffix(strings.TrimPrefix(f, "events/"), ".json")
		seen[name] = true
		want, ok := expected[name]
		if !ok {
			t.Errorf("%s: not in the expected table", f)
			continue
		}
		for _, policyArgs := range [][]string{nil, {"--policy", "events/strict-policy.yaml"}} {
			args := append(append([]string{"check", "--format", "json"}, policyArgs...), f)
			code, stdout, stderr := runCLI(t, "", args...)
			wantRules := want.def
			if policyArgs != nil {
				wantRules = want.strict
				for _, r := range wantRules {
					covered[r] = true
				}
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
				if line == "" {
					continue
				}
				var fnd findings.Finding
				if err := json.Unmarshal([]byte(line), &fnd); err != nil {
					t.Fatalf("%s: bad JSON line %q: %v", f, line, err)
				}
				got = append(got, fnd.Rule)
			}
			if strings.Join(got, ",") != strings.Join(wantRules, ",") {
				t.Errorf("%s %v: rules %v, want %v (stderr: %s)", name, policyArgs, got, wantRules, stderr)
			}
			wantCode := exitOK
			if len(wantRules) > 0 {
				wantCode = exitFindings
			}
			if code != wantCode {
				t.Errorf("%s %v: exit %d, want %d", name, policyArgs, code, wantCode)
			}
		}
	}
	for name := range expected {
		if !seen[name] {
			t.Errorf("expected table lists %s, which is not a sample", name)
		}
	}
	for _, id := range eventRules {
		if !covered[id] {
			t.Errorf("no sample event in events/ triggers %s", id)
		}
	}
}

// eventRules are the rules the engine evaluates on single events or
// sequences of them (the others are aggregates or health checks with their
// own tests): each has a sample in events/ and a row in the README.
var eventRules = []string{
	findings.RuleUnauthorizedModel, findings.RuleUnauthorizedRegion, findings.RuleUnauthorizedSourceIP,
	findings.RuleUnauthorizedPrincipal, findings.RuleAPIKeyUsed, findings.RuleDeniedInvocation,
	findings.RuleModelRecon, findings.RuleReconThenInvoke, findings.RuleAPIKeyCreated,
	findings.RuleInvocationLoggingDisabled, findings.RuleGuardrailChanged, findings.RuleModelAccessChanged,
	findings.RuleCostlyResourceCreated, findings.RuleModelExfiltration, findings.RuleAgentChanged,
	findings.RuleKnowledgeBaseChanged, findings.RuleDeniedChange,
}

func TestCheckJSONKeys(t *testing.T) {
	chdirRoot(t)
	code, stdout, _ := runCLI(t, "", "check", "--format", "json", "events/invoke-model-unapproved-opus.json")
	if code != exitFindings {
		t.Fatalf("exit %d", code)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"rule", "severity", "eventId", "eventName", "eventTime", "account", "region", "inferenceRegion",
		"principal", "principalType", "model", "baseModel", "sourceIp", "title", "fingerprint"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON finding lacks key %q: %s", k, stdout)
		}
	}
	if m["principal"] != "arn:aws:iam::111122223333:role/app-chat" || m["baseModel"] != "anthropic.claude-3-opus-20240229-v1:0" {
		t.Errorf("finding = %s", stdout)
	}
}

func TestCheckDefaultDirectoryAndTable(t *testing.T) {
	chdirRoot(t)
	code, stdout, stderr := runCLI(t, "", "check")
	if code != exitFindings {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if !strings.HasPrefix(lines[0], "SEVERITY") || len(lines) < 10 {
		t.Fatalf("table:\n%s", stdout)
	}
	// Aligned: every row's RULE column starts where the header's does.
	col := strings.Index(lines[0], "RULE")
	for _, l := range lines[1:] {
		if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("misaligned row %q", l)
		}
	}
	if strings.Contains(stdout, "\x1b[") {
		t.Error("colour codes when not on a terminal")
	}
	if !strings.Contains(stderr, "non-Bedrock records skipped") {
		t.Errorf("summary does not mention skipped records: %s", stderr)
	}
	// Critical first.
	if !strings.HasPrefix(lines[1], "CRITICAL") {
		t.Errorf("first row %q is not the critical finding", lines[1])
	}
}

func TestCheckStdinAndGzip(t *testing.T) {
	chdirRoot(t)
	opus, err := os.ReadFile("events/invoke-model-unapproved-opus.json")
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := runCLI(t, string(opus), "check", "--format", "json", "-")
	if code != exitFindings || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("stdin: exit %d, out %q", code, stdout)
	}
	// A CloudTrail log file as delivered to S3, gzipped, in a directory.
	dir := t.TempDir()
	var detail struct {
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(opus, &detail); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"Records":[` + string(detail.Detail) + `,` + string(detail.Detail) + `]}`))
	zw.Close()
	if err := os.WriteFile(filepath.Join(dir, "111122223333_CloudTrail_us-east-1_20261120T1405Z_x.json.gz"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an event file"), 0o644)
	code, stdout, stderr := runCLI(t, "", "check", "--format", "json", dir)
	if code != exitFindings || strings.Count(stdout, "\n") != 2 {
		t.Fatalf("gzip dir: exit %d, out %q, err %q", code, stdout, stderr)
	}
}

func TestCheckExitCodes(t *testing.T) {
	chdirRoot(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"Records":[{"eventSource":"bedrock.amazonaws.com","eventName":"InvokeModel","awsRegion":"us-east-1","requestParameters":{"modelId":"anthropic.claude-3-opus-20240229-v1:0"}}, {"eventName": 42}]}`), 0o644)
	code, stdout, stderr := runCLI(t, "", "check", "--format", "json", bad)
	if code != exitUsage {
		t.Errorf("input error: exit %d, want 2", code)
	}
	if strings.Count(stdout, "\n") != 1 || !strings.Contains(stderr, "bad.json[1]") {
		t.Errorf("the good record should be reported and the bad one named: out %q err %q", stdout, stderr)
	}
	if code, _, _ := runCLI(t, "", "check", "events/invoke-model-allowed-sonnet.json"); code != exitOK {
		t.Errorf("benign: exit %d, want 0", code)
	}
	if code, _, _ := runCLI(t, "", "check", "--format", "yaml"); code != exitUsage {
		t.Errorf("bad format: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, "", "check", "no/such/path"); code != exitUsage {
		t.Errorf("missing path: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, "", "check", "--policy", "no/such/policy.yaml"); code != exitUsage {
		t.Errorf("missing policy: exit %d, want 2", code)
	}
	if code, out, _ := runCLI(t, "", "check", "--help"); code != exitOK {
		t.Errorf("--help: exit %d %s", code, out)
	}
	if code, _, _ := runCLI(t, "", "nonsense"); code != exitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
}

func TestPolicyCommands(t *testing.T) {
	chdirRoot(t)
	code, out, errOut := runCLI(t, "", "policy", "validate", "events/strict-policy.yaml")
	if code != exitOK || !strings.Contains(out, "valid") {
		t.Fatalf("validate strict: %d %s %s", code, out, errOut)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("models:\n  alow: [x]\nregions:\n  allow: [mars-1]\n"), 0o644)
	code, _, errOut = runCLI(t, "", "policy", "validate", bad)
	if code != exitUsage || !strings.Contains(errOut, ":2") || !strings.Contains(errOut, "alow") {
		t.Fatalf("validate bad: %d %s", code, errOut)
	}
	code, out, _ = runCLI(t, "", "policy", "show")
	if code != exitOK || !strings.Contains(out, "models:") || !strings.Contains(out, "opus") {
		t.Fatalf("show: %d %s", code, out)
	}
	code, out, _ = runCLI(t, "", "policy", "show", "--policy", "events/strict-policy.yaml")
	if code != exitOK || !strings.Contains(out, "vpce-0a1b2c3d4e5f60718") {
		t.Fatalf("show strict: %d %s", code, out)
	}
	if code, _, _ := runCLI(t, "", "policy"); code != exitUsage {
		t.Fatalf("policy without subcommand: exit %d", code)
	}
	code, out, _ = runCLI(t, "", "--help")
	names := []string{}
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !strings.Contains(out, n) {
			t.Errorf("--help does not list %s", n)
		}
	}
}

func TestTableEscapesControlCharacters(t *testing.T) {
	var b bytes.Buffer
	printTable(&b, []findings.Finding{{Rule: "unauthorized-model", Severity: findings.High,
		Principal: "arn:aws:iam::1:user/x\x1b]0;pwned\x07", Model: "m\x1b[2J\tx\u202eevil\u2028line", EventName: "InvokeModel\n<!here>",
		SourceIP: "@channel"}}, false, 0)
	if strings.ContainsAny(b.String(), "\x1b\x07\u202e\u2028") || strings.Count(b.String(), "\n") != 2 {
		t.Fatalf("control characters reached the table: %q", b.String())
	}
	if safetext.Markup(b.String()) {
		t.Fatalf("a mention reached the table: %q", b.String())
	}
}

// Without --policy, every command judges with the policy the Lambdas use,
// located the same way: $WARDEN_POLICY names a file (PATH or file://PATH)
// or a parameter, $WARDEN_POLICY_DOCUMENT holds a document.
func TestCheckHonoursWardenPolicy(t *testing.T) {
	chdirRoot(t)
	allowAll := filepath.Join(t.TempDir(), "allow-all.yaml")
	os.WriteFile(allowAll, []byte("models:\n  allow: [\"*\"]\n"), 0o644)
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	os.WriteFile(broken, []byte("models:\n  alow: [x]\n"), 0o644)
	sample := "events/invoke-model-unapproved-opus.json"
	for _, tc := range []struct {
		env  map[string]string
		code int
		msg  string
	}{
		{map[string]string{}, exitFindings, ""},
		{map[string]string{"WARDEN_POLICY": allowAll}, exitOK, ""},
		{map[string]string{"WARDEN_POLICY": "file://" + allowAll}, exitOK, ""},
		{map[string]string{"WARDEN_POLICY_DOCUMENT": "models:\n  allow: [\"*\"]\n"}, exitOK, ""},
		{map[string]string{"WARDEN_POLICY": broken}, exitUsage, "alow"},
		{map[string]string{"WARDEN_POLICY": "models:\n  allow: [\"*\"]\n"}, exitUsage, "put a document in WARDEN_POLICY_DOCUMENT"},
		{map[string]string{"WARDEN_POLICY": "s3://bucket/p.yaml"}, exitUsage, "unknown scheme"},
	} {
		var out, errb bytes.Buffer
		sio := &IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return tc.env[k] }}
		code := run(context.Background(), []string{"check", "--format", "json", sample}, sio)
		if code != tc.code || !strings.Contains(errb.String(), tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.env, code, errb.String(), tc.code, tc.msg)
		}
	}
	// The flag wins over the environment.
	code, _, _ := runCLI(t, "", "check", "--policy", allowAll, sample)
	if code != exitOK {
		t.Errorf("--policy: exit %d", code)
	}
}
