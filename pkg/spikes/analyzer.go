package spikes

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// Key kinds.
const (
	KindPrincipal = "principal"
	KindModel     = "model"
)

// UnknownPrincipal is the key used for invocations whose record names no
// principal (redacted or partial records), so they are still counted.
const UnknownPrincipal = "(unknown principal)"

// TopN is how many models and source IPs one batch records per key and
// window, and how many a finding lists.
const TopN = 5

// SetCap is how many distinct events a counter keeps per key and window.
// Up to it a count is exact however often, in whatever order and grouping
// events are delivered; beyond it (far above any sensible threshold)
// further events are added as a plain number, and an event redelivered
// past the cap may be counted again.
const SetCap = 5000

// Key identifies what is counted: a principal ARN or a base model id (in
// one account, when the analyzer counts models per account).
type Key struct {
	Kind string // KindPrincipal or KindModel
	ID   string
	// Account scopes a model key to one account (PerAccountModels); ""
	// counts the model across every account the stack sees.
	Account string
}

// String returns "principal <arn>", "model <id>" or "model <id> in
// <account>".
func (k Key) String() string {
	if k.Account != "" {
		return k.Kind + " " + k.ID + " in " + k.Account
	}
	return k.Kind + " " + k.ID
}

// EventHash identifies an event within a window: the first 8 bytes of the
// SHA-256 of its eventID (of its other fields when it has none). Two
// events of a window share a hash with a probability of about n²/2⁶⁵.
type EventHash [8]byte

// Increment is one batch's events for one key in one window.
type Increment struct {
	Key Key
	// Events are the distinct events of the batch for the key.
	Events []EventHash
	// Beyond says the key already holds SetCap events in the window: the
	// store adds len(Events) to its plain count rather than to the set.
	Beyond bool
	// Models and IPs are this batch's TopN models and source addresses for
	// the key, with their counts in this batch, most first.
	Models []Ranked
	IPs    []Ranked
}

// WindowBatch is one batch's events in one window.
type WindowBatch struct {
	Start  time.Time
	Window time.Duration
	// Expires is when the window's counters may be deleted (DynamoDB TTL).
	Expires time.Time
	Keys    []Increment
}

// Counter is a key's window after an Add.
type Counter struct {
	// Count is the number of distinct events counted in the window.
	Count int64
	// New is how many of the batch's events for the key were not counted
	// before: 0 means the batch brought nothing new for it (a redelivery).
	New int64
	// Models and IPs are the latest batch snapshot the store held for the
	// key before this one (approximate top lists).
	Models []Ranked
	IPs    []Ranked
}

// Store keeps the window counters. counterdb.Store implements it on
// DynamoDB, MemoryStore in memory.
type Store interface {
	// Add records a batch's events in their window and returns each key's
	// counter, in the order of wb.Keys. An event already counted in the
	// window is not counted again: counts are of distinct events, whatever
	// the order and grouping of their deliveries.
	//
	// Add must not keep wb's slices (Keys and their Events, Models and
	// IPs) once it has returned: the Analyzer reuses their arrays for its
	// next batch. Copy what must outlive the call (strings may be kept).
	Add(ctx context.Context, wb WindowBatch) ([]Counter, error)
	// Counts returns the counts of key for each window start, in the
	// order given; a window never counted is 0.
	Counts(ctx context.Context, key Key, windowStarts []time.Time) ([]int64, error)
	// MarkAlerted records that key's window raised its finding. It returns
	// false, nil when the window was already marked (by a concurrent or an
	// earlier batch).
	MarkAlerted(ctx context.Context, key Key, windowStart time.Time, at time.Time) (bool, error)
	// UnmarkAlerted removes the marker MarkAlerted wrote at at (and only
	// that one), so a retried batch can raise the finding again.
	UnmarkAlerted(ctx context.Context, key Key, windowStart time.Time, at time.Time) error
}

