package spikes

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
	"pgregory.net/rapid"
)

// memStore is a MemoryStore that counts its calls and can fail.
type memStore struct {
	*MemoryStore
	mu       sync.Mutex
	adds     int
	reads    int
	marks    int
	unmarks  int
	failAdd  error
	failMark string // MarkAlerted fails for this key id
}

func newMemStore() *memStore { return &memStore{MemoryStore: NewMemoryStore()} }

func (m *memStore) Add(ctx context.Context, wb WindowBatch) ([]Counter, error) {
	m.mu.Lock()
	if m.failAdd != nil {
		m.mu.Unlock()
		return nil, m.failAdd
	}
	m.adds++
	m.mu.Unlock()
	return m.MemoryStore.Add(ctx, wb)
}

func (m *memStore) Counts(ctx context.Context, key Key, starts []time.Time) ([]int64, error) {
	m.mu.Lock()
	m.reads++
	m.mu.Unlock()
	return m.MemoryStore.Counts(ctx, key, starts)
}

func (m *memStore) MarkAlerted(ctx context.Context, key Key, start, at time.Time) (bool, error) {
	m.mu.Lock()
	m.marks++
	fail := m.failMark != "" && key.ID == m.failMark
	m.mu.Unlock()
	if fail {
		return false, errors.New("throttled")
	}
	return m.MemoryStore.MarkAlerted(ctx, key, start, at)
}

func (m *memStore) UnmarkAlerted(ctx context.Context, key Key, start, at time.Time) error {
	m.mu.Lock()
	m.unmarks++
	m.mu.Unlock()
	return m.MemoryStore.UnmarkAlerted(ctx, key, start, at)
}

func memKey(k Key, start time.Time) string {
	return k.String() + "@" + start.UTC().Format(time.RFC3339)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return t0 }

func invocation(id, principal, model string, at time.Time, ip string) normalize.Event {
	e := normalize.Event{
		ID: id, Name: "InvokeModel", Time: at, Account: "123456789012", Region: "us-east-1",
		Category:  normalize.CategoryInvocation,
		Principal: normalize.Principal{Type: normalize.PrincipalAssumedRole, ARN: principal},
		Model:     normalize.Model{Kind: normalize.ModelFoundation, Raw: model, Base: model},
	}
	if ip != "" {
		e.Caller.IP = netip.MustParseAddr(ip)
	}
	return e
}

func batch(prefix string, n int, principal, model string, at time.Time) []normalize.Event {
	out := make([]normalize.Event, n)
	for i := range out {
		out[i] = invocation(fmt.Sprintf("%s-%d", prefix, i), principal, model, at, "198.51.100.7")
	}
	return out
}

const role = "arn:aws:iam::123456789012:role/app"

func TestAnalyzeCountsPerBatchNotPerEvent(t *testing.T) {
	st := newMemStore()
	p := &policy.Policy{}
	a := New(st, p, fixedClock, nil)
	events := batch("e", 40, role, "anthropic.claude-3-haiku-20240307-v1:0", t0.Add(time.Minute))
	// Non-invocations are ignored.
	events = append(events, normalize.Event{ID: "ctl", Category: normalize.CategoryControlPlane, Principal: normalize.Principal{ARN: role}})
	fs, err := a.Analyze(context.Background(), events)
	if err != nil || len(fs) != 0 {
		t.Fatalf("Analyze = %v, %v; want no finding (thresholds off)", fs, err)
	}
	if st.adds != 1 {
		t.Fatalf("store Add calls = %d, want 1 (one per window, every key in it)", st.adds)
	}
	if got := st.Count(Key{Kind: KindPrincipal, ID: role}, t0); got != 40 {
		t.Fatalf("principal count = %d, want 40", got)
	}
	if got := st.Count(Key{Kind: KindModel, ID: "anthropic.claude-3-haiku-20240307-v1:0"}, t0); got != 40 {
		t.Fatalf("model count = %d, want 40", got)
	}
}

