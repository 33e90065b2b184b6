package spikes

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
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

// Slots is how many batch snapshots of the top models and IPs one counter
// item keeps; see Increment.Slot.
const Slots = 8

// TokenSlots is how many recent batch tokens one counter item remembers;
// see Increment.Token.
const TokenSlots = 16

// Key identifies what is counted: a principal ARN or a base model id.
type Key struct {
	Kind string // KindPrincipal or KindModel
	ID   string
}

// String returns "principal <arn>" or "model <id>".
func (k Key) String() string { return k.Kind + " " + k.ID }

// Increment is one batch's contribution to one key's window.
type Increment struct {
	Key         Key
	WindowStart time.Time
	Window      time.Duration
	Count       int64
	// Models and IPs are this batch's TopN models and source addresses for
	// the key, with their counts in this batch.
	Models map[string]int64
	IPs    map[string]int64
	// Slot (0 ≤ Slot < Slots) is where the store keeps this batch's Models
	// and IPs. It is derived from the batch's event ids, so a retried batch
	// overwrites its own snapshot instead of adding one; the item never
	// holds more than Slots snapshots.
	Slot int
	// Token identifies the events counted (a hash of their sorted event
	// ids); empty when some event has no id. The store remembers the last
	// token per TokenSlot and does not count a token it already holds, so
	// the exact same events replayed (a Lambda retry of the same
	// EventBridge event or SQS batch) are not counted twice.
	Token     string
	TokenSlot int
	// Expires is when the counter may be deleted (DynamoDB TTL).
	Expires time.Time
}

// Counter is a key's window after an Increment.
type Counter struct {
	Count   int64
	Alerted bool
	// Replayed reports that the Increment's Token was already counted:
	// Count is the current count, unchanged by this call.
	Replayed bool
	// Models and IPs merge the snapshots the item holds (approximate
	// top lists; the count is exact).
	Models map[string]int64
	IPs    map[string]int64
}

// Store keeps the window counters. counterdb.Store implements it on
// DynamoDB; every method is one AWS call.
type Store interface {
	// Add atomically adds inc.Count to the key's window counter, records
	// the batch's top models and IPs, and returns the counter after the
	// update; when inc.Token was already counted it changes nothing and
	// returns the current counter with Replayed set.
	Add(ctx context.Context, inc Increment) (Counter, error)
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
type Analyzer struct {
	store  Store
	policy *policy.Policy
	now    func() time.Time
	log    *slog.Logger
}

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
	return &Analyzer{store: store, policy: p, now: now, log: logger}
}

// group is one key's events in one window of a batch.
type group struct {
	key      Key
	start    time.Time
	count    int64
	models   map[string]int64
	ips      map[string]int64
	accounts map[string]int64
	regions  map[string]int64
	ptype    string
	ids      []string
	noID     bool // some event has no id: no token
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
// AWS calls per batch, with K the number of distinct (key, window) pairs in
// the batch: K UpdateItem; plus one BatchGetItem per pair whose count is
// above its floor and below its maximum (baseline test); plus one
// conditional UpdateItem per pair that trips and was not yet alerted.
//
// Delivery is at least once. A window alerts once whatever happens (the
// alert marker). Counts: the exact same events replayed for a key and
// window (same event ids, e.g. Lambda retrying the same EventBridge event
// or SQS batch) are recognised by their token and not counted again; events
// replayed in a different grouping (SQS redelivering messages in new
// batches) are counted again, so a caller that can must drop events it has
// already analysed before calling Analyze.
//
// Pairs are handled Concurrency at a time. Analyze either succeeds or fails
// as a whole, as the detector treats it (an error makes it retry the batch
// and drop the batch's findings): on any store error it removes the alert
// markers this call wrote, so the retry can raise those findings, and
// returns no finding with the joined errors. The counts of the pairs that
// succeeded stay applied (their tokens keep an identical retry from
// counting them again). Should removing a marker fail, the finding is
// logged at error level so it is not lost silently.
func (a *Analyzer) Analyze(ctx context.Context, events []normalize.Event) ([]findings.Finding, error) {
	enabled, severity := a.policy.Rule(findings.RuleInvocationSpike)
	if !enabled {
		return nil, nil
	}
	settings := a.policy.Spikes
	window := WindowLength(settings)
	groups := a.group(events, window)
	if len(groups) == 0 {
		return nil, nil
	}
	retention := Retention(settings)
	results := make([]result, len(groups))
	sem := make(chan struct{}, Concurrency)
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = a.judge(ctx, g, window, retention, severity)
		}()
	}
	wg.Wait()
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
		if r.finding == nil {
			continue
		}
		g := groups[i]
		if err := a.store.UnmarkAlerted(ctx, g.key, g.start, r.markedAt); err != nil {
			errs = append(errs, fmt.Errorf("spikes: unmark %s window %s after a failed batch: %w", g.key, g.start.Format(time.RFC3339), err))
			a.log.ErrorContext(ctx, "invocation spike not reported: the batch failed and its alert marker could not be removed",
				"rule", r.finding.Rule, "title", r.finding.Title, "fingerprint", r.finding.Fingerprint, "error", err.Error())
		}
	}
	return nil, errors.Join(errs...)
}