// Analyzer turns batches of normalised events into invocation-spike
// findings. It is safe for concurrent use if its Store is.
//
// It keeps the working arrays of a batch for the next (up to a bound), so
// a warm Analyzer allocates nothing to count a benign batch beyond what
// its Store does; only keys that trip allocate (their findings).
type Analyzer struct {
	// PerAccountModels counts each model per account: a stack that sees an
	// organisation's accounts (the S3 intake of an organisation trail)
	// judges each account's use of a model against spikes.perModel, as a
	// stack per account would. A principal is always one account's.
	PerAccountModels bool

	store  Store
	policy *policy.Policy
	now    func() time.Time
	log    *slog.Logger

	// seen remembers, per window and key, what this process learnt from
	// the store: that the window already alerted (no need to try the
	// marker again) or holds SetCap events. It is bounded (cleared when
	// full) and only ever saves calls.
	mu   sync.Mutex
	seen map[windowKey]seenState
	// addrs formats each source address once (bounded like seen).
	addrs map[netip.Addr]string

	// scratches holds the working arrays of finished Analyze calls, for
	// the next (see scratch).
	scratches sync.Pool
	// fresh gives every call new working arrays (tests compare the two).
	fresh bool
}

type windowKey struct {
	key   Key
	start int64
}

type seenState struct{ alerted, beyond bool }

// maxSeen bounds Analyzer.seen.
const maxSeen = 16384

// New returns an Analyzer. now is the clock used for events without a usable
// time (nil: time.Now); logger may be nil (slog.Default()).
func New(store Store, p *policy.Policy, now func() time.Time, logger *slog.Logger) *Analyzer {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.Default()
	}
	if p == nil {
		p = &policy.Policy{}
	}
	return &Analyzer{store: store, policy: p, now: now, log: logger, seen: map[windowKey]seenState{}, addrs: map[netip.Addr]string{}}
}

func (a *Analyzer) recall(g *group) seenState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen[windowKey{g.key, g.start.Unix()}]
}

func (a *Analyzer) learn(g *group, f func(*seenState)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) >= maxSeen {
		clear(a.seen)
	}
	k := windowKey{g.key, g.start.Unix()}
	st, known := a.seen[k]
	f(&st)
	if !known {
		// The key's id points into its record's buffer: keep a copy, not
		// the buffer.
		k.key.ID = strings.Clone(k.key.ID)
	}
	a.seen[k] = st
}

// group is one key's events in one window of a batch.
type group struct {
	key   Key
	start time.Time
	// idx are the indexes of the group's events in the batch (a slice of
	// one array shared by every group).
	idx    []int32
	events []EventHash // the distinct events' hashes
	// models and ips are the batch's top lists for the key (slices of one
	// array shared by every group).
	models, ips []Ranked
	ptype       string
}

type groupID struct {
	key   Key
	start int64
}