func TestAnalyzeStraddlingWindowsAndClockFallback(t *testing.T) {
	st := newMemStore()
	a := New(st, &policy.Policy{}, fixedClock, nil)
	events := []normalize.Event{
		invocation("a", role, "m", t0.Add(-time.Second), ""), // previous window
		invocation("b", role, "m", t0.Add(time.Second), ""),
		invocation("c", role, "m", time.Time{}, ""), // no time: clock (t0)
	}
	if _, err := a.Analyze(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	if got := st.Count(Key{Kind: KindPrincipal, ID: role}, t0.Add(-5*time.Minute)); got != 1 {
		t.Fatalf("previous window count = %d, want 1", got)
	}
	if got := st.Count(Key{Kind: KindPrincipal, ID: role}, t0); got != 2 {
		t.Fatalf("current window count = %d, want 2", got)
	}
}

func TestAnalyzeUnknownPrincipalStillCounted(t *testing.T) {
	st := newMemStore()
	a := New(st, &policy.Policy{}, fixedClock, nil)
	if _, err := a.Analyze(context.Background(), []normalize.Event{invocation("x", "", "", t0, "")}); err != nil {
		t.Fatal(err)
	}
	if got := st.Count(Key{Kind: KindPrincipal, ID: UnknownPrincipal}, t0); got != 1 {
		t.Fatalf("unknown principal count = %d, want 1", got)
	}
	if st.adds != 1 {
		t.Fatalf("adds = %d, want 1", st.adds)
	}
}

func TestAnalyzeMaxFindingShape(t *testing.T) {
	st := newMemStore()
	p := &policy.Policy{Spikes: policy.SpikeSettings{PerPrincipal: policy.SpikeThreshold{Max: 10}}}
	a := New(st, p, fixedClock, nil)
	events := batch("e", 11, role, "anthropic.claude-3-haiku-20240307-v1:0", t0.Add(2*time.Minute))
	events = append(events, invocation("z", role, "meta.llama3-8b-instruct-v1:0", t0.Add(2*time.Minute), "203.0.113.9"))
	fs, err := a.Analyze(context.Background(), events)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Fatalf("findings = %d, want 1: %+v", len(fs), fs)
	}
	f := fs[0]
	if f.Rule != findings.RuleInvocationSpike || f.Severity != findings.High {
		t.Fatalf("rule/severity = %s/%s", f.Rule, f.Severity)
	}
	if f.Principal != role || f.Account != "123456789012" || f.Region != "us-east-1" || !f.EventTime.Equal(t0) {
		t.Fatalf("finding identity wrong: %+v", f)
	}
	if want := "role/app made 12 invocations in 5m (max 10)"; f.Title != want {
		t.Fatalf("title = %q, want %q", f.Title, want)
	}
	d := f.Details
	if d["count"] != "12" || d["threshold"] != "10" || d["thresholdKind"] != "max" || d["windowStart"] != "2026-03-01T12:00:00Z" || d["window"] != "5m" {
		t.Fatalf("details = %v", d)
	}
	if d["topModels"] != "anthropic.claude-3-haiku-20240307-v1:0=11, meta.llama3-8b-instruct-v1:0=1" {
		t.Fatalf("topModels = %q", d["topModels"])
	}
	if d["topIPs"] != "198.51.100.7=11, 203.0.113.9=1" {
		t.Fatalf("topIPs = %q", d["topIPs"])
	}
	// One incident per principal, whatever the window: the alert state's
	// suppression window (alerts.suppress) decides how often it repeats.
	if want := findings.Fingerprint(findings.RuleInvocationSpike, role, "*", ""); f.Fingerprint != want {
		t.Fatalf("fingerprint = %s, want %s", f.Fingerprint, want)
	}
}

func TestAnalyzeModelFinding(t *testing.T) {
	st := newMemStore()
	p := &policy.Policy{Spikes: policy.SpikeSettings{PerModel: policy.SpikeThreshold{Max: 3}}}
	a := New(st, p, fixedClock, nil)
	var events []normalize.Event
	for i := range 4 {
		events = append(events, invocation(strconv.Itoa(i), fmt.Sprintf("arn:aws:iam::123456789012:user/u%d", i), "amazon.nova-pro-v1:0", t0, ""))
	}
	fs, err := a.Analyze(context.Background(), events)
	if err != nil || len(fs) != 1 {
		t.Fatalf("Analyze = %+v, %v; want one model finding", fs, err)
	}
	f := fs[0]
	if f.Principal != "*" || f.BaseModel != "amazon.nova-pro-v1:0" || f.Model != "amazon.nova-pro-v1:0" {
		t.Fatalf("model finding = %+v", f)
	}
	if want := findings.Fingerprint(findings.RuleInvocationSpike, "*", "amazon.nova-pro-v1:0", ""); f.Fingerprint != want {
		t.Fatalf("fingerprint = %s, want %s", f.Fingerprint, want)
	}
}

