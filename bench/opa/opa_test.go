package opa

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bedrock-warden/warden/internal/corpus"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
)

func policies(t *testing.T) map[string]*policy.Policy {
	t.Helper()
	strict, err := policy.LoadFile("../../events/strict-policy.yaml")
	if err != nil {
		t.Fatalf("strict policy: %v", err)
	}
	return map[string]*policy.Policy{"default": policy.Default(), "strict": strict}
}

// TestCorpusAgreement: over a corpus rich in violations, the Rego rules and
// the Go engine give the same rule ids for every event, under the default
// and the strict sample policy.
func TestCorpusAgreement(t *testing.T) {
	ctx := context.Background()
	evs, err := corpus.Generate(21, 3000, corpus.Mix{Violations: 0.3, ControlPlane: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	payloads := corpus.Payloads(evs)
	for name, p := range policies(t) {
		e, err := New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		tallies, mism, n, err := Agreement(ctx, &detector.Core{Rules: rules.New(p)}, e, payloads, 5)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mism {
			t.Errorf("%s policy, event %d: go %v, opa %v\n%s", name, m.Index, m.Go, m.OPA, payloads[m.Index])
		}
		if n != 0 {
			t.Errorf("%s policy: %d events disagree", name, n)
		}
		if len(tallies) < 8 {
			t.Errorf("%s policy: only %d rules fired (%v): the corpus does not exercise the rules", name, len(tallies), tallies)
		}
	}
}

// TestSampleAgreement: the repository's sample envelopes (events/*.json)
// agree too, under both policies.
func TestSampleAgreement(t *testing.T) {
	ctx := context.Background()
	files, err := filepath.Glob("../../events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events: %v", err)
	}
	var payloads [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		payloads = append(payloads, b)
	}
	for name, p := range policies(t) {
		e, err := New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		tallies, mism, _, err := Agreement(ctx, &detector.Core{Rules: rules.New(p)}, e, payloads, len(payloads))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mism {
			t.Errorf("%s policy, %s: go %v, opa %v", name, files[m.Index], m.Go, m.OPA)
		}
		if len(tallies) == 0 {
			t.Errorf("%s policy: no findings at all over the samples", name)
		}
	}
}

// TestEvalRejectsBadInput: bytes that are not JSON are an error, not an
// empty result.
func TestEvalRejectsBadInput(t *testing.T) {
	e, err := New(context.Background(), policy.Default())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Eval(context.Background(), []byte(`{"detail":`)); err == nil {
		t.Fatal("Eval accepted truncated JSON")
	}
}