// Analyze counts the batch's invocation events (Category ==
// normalize.CategoryInvocation) per principal (Principal.ARN) and per model
// (Model.ID()) in the window holding each event's Time (the clock when the
// event has none), and returns one finding per key and window whose count
// tripped its threshold, the first time it trips.
//
// AWS calls per batch: one Store.Add per window the batch touches (one
// DynamoDB UpdateItem for up to addChunk keys, whatever the number of
// events); plus one BatchGetItem per key whose count is above its floor
// and below its maximum (baseline test); plus one conditional UpdateItem
// per key that trips and was not yet alerted.
//
// Delivery is at least once, and counts are exact under it: the store
// counts distinct events (by event id), so an event is counted once
// whatever the order and grouping of its deliveries — a Lambda retry of
// the same batch, SQS redelivering messages in other batches. A window
// alerts once (the alert marker); a batch that brings nothing new for a
// tripped key is a redelivery, and produces the finding again so that
// the alert state, which knows whether the first alert went out, decides.
//
// Analyze either succeeds or fails as a whole, as the detector treats it
// (an error makes it retry the batch and drop the batch's findings): on
// any store error it removes the alert markers this call wrote, so the
// retry can raise those findings, and returns no finding with the joined
// errors. The events already counted stay counted (the retry adds nothing
// twice). Should removing a marker fail, the finding is logged at error
// level so it is not lost silently.
func (a *Analyzer) Analyze(ctx context.Context, events []normalize.Event) ([]findings.Finding, error) {
	enabled, severity := a.policy.Rule(findings.RuleInvocationSpike)
	if !enabled {
		return nil, nil
	}
	settings := a.policy.Spikes
	window := WindowLength(settings)
	s := a.takeScratch()
	defer a.putScratch(s)
	a.group(s, events, window)
	groups := s.groups
	if len(groups) == 0 {
		return nil, nil
	}
	retention := Retention(settings)
	s.results = resize(s.results, len(groups))
	results := s.results
	counters := a.count(ctx, s, window, retention)
	pending := s.pending[:0]
	for i, g := range groups {
		if results[i].err != nil || a.quiet(g, counters[i]) {
			continue
		}
		pending = append(pending, int32(i))
	}
	s.pending = pending
	if len(pending) > 0 {
		a.judgeAll(ctx, &s.batchGroups, pending, counters, results, window, severity)
	}
	var out []findings.Finding
	var errs []error
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
		}
		if r.finding != nil {
			out = append(out, *r.finding)
		}
	}
	if len(errs) == 0 {
		return out, nil
	}
	for i, r := range results {
		if r.finding == nil || r.markedAt.IsZero() {
			continue
		}
		g := groups[i]
		a.learn(g, func(st *seenState) { st.alerted = false })
		if err := a.store.UnmarkAlerted(ctx, g.key, g.start, r.markedAt); err != nil {
			errs = append(errs, fmt.Errorf("spikes: unmark %s window %s after a failed batch: %w", g.key, g.start.Format(time.RFC3339), err))
			a.log.ErrorContext(ctx, "invocation spike not reported: the batch failed and its alert marker could not be removed",
				"rule", r.finding.Rule, "title", r.finding.Title, "fingerprint", r.finding.Fingerprint, "error", err.Error())
		}
	}
	return nil, errors.Join(errs...)
}

// judgeAll judges the pending groups (indexes into b.groups), Concurrency
// at a time, each into its result. Benign batches never get here: their
// groups are all quiet.
func (a *Analyzer) judgeAll(ctx context.Context, b *batchGroups, pending []int32, counters []Counter, results []result, window time.Duration, severity findings.Severity) {
	sem := make(chan struct{}, Concurrency)
	var wg sync.WaitGroup
	for _, i := range pending {
		g := b.groups[i]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = a.judge(ctx, b, g, counters[i], window, severity)
		}()
	}
	wg.Wait()
}

// count adds the groups to the store, one Add per window (the windows in
// the order their first group appears, each window's keys in group
// order), and returns their counters; a failed Add sets the error of its
// window's groups.
func (a *Analyzer) count(ctx context.Context, s *scratch, window, retention time.Duration) []Counter {
	groups, results := s.groups, s.results
	s.counters = resize(s.counters, len(groups))
	counters := s.counters
	// The groups ordered by window (a stable counting sort).
	s.windows.reset()
	s.windowOf = resize(s.windowOf, len(groups))
	for i, g := range groups {
		s.windowOf[i], _ = s.windows.of(g.start.Unix())
	}
	nw := len(s.windows.keys)
	offsets := resize(s.offsets, nw+1)
	for _, w := range s.windowOf {
		offsets[w+1]++
	}
	for i := 1; i < len(offsets); i++ {
		offsets[i] += offsets[i-1]
	}
	fill := resize(s.fill, nw)
	copy(fill, offsets)
	byWindow := resize(s.byWindow, len(groups))
	for i, w := range s.windowOf {
		byWindow[fill[w]] = int32(i)
		fill[w]++
	}
	s.offsets, s.fill, s.byWindow = offsets, fill, byWindow
	s.incs = resize(s.incs, len(groups))
	for w := range nw {
		lo, hi := offsets[w], offsets[w+1]
		idx := byWindow[lo:hi]
		start := groups[idx[0]].start
		wb := WindowBatch{Start: start, Window: window, Expires: start.Add(window + retention), Keys: s.incs[lo:hi:hi]}
		for j, i := range idx {
			g := groups[i]
			wb.Keys[j] = Increment{Key: g.key, Events: g.events, Beyond: a.recall(g).beyond, Models: g.models, IPs: g.ips}
		}
		var cs []Counter
		err := ctx.Err()
		if err == nil {
			cs, err = a.store.Add(ctx, wb)
		}
		if err == nil && len(cs) != len(idx) {
			err = fmt.Errorf("store returned %d counters for %d keys", len(cs), len(idx))
		}
		for j, i := range idx {
			if err != nil {
				results[i].err = fmt.Errorf("spikes: count %s in window %s: %w", groups[i].key, start.Format(time.RFC3339), err)
				continue
			}
			counters[i] = cs[j]
			if cs[j].Count >= SetCap {
				a.learn(groups[i], func(st *seenState) { st.beyond = true })
			}
		}
	}
	return counters
}

