package corpus

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/pkg/archive"
	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
)

func mustGenerate(t *testing.T, seed int64, n int, m Mix) []Event {
	t.Helper()
	evs, err := Generate(seed, n, m)
	if err != nil {
		t.Fatalf("Generate(%d, %d, %+v): %v", seed, n, m, err)
	}
	if len(evs) != n {
		t.Fatalf("Generate returned %d events, want %d", len(evs), n)
	}
	return evs
}

func jsonl(t *testing.T, evs []Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, evs); err != nil {
		t.Fatalf("WriteJSONL: %v", err)
	}
	return buf.Bytes()
}

func TestSameSeedSameBytes(t *testing.T) {
	a := jsonl(t, mustGenerate(t, 42, 2000, Standard))
	b := jsonl(t, mustGenerate(t, 42, 2000, Standard))
	if !bytes.Equal(a, b) {
		t.Fatal("two corpora from seed 42 differ")
	}
	c := jsonl(t, mustGenerate(t, 43, 2000, Standard))
	if bytes.Equal(a, c) {
		t.Fatal("seeds 42 and 43 gave the same corpus")
	}
}

func TestMixProportions(t *testing.T) {
	const n = 10000
	evs := mustGenerate(t, 1, n, Standard)
	got := map[Kind]int{}
	for _, e := range evs {
		got[e.Kind]++
	}
	// 5 % of 10,000 over six invocation rules: 500 = 6×83 + 2.
	// 1 % over five control-plane kinds: 100 = 5×20.
	want := map[Kind]int{
		KindBenign: 9400,
		KindModel:  84, KindRegion: 84, KindSourceIP: 83, KindPrincipal: 83, KindAPIKey: 83, KindDenied: 83,
		KindLogging: 20, KindGuardrail: 20, KindAccess: 20, KindCostly: 20, KindReadOnly: 20,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("kind %s: %d events, want %d", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("kinds %v, want exactly %v", got, want)
	}
	// Violations are spread through the corpus, not bunched at one end.
	firstHalf := 0
	for _, e := range evs[:n/2] {
		if e.Kind != KindBenign {
			firstHalf++
		}
	}
	if firstHalf < 200 || firstHalf > 400 {
		t.Errorf("%d of 600 non-benign events in the first half: not shuffled", firstHalf)
	}

	benign := mustGenerate(t, 1, 1000, Benign)
	for i, e := range benign {
		if e.Kind != KindBenign {
			t.Fatalf("Benign mix event %d has kind %s", i, e.Kind)
		}
	}
}

func TestCountsRejectsBadMix(t *testing.T) {
	for _, m := range []Mix{{Violations: -0.1}, {ControlPlane: 1.5}, {Violations: 0.6, ControlPlane: 0.6}} {
		if _, err := Counts(100, m); err == nil {
			t.Errorf("Counts(100, %+v) accepted a bad mix", m)
		}
		if _, err := Generate(1, 100, m); err == nil {
			t.Errorf("Generate(1, 100, %+v) accepted a bad mix", m)
		}
	}
	if _, err := Counts(-1, Standard); err == nil {
		t.Error("Counts accepted a negative size")
	}
	c, err := Counts(3, Mix{Violations: 0.5, ControlPlane: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, v := range c {
		total += v
	}
	if total != 3 {
		t.Errorf("Counts(3, ½+½) adds up to %d: %v", total, c)
	}
}

// TestEveryEventDecodes: each envelope is valid JSON, decodes to exactly one
// EventBridge record from bedrock.amazonaws.com with no error, and has a
// parseable time.
func TestEveryEventDecodes(t *testing.T) {
	evs := mustGenerate(t, 7, 3000, Standard)
	for i, e := range evs {
		if !json.Valid(e.JSON) {
			t.Fatalf("event %d is not valid JSON: %s", i, e.JSON)
		}
		n := 0
		for it := range decode.Bytes("corpus", e.JSON) {
			n++
			if it.Err != nil {
				t.Fatalf("event %d (%s): %v\n%s", i, e.Kind, it.Err, e.JSON)
			}
			if it.Origin.Shape != decode.ShapeEventBridge {
				t.Fatalf("event %d: shape %s, want eventbridge", i, it.Origin.Shape)
			}
			if it.Record.EventSource != "bedrock.amazonaws.com" || it.Record.Time.IsZero() || it.Record.EventID == "" {
				t.Fatalf("event %d: record %+v lacks source, time or id", i, it.Record)
			}
		}
		if n != 1 {
			t.Fatalf("event %d decoded to %d items, want 1", i, n)
		}
	}
}

// ruleIDs runs one envelope through the detection core and returns the
// sorted rule ids of its findings.
func ruleIDs(t *testing.T, core *detector.Core, data []byte) []string {
	t.Helper()
	var ids []string
	n := 0
	core.Each(decode.Bytes("corpus", data), func(r *detector.Result, err error) {
		n++
		if err != nil {
			t.Fatalf("core: %v\n%s", err, data)
		}
		for _, f := range r.Findings {
			ids = append(ids, f.Rule)
		}
	})
	if n != 1 {
		t.Fatalf("core saw %d results, want 1", n)
	}
	sort.Strings(ids)
	return ids
}

// TestKindsAreReal: every kind triggers exactly its rule, and benign kinds
// none, under the default policy; source-ip and principal violations need
// a policy that restricts sources and principals (events/strict-policy.yaml).
func TestKindsAreReal(t *testing.T) {
	def := &detector.Core{Rules: rules.New(policy.Default())}
	strictPolicy, err := policy.LoadFile("../../events/strict-policy.yaml")
	if err != nil {
		t.Fatalf("strict policy: %v", err)
	}
	strict := &detector.Core{Rules: rules.New(strictPolicy)}
	seen := map[Kind]int{}
	for i, e := range mustGenerate(t, 11, 4000, Mix{Violations: 0.3, ControlPlane: 0.1}) {
		seen[e.Kind]++
		got := ruleIDs(t, def, e.JSON)
		var want []string
		switch e.Kind {
		case KindBenign, KindReadOnly, KindSourceIP, KindPrincipal:
		default:
			want = []string{string(e.Kind)}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("event %d (%s) under the default policy: rules %v, want %v\n%s", i, e.Kind, got, want, e.JSON)
		}
		if e.Kind == KindSourceIP || e.Kind == KindPrincipal {
			got := ruleIDs(t, strict, e.JSON)
			if want := []string{string(e.Kind)}; !slices.Equal(got, want) {
				t.Fatalf("event %d (%s) under the strict policy: rules %v, want %v\n%s", i, e.Kind, got, want, e.JSON)
			}
		}
	}
	for _, k := range append(append([]Kind{KindBenign}, InvocationViolations...), ControlPlaneKinds...) {
		if seen[k] == 0 {
			t.Errorf("no event of kind %s", k)
		}
	}
}

// TestBenignVariety: the benign share really spreads over the principal,
// model, region and caller forms the issue lists.
func TestBenignVariety(t *testing.T) {
	evs := mustGenerate(t, 3, 5000, Benign)
	features := map[string]func(s string) bool{
		"IAM user":             func(s string) bool { return strings.Contains(s, `"type":"IAMUser"`) },
		"assumed role":         func(s string) bool { return strings.Contains(s, `"type":"AssumedRole"`) },
		"Identity Center":      func(s string) bool { return strings.Contains(s, "aws-reserved/sso.amazonaws.com") },
		"bare model id":        func(s string) bool { return strings.Contains(s, `"modelId":"anthropic.`) },
		"geography profile":    func(s string) bool { return strings.Contains(s, `"modelId":"eu.`) },
		"foundation-model ARN": func(s string) bool { return strings.Contains(s, ":foundation-model/") },
		"inference-profile ARN": func(s string) bool {
			return strings.Contains(s, ":inference-profile/")
		},
		"inferenceRegion":    func(s string) bool { return strings.Contains(s, `"inferenceRegion"`) },
		"IPv6":               func(s string) bool { return strings.Contains(s, `"sourceIPAddress":"2001:db8:`) },
		"VPC endpoint":       func(s string) bool { return strings.Contains(s, `"vpcEndpointId":"vpce-`) },
		"service caller":     func(s string) bool { return strings.Contains(s, `"invokedBy":"bedrock.amazonaws.com"`) },
		"AWS Internal":       func(s string) bool { return strings.Contains(s, `"sourceIPAddress":"AWS Internal"`) },
		"10-digit account":   func(s string) bool { return strings.Contains(s, `"account":"1234567890"`) },
		"second account":     func(s string) bool { return strings.Contains(s, `"account":"444455556666"`) },
		"Converse":           func(s string) bool { return strings.Contains(s, `"eventName":"Converse"`) },
		"embedding model":    func(s string) bool { return strings.Contains(s, `"modelId":"cohere.embed-`) },
		"break-glass (opus)": func(s string) bool { return strings.Contains(s, "BreakGlassAdmin") && strings.Contains(s, "opus") },
	}
	for name, has := range features {
		n := 0
		for _, e := range evs {
			if has(string(e.JSON)) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no benign event has %s", name)
		}
	}
}

func TestWriteJSONLAndSQSBatch(t *testing.T) {
	evs := mustGenerate(t, 5, 50, Standard)
	lines := bytes.Split(bytes.TrimSuffix(jsonl(t, evs), []byte("\n")), []byte("\n"))
	if len(lines) != len(evs) {
		t.Fatalf("%d lines, want %d", len(lines), len(evs))
	}
	for i := range lines {
		if !bytes.Equal(lines[i], evs[i].JSON) {
			t.Fatalf("line %d differs from event %d", i, i)
		}
	}
	if got := Payloads(evs); len(got) != len(evs) || !bytes.Equal(got[3], evs[3].JSON) {
		t.Fatal("Payloads does not return the events' JSON in order")
	}

	batch, err := SQSBatch(evs)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	i := 0
	for it := range decode.Bytes("lambda", batch) {
		if it.Err != nil {
			t.Fatalf("SQS message %d: %v", i, it.Err)
		}
		if it.Origin.Shape != decode.ShapeSQS || it.Origin.Index != i || it.Origin.MessageID == "" {
			t.Fatalf("SQS message %d: origin %+v", i, it.Origin)
		}
		ids[it.Origin.MessageID] = true
		i++
	}
	if i != len(evs) || len(ids) != len(evs) {
		t.Fatalf("SQS batch decoded to %d records with %d distinct ids, want %d", i, len(ids), len(evs))
	}
}

// TestArchiveLayout: every event lands in exactly one log file, under a key
// of CloudTrail's layout for its account and Region, in a file delivered
// after every call it holds.
func TestArchiveLayout(t *testing.T) {
	evs := mustGenerate(t, 9, 3000, Standard)
	files, err := Archive(evs, ArchiveOptions{Root: "trail/", Org: "o-abcdef1234", Seed: 9, Others: 3})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Archive(evs, ArchiveOptions{Root: "trail/", Org: "o-abcdef1234", Seed: 9, Others: 3})
	if len(again) != len(files) || again[0].Key != files[0].Key || !bytes.Equal(again[0].Body, files[0].Body) {
		t.Fatal("the same events and seed give other files")
	}
	seen := map[string]bool{}
	accounts := map[string]bool{}
	bedrock := 0
	for _, f := range files {
		lf, ok := archive.ParseKey(f.Key)
		if !ok || lf.Kind != archive.KindLog || lf.Root != "trail/" || lf.Org != "o-abcdef1234" || !lf.Delivered.Equal(f.Delivered) {
			t.Fatalf("%s: parsed %+v", f.Key, lf)
		}
		accounts[lf.Account] = true
		n := 0
		for it := range decode.Bytes(f.Key, f.Body) {
			if it.Err != nil {
				t.Fatalf("%s: %v", f.Key, it.Err)
			}
			n++
			if strings.HasPrefix(it.Record.EventSource, "bedrock") {
				bedrock++
			}
			if seen[it.Record.EventID] {
				t.Fatalf("event %s in two files", it.Record.EventID)
			}
			seen[it.Record.EventID] = true
			if it.Record.AWSRegion != lf.Region || !it.Record.Time.Before(lf.Delivered) {
				t.Fatalf("%s holds %s of %s at %s", f.Key, it.Record.EventID, it.Record.AWSRegion, it.Record.Time)
			}
			if a := it.Record.RecipientAccountID; a != lf.Account && !(len(a) != 12 && lf.Account == FallbackAccount) {
				t.Fatalf("%s holds a call of account %s", f.Key, a)
			}
		}
		if n != f.Records {
			t.Fatalf("%s: %d records, says %d", f.Key, n, f.Records)
		}
	}
	// Each Bedrock event comes with three calls of other services.
	if bedrock != len(evs) || len(seen) != 4*len(evs) || len(accounts) < 3 {
		t.Fatalf("%d Bedrock records and %d in all in the archive of %d events, %d accounts", bedrock, len(seen), len(evs), len(accounts))
	}
}
