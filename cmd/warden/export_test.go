package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/pkg/export"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
	"github.com/bedrock-warden/warden/pkg/policy"
)

func TestPolicyExport(t *testing.T) {
	chdirRoot(t)
	for _, kind := range export.Kinds {
		code, stdout, stderr := runCLI(t, "", "policy", "export", "--as", string(kind))
		if code != exitOK {
			t.Fatalf("%s: exit %d, stderr %q", kind, code, stderr)
		}
		// Compact by default: one line, exactly the golden document once
		// minified.
		if strings.Count(stdout, "\n") != 1 {
			t.Errorf("%s: output is not one compact line:\n%s", kind, stdout)
		}
		golden, err := os.ReadFile(filepath.Join("pkg", "export", "testdata", "default."+string(kind)+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var a, b iampolicy.Document
		if err := json.Unmarshal([]byte(stdout), &a); err != nil {
			t.Fatalf("%s: output is not a policy document: %v", kind, err)
		}
		if err := json.Unmarshal(golden, &b); err != nil {
			t.Fatal(err)
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("%s: CLI output differs from the golden file", kind)
		}
		code, pretty, _ := runCLI(t, "", "policy", "export", "--as", string(kind), "--pretty")
		if code != exitOK || string(golden) != pretty {
			t.Errorf("%s --pretty: exit %d, output differs from the golden file", kind, code)
		}
	}

	code, stdout, stderr := runCLI(t, "", "policy", "export", "--as", "scp", "--policy", "events/strict-policy.yaml", "--account", "111122223333")
	if code != exitOK {
		t.Fatalf("strict scp: exit %d: %s", code, stderr)
	}
	for _, want := range []string{`"NotIpAddress"`, `"aws:SourceVpce":"vpce-0a1b2c3d4e5f60718"`, `arn:aws:bedrock:*:111122223333:inference-profile/us.amazon.nova-*`, `"DenyPrincipalsNotAllowed"`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("strict scp lacks %s:\n%s", want, stdout)
		}
	}
}

func TestPolicyExportErrors(t *testing.T) {
	chdirRoot(t)
	dir := t.TempDir()
	arnPolicy := filepath.Join(dir, "arn.yaml")
	if err := os.WriteFile(arnPolicy, []byte("models:\n  allow:\n    - amazon.nova-*\n    - \"arn:aws:bedrock:*::foundation-model/*\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var big strings.Builder
	big.WriteString("models:\n  allow:\n")
	for i := range 80 {
		big.WriteString("    - vendor" + strings.Repeat("x", 3) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".model-family-long-name-*\n")
	}
	bigPolicy := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(bigPolicy, []byte(big.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no --as", []string{}, "--as is required"},
		{"unknown kind", []string{"--as", "role-policy"}, "unknown document kind"},
		{"bad account", []string{"--as", "scp", "--account", "1234"}, "12-digit"},
		{"positional argument", []string{"--as", "scp", "policy.yaml"}, "unexpected argument"},
		{"missing file", []string{"--as", "scp", "--policy", filepath.Join(dir, "nope.yaml")}, "no such file"},
		{"inexpressible pattern", []string{"--as", "iam-policy", "--policy", arnPolicy}, arnPolicy + ":4: models.allow[1]"},
		{"over the limit", []string{"--as", "scp", "--policy", bigPolicy}, "shorten models.allow (80 entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", append([]string{"policy", "export"}, tt.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if stdout != "" {
				t.Errorf("stdout not empty on error: %q", stdout)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q lacks %q", stderr, tt.want)
			}
		})
	}
	if code, _, _ := runCLI(t, "", "policy", "export", "--help"); code != exitOK {
		t.Errorf("--help: exit %d", code)
	}
	if _, err := policy.LoadFile(bigPolicy); err != nil {
		t.Fatalf("the oversized test policy must itself be valid: %v", err)
	}
}
