package history_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/history"
)

// fakeClock advances only when someone sleeps: Sleep(d) moves the time to
// at least now+d and returns at once.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return nil
}

// maxInWindow returns the most stamps inside any half-open window [t, t+w).
func maxInWindow(stamps []time.Time, w time.Duration) int {
	s := slices.Clone(stamps)
	slices.SortFunc(s, func(a, b time.Time) int { return a.Compare(b) })
	best := 0
	for i := range s {
		n := 0
		for j := i; j < len(s) && s[j].Before(s[i].Add(w)); j++ {
			n++
		}
		best = max(best, n)
	}
	return best
}

func TestParseRegions(t *testing.T) {
	got, err := history.ParseRegions("all", "")
	if err != nil || !slices.Equal(got, history.Regions) {
		t.Fatalf("all: got %v, %v", got, err)
	}
	got, err = history.ParseRegions(" us-east-1, eu-west-1,us-east-1 ", "")
	if err != nil || !slices.Equal(got, []string{"us-east-1", "eu-west-1"}) {
		t.Fatalf("list: got %v, %v", got, err)
	}
	got, err = history.ParseRegions("", "ap-south-2")
	if err != nil || !slices.Equal(got, []string{"ap-south-2"}) {
		t.Fatalf("fallback: got %v, %v", got, err)
	}
	for _, bad := range []string{"US-EAST-1", "useast1", "us-east-", ",", "eu-west-1;rm"} {
		if _, err := history.ParseRegions(bad, ""); err == nil {
			t.Errorf("ParseRegions(%q) accepted", bad)
		}
	}
	if _, err := history.ParseRegions("", ""); err == nil {
		t.Error("no region and no fallback accepted")
	}
}

func TestLimiterHoldsRate(t *testing.T) {
	clock := newFakeClock()
	lim := history.NewLimiter(2, clock)
	var stamps []time.Time
	for range 9 {
		if err := lim.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		stamps = append(stamps, clock.Now())
	}
	if n := maxInWindow(stamps, time.Second); n > 2 {
		t.Fatalf("%d requests inside one second: %v", n, stamps)
	}
	if total := stamps[len(stamps)-1].Sub(stamps[0]); total != 4*time.Second {
		t.Fatalf("9 requests at 2/s should span 4s, spanned %v", total)
	}
}

func TestLimiterIdleDoesNotBank(t *testing.T) {
	clock := newFakeClock()
	lim := history.NewLimiter(2, clock)
	_ = lim.Wait(context.Background())
	_ = clock.Sleep(context.Background(), 10*time.Second) // idle
	var stamps []time.Time
	for range 4 {
		_ = lim.Wait(context.Background())
		stamps = append(stamps, clock.Now())
	}
	if n := maxInWindow(stamps, time.Second); n > 2 {
		t.Fatalf("after idling, %d requests inside one second: %v", n, stamps)
	}
}

func TestLimiterCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := history.NewLimiter(2, newFakeClock()).Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on cancelled context: %v", err)
	}
}

func TestBackoffGrowsAndCaps(t *testing.T) {
	b := history.Backoff{Base: time.Second, Max: 8 * time.Second, Rand: func() float64 { return 0.999 }}
	prev := time.Duration(0)
	for i := range 3 {
		d := b.Delay(i)
		if d <= prev {
			t.Fatalf("delay %d = %v, not above %v", i, d, prev)
		}
		prev = d
	}
	if d := b.Delay(30); d > 8*time.Second+time.Second/2 {
		t.Fatalf("delay not capped: %v", d)
	}
	zero := history.Backoff{Base: time.Second, Rand: func() float64 { return 0 }}
	if d := zero.Delay(0); d <= 0 {
		t.Fatalf("jitter 0 gave delay %v; a throttled caller must wait", d)
	}
}

// fakeLookup serves pages from a script keyed by region and source.
type fakeLookup struct {
	mu     sync.Mutex
	clock  *fakeClock
	pages  map[string][]history.Page // region/source → pages; token "p<i>" selects page i
	fail   map[string][]error        // region/source → errors returned before success, in order
	calls  []history.Query
	stamps map[string][]time.Time
}

func (f *fakeLookup) Lookup(_ context.Context, q history.Query) (history.Page, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, q)
	if f.stamps == nil {
		f.stamps = map[string][]time.Time{}
	}
	f.stamps[q.Region] = append(f.stamps[q.Region], f.clock.Now())
	key := q.Region + "/" + q.Source
	if errs := f.fail[key]; len(errs) > 0 {
		f.fail[key] = errs[1:]
		return history.Page{}, errs[0]
	}
	pages := f.pages[key]
	i := 0
	if q.Token != "" {
		if _, err := fmt.Sscanf(q.Token, "p%d", &i); err != nil {
			return history.Page{}, fmt.Errorf("bad token %q", q.Token)
		}
	}
	if i >= len(pages) {
		return history.Page{}, nil
	}
	return pages[i], nil
}