// quiet reports that judging g needs no store call and raises nothing:
// its threshold is off, or its count is at most the maximum and needs no
// baseline (the usual case for benign traffic, judged without a goroutine).
func (a *Analyzer) quiet(g *group, c Counter) bool {
	th := a.threshold(g.key)
	if !th.Enabled() {
		return true
	}
	return !th.NeedsBaseline(c.Count) && !Evaluate(c.Count, th, nil).Tripped
}

// Concurrency is how many keys of one batch the Analyzer judges at once
// (each is up to two sequential store calls).
const Concurrency = 8

type result struct {
	finding  *findings.Finding
	markedAt time.Time
	err      error
}

// judge decides one counted group and returns its finding when it trips
// for the first time in its window (or again, for a redelivery).
func (a *Analyzer) judge(ctx context.Context, b *batchGroups, g *group, c Counter, window time.Duration, severity findings.Severity) result {
	th := a.threshold(g.key)
	redelivery := c.New == 0
	// An alerted window stays quiet, except for a redelivery (a retry
	// after the alert may not have gone out): then the finding is
	// produced again and the alert state, which knows whether it was
	// sent, decides (it dedups aggregate findings per window).
	if !th.Enabled() || (!redelivery && a.recall(g).alerted) {
		return result{}
	}
	var history []int64
	var err error
	if th.NeedsBaseline(c.Count) {
		history, err = a.store.Counts(ctx, g.key, PreviousWindows(g.start, window, th.BaselineWindows))
		if err != nil {
			return result{err: fmt.Errorf("spikes: baseline of %s before %s: %w", g.key, g.start.Format(time.RFC3339), err)}
		}
	}
	v := Evaluate(c.Count, th, history)
	if !v.Tripped {
		return result{}
	}
	at := a.now()
	first, err := a.store.MarkAlerted(ctx, g.key, g.start, at)
	if err != nil {
		return result{err: fmt.Errorf("spikes: mark %s window %s alerted: %w", g.key, g.start.Format(time.RFC3339), err)}
	}
	a.learn(g, func(st *seenState) { st.alerted = true })
	if !first && !redelivery {
		return result{}
	}
	f := a.finding(b, g, c, th, v, window, severity)
	if !first {
		// Redelivery of an alerted window: no marker of ours to undo.
		return result{finding: &f}
	}
	a.log.InfoContext(ctx, "invocation spike", "key", g.key.String(), "count", c.Count,
		"windowStart", g.start.Format(time.RFC3339), "kind", v.Kind, "limit", v.Limit)
	return result{finding: &f, markedAt: at}
}