func TestAnalyzeBaselineReadsOnlyAboveFloor(t *testing.T) {
	st := newMemStore()
	p := &policy.Policy{Spikes: policy.SpikeSettings{
		PerPrincipal: policy.SpikeThreshold{BaselineFactor: 5, BaselineWindows: 3, Floor: 50},
	}}
	a := New(st, p, fixedClock, nil)
	ctx := context.Background()
	// History: 10 per window in the previous three windows.
	for i := 1; i <= 3; i++ {
		if _, err := a.Analyze(ctx, batch(fmt.Sprintf("h%d", i), 10, role, "", t0.Add(-time.Duration(i)*5*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if st.reads != 0 {
		t.Fatalf("quiet traffic (below floor) made %d baseline reads, want 0", st.reads)
	}
	// 50 is at the floor: no read, no finding.
	fs, err := a.Analyze(ctx, batch("q", 50, role, "", t0))
	if err != nil || len(fs) != 0 || st.reads != 0 {
		t.Fatalf("at floor: findings %d err %v reads %d", len(fs), err, st.reads)
	}
	// 51 > floor and > 5 × 10 = 50: baseline trips.
	fs, err = a.Analyze(ctx, batch("r", 1, role, "", t0.Add(time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if st.reads != 1 {
		t.Fatalf("baseline reads = %d, want 1", st.reads)
	}
	if len(fs) != 1 || fs[0].Details["thresholdKind"] != "baseline" || fs[0].Details["baseline"] != "10" || fs[0].Details["threshold"] != "50" {
		t.Fatalf("findings = %+v", fs)
	}
	if !strings.Contains(fs[0].Title, "baseline 10.0 × 5 = 50.0") {
		t.Fatalf("title = %q", fs[0].Title)
	}
}

// A retried batch (same events) is not counted twice, and produces the
// window's finding again, identical, so that the alert state — which knows
// whether the first alert went out — sends it if it was lost and drops it
// otherwise.
func TestAnalyzeRetriedBatchIsNotCountedTwice(t *testing.T) {
	st := newMemStore()
	p := &policy.Policy{Spikes: policy.SpikeSettings{PerPrincipal: policy.SpikeThreshold{Max: 5}}}
	a := New(st, p, fixedClock, nil)
	b := batch("e", 6, role, "", t0)
	fs1, err := a.Analyze(context.Background(), b)
	if err != nil || len(fs1) != 1 {
		t.Fatalf("first = %d findings, %v", len(fs1), err)
	}
	fs2, err := a.Analyze(context.Background(), b)
	if err != nil || len(fs2) != 1 || fs2[0].Fingerprint != fs1[0].Fingerprint || !fs2[0].EventTime.Equal(fs1[0].EventTime) {
		t.Fatalf("retry = %+v, %v; want the same finding again", fs2, err)
	}
	if got := st.Count(Key{Kind: KindPrincipal, ID: role}, t0); got != 6 {
		t.Fatalf("count after a replay = %d, want 6 (same events)", got)
	}
	// The same events regrouped with a new one: only the new one counts.
	if _, err := a.Analyze(context.Background(), append(b[3:], invocation("new", role, "", t0, ""))); err != nil {
		t.Fatal(err)
	}
	if got := st.Count(Key{Kind: KindPrincipal, ID: role}, t0); got != 7 {
		t.Fatalf("count = %d, want 7 (one new event)", got)
	}
}

// A replay whose first attempt counted but failed before marking the alert
// still raises the finding.
func TestAnalyzeReplayStillAlertsWhenFirstAttemptDidNot(t *testing.T) {
	st := newMemStore()
	p := &policy.Policy{Spikes: policy.SpikeSettings{PerPrincipal: policy.SpikeThreshold{Max: 5}}}
	b := batch("e", 6, role, "", t0)
	// First attempt: counted with the rule's threshold off (as if it had
	// failed after counting).
	if _, err := New(st, &policy.Policy{}, fixedClock, nil).Analyze(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	fs, err := New(st, p, fixedClock, nil).Analyze(context.Background(), b)
	if err != nil || len(fs) != 1 || fs[0].Details["count"] != "6" {
		t.Fatalf("replay = %+v, %v; want one finding with count 6", fs, err)
	}
}

// The black-box case: ten distinct events by one principal
// (exactly the maximum), each delivered on its own and then each
// redelivered after the others — Lambda's async retries — stay ten, with
// no alert; regrouped into other batches (SQS redelivery) they still stay
// ten; the eleventh distinct event trips the window, once.
func TestRedeliveryAndRegroupingCountOnce(t *testing.T) {
	st := newMemStore()
	p := &policy.Policy{Spikes: policy.SpikeSettings{PerPrincipal: policy.SpikeThreshold{Max: 10}}}
	a := New(st, p, fixedClock, nil)
	ctx := context.Background()
	evs := batch("e", 10, role, "amazon.nova-pro-v1:0", t0.Add(time.Minute))
	analyze := func(b []normalize.Event) []findings.Finding {
		t.Helper()
		fs, err := a.Analyze(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	var fs []findings.Finding
	for i := range evs {
		fs = append(fs, analyze(evs[i:i+1])...)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		fs = append(fs, analyze(evs[i:i+1])...)
	}
	for _, g := range [][]int{{0, 1, 2}, {3, 4, 5}, {6, 7, 8, 9}, {9, 0, 5, 2, 7}, {1, 3, 4, 6, 8}, {2, 2, 2}} {
		var b []normalize.Event
		for _, i := range g {
			b = append(b, evs[i])
		}
		fs = append(fs, analyze(b)...)
	}
	if got := st.Count(Key{Kind: KindPrincipal, ID: role}, t0); got != 10 || len(fs) != 0 {
		t.Fatalf("after redeliveries and regroupings: count %d, %d findings; want 10 and none", got, len(fs))
	}
	fs = analyze(append(evs[4:7], invocation("eleventh", role, "amazon.nova-pro-v1:0", t0.Add(2*time.Minute), "")))
	if len(fs) != 1 || fs[0].Details["count"] != "11" {
		t.Fatalf("eleventh event: %+v", fs)
	}
	if fs = analyze(batch("more", 3, role, "", t0.Add(3*time.Minute))); len(fs) != 0 {
		t.Fatalf("the window alerted again: %+v", fs)
	}
}

// Property: however the events of a window are delivered — any number of
// times, in any order, in any grouping — the count is the number of
// distinct events and the window alerts once exactly when it exceeds the
// maximum.
func TestCountsAreExactUnderAnyDeliveryProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		max := rapid.Int64Range(1, 30).Draw(t, "max")
		n := rapid.IntRange(0, 40).Draw(t, "events")
		p := &policy.Policy{Spikes: policy.SpikeSettings{PerPrincipal: policy.SpikeThreshold{Max: max}}}
		st := newMemStore()
		a := New(st, p, fixedClock, nil)
		evs := batch("p", n, role, "", t0)
		var deliveries []normalize.Event
		for _, e := range evs {
			for range rapid.IntRange(1, 3).Draw(t, "copies") {
				deliveries = append(deliveries, e)
			}
		}
		perm := rapid.Permutation(deliveries).Draw(t, "order")
		alerts := 0
		for len(perm) > 0 {
			k := rapid.IntRange(1, len(perm)).Draw(t, "batch")
			fs, err := a.Analyze(context.Background(), perm[:k])
			if err != nil {
				t.Fatal(err)
			}
			perm = perm[k:]
			for _, f := range fs {
				if f.Details["count"] != "" {
					alerts++
				}
			}
		}
		if got := st.Count(Key{Kind: KindPrincipal, ID: role}, t0); got != int64(n) {
			t.Fatalf("count %d, want %d distinct events", got, n)
		}
		// A redelivery after the alert produces the finding again (the
		// alert state drops it); the window itself alerts once.
		if want := int64(n) > max; st.Alerted(Key{Kind: KindPrincipal, ID: role}, t0) != want || (alerts > 0) != want {
			t.Fatalf("%d events, max %d: alerted %v, %d findings", n, max, st.Alerted(Key{Kind: KindPrincipal, ID: role}, t0), alerts)
		}
	})
}

func TestHashIsTheEventsIdentity(t *testing.T) {
	a := invocation("id-1", role, "m", t0, "")
	b := invocation("id-1", "arn:aws:iam::1:role/other", "x", t0.Add(time.Hour), "")
	if Hash(&a) != Hash(&b) {
		t.Error("same eventID, different hashes")
	}
	c := invocation("id-2", role, "m", t0, "")
	if Hash(&a) == Hash(&c) {
		t.Error("different eventIDs, same hash")
	}
	// Without an id the record's fields identify it: the same record again
	// hashes the same, another does not.
	x, y := invocation("", role, "m", t0, "198.51.100.1"), invocation("", role, "m", t0, "198.51.100.1")
	x.RequestID, y.RequestID = "r-1", "r-1"
	z := x
	z.RequestID = "r-2"
	if Hash(&x) != Hash(&y) || Hash(&x) == Hash(&z) || Hash(&x) == Hash(&a) {
		t.Error("id-less records hash wrongly")
	}
}

// Beyond SetCap a key's events are counted as a number.
func TestAnalyzeBeyondSetCap(t *testing.T) {
	st := newMemStore()
	a := New(st, &policy.Policy{}, fixedClock, nil)
	ctx := context.Background()
	if _, err := a.Analyze(ctx, batch("a", SetCap, role, "", t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Analyze(ctx, batch("b", 7, role, "", t0)); err != nil {
		t.Fatal(err)
	}
	if got := st.Count(Key{Kind: KindPrincipal, ID: role}, t0); got != SetCap+7 {
		t.Fatalf("count = %d, want %d", got, SetCap+7)
	}
	if n := len(st.windows[windowKey{Key{Kind: KindPrincipal, ID: role}, t0.Unix()}].events); n != SetCap {
		t.Fatalf("the set holds %d events, want the cap %d", n, SetCap)
	}
}

func TestAnalyzeDisabledRuleDoesNothing(t *testing.T) {
	st := newMemStore()
	off := false
	p := &policy.Policy{
		Rules:  map[string]policy.RuleSetting{findings.RuleInvocationSpike: {Enabled: &off}},
		Spikes: policy.SpikeSettings{PerPrincipal: policy.SpikeThreshold{Max: 1}},
	}
	fs, err := New(st, p, fixedClock, nil).Analyze(context.Background(), batch("e", 5, role, "m", t0))
	if err != nil || len(fs) != 0 || st.adds != 0 {
		t.Fatalf("disabled rule: findings %d err %v adds %d", len(fs), err, st.adds)
	}
}

func TestAnalyzeStoreErrorIsWrapped(t *testing.T) {
	st := newMemStore()
	st.failAdd = errors.New("throttled")
	_, err := New(st, &policy.Policy{}, fixedClock, nil).Analyze(context.Background(), batch("e", 1, role, "", t0))
	if err == nil || !strings.Contains(err.Error(), "throttled") || !strings.Contains(err.Error(), "principal "+role) {
		t.Fatalf("err = %v", err)
	}
}

// Property: whatever the batching, a window alerts exactly once when its
// total exceeds the maximum and never otherwise; overrides decide the
// maximum for matching principals.
func TestExactlyOneFindingPerWindowProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		max := rapid.Int64Range(1, 40).Draw(t, "max")
		overMax := rapid.Int64Range(1, 40).Draw(t, "overrideMax")
		p := &policy.Policy{Spikes: policy.SpikeSettings{
			PerPrincipal: policy.SpikeThreshold{Max: max},
			Overrides:    []policy.SpikeOverride{{Principal: "arn:aws:iam::*:role/batch-*", Max: overMax}},
		}}
		st := newMemStore()
		a := New(st, p, fixedClock, nil)
		principals := []string{role, "arn:aws:iam::123456789012:role/batch-x"}
		totals := map[string]int64{}
		alerts := map[string]int{}
		nBatches := rapid.IntRange(1, 12).Draw(t, "batches")
		seq := 0
		for b := range nBatches {
			n := rapid.IntRange(0, 20).Draw(t, fmt.Sprintf("size%d", b))
			events := make([]normalize.Event, n)
			for i := range events {
				pr := principals[rapid.IntRange(0, 1).Draw(t, "p")]
				w := rapid.IntRange(0, 2).Draw(t, "w")
				at := t0.Add(time.Duration(w)*5*time.Minute + time.Duration(rapid.IntRange(0, 299).Draw(t, "s"))*time.Second)
				seq++
				events[i] = invocation(strconv.Itoa(seq), pr, "", at, "")
				totals[memKey(Key{Kind: KindPrincipal, ID: pr}, WindowStart(at, 5*time.Minute))]++
			}
			fs, err := a.Analyze(context.Background(), events)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fs {
				alerts[memKey(Key{Kind: KindPrincipal, ID: f.Principal}, f.EventTime)]++
			}
		}
		for k, total := range totals {
			limit := max
			if strings.Contains(k, "role/batch-") {
				limit = overMax
			}
			want := 0
			if total > limit {
				want = 1
			}
			if alerts[k] != want {
				t.Fatalf("%s: total %d limit %d → %d alerts, want %d", k, total, limit, alerts[k], want)
			}
		}
	})
}

func TestShortPrincipal(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:iam::123456789012:role/app-batch": "role/app-batch",
		"arn:aws:iam::123456789012:root":           "root",
		"bedrock.amazonaws.com":                    "bedrock.amazonaws.com",
		"arn:aws:iam::":                            "arn:aws:iam::",
	} {
		if got := ShortPrincipal(in); got != want {
			t.Errorf("ShortPrincipal(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRetention(t *testing.T) {
	s := policy.SpikeSettings{Window: policy.Duration(time.Hour), PerPrincipal: policy.SpikeThreshold{BaselineWindows: 48}}
	if got := Retention(s); got != 49*time.Hour {
		t.Fatalf("Retention = %v, want 49h", got)
	}
	if got := Retention(policy.SpikeSettings{}); got != 24*time.Hour {
		t.Fatalf("Retention = %v, want 24h minimum", got)
	}
}

// A batch that fails for one key must not swallow the finding of another:
// the detector drops a failed batch's findings and retries it, so Analyze
// removes the markers it wrote and the retry raises the finding.
func TestAnalyzeFailedBatchReleasesItsMarkers(t *testing.T) {
	st := newMemStore()
	p := &policy.Policy{Spikes: policy.SpikeSettings{PerPrincipal: policy.SpikeThreshold{Max: 5}}}
	a := New(st, p, fixedClock, nil)
	other := "arn:aws:iam::123456789012:role/other"
	b := append(batch("e", 6, role, "", t0), batch("o", 6, other, "", t0)...)
	st.failMark = other
	fs, err := a.Analyze(context.Background(), b)
	if err == nil || len(fs) != 0 {
		t.Fatalf("failed batch = %d findings, %v; want none and an error", len(fs), err)
	}
	if st.unmarks != 1 || st.Alerted(Key{Kind: KindPrincipal, ID: role}, t0) {
		t.Fatalf("marker not released: unmarks %d", st.unmarks)
	}
	st.failMark = ""
	fs, err = a.Analyze(context.Background(), b)
	if err != nil || len(fs) != 2 || fs[0].Details["count"] != "6" || fs[1].Details["count"] != "6" {
		t.Fatalf("retry = %+v, %v; want both findings, count 6 (identical retry not recounted)", fs, err)
	}
}

// TestPerAccountModels: a stack that sees an organisation counts each
// model per account — three accounts at 3 invocations each stay under a
// perModel max of 5 that the same nine calls in one account exceed — and
// the finding names the account.
func TestPerAccountModels(t *testing.T) {
	const model = "anthropic.claude-3-haiku-20240307-v1:0"
	p := &policy.Policy{Spikes: policy.SpikeSettings{PerModel: policy.SpikeThreshold{Max: 5}}}
	spread := func() []normalize.Event {
		var evs []normalize.Event
		for i, acct := range []string{"111111111111", "222222222222", "333333333333"} {
			for j := range 3 {
				e := invocation(fmt.Sprintf("a%d-%d", i, j), "arn:aws:iam::"+acct+":role/app", model, t0.Add(time.Minute), "")
				e.Account = acct
				evs = append(evs, e)
			}
		}
		return evs
	}
	org := New(newMemStore(), p, fixedClock, nil)
	fs, err := org.Analyze(context.Background(), spread())
	if err != nil || len(fs) != 1 {
		t.Fatalf("organisation-wide: %v, %v; want one model spike (9 > 5)", fs, err)
	}
	per := New(newMemStore(), p, fixedClock, nil)
	per.PerAccountModels = true
	if fs, err := per.Analyze(context.Background(), spread()); err != nil || len(fs) != 0 {
		t.Fatalf("per account: %v, %v; want none (3 per account)", fs, err)
	}
	one := spread()
	for i := range one {
		one[i].Account = "222222222222"
	}
	fs, err = per.Analyze(context.Background(), one)
	if err != nil || len(fs) != 1 || fs[0].Account != "222222222222" || !strings.Contains(fs[0].Title, "in account 222222222222") {
		t.Fatalf("one account: %+v, %v", fs, err)
	}
	if fs[0].Fingerprint == findings.Fingerprint(findings.RuleInvocationSpike, "*", model, "") {
		t.Error("a per-account model incident shares the organisation-wide fingerprint")
	}
}
