package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bedrock-warden/warden/pkg/findings"
)

// verbs is every runnable verb path; the test below fails for one it does
// not know, so a new verb gets the same checks.
var verbs = [][]string{
	{"check"}, {"scan"}, {"selftest"}, {"version"},
	{"policy", "validate"}, {"policy", "show"}, {"policy", "export"}, {"policy", "push"}, {"policy", "pull"},
	{"remediation", "status"}, {"remediation", "set"}, {"remediation", "list"}, {"remediation", "undo"}, {"remediation", "breaker"},
	{"spikes", "status"}, {"budget", "status"}, {"usage"}, {"audit"},
}

// TestEveryVerbIsConsistent: per-verb help with flags and examples,
// --format text|json and --json everywhere, an unknown flag is one line
// with a suggestion, contradicting flags are refused.
func TestEveryVerbIsConsistent(t *testing.T) {
	known := map[string]bool{}
	for _, v := range verbs {
		known[v[0]] = true
	}
	for name := range commands {
		if !known[name] {
			t.Errorf("command %s is not in the verbs list of this test", name)
		}
	}
	flagLine := regexp.MustCompile(`(?m)^  --[a-z-]+`)
	for _, v := range verbs {
		path := strings.Join(v, " ")
		code, out, errOut := runCLI(t, "", append(v, "--help")...)
		if code != exitOK || errOut != "" || !strings.HasPrefix(out, "Usage: warden "+path) {
			t.Errorf("%s --help: exit %d, stdout %q, stderr %q", path, code, firstLine(out), errOut)
			continue
		}
		if !strings.Contains(out, "\nFlags:\n") || len(flagLine.FindAllString(out, -1)) < 2 || !strings.Contains(out, "--format text|json") ||
			!strings.Contains(out, "--json ") || !strings.Contains(out, "\nExamples:\n  warden ") {
			t.Errorf("%s --help lacks flags, --format/--json or examples:\n%s", path, out)
		}
		// A typo in a flag: one line, with the fix.
		code, out, errOut = runCLI(t, "", append(v, "--fromat", "json")...)
		if code != exitUsage || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "warden "+path+": unknown flag --fromat: did you mean --format?") {
			t.Errorf("%s --fromat: exit %d, stderr %q", path, code, errOut)
		}
		code, _, errOut = runCLI(t, "", append(v, "--json", "--format", "text")...)
		if code != exitUsage || !strings.Contains(errOut, "contradict") {
			t.Errorf("%s --json --format text: exit %d, %q", path, code, errOut)
		}
		code, _, errOut = runCLI(t, "", append(v, "--format", "yaml")...)
		if code != exitUsage || !strings.Contains(errOut, "--format must be text or json") {
			t.Errorf("%s --format yaml: exit %d, %q", path, code, errOut)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func TestTopLevel(t *testing.T) {
	code, out, _ := runCLI(t, "", "--version")
	if code != exitOK || !regexp.MustCompile(`^warden \S+ \(commit \S+, go[0-9.]+`).MatchString(out) || strings.Count(out, "\n") != 1 {
		t.Errorf("--version: %d %q", code, out)
	}
	code, out, _ = runCLI(t, "", "version", "--json")
	var v buildVersion
	if code != exitOK || json.Unmarshal([]byte(out), &v) != nil || v.Version == "" || v.Commit == "" || v.Go == "" {
		t.Errorf("version --json: %d %q", code, out)
	}
	// Stamped by make warden.
	version, commit = "v1.2.3", "0123456789abcdef0123456789abcdef01234567"
	t.Cleanup(func() { version, commit = "", "" })
	if _, out, _ := runCLI(t, "", "--version"); !strings.HasPrefix(out, "warden v1.2.3 (commit 0123456789ab,") {
		t.Errorf("stamped --version: %q", out)
	}
	_, helpOut, _ := runCLI(t, "", "help", "check")
	_, flagOut, _ := runCLI(t, "", "check", "--help")
	if helpOut != flagOut || helpOut == "" {
		t.Error("warden help check is not warden check --help")
	}
	code, _, errOut := runCLI(t, "", "chek")
	if code != exitUsage || !strings.Contains(errOut, `unknown command "chek": did you mean "check"?`) || strings.Count(errOut, "\n") != 1 {
		t.Errorf("typo: %d %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "", "policy", "exprot")
	if code != exitUsage || !strings.Contains(errOut, `did you mean "export"?`) {
		t.Errorf("subcommand typo: %d %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "", "remediation", "undo", "--stack", "bw")
	if code != exitUsage || !strings.Contains(errOut, "missing ID (the record id from warden remediation list)") {
		t.Errorf("undo without an id: %d %q", code, errOut)
	}
	// No doubled prefix from a package's own error.
	code, _, errOut = runCLI(t, "", "policy", "export", "--as", "nope")
	if code != exitUsage || strings.Count(errOut, "export:") != 1 || !strings.HasPrefix(errOut, "warden policy export: ") {
		t.Errorf("policy export --as nope: %d %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "", "scan", "--region", "us-esat-1")
	if code != exitUsage || !strings.Contains(errOut, "did you mean us-east-1?") {
		t.Errorf("scan --region typo: %d %q", code, errOut)
	}
}

func TestPluralsInSummaries(t *testing.T) {
	chdirRoot(t)
	_, _, errOut := runCLI(t, "", "check", "events/invoke-model-unapproved-opus.json")
	if !strings.Contains(errOut, "1 finding (1 high) in 1 Bedrock event from 1 input\n") {
		t.Errorf("singular summary: %q", errOut)
	}
	_, _, errOut = runCLI(t, "", "check", "events/invoke-model-allowed-sonnet.json", "events/invoke-model-unapproved-opus.json")
	if !strings.Contains(errOut, "in 2 Bedrock events from 2 inputs") {
		t.Errorf("plural summary: %q", errOut)
	}
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TestTableOnATerminal: colour only on a terminal without NO_COLOR; the
// columns line up whatever the colour codes; the table fits the width.
func TestTableOnATerminal(t *testing.T) {
	chdirRoot(t)
	run1 := func(env map[string]string, width int) string {
		var out, errb bytes.Buffer
		sio := &IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, IsTerminal: true, Width: width,
			Getenv: func(k string) string { return env[k] }}
		run(context.Background(), []string{"check", "events/"}, sio)
		return out.String()
	}
	coloured := run1(map[string]string{}, 0)
	if !strings.Contains(coloured, "\x1b[") {
		t.Fatal("no colour on a terminal")
	}
	if plain := run1(map[string]string{"NO_COLOR": "1"}, 0); strings.Contains(plain, "\x1b") {
		t.Fatal("colour despite NO_COLOR")
	} else if plain != ansi.ReplaceAllString(coloured, "") {
		t.Fatal("colour changed the layout: without the codes the table must be the NO_COLOR one")
	}
	lines := strings.Split(strings.TrimRight(ansi.ReplaceAllString(coloured, ""), "\n"), "\n")
	col := strings.Index(lines[0], "RULE")
	for _, l := range lines[1:] {
		if r := []rune(l); len(r) <= col || r[col-1] != ' ' || r[col] == ' ' {
			t.Fatalf("RULE column misaligned:\n%s\n%s", lines[0], l)
		}
	}
	for _, width := range []int{80, 120} {
		for _, l := range strings.Split(strings.TrimRight(ansi.ReplaceAllString(run1(map[string]string{}, width), ""), "\n"), "\n") {
			if n := utf8.RuneCountInString(l); n > width {
				t.Fatalf("width %d: line of %d runes:\n%s", width, n, l)
			}
		}
	}
}

// TestJSONOutputsHaveNoNulls: lists are [] and objects {} when empty.
func TestJSONOutputsHaveNoNulls(t *testing.T) {
	chdirRoot(t)
	_, out, _ := runCLI(t, "", "check", "--json", "events/")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var f findings.Finding
		if strings.Contains(line, "null") || json.Unmarshal([]byte(line), &f) != nil || !strings.HasPrefix(line, `{"schemaVersion":1,`) {
			t.Fatalf("finding line: %s", line)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("models:\n  alow: [x]\n"), 0o644)
	_, out, _ = runCLI(t, "", "policy", "validate", "--json", bad)
	var rep validationReport
	if json.Unmarshal([]byte(out), &rep) != nil || rep.Valid || len(rep.Errors) != 1 || rep.Errors[0].Line != 2 {
		t.Fatalf("validate --json: %s", out)
	}
	_, out, _ = runCLI(t, "", "policy", "validate", "--json", "events/strict-policy.yaml")
	if !strings.Contains(out, `"errors": []`) {
		t.Fatalf("valid policy: %s", out)
	}
	_ = time.Now
}