// Retention is how long a counter item is kept after its window ends: long
// enough to serve as history for the largest baselineWindows in the policy,
// and at least 24 hours (for `warden spikes status` and investigation).
func Retention(s policy.SpikeSettings) time.Duration {
	n := max(s.PerPrincipal.BaselineWindows, s.PerModel.BaselineWindows)
	for _, o := range s.Overrides {
		n = max(n, o.BaselineWindows)
	}
	return max(24*time.Hour, time.Duration(n+1)*WindowLength(s))
}

func (a *Analyzer) threshold(k Key) Threshold {
	if k.Kind == KindModel {
		return ModelThreshold(a.policy.Spikes)
	}
	return PrincipalThreshold(a.policy.Spikes, k.ID)
}

// batchGroups is a batch's events grouped per (key, window).
type batchGroups struct {
	events []normalize.Event
	groups []*group
	ips    []string // each event's source, as counted
}

// scratch is one Analyze call's working memory: the batch's groups and
// every array behind them. Analyzer.scratches keeps it for the next call,
// so a warm analyzer allocates nothing per batch; every array is resliced
// (and cleared) per call and replaced only when too small. Nothing handed
// out of a call points into it: findings copy what they keep, and a Store
// must not keep an Add's slices.
type scratch struct {
	batchGroups
	ids     ordinals[groupID] // group index by (key, window)
	store   []group           // the groups, in order of appearance
	members []member          // (group, event) pairs, in event order
	hashes  []EventHash       // each event's hash
	// offsets and fill are a counting sort's bounds: of the members per
	// group in group, then of the groups per window in count.
	offsets, fill []int32
	idx           []int32     // the members' events, ordered by group
	allHashes     []EventHash // the groups' distinct events, likewise
	tops          []Ranked    // the groups' top lists
	ranked        []Ranked    // one tally
	rankedUsed    int         // the longest tally (to clear)

	results  []result
	counters []Counter
	windows  ordinals[int64] // window index by start
	windowOf []int32         // each group's window index
	byWindow []int32         // the groups ordered by window
	incs     []Increment     // the groups' increments, ordered by window
	pending  []int32         // the groups to judge
}

type member struct{ g, e int32 }

// Bounds on a scratch kept for reuse: one that served a larger batch is
// left to the collector, so a rare huge batch does not pin its memory.
const (
	maxPooledEvents = 10000
	maxPooledGroups = 4096
)

// takeScratch returns a kept scratch, or a new one.
func (a *Analyzer) takeScratch() *scratch {
	if !a.fresh {
		if s, _ := a.scratches.Get().(*scratch); s != nil {
			return s
		}
	}
	return new(scratch)
}

// putScratch drops s's references to the batch (its events, strings and
// findings are not kept alive by the pool) and keeps s for the next call
// unless it grew past the bounds.
func (a *Analyzer) putScratch(s *scratch) {
	if a.fresh || cap(s.hashes) > maxPooledEvents || cap(s.store) > maxPooledGroups {
		return
	}
	s.events = nil
	clear(s.groups)
	clear(s.ips)
	clear(s.store)
	s.ids.reset()
	clear(s.tops)
	clear(s.ranked[:s.rankedUsed])
	s.rankedUsed = 0
	clear(s.results)
	clear(s.counters)
	clear(s.incs)
	a.scratches.Put(s)
}

// resize returns s with length n, zeroed, reusing its array when it is
// large enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// ordinals numbers distinct keys in the order they first appear: by a
// linear scan while they are few (a batch's usual case), by a map beyond.
type ordinals[K comparable] struct {
	keys []K
	m    map[K]int32 // filled once keys holds linearOrdinals
}

const linearOrdinals = 16

// of returns k's number, and whether k is new.
func (o *ordinals[K]) of(k K) (int32, bool) {
	if len(o.keys) < linearOrdinals {
		for i := range o.keys {
			if o.keys[i] == k {
				return int32(i), false
			}
		}
	} else {
		if len(o.m) == 0 {
			if o.m == nil {
				o.m = make(map[K]int32, 4*linearOrdinals)
			}
			for i, key := range o.keys {
				o.m[key] = int32(i)
			}
		}
		if i, ok := o.m[k]; ok {
			return i, false
		}
	}
	n := int32(len(o.keys))
	o.keys = append(o.keys, k)
	if len(o.m) > 0 {
		o.m[k] = n
	}
	return n, true
}