func ev(id string, minute int) history.Event {
	return history.Event{ID: id, Name: "InvokeModel", Source: "bedrock.amazonaws.com",
		Time: time.Date(2026, 11, 24, 11, minute, 0, 0, time.UTC), Record: `{"eventID":"` + id + `"}`}
}

func scanner(f *fakeLookup, clock *fakeClock) *history.Scanner {
	return &history.Scanner{Lookup: func(string) (history.Lookup, error) { return f, nil }, Clock: clock}
}

var (
	t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	t1 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
)

func TestScanPaginatesEverySourceWithSameParameters(t *testing.T) {
	clock := newFakeClock()
	f := &fakeLookup{clock: clock, pages: map[string][]history.Page{
		"us-east-1/bedrock.amazonaws.com": {
			{Events: []history.Event{ev("a", 5), ev("b", 4)}, NextToken: "p1"},
			{Events: []history.Event{ev("c", 3)}, NextToken: "p2"},
			{Events: []history.Event{ev("c", 3), ev("d", 2)}}, // "c" repeated across pages
		},
		"us-east-1/bedrock-mantle.amazonaws.com": {
			{Events: []history.Event{ev("m", 9)}},
		},
	}}
	var got []string
	st, err := scanner(f, clock).Scan(context.Background(), []string{"us-east-1"}, t0, t1, func(e history.Event) error {
		if e.Region != "us-east-1" {
			t.Errorf("event %s region %q", e.ID, e.Region)
		}
		got = append(got, e.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"a", "b", "c", "d", "m"}) {
		t.Fatalf("events %v", got)
	}
	if st.Events != 5 || st.Pages != 4 || st.Requests != 4 || st.Throttled != 0 {
		t.Fatalf("stats %+v", st)
	}
	if want := time.Date(2026, 11, 24, 11, 9, 0, 0, time.UTC); !st.Latest["us-east-1"].Equal(want) {
		t.Fatalf("latest %v, want %v", st.Latest["us-east-1"], want)
	}
	for _, q := range f.calls {
		if !q.Start.Equal(t0) || !q.End.Equal(t1) {
			t.Fatalf("page query changed its time range: %+v", q)
		}
	}
	wantTokens := []string{"", "p1", "p2", ""}
	for i, q := range f.calls {
		if q.Token != wantTokens[i] {
			t.Fatalf("call %d token %q, want %q", i, q.Token, wantTokens[i])
		}
	}
	if n := maxInWindow(f.stamps["us-east-1"], time.Second); n > 2 {
		t.Fatalf("%d requests in one second", n)
	}
}

func TestScanRetriesThrottlingThenSucceeds(t *testing.T) {
	clock := newFakeClock()
	throttled := fmt.Errorf("ThrottlingException: Rate exceeded: %w", history.ErrThrottled)
	f := &fakeLookup{clock: clock,
		pages: map[string][]history.Page{"eu-west-1/bedrock.amazonaws.com": {{Events: []history.Event{ev("x", 1)}}}},
		fail:  map[string][]error{"eu-west-1/bedrock.amazonaws.com": {throttled, throttled}},
	}
	s := scanner(f, clock)
	s.Sources = []string{"bedrock.amazonaws.com"}
	s.Backoff = history.Backoff{Base: time.Second, Rand: func() float64 { return 0 }}
	var got []string
	st, err := s.Scan(context.Background(), []string{"eu-west-1"}, t0, t1, func(e history.Event) error {
		got = append(got, e.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"x"}) || st.Requests != 3 || st.Throttled != 2 {
		t.Fatalf("got %v stats %+v", got, st)
	}
	stamps := f.stamps["eu-west-1"]
	for i := 1; i < len(stamps); i++ {
		if gap := stamps[i].Sub(stamps[i-1]); gap < 500*time.Millisecond {
			t.Fatalf("retry %d came %v after the throttled call", i, gap)
		}
	}
}

func TestScanGivesUpAfterMaxAttempts(t *testing.T) {
	clock := newFakeClock()
	throttled := fmt.Errorf("slow down: %w", history.ErrThrottled)
	f := &fakeLookup{clock: clock, fail: map[string][]error{
		"us-west-2/bedrock.amazonaws.com": {throttled, throttled, throttled, throttled},
	}}
	s := scanner(f, clock)
	s.Sources = []string{"bedrock.amazonaws.com"}
	s.MaxAttempts = 3
	_, err := s.Scan(context.Background(), []string{"us-west-2"}, t0, t1, func(history.Event) error { return nil })
	var re *history.RegionError
	if !errors.As(err, &re) || re.Region != "us-west-2" || !errors.Is(err, history.ErrThrottled) {
		t.Fatalf("want RegionError wrapping ErrThrottled, got %v", err)
	}
	if len(f.calls) != 3 {
		t.Fatalf("%d calls, want 3", len(f.calls))
	}
}

func TestScanOneRegionFailsOthersDeliver(t *testing.T) {
	clock := newFakeClock()
	f := &fakeLookup{clock: clock,
		pages: map[string][]history.Page{
			"us-east-1/bedrock.amazonaws.com": {{Events: []history.Event{ev("ok", 1)}}},
		},
		fail: map[string][]error{"eu-west-3/bedrock.amazonaws.com": {errors.New("AccessDeniedException: no")}},
	}
	s := scanner(f, clock)
	s.Sources = []string{"bedrock.amazonaws.com"}
	var got []string
	_, err := s.Scan(context.Background(), []string{"us-east-1", "eu-west-3"}, t0, t1, func(e history.Event) error {
		got = append(got, e.Region+":"+e.ID)
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "eu-west-3") || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("want eu-west-3 AccessDenied error, got %v", err)
	}
	if !slices.Equal(got, []string{"us-east-1:ok"}) {
		t.Fatalf("events %v", got)
	}
	// A non-retryable error is not retried.
	n := 0
	for _, q := range f.calls {
		if q.Region == "eu-west-3" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("non-retryable error tried %d times", n)
	}
}

func TestScanRepeatedTokenStops(t *testing.T) {
	clock := newFakeClock()
	f := &fakeLookup{clock: clock, pages: map[string][]history.Page{
		"us-east-1/bedrock.amazonaws.com": {{NextToken: "p1"}, {NextToken: "p1"}},
	}}
	s := scanner(f, clock)
	s.Sources = []string{"bedrock.amazonaws.com"}
	_, err := s.Scan(context.Background(), []string{"us-east-1"}, t0, t1, func(history.Event) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "repeated") {
		t.Fatalf("want repeated-token error, got %v", err)
	}
}

func TestScanCallbackErrorStops(t *testing.T) {
	clock := newFakeClock()
	f := &fakeLookup{clock: clock, pages: map[string][]history.Page{
		"us-east-1/bedrock.amazonaws.com": {{Events: []history.Event{ev("a", 1), ev("b", 2)}, NextToken: "p1"}, {Events: []history.Event{ev("c", 3)}}},
	}}
	s := scanner(f, clock)
	boom := errors.New("sink full")
	var got []string
	_, err := s.Scan(context.Background(), []string{"us-east-1"}, t0, t1, func(e history.Event) error {
		got = append(got, e.ID)
		return boom
	})
	if !errors.Is(err, boom) || len(got) != 1 {
		t.Fatalf("err %v, events %v", err, got)
	}
}

func TestScanRejectsEmptyRange(t *testing.T) {
	s := scanner(&fakeLookup{clock: newFakeClock()}, newFakeClock())
	if _, err := s.Scan(context.Background(), []string{"us-east-1"}, t1, t0, func(history.Event) error { return nil }); err == nil {
		t.Fatal("end before start accepted")
	}
}

func TestScanProgressReported(t *testing.T) {
	clock := newFakeClock()
	f := &fakeLookup{clock: clock, pages: map[string][]history.Page{
		"us-east-1/bedrock.amazonaws.com": {{Events: []history.Event{ev("a", 1)}, NextToken: "p1"}, {Events: []history.Event{ev("b", 2)}}},
	}}
	s := scanner(f, clock)
	s.Sources = []string{"bedrock.amazonaws.com"}
	var seen []history.Stats
	s.Progress = func(st history.Stats) { seen = append(seen, st) }
	if _, err := s.Scan(context.Background(), []string{"us-east-1"}, t0, t1, func(history.Event) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[1].Events != 2 || seen[1].Pages != 2 || seen[1].Elapsed != 500*time.Millisecond {
		t.Fatalf("progress %+v", seen)
	}
	if r := seen[1].Rate(); r != 4 {
		t.Fatalf("rate %v, want 4 events/s", r)
	}
}