// Concurrency is how many (key, window) pairs of one batch the Analyzer
// handles at once (each is one to three sequential store calls).
const Concurrency = 8

type result struct {
	finding  *findings.Finding
	markedAt time.Time
	err      error
}

// judge counts one group and returns its finding when it trips for the
// first time in its window.
func (a *Analyzer) judge(ctx context.Context, g *group, window, retention time.Duration, severity findings.Severity) result {
	if err := ctx.Err(); err != nil {
		return result{err: fmt.Errorf("spikes: count %s in window %s: %w", g.key, g.start.Format(time.RFC3339), err)}
	}
	th := a.threshold(g.key)
	inc := Increment{
		Key: g.key, WindowStart: g.start, Window: window, Count: g.count,
		Models: topN(g.models, TopN), IPs: topN(g.ips, TopN),
		Expires: g.start.Add(window + retention),
	}
	inc.Slot, inc.Token, inc.TokenSlot = g.identity()
	c, err := a.store.Add(ctx, inc)
	if err != nil {
		return result{err: fmt.Errorf("spikes: count %s in window %s: %w", g.key, g.start.Format(time.RFC3339), err)}
	}
	// An alerted window stays quiet, except when this very batch is a
	// replay (a retry after the alert may not have gone out): then the
	// finding is produced again and the alert state, which knows whether it
	// was sent, decides (it dedups aggregate findings per window).
	if !th.Enabled() || (c.Alerted && !c.Replayed) {
		return result{}
	}
	var history []int64
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
	if !first && !c.Replayed {
		return result{}
	}
	f := a.finding(g, c, th, v, window, severity)
	if !first {
		// Replay of an alerted window: no marker of ours to undo.
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

// group aggregates the batch per (key, window), in a stable order.
func (a *Analyzer) group(events []normalize.Event, window time.Duration) []*group {
	byID := map[groupID]*group{}
	var order []*group
	add := func(k Key, start time.Time, e *normalize.Event) {
		id := groupID{k, start.Unix()}
		g := byID[id]
		if g == nil {
			g = &group{key: k, start: start, models: map[string]int64{}, ips: map[string]int64{},
				accounts: map[string]int64{}, regions: map[string]int64{}}
			byID[id] = g
			order = append(order, g)
		}
		g.count++
		if m := e.Model.ID(); m != "" {
			g.models[m]++
		}
		if ip := source(e.Caller); ip != "" {
			g.ips[ip]++
		}
		if e.Account != "" {
			g.accounts[e.Account]++
		}
		if e.Region != "" {
			g.regions[e.Region]++
		}
		if g.ptype == "" && k.Kind == KindPrincipal {
			g.ptype = string(e.Principal.Type)
		}
		if e.ID == "" {
			g.noID = true
		} else {
			g.ids = append(g.ids, e.ID)
		}
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
		add(Key{KindPrincipal, principal}, start, e)
		if m := e.Model.ID(); m != "" {
			add(Key{KindModel, m}, start, e)
		}
	}
	return order
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

// identity derives, from the group's event ids, the snapshot slot, the
// replay token and the token slot, so a replay of the same events picks the
// same slots and token. Without a token (an event without id) the slot
// comes from the count.
func (g *group) identity() (slot int, token string, tokenSlot int) {
	if g.noID || len(g.ids) == 0 {
		return int(g.count % Slots), "", 0
	}
	ids := slices.Clone(g.ids)
	slices.Sort(ids)
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	sum := h.Sum(nil)
	return int(sum[0]) % Slots, hex.EncodeToString(sum[:8]), int(sum[1]) % TokenSlots
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
	slices.SortFunc(out, func(a, b Ranked) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

func topN(m map[string]int64, n int) map[string]int64 {
	out := make(map[string]int64, min(n, len(m)))
	for _, r := range Rank(m, n) {
		out[r.Name] = r.Count
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

func mostCommon(m map[string]int64) string {
	if r := Rank(m, 1); len(r) == 1 {
		return r[0].Name
	}
	return ""
}

func (a *Analyzer) finding(g *group, c Counter, th Threshold, v Verdict, window time.Duration, sev findings.Severity) findings.Finding {
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
		Account:   mostCommon(g.accounts),
		Region:    mostCommon(g.regions),
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
		f.Title = fmt.Sprintf("model %s had %d invocations in %s (%s)", g.key.ID, c.Count, FormatWindow(window), limitText)
		f.Reason = fmt.Sprintf("%d invocations of %s in the window starting %s exceed spikes.perModel (%s)", c.Count, g.key.ID, startS, limitText)
		f.Fingerprint = findings.Fingerprint(findings.RuleInvocationSpike, "*", g.key.ID, "")
	}
	return f
}

// mergeTop merges the stored snapshots with this batch's full counts, taking
// the larger figure per name (the batch's own counts are exact for it; the
// snapshots cover other batches).
func mergeTop(stored, batch map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(stored)+len(batch))
	for k, v := range stored {
		out[k] = v
	}
	for k, v := range batch {
		if v > out[k] {
			out[k] = v
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
