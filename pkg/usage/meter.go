package usage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/metrics"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// Event is one log event of a batch: a record as CloudWatch Logs delivered
// it.
type Event struct {
	ID      string
	Time    time.Time // when CloudWatch Logs received it
	Message string
}

// Batch is one delivery of log events from one log stream.
type Batch struct {
	LogGroup  string
	LogStream string
	Events    []Event
}

// Result says what Handle did with a batch.
type Result struct {
	Records  int // records counted (new or replayed)
	Rejected int // events that are not usable records
	Repeated int // records whose request id came earlier in the batch
	Keys     int // counter updates (one per subject, model and period)
	Replayed int // counter updates already applied by an earlier delivery
	// Findings are the findings notified.
	Findings []findings.Finding
}

// DefaultMarkLease is how long a notification being sent keeps another
// invocation from sending it: longer than the function runs, shorter than
// Lambda's second retry of a failed one.
const DefaultMarkLease = 90 * time.Second

// ErrBusy is wrapped when another invocation is notifying a finding this
// batch reached too: the batch is retried and finds it sent (or takes it
// over when the other invocation died).
var ErrBusy = errors.New("another invocation is notifying the same limit finding")

// Meter counts invocation log batches and enforces the policy's limits.
type Meter struct {
	Policy   *policy.Policy
	Store    Store
	Marks    Marks
	Notifier Notifier
	// Directory resolves roles' paths and principals' tags; nil: ARNs
	// as logged and no tags (limits with tags then select nobody).
	Directory Directory
	// DeadLetters keeps rejected events (without their content); nil:
	// they are only logged and counted.
	DeadLetters DeadLetters
	// Metrics receives EMF lines; nil means stdout.
	Metrics   io.Writer
	Namespace string // default metrics.DefaultNamespace
	Now       func() time.Time
	Log       *slog.Logger
	MarkLease time.Duration // default DefaultMarkLease
}

func (m *Meter) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func (m *Meter) log() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.Default()
}

// caller is a resolved principal with its tags and its last call.
type caller struct {
	Caller
	tags map[string]string
	last time.Time
}

// counted is one usable record, resolved and priced.
type counted struct {
	rec   Record
	who   *caller
	model string
}

// delta is what a batch adds to one key.
type delta struct {
	c   Counters
	ids []string
}

