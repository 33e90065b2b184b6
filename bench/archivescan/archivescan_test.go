package archivescan

import (
	"slices"
	"testing"
	"time"
)

// TestComparison: findings are compared as sets of identities, whatever
// their order; a finding only one side reported makes the run not
// identical, and rates come from each process's wall clock.
func TestComparison(t *testing.T) {
	check, err := ids([]byte(`{"rule":"a","fingerprint":"1","eventId":"x","details":{}}
{"rule":"b","fingerprint":"2","eventId":"","details":{"invocationEventId":"y"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	scan, _ := ids([]byte(`{"rule":"b","fingerprint":"2","eventId":"","details":{"invocationEventId":"y"}}
{"rule":"a","fingerprint":"1","eventId":"x","details":{}}
`))
	if !slices.Equal(check, scan) {
		t.Fatalf("the same findings in another order differ: %v %v", check, scan)
	}
	r := Result{Events: 1000, Check: 2 * time.Second, Scan: 4 * time.Second, CheckFindings: len(check), ScanFindings: len(scan)}
	if !r.Identical() || r.CheckRate() != 500 || r.ScanRate() != 250 || r.Ratio() != 0.5 {
		t.Fatalf("result %+v: identical %v, rates %v %v, ratio %v", r, r.Identical(), r.CheckRate(), r.ScanRate(), r.Ratio())
	}
	r.Missing = difference(check, scan[:1])
	if len(r.Missing) != 1 || r.Identical() {
		t.Fatalf("missing %v, identical %v", r.Missing, r.Identical())
	}
	if _, err := ids([]byte(`{"rule":`)); err == nil {
		t.Error("broken output accepted")
	}
}
