package rules

import (
	"slices"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
)

// SequenceTally judges recon-then-invoke over events read in any order and
// too many to hold at once (warden check over a 1 GB file, where the same
// key may recon at the end of the input and invoke at its start), with the
// findings Sequences gives over all of them. It works in two passes:
//
//  1. Recon, for every event: the recon calls are folded into marks, one
//     per key and bucket (a few bytes whatever the number of calls).
//  2. Offer, for every invocation Recon turned down, in the order they were
//     read, once every recon call is folded: the tally keeps, per mark, the
//     earliest invocation that mark is the match of.
//
// Between the passes the caller keeps the invocations where it likes
// (SequenceInvoke tells which; warden check spills them to a temporary
// file), so the tally holds only the marks and one invocation per mark.
//
// Not safe for concurrent use.
type SequenceTally struct {
	e       *Engine
	enabled bool
	window  time.Duration
	marks   map[MarkKey]*Mark
	best    map[MarkKey]*normalize.Event
	order   map[MarkKey]int // when best[k] was offered: ties keep the first
	offered int
}

// NewSequenceTally returns a tally with nothing added.
func (e *Engine) NewSequenceTally() *SequenceTally {
	on, _ := e.p.Rule(findings.RuleReconThenInvoke)
	return &SequenceTally{e: e, enabled: on, window: e.p.ReconWindow(),
		marks: map[MarkKey]*Mark{}, best: map[MarkKey]*normalize.Event{}, order: map[MarkKey]int{}}
}

// Recon folds ev into the marks if it is a recon call that starts a
// sequence (SequenceRecon), and reports whether it was.
func (t *SequenceTally) Recon(ev *normalize.Event) bool {
	if !t.enabled || !t.e.SequenceRecon(ev) {
		return false
	}
	foldRecon(t.marks, ev, t.window)
	return true
}

// Invoke reports whether ev is an invocation the caller must keep and
// Offer once every recon call is folded.
func (t *SequenceTally) Invoke(ev *normalize.Event) bool {
	return t.enabled && t.e.SequenceInvoke(ev)
}

// Offer judges the invocation ev against the complete marks. Offer the
// invocations in the order they were read: of two at the same time the
// first is kept, as Sequences keeps it. The tally keeps its own copy.
func (t *SequenceTally) Offer(ev *normalize.Event) {
	if !t.Invoke(ev) {
		return
	}
	t.offered++
	m, ok := match(t.marks, ev, t.window)
	if !ok {
		return
	}
	if b := t.best[m.MarkKey]; b != nil && !ev.Time.Before(b.Time) {
		return
	}
	d := ev.Detach()
	t.best[m.MarkKey] = &d
	t.order[m.MarkKey] = t.offered
}

// Marks returns how many marks the tally holds.
func (t *SequenceTally) Marks() int { return len(t.marks) }

// Findings returns the recon-then-invoke findings, in the time order of
// their invocations: one per mark that an invocation matched.
func (t *SequenceTally) Findings() []findings.Finding {
	keys := make([]MarkKey, 0, len(t.best))
	for k := range t.best {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b MarkKey) int {
		if c := t.best[a].Time.Compare(t.best[b].Time); c != 0 {
			return c
		}
		return t.order[a] - t.order[b]
	})
	var out []findings.Finding
	for _, k := range keys {
		out = t.e.sequenceFinding(out, t.best[k], t.marks[k], t.window)
	}
	return out
}

// foldRecon folds the recon call ev into its mark.
func foldRecon(marks map[MarkKey]*Mark, ev *normalize.Event, window time.Duration) {
	k := MarkKey{Key: SequenceKey(ev), Start: bucket(ev.Time, window)}
	m := marks[k]
	if m == nil {
		m = &Mark{MarkKey: k}
		marks[k] = m
	}
	m.merge(&Mark{First: ev.Time, Last: ev.Time, Calls: []string{ev.Name}, Principal: ev.Principal.ARN, EventID: ev.ID})
}
