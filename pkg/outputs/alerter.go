// Package outputs wires what a Bedrock Warden Lambda emits: alerts (SNS,
// deduplicated and idempotent through the state table) and metrics (EMF or
// PutMetricData). BuildSinks gives every function's main.go its sinks from
// the environment; Alerter.Notify serves findings that do not come from an
// event batch (budgets, spikes, heartbeat, reconciler).
package outputs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/bedrock-warden/warden/pkg/alerts"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/state"
)

// Publisher sends alert messages; it returns one error per message (nil:
// published), in order. *snspub.Publisher implements it.
type Publisher interface {
	Publish(ctx context.Context, msgs []alerts.Message) []error
}

// FindingSealer authenticates the finding an alert carries (the seal
// message attributes); seal.Findings implements it over a KMS HMAC key.
type FindingSealer interface {
	Seal(ctx context.Context, findingJSON []byte, at time.Time) (map[string]string, error)
}

// FindingImporter mirrors alerted findings where security teams look
// (package alerts/hubpub: Security Hub). It receives each alert's finding
// once per alert, the suppressed count in its details; the same
// fingerprint updates the same mirrored finding.
type FindingImporter interface {
	Import(ctx context.Context, fs []findings.Finding) error
}

// Alerter turns findings into at most one alert per incident: it skips
// events already handled, folds repeats of a fingerprint inside its
// suppression window into a count, publishes the rest and records the
// outcome. It is a detector.Sink.
type Alerter struct {
	Store     state.Store
	Publisher Publisher
	Policy    *policy.Policy
	Format    alerts.Format
	Stack     string
	// Sealer, when set, seals every alert (one MAC call per alert
	// published, none per event), so the remediator can tell the stack's
	// own findings from forged ones. A sealing failure never holds back
	// the alert: it goes out unsealed, and the remediator refuses to act
	// on it (and says so).
	Sealer FindingSealer
	// Hub, when set, also imports every published alert's finding (into
	// Security Hub). It is best effort: the alert already went out, so a
	// failure is logged, never retried by failing the batch (which would
	// not alert twice anyway).
	Hub FindingImporter
	// Remediable, when set, must also accept a finding for its alert to
	// be remediable. The S3 intake sets it: a log file in S3 is not
	// authenticated (whoever may write to the trail bucket can write one),
	// so its findings about the stack's own account — the only account the
	// remediator changes — are alerted but never remediable.
	Remediable func(f *findings.Finding) bool
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Lease is how long a pending claim blocks others (state.DefaultLease
	// when zero).
	Lease time.Duration
	// Token returns a fresh claim token (random when nil).
	Token func() string
	Log   *slog.Logger
}

var _ detector.Sink = (*Alerter)(nil)

// Stats says what one run did.
type Stats struct {
	Sent       int // alerts published
	Unsealed   int // alerts published without a seal because sealing failed
	Suppressed int // findings folded into an alert's count
	Duplicates int // findings of events already handled, or already alerted
}

// maxClaimAttempts bounds the read-decide-claim loop under contention.
const maxClaimAttempts = 5

// unit is the findings of one event (or one aggregate finding), which
// succeed or come back together.
type unit struct {
	eventID  string
	findings []findings.Finding
	owner    string
	// counts are fingerprints this unit adds a follow-up to.
	counts map[string]int64
	// deps are fingerprints whose in-batch leader this unit follows.
	deps []string
	// leads are fingerprints this unit claimed.
	leads []string
	retry bool
	err   error
}

// claim is one fingerprint's alert in this run.
type claim struct {
	finding   findings.Finding
	unit      *unit
	window    state.Window
	followers int64
	// details are the finding's details as its alert carried them
	// (suppressed count, window).
	details   map[string]string
	published bool
	err       error
}

// Deliver implements detector.Sink: alerts for b.Findings. On the SQS path
// the events that must come back are named in a *detector.PartialFailure;
// otherwise any failure is an error (the invocation is retried).
func (a *Alerter) Deliver(ctx context.Context, b *detector.Batch) error {
	st, failed, err := a.run(ctx, b.Findings)
	b.AlertsSent += st.Sent
	b.AlertsSuppressed += st.Suppressed
	if err != nil {
		return err
	}
	if len(failed) == 0 {
		return nil
	}
	var errs []error
	for _, u := range failed {
		errs = append(errs, u.err)
	}
	joined := errors.Join(errs...)
	if !b.SQS {
		return fmt.Errorf("alerts: %d events must be retried: %w", len(failed), joined)
	}
	msgOf := map[string]string{}
	for i := range b.Events {
		if id := b.Events[i].ID; id != "" && b.Events[i].Origin.MessageID != "" {
			msgOf[id] = b.Events[i].Origin.MessageID
		}
	}
	pf := &detector.PartialFailure{Err: joined}
	seen := map[string]bool{}
	for _, u := range failed {
		mid, ok := msgOf[u.eventID]
		if !ok {
			// An aggregate finding, or an event we cannot place: the whole
			// batch comes back.
			return fmt.Errorf("alerts: a finding without an SQS message failed: %w", joined)
		}
		if !seen[mid] {
			seen[mid] = true
			pf.MessageIDs = append(pf.MessageIDs, mid)
		}
	}
	return pf
}

// Notify alerts for findings that come from no event batch (budget, spike,
// heartbeat, reconciler), with the same dedup. Findings without an EventID
// are keyed by fingerprint and time. Any failure is returned; calling again
// with the same findings is safe.
func (a *Alerter) Notify(ctx context.Context, fs []findings.Finding) error {
	_, err := a.NotifyStats(ctx, fs)
	return err
}

// NotifyStats is Notify, also saying what it did.
func (a *Alerter) NotifyStats(ctx context.Context, fs []findings.Finding) (Stats, error) {
	st, failed, err := a.run(ctx, fs)
	if err != nil {
		return st, err
	}
	if len(failed) > 0 {
		var errs []error
		for _, u := range failed {
			errs = append(errs, u.err)
		}
		return st, fmt.Errorf("alerts: %d findings not delivered: %w", len(failed), errors.Join(errs...))
	}
	return st, nil
}

func (a *Alerter) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Alerter) lease() time.Duration {
	if a.Lease > 0 {
		return a.Lease
	}
	return state.DefaultLease
}

