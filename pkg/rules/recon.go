package rules

import (
	"slices"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
)

// reconSuspect reports whether ev's credential is one model-recon watches,
// and why: a Bedrock API key, a long-term access key (AKIA…), or a
// principal outside principals.allow. AWS service principals and exempt
// principals are never suspects. The same test picks the invocations that
// can complete a recon-then-invoke sequence, since a key's recon calls and
// its invocations share the principal and the kind of key.
func (e *Engine) reconSuspect(ev *normalize.Event) (reason string, ok bool) {
	p := &ev.Principal
	if p.Type == normalize.PrincipalAWSService || e.p.PrincipalExempt(p.ARN) {
		return "", false
	}
	switch {
	case p.BearerToken:
		return "made with a Bedrock API key", true
	case p.LongTermKey:
		return "made with the long-term access key " + p.AccessKeyID, true
	case !e.p.PrincipalAllowed(p.ARN):
		return "principal " + quote(p.ARN) + " matches no principals.allow pattern", true
	}
	return "", false
}

// recon judges a reconnaissance call (normalize.ReconEvents). The incident
// is the principal alone, so a burst of recon calls is one alert per
// suppression window whatever models and regions it touched. A refused
// recon call counts: the attempt is the reconnaissance.
func (e *Engine) recon(ev *normalize.Event, out []findings.Finding) []findings.Finding {
	reason, ok := e.reconSuspect(ev)
	if !ok {
		return out
	}
	return e.add(out, findings.RuleModelRecon, ev, incident{},
		who(ev)+" made the LLM-jacking reconnaissance call "+ev.Name+modelPhrase(ev)+" in "+orUnknown(ev.Region), reason)
}

// SequenceKey is what a recon-then-invoke sequence is followed by: the
// access key (for a Bedrock API key, the key id CloudTrail records for
// it), else the principal; "" when the record names neither.
func SequenceKey(ev *normalize.Event) string {
	if k := ev.Principal.AccessKeyID; k != "" {
		return "key#" + k
	}
	if a := ev.Principal.ARN; a != "" {
		return "principal#" + a
	}
	return ""
}

// SequenceRecon reports whether ev is a reconnaissance call that starts a
// recon-then-invoke sequence: a recon call by a suspect credential (see
// model-recon), with a key and a time.
func (e *Engine) SequenceRecon(ev *normalize.Event) bool {
	if ev.Unsupported || ev.Category != normalize.CategoryRecon || ev.Time.IsZero() || SequenceKey(ev) == "" {
		return false
	}
	_, ok := e.reconSuspect(ev)
	return ok
}

// SequenceInvoke reports whether ev is an invocation that can complete a
// sequence: not refused for lack of access, by a suspect credential, with
// a key and a time. Only such invocations cost the detector a state read.
func (e *Engine) SequenceInvoke(ev *normalize.Event) bool {
	if ev.Unsupported || ev.Category != normalize.CategoryInvocation || ev.Outcome.Denied || ev.Time.IsZero() || SequenceKey(ev) == "" {
		return false
	}
	_, ok := e.reconSuspect(ev)
	return ok
}

// MarkKey names the recon calls of one key in one bucket of time.
type MarkKey struct {
	Key   string
	Start time.Time // bucket start: a multiple of the window since the Unix epoch
}

// Mark summarises the recon calls of one key in one bucket: the earliest
// and the latest, and which calls they were. Buckets are as long as the
// window, which makes the test exact: an invocation at t follows a recon
// call within the window iff the bucket holding t has First ≤ t, or the
// bucket before it has Last ≥ t − window.
type Mark struct {
	MarkKey
	First, Last time.Time
	Calls       []string // distinct recon eventNames, sorted
	Principal   string
	EventID     string // the latest recon call's eventID
}

// merge folds o into m.
func (m *Mark) merge(o *Mark) {
	if m.First.IsZero() || (!o.First.IsZero() && o.First.Before(m.First)) {
		m.First = o.First
	}
	if o.Last.After(m.Last) {
		m.Last, m.EventID = o.Last, o.EventID
	}
	for _, c := range o.Calls {
		if !slices.Contains(m.Calls, c) {
			m.Calls = append(m.Calls, c)
		}
	}
	slices.Sort(m.Calls)
	if m.Principal == "" {
		m.Principal = o.Principal
	}
}

// bucket returns the start of the bucket holding t.
func bucket(t time.Time, window time.Duration) time.Time {
	return t.UTC().Truncate(window)
}

// Sequences finds recon-then-invoke sequences in events, judged in time
// order whatever their order in the slice: an invocation (SequenceInvoke)
// whose key made a recon call (SequenceRecon) at most
// rules.recon-then-invoke.window earlier. It returns at most one finding
// per key and recon bucket, and the marks of the recon calls in events, for
// the caller to keep (the detector stores them; the CLI, which sees every
// file at once, need not).
//
// prior, when not nil, is called at most once, with the buckets to look up
// for the invocations that found no recon call in events; it returns the
// marks it has (absent ones are simply missing). With prior nil only
// events are judged. The rule being disabled gives no finding and no call.
func (e *Engine) Sequences(events []normalize.Event, prior func([]MarkKey) ([]Mark, error)) ([]findings.Finding, []Mark, error) {
	return e.sequences(events, prior, nil)
}

