package findings

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestJSONContract: every key is always present, empty values are "" or
// {} (never null, never left out), and the schema version leads.
func TestJSONContract(t *testing.T) {
	raw, err := json.Marshal(Finding{Rule: RuleUnauthorizedModel, Severity: High, Fingerprint: "f"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), `{"schemaVersion":1,`) || strings.Contains(string(raw), "null") {
		t.Fatalf("JSON = %s", raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	keys := JSONKeys()
	if len(m) != len(keys) {
		t.Fatalf("%d keys written, %d in the contract", len(m), len(keys))
	}
	for _, k := range keys {
		v, ok := m[k]
		if !ok {
			t.Errorf("key %s missing", k)
		}
		switch k {
		case "schemaVersion":
		case "details":
			if d, ok := v.(map[string]any); !ok || len(d) != 0 {
				t.Errorf("empty details = %v, want {}", v)
			}
		default:
			if _, ok := v.(string); !ok {
				t.Errorf("%s = %v (%T), want a string", k, v, v)
			}
		}
	}
	if m["eventTime"] != "" {
		t.Errorf("zero eventTime = %v, want \"\"", m["eventTime"])
	}
}

func TestJSONRoundTrip(t *testing.T) {
	f := Finding{Rule: RuleUnauthorizedRegion, Severity: High, Title: "t", EventID: "e", EventTime: time.Date(2026, 11, 20, 14, 3, 11, 500, time.UTC),
		Principal: "arn:aws:iam::1:role/x", Details: map[string]string{"k": "v"}, Fingerprint: "fp", UserAgent: "ua"}
	raw, _ := json.Marshal(f)
	var g Finding
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if !g.EventTime.Equal(f.EventTime) || g.Details["k"] != "v" || g.UserAgent != "ua" || g.Principal != f.Principal {
		t.Fatalf("round trip: %+v", g)
	}
	// Empty details come back nil, as they went in.
	raw, _ = json.Marshal(Finding{Rule: "r"})
	var h Finding
	if err := json.Unmarshal(raw, &h); err != nil || h.Details != nil || !h.EventTime.IsZero() {
		t.Fatalf("empty: %+v %v", h, err)
	}
}

// TestJSONReadsOlderAndRefusesNewer: alerts in flight during an upgrade
// (no schemaVersion, empty keys left out) still parse; a finding of a
// newer schema is refused rather than misread.
func TestJSONReadsOlderAndRefusesNewer(t *testing.T) {
	var f Finding
	if err := json.Unmarshal([]byte(`{"rule":"unauthorized-model","severity":"high","eventTime":"2026-11-20T14:03:11Z","principal":"p","fingerprint":"x"}`), &f); err != nil ||
		f.Rule != RuleUnauthorizedModel || f.EventTime.IsZero() {
		t.Fatalf("older: %+v %v", f, err)
	}
	if err := json.Unmarshal([]byte(`{"schemaVersion":2,"rule":"r"}`), &f); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("newer: %v", err)
	}
	if err := json.Unmarshal([]byte(`{"eventTime":"yesterday"}`), &f); err == nil {
		t.Fatal("bad eventTime accepted")
	}
}

// TestFindingsDocListsEveryKey holds docs/findings.md to the contract:
// one row per key, in the order the JSON has them.
func TestFindingsDocListsEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/findings.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start := strings.Index(text, "<!-- keys -->")
	end := strings.Index(text, "<!-- /keys -->")
	if start < 0 || end < start {
		t.Fatal("docs/findings.md has no <!-- keys --> … <!-- /keys --> table")
	}
	var got []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-zA-Z]+)` \\|").FindAllStringSubmatch(text[start:end], -1) {
		got = append(got, m[1])
	}
	if strings.Join(got, ",") != strings.Join(JSONKeys(), ",") {
		t.Fatalf("docs/findings.md lists %v\nthe contract is %v", got, JSONKeys())
	}
	if !strings.Contains(text, "schemaVersion") || !strings.Contains(text, "\"schemaVersion\": 1") {
		t.Error("docs/findings.md does not show the schema version")
	}
}
