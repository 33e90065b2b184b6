package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// orderedSummary is sequenceSummary in the findings' own order.
func orderedSummary(fs []findings.Finding) string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s inv=%s reconAt=%s calls=%s title=%q", f.Rule, f.AccessKeyID, f.Details["invocationEventId"], f.Details["reconAt"], f.Details["reconCalls"], f.Title))
	}
	return strings.Join(out, "\n")
}

// TestSequenceTallyAgreesWithSequences: events in any order — recon calls
// read after the invocations they precede, invocations at the same minute
// — folded, then offered, give exactly the findings of Sequences over all
// of them at once, in the same order, and the tally holds no more than one
// invocation per mark.
func TestSequenceTallyAgreesWithSequences(t *testing.T) {
	eng := New(testPolicy()) // window 1h
	t0 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	users := []string{"arn:aws:iam::123456789012:user/ci", "arn:aws:iam::210987654321:user/build"}
	keys := []string{"AKIASTOLEN1", "AKIASTOLEN2", "AKIASTOLEN3"}
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(0, 60).Draw(rt, "events")
		var all []normalize.Event
		for i := range n {
			at := t0.Add(time.Duration(rapid.IntRange(0, 6*12).Draw(rt, "fiveMinutes")) * 5 * time.Minute)
			k := rapid.IntRange(0, len(keys)-1).Draw(rt, "key")
			u := users[k%len(users)]
			var ev normalize.Event
			switch rapid.IntRange(0, 2).Draw(rt, "kind") {
			case 0:
				ev = reconEvent([]string{"ListFoundationModels", "GetFoundationModelAvailability"}[i%2], u, keys[k], at)
			case 1:
				ev = invokeBy(u, keys[k], at)
			default: // an allowed principal's invocation: never part of a sequence
				ev = invokeBy("arn:aws:iam::123456789012:role/app", "", at)
			}
			ev.ID = fmt.Sprintf("ev-%03d", i)
			all = append(all, ev)
		}
		want, _, _ := eng.Sequences(all, nil)

		tally := eng.NewSequenceTally()
		var kept []normalize.Event
		for i := range all {
			if !tally.Recon(&all[i]) && tally.Invoke(&all[i]) {
				kept = append(kept, all[i])
			}
		}
		for i := range kept {
			tally.Offer(&kept[i])
		}
		got := tally.Findings()
		if g, w := orderedSummary(got), orderedSummary(want); g != w {
			rt.Fatalf("tally:\n%s\nSequences:\n%s", g, w)
		}
		if len(tally.best) > tally.Marks() {
			rt.Fatalf("tally holds %d invocations for %d marks", len(tally.best), tally.Marks())
		}
	})
}

// TestSequenceTallyReconReadLast: the recon call read after its invocation
// still makes the finding, and a recon call more than the window before
// the invocation does not.
func TestSequenceTallyReconReadLast(t *testing.T) {
	eng := New(testPolicy())
	const ci, key = "arn:aws:iam::123456789012:user/ci", "AKIASTOLEN"
	t0 := time.Date(2026, 11, 20, 14, 10, 0, 0, time.UTC)
	for _, tc := range []struct {
		gap   time.Duration
		finds int
	}{{5 * time.Minute, 1}, {61 * time.Minute, 0}} {
		inv := invokeBy(ci, key, t0.Add(tc.gap))
		recon := reconEvent("ListFoundationModels", ci, key, t0)
		tally := eng.NewSequenceTally()
		if tally.Recon(&inv) || !tally.Invoke(&inv) {
			t.Fatal("invocation taken for a recon call")
		}
		if !tally.Recon(&recon) {
			t.Fatal("recon call not folded")
		}
		tally.Offer(&inv)
		if fs := tally.Findings(); len(fs) != tc.finds {
			t.Errorf("gap %s: %d findings, want %d", tc.gap, len(fs), tc.finds)
		}
	}
	p, err := policy.Load("off.yaml", []byte("rules:\n  recon-then-invoke: {enabled: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	off := New(p)
	tally := off.NewSequenceTally()
	recon := reconEvent("ListFoundationModels", ci, key, t0)
	inv := invokeBy(ci, key, t0.Add(time.Minute))
	if tally.Recon(&recon) || tally.Invoke(&inv) {
		t.Error("disabled rule: the tally takes events")
	}
}
