package rules

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
)

// SequenceJudge judges recon-then-invoke over a stream of events too long
// to hold (months of a trail archive), in bounded memory, with the same
// findings Sequences gives over all of them at once — provided each event
// is added before the stream's reader advances past its time.
//
// Sequences are judged a bucket at a time (buckets are as long as the
// window, see Mark): an invocation in bucket B can only follow recon calls
// in B or B−1, so once no event earlier than the end of B can still come
// (Advance), B's invocations are judged against the recon calls of B−1 and
// B, and then B−1 is forgotten. The judge keeps only suspect recon calls
// and invocations (SequenceRecon, SequenceInvoke) of the buckets not yet
// judged, and the marks already reported, which a later bucket must not
// report again. An event added for a bucket already judged is late: it is
// not kept, and Late counts it.
//
// Not safe for concurrent use.
type SequenceJudge struct {
	e        *Engine
	enabled  bool
	window   time.Duration
	recon    map[time.Time][]normalize.Event // by bucket start
	invokes  map[time.Time][]normalize.Event
	reported map[MarkKey]bool
	judged   time.Time // every bucket starting before judged is judged
	late     int
}

// NewSequenceJudge returns a judge with nothing added.
func (e *Engine) NewSequenceJudge() *SequenceJudge {
	on, _ := e.p.Rule(findings.RuleReconThenInvoke)
	return &SequenceJudge{e: e, enabled: on, window: e.p.ReconWindow(),
		recon: map[time.Time][]normalize.Event{}, invokes: map[time.Time][]normalize.Event{}, reported: map[MarkKey]bool{}}
}

// Add keeps a copy of ev if it can take part in a sequence. It reports
// false for an event that cannot, and for a late one.
func (j *SequenceJudge) Add(ev *normalize.Event) bool {
	if !j.enabled {
		return false
	}
	var into map[time.Time][]normalize.Event
	switch {
	case j.e.SequenceRecon(ev):
		into = j.recon
	case j.e.SequenceInvoke(ev):
		into = j.invokes
	default:
		return false
	}
	b := bucket(ev.Time, j.window)
	if !j.judged.IsZero() && b.Before(j.judged) {
		j.late++
		return false
	}
	into[b] = append(into[b], *ev)
	return true
}

// Advance judges every bucket that ends at or before t — the caller
// promises that no event earlier than t will be added — and returns the
// findings.
func (j *SequenceJudge) Advance(t time.Time) []findings.Finding {
	if !j.enabled {
		return nil
	}
	// A bucket ends at or before t exactly when it starts before t's.
	return j.judgeBefore(bucket(t, j.window), false)
}

// Flush judges everything added and returns the findings; the judge is
// then empty.
func (j *SequenceJudge) Flush() []findings.Finding {
	if !j.enabled {
		return nil
	}
	return j.judgeBefore(time.Time{}, true)
}

// Late returns how many events were added after their bucket was judged.
func (j *SequenceJudge) Late() int { return j.late }

// Kept returns how many events the judge holds.
func (j *SequenceJudge) Kept() int {
	n := 0
	for _, evs := range j.recon {
		n += len(evs)
	}
	for _, evs := range j.invokes {
		n += len(evs)
	}
	return n
}

// judgeBefore judges, in time order, the buckets with invocations that
// start before limit (all of them when all is set).
func (j *SequenceJudge) judgeBefore(limit time.Time, all bool) []findings.Finding {
	var starts []time.Time
	for b := range j.invokes {
		if all || b.Before(limit) {
			starts = append(starts, b)
		}
	}
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	var out []findings.Finding
	for _, b := range starts {
		out = append(out, j.judge(b)...)
	}
	if all {
		clear(j.recon)
		clear(j.invokes)
		clear(j.reported)
		return out
	}
	if limit.After(j.judged) {
		j.judged = limit
	}
	// Recon calls of a bucket matter to the invocations of the next one;
	// older ones, and the marks reported in them, no more.
	keep := limit.Add(-j.window)
	for b := range j.recon {
		if b.Before(keep) {
			delete(j.recon, b)
		}
	}
	for k := range j.reported {
		if k.Start.Before(keep) {
			delete(j.reported, k)
		}
	}
	return out
}

// judge judges the invocations of bucket b against the recon calls of b
// and the bucket before.
func (j *SequenceJudge) judge(b time.Time) []findings.Finding {
	inv := j.invokes[b]
	delete(j.invokes, b)
	// Ties in time are broken by event id, so that the finding does not
	// depend on the order the events were read in.
	slices.SortStableFunc(inv, func(x, y normalize.Event) int {
		if c := x.Time.Compare(y.Time); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	prev, cur := j.recon[b.Add(-j.window)], j.recon[b]
	events := make([]normalize.Event, 0, len(prev)+len(cur)+len(inv))
	events = append(append(append(events, prev...), cur...), inv...)
	fs, _, _ := j.e.sequences(events, nil, j.reported) // no prior state: cannot fail
	slices.SortStableFunc(fs, func(x, y findings.Finding) int {
		if c := x.EventTime.Compare(y.EventTime); c != 0 {
			return c
		}
		return strings.Compare(x.Fingerprint, y.Fingerprint)
	})
	return fs
}