// reset forgets every key.
func (o *ordinals[K]) reset() {
	clear(o.keys)
	o.keys = o.keys[:0]
	if len(o.m) > 0 {
		clear(o.m)
	}
}

// add records event i as a member of the group of (k, start).
func (s *scratch) add(k Key, start time.Time, i int) {
	gi, isNew := s.ids.of(groupID{k, start.Unix()})
	if isNew {
		s.store = append(s.store, group{key: k, start: start})
	}
	s.members = append(s.members, member{gi, int32(i)})
}

// group aggregates the batch per (key, window) into s.batchGroups, in a
// stable order, each event once per group. Groups, their event indexes
// and their top lists are slices of arrays shared by the batch (a batch
// of 1,000 events may hold hundreds of keys), kept in s.
func (a *Analyzer) group(s *scratch, events []normalize.Event, window time.Duration) {
	s.events = events
	s.groups = s.groups[:0]
	s.store = s.store[:0]
	s.ids.reset()
	if cap(s.members) < 2*len(events) { // a principal and a model each
		s.members = make([]member, 0, 2*len(events))
	}
	s.members = s.members[:0]
	s.hashes = resize(s.hashes, len(events))
	s.ips = resize(s.ips, len(events))
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.addrs) >= maxSeen {
		clear(a.addrs)
	}
	for i := range events {
		e := &events[i]
		if e.Category != normalize.CategoryInvocation {
			continue
		}
		t := e.Time
		if t.IsZero() {
			t = a.now()
		}
		start := WindowStart(t, window)
		principal := e.Principal.ARN
		if principal == "" {
			principal = UnknownPrincipal
		}
		s.hashes[i] = Hash(e)
		if ip := e.Caller.IP; ip.IsValid() {
			str, ok := a.addrs[ip]
			if !ok {
				str = ip.String()
				a.addrs[ip] = str
			}
			s.ips[i] = str
		} else {
			s.ips[i] = source(e.Caller)
		}
		s.add(Key{Kind: KindPrincipal, ID: principal}, start, i)
		if m := e.Model.ID(); m != "" {
			k := Key{Kind: KindModel, ID: m}
			if a.PerAccountModels {
				k.Account = e.Account
			}
			s.add(k, start, i)
		}
	}
	store := s.store
	if len(store) == 0 {
		return
	}
	// The members, ordered by group in one array (a counting sort), and
	// each group's distinct event hashes in another.
	offsets := resize(s.offsets, len(store)+1)
	for _, m := range s.members {
		offsets[m.g+1]++
	}
	for i := 1; i < len(offsets); i++ {
		offsets[i] += offsets[i-1]
	}
	idx := resize(s.idx, len(s.members))
	fill := resize(s.fill, len(store))
	copy(fill, offsets)
	for _, m := range s.members {
		idx[fill[m.g]] = m.e
		fill[m.g]++
	}
	allHashes := resize(s.allHashes, len(s.members))
	s.offsets, s.fill, s.idx, s.allHashes = offsets, fill, idx, allHashes
	// tops never grows past its capacity: the groups' slices of it stay
	// in one array.
	if n := len(store) * 2 * TopN; cap(s.tops) < n {
		s.tops = make([]Ranked, 0, n)
	}
	tops := s.tops[:0]
	ranked := s.ranked
	ips := s.ips
	s.groups = resize(s.groups, len(store))
	for gi := range store {
		g := &store[gi]
		g.idx = idx[offsets[gi]:offsets[gi+1]]
		hs := allHashes[offsets[gi]:offsets[gi]:offsets[gi+1]]
		for _, i := range g.idx {
			hs = append(hs, s.hashes[i])
		}
		// An event delivered twice in one batch counts once.
		slices.SortFunc(hs, func(x, y EventHash) int { return bytes.Compare(x[:], y[:]) })
		g.events = slices.Compact(hs)
		if g.key.Kind == KindPrincipal {
			g.ptype = string(events[g.idx[0]].Principal.Type)
		}
		ranked = tally(ranked[:0], g, func(i int32) string { return events[i].Model.ID() })
		s.rankedUsed = max(s.rankedUsed, len(ranked))
		start := len(tops)
		tops = append(tops, ranked[:min(TopN, len(ranked))]...)
		g.models = tops[start:len(tops):len(tops)]
		ranked = tally(ranked[:0], g, func(i int32) string { return ips[i] })
		s.rankedUsed = max(s.rankedUsed, len(ranked))
		start = len(tops)
		tops = append(tops, ranked[:min(TopN, len(ranked))]...)
		g.ips = tops[start:len(tops):len(tops)]
		s.groups[gi] = g
	}
	s.tops, s.ranked = tops, ranked
}

