// Package samples locates the public CloudTrail records in
// testdata/cloudtrail-public (verbatim copies of real records from public
// documentation and write-ups; see SOURCES.md there) for tests anywhere in
// the repository.
package samples

import (
	"path/filepath"
	"runtime"
	"testing"
)

// Dir returns the absolute path of testdata/cloudtrail-public.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "cloudtrail-public")
}

// Files returns the sample files (*.json), sorted. It fails the test when
// there are none: a sample test never passes by reading nothing.
func Files(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(Dir(), "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no public CloudTrail samples in %s: %v", Dir(), err)
	}
	return files
}
