package rules

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
)

// sequenceSummary is what identifies a recon-then-invoke finding.
func sequenceSummary(fs []findings.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s inv=%s reconAt=%s calls=%s", f.Rule, f.AccessKeyID, f.Details["invocationEventId"], f.Details["reconAt"], f.Details["reconCalls"]))
	}
	slices.Sort(out)
	return out
}

// TestSequenceJudgeAgreesWithSequences: events read in delivery order —
// each one at most a horizon after it happened — and judged a bucket at a
// time behind the reader give exactly the findings of Sequences over all
// of them at once, and the judge never holds more than the buckets within
// the horizon.
func TestSequenceJudgeAgreesWithSequences(t *testing.T) {
	eng := New(testPolicy()) // window 1h
	t0 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	users := []string{"arn:aws:iam::123456789012:user/ci", "arn:aws:iam::210987654321:user/build"}
	keys := []string{"AKIASTOLEN1", "AKIASTOLEN2", "AKIASTOLEN3"}
	rapid.Check(t, func(rt *rapid.T) {
		horizon := time.Duration(rapid.IntRange(0, 90).Draw(rt, "horizonMin")) * time.Minute
		n := rapid.IntRange(0, 60).Draw(rt, "events")
		type delivered struct {
			ev normalize.Event
			at time.Time // when the reader sees it
		}
		var all []normalize.Event
		var stream []delivered
		for i := range n {
			at := t0.Add(time.Duration(rapid.IntRange(0, 8*60).Draw(rt, "minute")) * time.Minute)
			k := rapid.IntRange(0, len(keys)-1).Draw(rt, "key")
			u := users[k%len(users)]
			var ev normalize.Event
			if rapid.Bool().Draw(rt, "recon") {
				ev = reconEvent([]string{"ListFoundationModels", "GetFoundationModelAvailability"}[i%2], u, keys[k], at)
			} else {
				ev = invokeBy(u, keys[k], at)
			}
			ev.ID = fmt.Sprintf("ev-%03d", i)
			all = append(all, ev)
			delay := time.Duration(rapid.IntRange(0, int(horizon/time.Minute)).Draw(rt, "delay")) * time.Minute
			stream = append(stream, delivered{ev, at.Add(delay)})
		}
		want, _, _ := eng.Sequences(all, nil)

		slices.SortStableFunc(stream, func(a, b delivered) int { return a.at.Compare(b.at) })
		j := eng.NewSequenceJudge()
		var got []findings.Finding
		for i, d := range stream {
			if !j.Add(&d.ev) && (eng.SequenceRecon(&d.ev) || eng.SequenceInvoke(&d.ev)) {
				rt.Fatalf("event %s late although delivered within the horizon", d.ev.ID)
			}
			// The reader has seen everything delivered up to d.at: no
			// event earlier than d.at − horizon can still come.
			if i%3 == 0 {
				got = append(got, j.Advance(d.at.Add(-horizon))...)
				if kept := j.Kept(); kept > i+1 {
					rt.Fatalf("judge keeps %d events after %d added", kept, i+1)
				}
			}
		}
		got = append(got, j.Flush()...)
		if g, w := sequenceSummary(got), sequenceSummary(want); strings.Join(g, "\n") != strings.Join(w, "\n") {
			rt.Fatalf("judge:\n%s\nSequences:\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
		if j.Late() != 0 || j.Kept() != 0 {
			rt.Fatalf("late %d kept %d after Flush", j.Late(), j.Kept())
		}
	})
}

// TestSequenceJudgeForgetsJudgedBuckets: once the reader is past a bucket
// and the one after it, the judge holds nothing of it, and an event added
// for it afterwards is counted late, not judged.
func TestSequenceJudgeForgetsJudgedBuckets(t *testing.T) {
	eng := New(testPolicy())
	const ci, key = "arn:aws:iam::123456789012:user/ci", "AKIASTOLEN"
	t0 := time.Date(2026, 11, 20, 14, 10, 0, 0, time.UTC)
	j := eng.NewSequenceJudge()
	recon := reconEvent("ListFoundationModels", ci, key, t0)
	inv := invokeBy(ci, key, t0.Add(5*time.Minute))
	j.Add(&recon)
	j.Add(&inv)
	if fs := j.Advance(t0.Add(30 * time.Minute)); len(fs) != 0 {
		t.Fatalf("bucket judged before it ended: %v", sequenceSummary(fs))
	}
	fs := j.Advance(t0.Add(time.Hour))
	if len(fs) != 1 || fs[0].Rule != findings.RuleReconThenInvoke {
		t.Fatalf("findings after the bucket ended: %v", sequenceSummary(fs))
	}
	if j.Kept() != 1 {
		t.Errorf("kept %d events, want the recon call only (the next bucket's invocations may follow it)", j.Kept())
	}
	j.Advance(t0.Add(3 * time.Hour))
	if j.Kept() != 0 {
		t.Errorf("kept %d events two buckets on", j.Kept())
	}
	late := invokeBy(ci, key, t0.Add(6*time.Minute))
	if j.Add(&late) || j.Late() != 1 {
		t.Errorf("late invocation: kept, late = %d", j.Late())
	}
	if fs := j.Flush(); len(fs) != 0 {
		t.Errorf("late invocation judged: %v", sequenceSummary(fs))
	}
}