// sequences is Sequences with the marks already reported (by an earlier
// call over earlier events: SequenceJudge) in reported; it adds the marks
// it reports.
func (e *Engine) sequences(events []normalize.Event, prior func([]MarkKey) ([]Mark, error), reported map[MarkKey]bool) ([]findings.Finding, []Mark, error) {
	enabled, _ := e.p.Rule(findings.RuleReconThenInvoke)
	if !enabled {
		return nil, nil, nil
	}
	window := e.p.ReconWindow()
	marks := map[MarkKey]*Mark{}
	var invokes []*normalize.Event
	for i := range events {
		ev := &events[i]
		switch {
		case e.SequenceRecon(ev):
			foldRecon(marks, ev, window)
		case e.SequenceInvoke(ev):
			invokes = append(invokes, ev)
		}
	}
	slices.SortStableFunc(invokes, func(a, b *normalize.Event) int { return a.Time.Compare(b.Time) })

	own := make([]Mark, 0, len(marks))
	for _, m := range marks {
		own = append(own, *m)
	}
	slices.SortFunc(own, func(a, b Mark) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return a.Start.Compare(b.Start)
	})
	if len(invokes) == 0 {
		return nil, own, nil
	}

	if prior != nil {
		var need []MarkKey
		seen := map[MarkKey]bool{}
		for _, ev := range invokes {
			if _, ok := match(marks, ev, window); ok {
				continue
			}
			key, cur := SequenceKey(ev), bucket(ev.Time, window)
			for _, k := range [...]MarkKey{{key, cur}, {key, cur.Add(-window)}} {
				if !seen[k] {
					seen[k] = true
					need = append(need, k)
				}
			}
		}
		if len(need) > 0 {
			stored, err := prior(need)
			if err != nil {
				return nil, nil, err
			}
			for i := range stored {
				s := &stored[i]
				if m := marks[s.MarkKey]; m != nil {
					m.merge(s)
				} else {
					c := *s
					marks[s.MarkKey] = &c
				}
			}
		}
	}

	var out []findings.Finding
	if reported == nil {
		reported = map[MarkKey]bool{}
	}
	for _, ev := range invokes {
		m, ok := match(marks, ev, window)
		if !ok || reported[m.MarkKey] {
			continue
		}
		reported[m.MarkKey] = true
		out = e.sequenceFinding(out, ev, m, window)
	}
	return out, own, nil
}

// match returns the mark of a recon call by ev's key within the window
// before ev.
func match(marks map[MarkKey]*Mark, ev *normalize.Event, window time.Duration) (*Mark, bool) {
	key, t := SequenceKey(ev), ev.Time
	cur := bucket(t, window)
	if m := marks[MarkKey{key, cur}]; m != nil && !m.First.After(t) {
		return m, true
	}
	if m := marks[MarkKey{key, cur.Add(-window)}]; m != nil && !m.Last.Before(t.Add(-window)) {
		return m, true
	}
	return nil, false
}

// sequenceFinding adds the recon-then-invoke finding for invocation ev
// after the recon calls of m. The incident is the key: one alert per key
// per suppression window.
func (e *Engine) sequenceFinding(out []findings.Finding, ev *normalize.Event, m *Mark, window time.Duration) []findings.Finding {
	at := m.Last
	if at.After(ev.Time) {
		at = m.First
	}
	gap := ev.Time.Sub(at).Round(time.Second)
	n := len(out)
	out = e.add(out, findings.RuleReconThenInvoke, ev, incident{what: SequenceKey(ev)},
		who(ev)+" invoked "+orUnknown(ev.Model.ID())+" "+gap.String()+" after the reconnaissance calls "+strings.Join(m.Calls, ", ")+" with the same key",
		"recon call at "+at.UTC().Format(time.RFC3339)+" then "+ev.Name+" within rules.recon-then-invoke.window ("+window.String()+")")
	if len(out) > n {
		f := &out[n]
		if f.Details == nil {
			f.Details = map[string]string{}
		}
		// The finding is about several events, like a spike: it carries no
		// single EventID, so the alert state deduplicates it by incident
		// and time rather than as one more finding of the invocation event.
		// Otherwise a batch retried for the recon state (after the
		// invocation's own findings were delivered and the event marked
		// handled) would drop it as a duplicate.
		f.EventID = ""
		f.Details["invocationEventId"] = ev.ID
		f.Details["reconCalls"] = strings.Join(m.Calls, ",")
		f.Details["reconAt"] = at.UTC().Format(time.RFC3339)
		if m.EventID != "" {
			f.Details["reconEventId"] = m.EventID
		}
	}
	return out
}