// tally counts the values of the group's events (empty values are not
// counted) into out, most first, then by name.
func tally(out []Ranked, g *group, value func(i int32) string) []Ranked {
	for _, i := range g.idx {
		v := value(i)
		if v == "" {
			continue
		}
		found := false
		for k := range out {
			if out[k].Name == v {
				out[k].Count++
				found = true
				break
			}
		}
		if !found {
			out = append(out, Ranked{Name: v, Count: 1})
		}
	}
	slices.SortFunc(out, byCount)
	return out
}

func byCount(a, b Ranked) int {
	if c := cmp.Compare(b.Count, a.Count); c != 0 {
		return c
	}
	return cmp.Compare(a.Name, b.Name)
}

// Hash returns the event's identity in a window: its eventID hashed, or,
// for a record without one, its other identifying fields hashed (the same
// record redelivered hashes the same).
func Hash(e *normalize.Event) EventHash {
	var out EventHash
	if e.ID != "" {
		var buf [128]byte
		var sum [32]byte
		if len(e.ID) <= len(buf) {
			sum = sha256.Sum256(buf[:copy(buf[:], e.ID)])
		} else {
			sum = sha256.Sum256([]byte(e.ID))
		}
		copy(out[:], sum[:])
		return out
	}
	h := sha256.New()
	{
		for _, s := range []string{"\x00no-id", e.RequestID, e.Name, e.Source, e.Time.UTC().Format(time.RFC3339Nano),
			e.Principal.RawARN, e.Principal.AccessKeyID, e.Caller.Raw, e.Model.Raw, e.Region, e.EventType} {
			h.Write([]byte(s))
			h.Write([]byte{0})
		}
	}
	copy(out[:], h.Sum(nil))
	return out
}

// source is the caller's address, or the AWS service or "AWS Internal" when
// the record has no address.
func source(c normalize.Caller) string {
	switch {
	case c.IP.IsValid():
		return c.IP.String()
	case c.Service != "":
		return c.Service
	case c.Internal:
		return "AWS Internal"
	}
	return c.Raw
}

// Ranked is a name with its count, for top lists.
type Ranked struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// Rank returns m's entries by count descending, then name, at most n (all
// when n <= 0).
func Rank(m map[string]int64, n int) []Ranked {
	out := make([]Ranked, 0, len(m))
	for k, v := range m {
		out = append(out, Ranked{k, v})
	}
	slices.SortFunc(out, byCount)
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// FormatRanked writes a top list as "a=3, b=1".
func FormatRanked(rs []Ranked) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.Name + "=" + strconv.FormatInt(r.Count, 10)
	}
	return strings.Join(parts, ", ")
}

// mostCommon is the commonest non-empty value of the group's events.
func (b *batchGroups) mostCommon(g *group, value func(e *normalize.Event) string) string {
	r := tally(nil, g, func(i int32) string { return value(&b.events[i]) })
	if len(r) == 0 {
		return ""
	}
	return r[0].Name
}