func (a *Alerter) token() string {
	if a.Token != nil {
		return a.Token()
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (a *Alerter) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}

func (a *Alerter) window(rule string) time.Duration {
	if a.Policy != nil {
		return a.Policy.SuppressWindow(rule)
	}
	return time.Hour
}

// remediable reports whether the policy asks the remediator to act on f
// (remediation.actions, or a usage limit with action block).
func (a *Alerter) remediable(f findings.Finding) bool {
	// The self-test's synthetic finding never reaches the remediator, even
	// if a policy could map its rule (the loader refuses that too).
	if a.Policy == nil || f.Rule == findings.RuleSelfTest || (a.Remediable != nil && !a.Remediable(&f)) {
		return false
	}
	_, ok := a.Policy.RemediationFor(f)
	return ok
}

// group splits findings into units: one per event id (duplicates of an
// event in the same batch merged), one per aggregate finding.
func group(fs []findings.Finding) []*unit {
	var units []*unit
	byEvent := map[string]*unit{}
	for _, f := range fs {
		if f.Fingerprint == "" {
			f.Fingerprint = findings.Fingerprint(f.Rule, f.Principal, firstNonEmpty(f.BaseModel, f.Model), f.Region)
		}
		if f.EventID == "" {
			units = append(units, &unit{findings: []findings.Finding{f},
				owner: state.OwnerKey("", f.Fingerprint, f.EventTime), counts: map[string]int64{}})
			continue
		}
		u := byEvent[f.EventID]
		if u == nil {
			u = &unit{eventID: f.EventID, owner: state.OwnerKey(f.EventID, "", time.Time{}), counts: map[string]int64{}}
			byEvent[f.EventID] = u
			units = append(units, u)
		}
		dup := false
		for _, g := range u.findings {
			if g.Fingerprint == f.Fingerprint {
				dup = true
				break
			}
		}
		if !dup {
			u.findings = append(u.findings, f)
		}
	}
	return units
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// run is the protocol: handled? → decide/claim → publish → release or
// commit. It returns the units that must come back, or an error when the
// whole input must.
func (a *Alerter) run(ctx context.Context, fs []findings.Finding) (Stats, []*unit, error) {
	var st Stats
	if len(fs) == 0 {
		return st, nil, nil
	}
	if a.Store == nil || a.Publisher == nil {
		return st, nil, errors.New("alerts: alerter needs a state store and a publisher")
	}
	units := group(fs)
	var ids []string
	for _, u := range units {
		if u.eventID != "" {
			ids = append(ids, u.eventID)
		}
	}
	handled, err := a.Store.Handled(ctx, ids)
	if err != nil {
		return st, nil, fmt.Errorf("alerts: %w", err)
	}
	now := a.now()
	claims := map[string]*claim{}
	var order []*claim
	seen := map[string]state.Window{} // windows read this run, by fingerprint
	var live []*unit
	for _, u := range units {
		if handled[u.eventID] {
			st.Duplicates += len(u.findings)
			a.log().InfoContext(ctx, "event already handled", "eventId", u.eventID)
			continue
		}
		live = append(live, u)
		for _, f := range u.findings {
			fp := f.Fingerprint
			if c := claims[fp]; c != nil {
				c.followers++
				u.deps = append(u.deps, fp)
				continue
			}
			if err := a.decide(ctx, u, f, now, seen, claims, &order); err != nil {
				a.releaseAll(ctx, order)
				return st, nil, err
			}
		}
	}

	// Publish every claim.
	if len(order) > 0 {
		msgs := make([]alerts.Message, 0, len(order))
		var built []*claim
		for _, c := range order {
			f := c.finding
			d := make(map[string]string, len(f.Details)+2)
			for k, v := range f.Details {
				d[k] = v
			}
			d[alerts.DetailSuppressed] = strconv.FormatInt(c.window.Reporting+c.followers, 10)
			d[alerts.DetailWindow] = policy.Duration(a.window(f.Rule)).String()
			f.Details = d
			c.details = d
			m, err := alerts.Build(f, alerts.Options{Format: a.Format, Remediable: a.remediable(f), Stack: a.Stack})
			if err != nil {
				c.err = err
				continue
			}
			a.seal(ctx, &m, now, &st)
			msgs = append(msgs, m)
			built = append(built, c)
		}
		errs := a.Publisher.Publish(ctx, msgs)
		for i, c := range built {
			if i < len(errs) && errs[i] != nil {
				c.err = errs[i]
				continue
			}
			c.published = true
			st.Sent++
			st.Suppressed += int(c.followers)
			a.log().InfoContext(ctx, "alert published", "rule", c.finding.Rule, "severity", c.finding.Severity,
				"fingerprint", c.finding.Fingerprint, "eventId", c.finding.EventID,
				"suppressedSince", c.window.Reporting+c.followers)
		}
		for _, c := range order {
			if c.published {
				continue
			}
			a.log().ErrorContext(ctx, "alert not published", "rule", c.finding.Rule, "fingerprint", c.finding.Fingerprint,
				"eventId", c.finding.EventID, "error", c.err.Error())
			if err := a.Store.Release(ctx, c.finding.Fingerprint, c.window.Token); err != nil {
				a.log().ErrorContext(ctx, "release claim", "fingerprint", c.finding.Fingerprint, "error", err.Error())
			}
		}
	}

	// Commit unit by unit.
	a.mirror(ctx, order)
	var failed []*unit
	for _, u := range live {
		ok := !u.retry && u.err == nil
		var sent []state.Sent
		for _, fp := range u.leads {
			c := claims[fp]
			if c.published {
				sent = append(sent, state.Sent{Fingerprint: fp, Token: c.window.Token, Reported: c.window.Reporting})
			} else {
				ok = false
				if u.err == nil {
					u.err = fmt.Errorf("alert %s for %s: %w", c.finding.Rule, fp, c.err)
				}
			}
		}
		for _, fp := range u.deps {
			if c := claims[fp]; !c.published {
				ok = false
				if u.err == nil {
					u.err = fmt.Errorf("alert %s for %s (leading this event's finding) failed: %w", c.finding.Rule, fp, c.err)
				}
			}
		}
		if u.retry && u.err == nil {
			u.err = errors.New("the same finding is being alerted by another invocation right now; retry later")
		}
		cm := state.Commit{Sent: sent, Now: now}
		if ok {
			cm.Counts = u.counts
			if u.eventID != "" {
				cm.Handled = []string{u.eventID}
			}
		}
		if len(cm.Sent)+len(cm.Counts)+len(cm.Handled) > 0 {
			if err := a.Store.Commit(ctx, cm); err != nil {
				a.log().ErrorContext(ctx, "commit alert state", "eventId", u.eventID, "error", err.Error())
				if ok && len(sent) > 0 {
					// Keep at least the sent marks, so a retry does not
					// alert again.
					if err2 := a.Store.Commit(ctx, state.Commit{Sent: sent, Now: now}); err2 != nil {
						a.log().ErrorContext(ctx, "commit sent marks", "eventId", u.eventID, "error", err2.Error())
					}
				}
				ok = false
				if u.err == nil {
					u.err = fmt.Errorf("record alert state: %w", err)
				}
			} else if ok {
				for _, n := range u.counts {
					st.Suppressed += int(n)
				}
			}
		}
		if !ok {
			failed = append(failed, u)
		}
	}
	return st, failed, nil
}

// decide reads f's window (once per run), decides, and claims when told
// to, retrying on conflicts.
func (a *Alerter) decide(ctx context.Context, u *unit, f findings.Finding, now time.Time,
	seen map[string]state.Window, claims map[string]*claim, order *[]*claim) error {
	fp := f.Fingerprint
	for attempt := 0; ; attempt++ {
		w, ok := seen[fp]
		if !ok {
			var err error
			w, err = a.Store.Window(ctx, fp)
			if err != nil {
				return fmt.Errorf("alerts: %w", err)
			}
			seen[fp] = w
		}
		if why := state.Implausible(w, now, a.window(f.Rule)); why != "" {
			a.log().WarnContext(ctx, "alert window in the state table is implausible (written by someone else?); alerting",
				"rule", f.Rule, "fingerprint", fp, "why", why)
		}
		switch state.Decide(w, u.owner, now, a.lease(), a.window(f.Rule)) {
		case state.ActionDone:
			a.log().InfoContext(ctx, "finding already alerted", "rule", f.Rule, "fingerprint", fp, "eventId", f.EventID)
			return nil
		case state.ActionRetry:
			u.retry = true
			return nil
		case state.ActionCount:
			u.counts[fp]++
			return nil
		case state.ActionClaim:
			cw, err := a.Store.Claim(ctx, state.Claim{
				Fingerprint: fp, Rule: f.Rule, Owner: u.owner, Token: a.token(), Now: now,
				Window: a.window(f.Rule), PrevVersion: w.Version,
			})
			if errors.Is(err, state.ErrConflict) {
				delete(seen, fp)
				if attempt+1 >= maxClaimAttempts {
					u.err = fmt.Errorf("claim alert for %s: %w after %d attempts", fp, err, attempt+1)
					return nil
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("alerts: %w", err)
			}
			seen[fp] = cw
			c := &claim{finding: f, unit: u, window: cw}
			claims[fp] = c
			*order = append(*order, c)
			u.leads = append(u.leads, fp)
			return nil
		}
		return fmt.Errorf("alerts: unknown decision for %s", fp)
	}
}

// mirror imports the published alerts' findings into the Hub.
func (a *Alerter) mirror(ctx context.Context, order []*claim) {
	if a.Hub == nil {
		return
	}
	var fs []findings.Finding
	for _, c := range order {
		if c.published {
			f := c.finding
			f.Details = c.details
			fs = append(fs, f)
		}
	}
	if len(fs) == 0 {
		return
	}
	if err := a.Hub.Import(ctx, fs); err != nil {
		a.log().ErrorContext(ctx, "findings not imported into Security Hub (the alerts went out)", "findings", len(fs), "error", err.Error())
	}
}

// seal adds the seal attributes to m; a failure is logged and counted,
// and m goes out unsealed.
func (a *Alerter) seal(ctx context.Context, m *alerts.Message, now time.Time, st *Stats) {
	if a.Sealer == nil {
		return
	}
	attrs, err := a.Sealer.Seal(ctx, m.FindingJSON, now)
	if err != nil {
		st.Unsealed++
		a.log().ErrorContext(ctx, "alert not sealed: it is published, but the remediator will refuse to act on it",
			"fingerprint", m.Fingerprint, "error", err.Error())
		return
	}
	for k, v := range attrs {
		m.Attributes[k] = v
	}
}

// releaseAll gives back claims after a failure that aborts the run.
func (a *Alerter) releaseAll(ctx context.Context, cs []*claim) {
	for _, c := range cs {
		if err := a.Store.Release(ctx, c.finding.Fingerprint, c.window.Token); err != nil {
			a.log().ErrorContext(ctx, "release claim", "fingerprint", c.finding.Fingerprint, "error", err.Error())
		}
	}
}