// Handle counts a batch and enforces the limits it reaches. Records are
// counted in the period of their own timestamp, so a batch that straddles
// a period boundary, or arrives late, counts each record where it
// belongs. It makes one Store.Add per key, applied once per batch
// whatever the redelivery, then notifies each limit finding once.
//
// Unusable events are rejected (counted, logged and kept by DeadLetters
// without their content), not retried: no retry makes them readable. An
// error means the batch must be retried: the store, IAM, the notifier or
// the dead-letter queue failed, or another invocation is notifying the
// same finding (ErrBusy). A retry counts nothing twice.
func (m *Meter) Handle(ctx context.Context, b Batch) (Result, error) {
	var res Result
	now := m.now()
	var ms metrics.Set
	defer func() { m.writeMetrics(now, &ms) }()

	var rejected []Rejected
	reject := func(e Event, requestID string, err error) {
		reason := ReasonNotJSON
		var re *RecordError
		if errors.As(err, &re) {
			reason = re.Reason
		}
		rejected = append(rejected, Rejected{LogGroup: b.LogGroup, LogStream: b.LogStream, EventID: e.ID, Time: e.Time.UTC(),
			RequestID: requestID, Reason: reason, Error: err.Error()})
		ms.Add(metrics.UsageRecordsRejected, 1, metrics.Dimension{Name: metrics.DimReason, Value: reason})
	}

	// Parse, and keep each request id once.
	var recs []Record
	var events []Event
	seen := map[string]bool{}
	for _, e := range b.Events {
		r, err := ParseRecord(e.Message)
		if err != nil {
			reject(e, "", err)
			continue
		}
		if seen[r.RequestID] {
			res.Repeated++
			continue
		}
		seen[r.RequestID] = true
		recs, events = append(recs, r), append(events, e)
	}

	// Name each caller as the detector does.
	callers := map[string]*caller{}
	var list []counted
	prices := map[string]*priced{}
	for i, r := range recs {
		who, ok := callers[r.Identity]
		if !ok {
			c, err := m.resolve(ctx, r.Identity)
			var re *RecordError
			if errors.As(err, &re) {
				reject(events[i], r.RequestID, err)
				continue
			}
			if err != nil {
				return res, fmt.Errorf("usage: resolve the caller of request %s: %w", clip(r.RequestID), err)
			}
			who, callers[r.Identity] = c, c
		}
		if !r.Time.Before(who.last) {
			who.last, who.Account, who.Region = r.Time, r.Account, r.Region
		}
		model := normalize.ParseModelID(r.ModelID).ID()
		p, ok := prices[model]
		if !ok {
			p = &priced{}
			_, p.price, p.ok = policy.PriceFor(m.Policy.Prices, model)
			prices[model] = p
		}
		if p.ok {
			r.Counters.USD = Cost(r.Counters, p.price)
		} else {
			r.Counters.UnpricedTokens = r.Counters.Tokens()
		}
		list = append(list, counted{rec: r, who: who, model: model})
	}
	res.Records = len(list)
	ms.Add(metrics.UsageRecords, float64(len(list)))

	// Keep the rejected events before anything can fail and bring the
	// batch back: they are kept once, however often it is retried.
	if len(rejected) > 0 {
		res.Rejected = len(rejected)
		for _, r := range rejected {
			m.log().WarnContext(ctx, "usage: log event rejected (content not logged)", "logGroup", r.LogGroup, "logStream", r.LogStream,
				"eventId", clip(r.EventID), "requestId", clip(r.RequestID), "reason", r.Reason, "error", r.Error)
		}
		if m.DeadLetters != nil {
			if err := m.DeadLetters.Send(ctx, rejected); err != nil {
				return res, fmt.Errorf("usage: keep %d rejected events: %w", len(rejected), err)
			}
		}
	}

	// One delta per key.
	deltas := map[Key]*delta{}
	add := func(k Key, r Record) {
		d := deltas[k]
		if d == nil {
			d = &delta{}
			deltas[k] = d
		}
		d.c.Add(r.Counters)
		d.ids = append(d.ids, r.RequestID)
	}
	for _, c := range list {
		for _, period := range m.periods() {
			start, _, _ := Bounds(period, c.rec.Time)
			add(Key{Period: period, Start: start, Subject: PrincipalSubject(c.who.ARN), Model: c.model}, c.rec)
		}
		for _, l := range m.Policy.Limits {
			if l.Per == policy.LimitPerTeam && l.CoversModel(c.model) && l.SelectsPrincipal(c.who.ARN, c.who.tags) {
				start, _, _ := Bounds(l.Period, c.rec.Time)
				add(Key{Period: l.Period, Start: start, Subject: TeamSubject(l.Name), Model: c.model}, c.rec)
			}
		}
	}
	keys := make([]Key, 0, len(deltas))
	for k := range deltas {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
	for _, k := range keys {
		d := deltas[k]
		applied, err := m.Store.Add(ctx, k, d.c, Digest(k, d.ids), now)
		if err != nil {
			return res, fmt.Errorf("usage: add to %s %s %s %s: %w", k.Period, k.Start.Format(time.RFC3339), k.Subject, k.Model, err)
		}
		res.Keys++
		if !applied {
			res.Replayed++
			continue
		}
		m.limitMetrics(&ms, k, d.c, callers)
	}

	fs, err := m.enforce(ctx, list, now, &ms)
	res.Findings = fs
	m.log().InfoContext(ctx, "usage batch", "logGroup", b.LogGroup, "logStream", b.LogStream, "events", len(b.Events),
		"records", res.Records, "rejected", res.Rejected, "repeated", res.Repeated, "keys", res.Keys, "replayed", res.Replayed,
		"findings", len(fs), "error", errString(err))
	return res, err
}

type priced struct {
	price policy.Price
	ok    bool
}

// periods are the periods principals' usage is counted in: month always
// (for warden usage), and every period a limit uses.
func (m *Meter) periods() []string {
	out := []string{policy.PeriodMonth}
	for _, p := range []string{policy.PeriodWeek, policy.PeriodDay} {
		for _, l := range m.Policy.Limits {
			if l.Period == p {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// limitMetrics adds an applied principal key's usage to the LimitTokens
// and LimitUSD metrics of every limit that counts it.
func (m *Meter) limitMetrics(ms *metrics.Set, k Key, c Counters, callers map[string]*caller) {
	arn, ok := SubjectPrincipal(k.Subject)
	if !ok {
		return
	}
	var tags map[string]string
	for _, who := range callers {
		if who.ARN == arn {
			tags = who.tags
			break
		}
	}
	for _, l := range m.Policy.Limits {
		if l.Period == k.Period && l.CoversModel(k.Model) && l.SelectsPrincipal(arn, tags) {
			dim := metrics.Dimension{Name: metrics.DimLimit, Value: l.Name}
			ms.Add(metrics.LimitTokens, float64(c.Tokens()), dim)
			ms.Add(metrics.LimitUSD, c.USD, dim)
		}
	}
}

// resolve names the caller of identity.arn as the detector names it: an
// IAM user's ARN, or for an assumed-role session the role's ARN with its
// path (from IAM), with the principal's tags when a limit selects on them.
func (m *Meter) resolve(ctx context.Context, identity string) (*caller, error) {
	p := normalize.PrincipalOfARN(identity)
	c := &caller{Caller: Caller{ARN: p.ARN, Type: string(p.Type)}}
	if c.ARN == "" {
		return nil, &RecordError{ReasonNoPrincipal, "identity.arn names no IAM principal"}
	}
	kind := ""
	switch {
	case p.Type == normalize.PrincipalAssumedRole:
		kind = KindRole // the session ARN has no path: always ask
	case p.Type == normalize.PrincipalIAMUser && m.Policy.UsesTags():
		kind = KindUser
	}
	if kind == "" || m.Directory == nil || p.Name == "" {
		return c, nil
	}
	id, err := m.Directory.Lookup(ctx, kind, p.Name)
	switch {
	case errors.Is(err, ErrNoPrincipal):
		return c, nil // deleted since: keep the ARN as logged
	case err != nil:
		return nil, err
	}
	if id.ARN != "" {
		c.ARN = id.ARN
	}
	c.tags = id.Tags
	return c, nil
}

// check is one (limit, subject, period) a batch touched, and the callers
// who touched it.
type check struct {
	limit   policy.Limit
	subject string
	start   time.Time
	callers map[string]*caller
}

// enforce evaluates every limit for the subjects and periods the batch
// touched, and notifies each finding reached once.
func (m *Meter) enforce(ctx context.Context, list []counted, now time.Time, ms *metrics.Set) ([]findings.Finding, error) {
	checks := map[string]*check{}
	var order []string
	for _, c := range list {
		for _, l := range m.Policy.Limits {
			if !l.CoversModel(c.model) || !l.SelectsPrincipal(c.who.ARN, c.who.tags) {
				continue
			}
			start, _, _ := Bounds(l.Period, c.rec.Time)
			subject := PrincipalSubject(c.who.ARN)
			if l.Per == policy.LimitPerTeam {
				subject = TeamSubject(l.Name)
			}
			id := l.Name + "\x00" + subject + "\x00" + start.Format(time.RFC3339)
			ch := checks[id]
			if ch == nil {
				ch = &check{limit: l, subject: subject, start: start, callers: map[string]*caller{}}
				checks[id] = ch
				order = append(order, id)
			}
			ch.callers[c.who.ARN] = c.who
		}
	}
	type pending struct {
		mark Mark
		f    findings.Finding
	}
	var todo []pending
	var errs []error
	busy := 0
	usage := map[string]map[string]Counters{}
	for _, id := range order {
		ch := checks[id]
		l := ch.limit
		_, end, _ := Bounds(l.Period, ch.start)
		uk := l.Period + "\x00" + ch.start.Format(time.RFC3339) + "\x00" + ch.subject
		u, ok := usage[uk]
		if !ok {
			var err error
			if u, err = m.Store.Usage(ctx, l.Period, ch.start, ch.subject); err != nil {
				return nil, fmt.Errorf("usage: read %s usage of %s: %w", l.Period, ch.subject, err)
			}
			usage[uk] = u
		}
		st := Evaluate(l, ch.subject, ch.start, end, u)
		rule := m.ruleFor(st.Level())
		if rule == "" {
			continue
		}
		_, sev := m.Policy.Rule(rule)
		for _, arn := range sortedKeys(ch.callers) {
			who := ch.callers[arn]
			mark := Mark{Rule: rule, Limit: l.Name, Principal: arn, Period: l.Period, Start: ch.start}
			state, err := m.Marks.Begin(ctx, mark, now, m.lease(), end.Add(7*24*time.Hour))
			if err != nil {
				errs = append(errs, fmt.Errorf("usage: mark %s of %s for %s: %w", rule, l.Name, arn, err))
				continue
			}
			switch state {
			case MarkDone:
				continue
			case MarkBusy:
				busy++
				continue
			}
			todo = append(todo, pending{mark, st.Finding(rule, sev, who.Caller, now)})
		}
	}
	var out []findings.Finding
	if len(todo) > 0 {
		fs := make([]findings.Finding, len(todo))
		for i, p := range todo {
			fs[i] = p.f
		}
		if err := m.Notifier.Notify(ctx, fs); err != nil {
			for _, p := range todo {
				if aerr := m.Marks.Abandon(ctx, p.mark); aerr != nil {
					err = errors.Join(err, fmt.Errorf("give back mark %s of %s: %w", p.mark.Rule, p.mark.Limit, aerr))
				}
			}
			return nil, errors.Join(append(errs, fmt.Errorf("usage: notify %d limit findings: %w", len(fs), err))...)
		}
		for _, p := range todo {
			if err := m.Marks.Sent(ctx, p.mark); err != nil {
				errs = append(errs, fmt.Errorf("usage: mark %s of %s sent: %w", p.mark.Rule, p.mark.Limit, err))
			}
			ms.Add(metrics.Findings, 1, metrics.Dimension{Name: metrics.DimRule, Value: p.f.Rule},
				metrics.Dimension{Name: metrics.DimSeverity, Value: string(p.f.Severity)})
		}
		out = fs
	}
	if busy > 0 {
		errs = append(errs, fmt.Errorf("usage: %d limit findings: %w; retry", busy, ErrBusy))
	}
	return out, errors.Join(errs...)
}

// ruleFor is the enabled rule a level raises: limit-exceeded at 100 %,
// limit-warning at warnAt (and at 100 % when limit-exceeded is off).
func (m *Meter) ruleFor(level string) string {
	if level == "" {
		return ""
	}
	if on, _ := m.Policy.Rule(RuleFor(level)); on {
		return RuleFor(level)
	}
	if on, _ := m.Policy.Rule(findings.RuleLimitWarning); on && level == LevelExceeded {
		return findings.RuleLimitWarning
	}
	return ""
}

func (m *Meter) lease() time.Duration {
	if m.MarkLease > 0 {
		return m.MarkLease
	}
	return DefaultMarkLease
}

func (m *Meter) writeMetrics(now time.Time, ms *metrics.Set) {
	ds := ms.Datums()
	if len(ds) == 0 {
		return
	}
	w := m.Metrics
	if w == nil {
		w = os.Stdout
	}
	ns := m.Namespace
	if ns == "" {
		ns = metrics.DefaultNamespace
	}
	if err := metrics.WriteEMF(w, ns, now, ds); err != nil {
		m.log().Error("usage metrics not written", "error", err.Error())
	}
}

func keyLess(a, b Key) bool {
	if a.Period != b.Period {
		return a.Period < b.Period
	}
	if !a.Start.Equal(b.Start) {
		return a.Start.Before(b.Start)
	}
	if a.Subject != b.Subject {
		return a.Subject < b.Subject
	}
	return a.Model < b.Model
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// clip keeps values taken from records short in logs.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
