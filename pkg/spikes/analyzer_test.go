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

// memStore is an in-memory Store for pure unit tests.
type memStore struct {
	mu      sync.Mutex
	counts  map[string]int64
	alerted map[string]bool
	tokens  map[string]string // item+token slot → token
	adds    int
	reads   int
	marks   int
	failAdd error
	failKey string // Add fails for this key id only
	unmarks int
}

func newMemStore() *memStore {
	return &memStore{counts: map[string]int64{}, alerted: map[string]bool{}, tokens: map[string]string{}}
}

func memKey(k Key, start time.Time) string {
	return k.String() + "@" + start.UTC().Format(time.RFC3339)
}

func (m *memStore) Add(_ context.Context, inc Increment) (Counter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failAdd != nil && (m.failKey == "" || m.failKey == inc.Key.ID) {
		return Counter{}, m.failAdd
	}
	m.adds++
	k := memKey(inc.Key, inc.WindowStart)
	tk := fmt.Sprintf("%s#k%d", k, inc.TokenSlot)
	if inc.Token != "" && m.tokens[tk] == inc.Token {
		return Counter{Count: m.counts[k], Alerted: m.alerted[k], Replayed: true}, nil
	}
	if inc.Token != "" {
		m.tokens[tk] = inc.Token
	}
	m.counts[k] += inc.Count
	return Counter{Count: m.counts[k], Alerted: m.alerted[k], Models: inc.Models, IPs: inc.IPs}, nil
}

func (m *memStore) Counts(_ context.Context, key Key, starts []time.Time) ([]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	out := make([]int64, len(starts))
	for i, s := range starts {
		out[i] = m.counts[memKey(key, s)]
	}
	return out, nil
}

func (m *memStore) MarkAlerted(_ context.Context, key Key, start, _ time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.marks++
	k := memKey(key, start)
	if m.alerted[k] {
		return false, nil
	}
	m.alerted[k] = true
	return true, nil
}

func (m *memStore) UnmarkAlerted(_ context.Context, key Key, start, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unmarks++
	delete(m.alerted, memKey(key, start))
	return nil
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
	if st.adds != 2 {
		t.Fatalf("store Add calls = %d, want 2 (one per key per window)", st.adds)
	}
	if got := st.counts[memKey(Key{KindPrincipal, role}, t0)]; got != 40 {
		t.Fatalf("principal count = %d, want 40", got)
	}
	if got := st.counts[memKey(Key{KindModel, "anthropic.claude-3-haiku-20240307-v1:0"}, t0)]; got != 40 {
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
	if got := st.counts[memKey(Key{KindPrincipal, role}, t0.Add(-5*time.Minute))]; got != 1 {
		t.Fatalf("previous window count = %d, want 1", got)
	}
	if got := st.counts[memKey(Key{KindPrincipal, role}, t0)]; got != 2 {
		t.Fatalf("current window count = %d, want 2", got)
	}
}

func TestAnalyzeUnknownPrincipalStillCounted(t *testing.T) {
	st := newMemStore()
	a := New(st, &policy.Policy{}, fixedClock, nil)
	if _, err := a.Analyze(context.Background(), []normalize.Event{invocation("x", "", "", t0, "")}); err != nil {
		t.Fatal(err)
	}
	if got := st.counts[memKey(Key{KindPrincipal, UnknownPrincipal}, t0)]; got != 1 {
		t.Fatalf("unknown principal count = %d, want 1", got)
	}
	if st.adds != 1 {
		t.Fatalf("adds = %d, want 1 (no model key without a model)", st.adds)
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
	if got := st.counts[memKey(Key{KindPrincipal, role}, t0)]; got != 6 {
		t.Fatalf("count after a replay = %d, want 6 (same events, same token)", got)
	}
	// The same events in a different batch also count once per token:
	// a new event makes a new token and is counted.
	if _, err := a.Analyze(context.Background(), append(b, invocation("new", role, "", t0, ""))); err != nil {
		t.Fatal(err)
	}
	if got := st.counts[memKey(Key{KindPrincipal, role}, t0)]; got != 13 {
		t.Fatalf("count = %d, want 13 (a different set of events is a new batch)", got)
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

func TestIdentityIsOrderIndependent(t *testing.T) {
	g1 := &group{count: 3, ids: []string{"b", "a", "c"}}
	g2 := &group{count: 3, ids: []string{"c", "b", "a"}}
	s1, t1, k1 := g1.identity()
	s2, t2, k2 := g2.identity()
	if s1 != s2 || t1 != t2 || k1 != k2 || t1 == "" {
		t.Fatalf("identity differs: %d %s %d vs %d %s %d", s1, t1, k1, s2, t2, k2)
	}
	if _, tok, _ := (&group{count: 2, ids: []string{"a"}, noID: true}).identity(); tok != "" {
		t.Fatal("a group with an id-less event must have no token")
	}
	if _, t3, _ := (&group{count: 2, ids: []string{"a", "b"}}).identity(); t3 == t1 {
		t.Fatal("different events, same token")
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
				totals[memKey(Key{KindPrincipal, pr}, WindowStart(at, 5*time.Minute))]++
			}
			fs, err := a.Analyze(context.Background(), events)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fs {
				alerts[memKey(Key{KindPrincipal, f.Principal}, f.EventTime)]++
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
	b := append(batch("e", 6, role, "", t0), invocation("o", other, "", t0, ""))
	st.failAdd, st.failKey = errors.New("throttled"), other
	fs, err := a.Analyze(context.Background(), b)
	if err == nil || len(fs) != 0 {
		t.Fatalf("failed batch = %d findings, %v; want none and an error", len(fs), err)
	}
	if st.unmarks != 1 || st.alerted[memKey(Key{KindPrincipal, role}, t0)] {
		t.Fatalf("marker not released: unmarks %d", st.unmarks)
	}
	st.failAdd = nil
	fs, err = a.Analyze(context.Background(), b)
	if err != nil || len(fs) != 1 || fs[0].Principal != role || fs[0].Details["count"] != "6" {
		t.Fatalf("retry = %+v, %v; want the finding, count 6 (identical retry not recounted)", fs, err)
	}
}
