package export

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/bedrock-warden/warden/pkg/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGoldenDefault compares the exported documents of the embedded default
// policy with testdata/default.<kind>.json (pretty-printed). Run
// `go test ./pkg/export -update` to rewrite them after a deliberate change,
// and review the diff.
func TestGoldenDefault(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			doc, err := Export(policy.Default(), kind, Options{Name: "embedded default", Source: policy.DefaultYAML()})
			if err != nil {
				t.Fatalf("Export: %v", err)
			}
			got, err := Marshal(doc, true)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "default."+string(kind)+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/export -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the export; run with -update and review the diff.\ngot:\n%s", path, got)
			}
			if n, limit := Size(doc), Limit(kind); n > limit {
				t.Errorf("size %d over limit %d", n, limit)
			}
		})
	}
}