func (a *Analyzer) finding(b *batchGroups, g *group, c Counter, th Threshold, v Verdict, window time.Duration, sev findings.Severity) findings.Finding {
	startS := g.start.Format(time.RFC3339)
	limit := strconv.FormatFloat(v.Limit, 'f', -1, 64)
	var limitText string
	if v.Kind == KindMax {
		limitText = "max " + limit
	} else {
		limitText = fmt.Sprintf("baseline %s × %s = %s", strconv.FormatFloat(v.Baseline, 'f', 1, 64),
			strconv.FormatFloat(th.BaselineFactor, 'f', -1, 64), strconv.FormatFloat(v.Limit, 'f', 1, 64))
	}
	f := findings.Finding{
		Rule:      findings.RuleInvocationSpike,
		Severity:  sev,
		EventTime: g.start,
		Account:   b.mostCommon(g, func(e *normalize.Event) string { return e.Account }),
		Region:    b.mostCommon(g, func(e *normalize.Event) string { return e.Region }),
		Details: map[string]string{
			"key":             g.key.Kind,
			"count":           strconv.FormatInt(c.Count, 10),
			"threshold":       limit,
			"thresholdKind":   v.Kind,
			"thresholdSource": th.Source,
			"baseline":        strconv.FormatFloat(v.Baseline, 'f', -1, 64),
			"window":          FormatWindow(window),
			"windowStart":     startS,
			"topModels":       FormatRanked(Rank(mergeTop(c.Models, g.models), TopN)),
			"topIPs":          FormatRanked(Rank(mergeTop(c.IPs, g.ips), TopN)),
		},
	}
	if g.key.Kind == KindPrincipal {
		f.Principal = g.key.ID
		f.PrincipalType = g.ptype
		f.Title = fmt.Sprintf("%s made %d invocations in %s (%s)", ShortPrincipal(g.key.ID), c.Count, FormatWindow(window), limitText)
		f.Reason = fmt.Sprintf("%d invocations in the window starting %s exceed spikes.%s (%s)", c.Count, startS, th.Source, limitText)
		f.Fingerprint = findings.Fingerprint(findings.RuleInvocationSpike, g.key.ID, "*", "")
	} else {
		// A model spike has no single principal; "*" keeps the finding
		// parseable (findings.ParseAlert requires a principal) and says
		// "everyone". Remediation must not act on it.
		f.Principal = "*"
		f.Model = g.key.ID
		f.BaseModel = g.key.ID
		in := ""
		if g.key.Account != "" {
			f.Account = g.key.Account
			in = " in account " + g.key.Account
		}
		f.Title = fmt.Sprintf("model %s had %d invocations%s in %s (%s)", g.key.ID, c.Count, in, FormatWindow(window), limitText)
		f.Reason = fmt.Sprintf("%d invocations of %s%s in the window starting %s exceed spikes.perModel (%s)", c.Count, g.key.ID, in, startS, limitText)
		// The account takes the region's place in the incident key: one
		// incident per model per account ("" for a single account).
		f.Fingerprint = findings.Fingerprint(findings.RuleInvocationSpike, "*", g.key.ID, g.key.Account)
	}
	return f
}

// mergeTop merges the stored snapshot with this batch's top list, taking
// the larger figure per name (the batch's own counts are exact for it; the
// snapshot covers another batch).
func mergeTop(stored, batch []Ranked) map[string]int64 {
	out := make(map[string]int64, len(stored)+len(batch))
	for _, r := range stored {
		out[r.Name] = r.Count
	}
	for _, r := range batch {
		if r.Count > out[r.Name] {
			out[r.Name] = r.Count
		}
	}
	return out
}

// ShortPrincipal returns the readable part of an ARN: "role/app-batch" for
// "arn:aws:iam::123456789012:role/app-batch"; other strings unchanged.
func ShortPrincipal(arn string) string {
	if !strings.HasPrefix(arn, "arn:") {
		return arn
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && parts[5] != "" {
		return parts[5]
	}
	return arn
}
