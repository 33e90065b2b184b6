package outputs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/alerts"
	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/state"
)

var t0 = time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)

// fakePub records published messages; fail decides per message.
type fakePub struct {
	mu   sync.Mutex
	sent []alerts.Message
	fail func(m alerts.Message) error
	// before, when set, runs (unlocked) at the start of every Publish.
	before func()
}

func (p *fakePub) Publish(_ context.Context, msgs []alerts.Message) []error {
	if p.before != nil {
		p.before()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		if p.fail != nil {
			if err := p.fail(m); err != nil {
				errs[i] = err
				continue
			}
		}
		p.sent = append(p.sent, m)
	}
	return errs
}

func (p *fakePub) count() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.sent) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newAlerter() (*Alerter, *state.Memory, *fakePub, *clock) {
	st, pub, c := state.NewMemory(), &fakePub{}, &clock{t: t0}
	a := &Alerter{Store: st, Publisher: pub, Now: c.Now,
		Policy: &policy.Policy{Remediation: policy.RemediationSettings{Actions: map[string]string{findings.RuleUnauthorizedModel: "detach"}}}}
	return a, st, pub, c
}

func finding(rule, eventID, principal string) findings.Finding {
	return findings.Finding{
		Rule: rule, Severity: findings.High, Title: principal + " did something", EventID: eventID,
		EventName: "InvokeModel", Account: "111122223333", Region: "us-east-1", Principal: principal,
		Model: "anthropic.claude-3-opus-20240229-v1:0", BaseModel: "anthropic.claude-3-opus-20240229-v1:0",
		EventTime:   t0,
		Fingerprint: findings.Fingerprint(rule, principal, "anthropic.claude-3-opus-20240229-v1:0", "us-east-1"),
	}
}

// batch builds a batch of one event per finding; sqs names messages
// "m-<eventID>".
func batch(sqs bool, fs ...findings.Finding) *detector.Batch {
	b := &detector.Batch{SQS: sqs, Findings: fs}
	seen := map[string]bool{}
	for _, f := range fs {
		if f.EventID == "" || seen[f.EventID] {
			continue
		}
		seen[f.EventID] = true
		ev := normalize.Event{ID: f.EventID, Origin: decode.Origin{Shape: decode.ShapeEventBridge}}
		if sqs {
			ev.Origin = decode.Origin{Shape: decode.ShapeSQS, MessageID: "m-" + f.EventID}
		}
		b.Events = append(b.Events, ev)
	}
	return b
}

const role = "arn:aws:iam::111122223333:role/app"

func TestAlerterOneAlertPerEventAndRemediableAttribute(t *testing.T) {
	a, st, pub, _ := newAlerter()
	f := finding(findings.RuleUnauthorizedModel, "e1", role)
	g := finding(findings.RuleDeniedInvocation, "e1", role)
	b := batch(false, f, g)
	if err := a.Deliver(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if pub.count() != 2 || b.AlertsSent != 2 {
		t.Fatalf("published %d (stats %d), want 2", pub.count(), b.AlertsSent)
	}
	rem := map[string]string{}
	for _, m := range pub.sent {
		rem[m.Attributes[alerts.AttrRule]] = m.Attributes[findings.AttrRemediable]
	}
	if rem[findings.RuleUnauthorizedModel] != "true" || rem[findings.RuleDeniedInvocation] != "false" {
		t.Errorf("remediable attributes = %v", rem)
	}
	if h, _ := st.Handled(t.Context(), []string{"e1"}); !h["e1"] {
		t.Error("event not handled")
	}
	// Redelivery: nothing.
	if err := a.Deliver(t.Context(), batch(false, f, g)); err != nil {
		t.Fatal(err)
	}
	if pub.count() != 2 {
		t.Errorf("redelivery published again: %d", pub.count())
	}
}

func TestAlerterPublishFailureReleasesAndRetryAlertsOnce(t *testing.T) {
	a, st, pub, c := newAlerter()
	f := finding(findings.RuleUnauthorizedModel, "e1", role)
	down := errors.New("sns down")
	pub.fail = func(alerts.Message) error { return down }

	err := a.Deliver(t.Context(), batch(false, f))
	if !errors.Is(err, down) {
		t.Fatalf("EventBridge path: %v, want the publish error", err)
	}
	var pf *detector.PartialFailure
	err = a.Deliver(t.Context(), batch(true, f))
	if !errors.As(err, &pf) || len(pf.MessageIDs) != 1 || pf.MessageIDs[0] != "m-e1" {
		t.Fatalf("SQS path: %v, want PartialFailure [m-e1]", err)
	}
	if h, _ := st.Handled(t.Context(), []string{"e1"}); h["e1"] {
		t.Fatal("event marked handled without an alert")
	}
	w, _ := st.Window(t.Context(), f.Fingerprint)
	if w.Status != state.StatusReleased {
		t.Fatalf("window after failed publish = %+v, want released", w)
	}
	pub.fail = nil
	c.add(time.Second)
	if err := a.Deliver(t.Context(), batch(true, f)); err != nil {
		t.Fatal(err)
	}
	if err := a.Deliver(t.Context(), batch(false, f)); err != nil {
		t.Fatal(err)
	}
	if pub.count() != 1 {
		t.Errorf("published %d alerts, want 1", pub.count())
	}
}

func TestAlerterOneOfTwoFindingsFails(t *testing.T) {
	a, _, pub, _ := newAlerter()
	f := finding(findings.RuleUnauthorizedModel, "e1", role)
	g := finding(findings.RuleUnauthorizedRegion, "e1", role)
	pub.fail = func(m alerts.Message) error {
		if m.Fingerprint == g.Fingerprint {
			return errors.New("rejected")
		}
		return nil
	}
	if err := a.Deliver(t.Context(), batch(false, f, g)); err == nil {
		t.Fatal("want an error: one alert failed")
	}
	pub.fail = nil
	if err := a.Deliver(t.Context(), batch(false, f, g)); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range pub.sent {
		got[m.Fingerprint]++
	}
	if got[f.Fingerprint] != 1 || got[g.Fingerprint] != 1 {
		t.Errorf("alerts per fingerprint = %v, want 1 each", got)
	}
}

// Many concurrent deliveries of the same event: exactly one alert; the
// ones told to retry do so and publish nothing.
func TestAlerterConcurrentDuplicates(t *testing.T) {
	a, _, pub, _ := newAlerter()
	f := finding(findings.RuleUnauthorizedModel, "e1", role)
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.Deliver(context.Background(), batch(false, f))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			if err := a.Deliver(t.Context(), batch(false, f)); err != nil {
				t.Fatalf("redelivery: %v", err)
			}
		}
	}
	if pub.count() != 1 {
		t.Fatalf("published %d, want 1", pub.count())
	}
}

// A duplicate that arrives while the first delivery is publishing is told
// to retry and publishes nothing; its retry after the first finished is a
// no-op.
func TestAlerterDuplicateDuringPublishRetries(t *testing.T) {
	a, _, pub, _ := newAlerter()
	f := finding(findings.RuleUnauthorizedModel, "e1", role)
	var nestedErr error
	nested := false
	pub.before = func() {
		if nested {
			return
		}
		nested = true
		nestedErr = a.Deliver(t.Context(), batch(false, f))
	}
	if err := a.Deliver(t.Context(), batch(false, f)); err != nil {
		t.Fatal(err)
	}
	if nestedErr == nil {
		t.Fatal("the duplicate during publish succeeded; want a retry error")
	}
	if pub.count() != 1 {
		t.Fatalf("published %d, want 1", pub.count())
	}
	if err := a.Deliver(t.Context(), batch(false, f)); err != nil {
		t.Fatal(err)
	}
	if pub.count() != 1 {
		t.Fatalf("after the retry: published %d, want 1", pub.count())
	}
}

// The state store fails to commit once after the alert went out: the sent
// mark is still recorded, so the retry does not alert again.
func TestAlerterCommitFailureAfterPublishDoesNotRealert(t *testing.T) {
	a, st, pub, _ := newAlerter()
	failures := 1
	st.Fail = func(op string) error {
		if op == "Commit" && failures > 0 {
			failures--
			return errors.New("dynamodb throttled")
		}
		return nil
	}
	f := finding(findings.RuleUnauthorizedModel, "e1", role)
	if err := a.Deliver(t.Context(), batch(false, f)); err == nil {
		t.Fatal("want an error: the event is not recorded")
	}
	if err := a.Deliver(t.Context(), batch(false, f)); err != nil {
		t.Fatal(err)
	}
	if pub.count() != 1 {
		t.Errorf("published %d, want 1", pub.count())
	}
	if h, _ := st.Handled(t.Context(), []string{"e1"}); !h["e1"] {
		t.Error("event not handled after the retry")
	}
}

// A crashed invocation leaves a pending claim: a retry within the lease is
// told to come back; after the lease it takes over and alerts.
func TestAlerterStaleClaimTakenOverAfterLease(t *testing.T) {
	a, st, pub, c := newAlerter()
	f := finding(findings.RuleUnauthorizedModel, "e1", role)
	if _, err := st.Claim(t.Context(), state.Claim{Fingerprint: f.Fingerprint, Owner: "evt:e1", Token: "crashed", Now: t0, Window: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := a.Deliver(t.Context(), batch(false, f)); err == nil {
		t.Fatal("retry inside the lease: want an error")
	}
	if pub.count() != 0 {
		t.Fatal("published inside the lease")
	}
	c.add(state.DefaultLease)
	if err := a.Deliver(t.Context(), batch(false, f)); err != nil {
		t.Fatal(err)
	}
	if pub.count() != 1 {
		t.Errorf("published %d, want 1", pub.count())
	}
}

// Repeats while another event's alert is pending elsewhere are counted and
// show in that alert's successor.
func TestAlerterCountsFollowUpsAcrossBatches(t *testing.T) {
	a, _, pub, c := newAlerter()
	for i := range 5 {
		b := batch(false, finding(findings.RuleUnauthorizedModel, fmt.Sprintf("e%d", i), role))
		if err := a.Deliver(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		if i > 0 && (b.AlertsSuppressed != 1 || b.AlertsSent != 0) {
			t.Errorf("batch %d: sent %d suppressed %d, want 0 and 1", i, b.AlertsSent, b.AlertsSuppressed)
		}
		c.add(time.Minute)
	}
	c.add(time.Hour)
	if err := a.Deliver(t.Context(), batch(false, finding(findings.RuleUnauthorizedModel, "late", role))); err != nil {
		t.Fatal(err)
	}
	if pub.count() != 2 {
		t.Fatalf("published %d, want 2", pub.count())
	}
	f, err := findings.ParseAlert(pub.sent[1].Body)
	if err != nil {
		t.Fatal(err)
	}
	if f.Details[alerts.DetailSuppressed] != "4" || f.Details[alerts.DetailWindow] != "1h" {
		t.Errorf("details = %v, want suppressedSince 4, window 1h", f.Details)
	}
}

// Aggregate findings (no event id) from Notify are deduplicated by
// fingerprint and time too; the per-rule window from the policy applies.
func TestAlerterNotifyAggregateFindings(t *testing.T) {
	a, _, pub, c := newAlerter()
	a.Policy.Alerts.Suppress = map[string]policy.Duration{findings.RuleInvocationSpike: policy.Duration(15 * time.Minute)}
	spike := finding(findings.RuleInvocationSpike, "", role)
	if err := a.Notify(t.Context(), []findings.Finding{spike}); err != nil {
		t.Fatal(err)
	}
	if err := a.Notify(t.Context(), []findings.Finding{spike}); err != nil { // retried
		t.Fatal(err)
	}
	if pub.count() != 1 {
		t.Fatalf("published %d, want 1", pub.count())
	}
	later := spike
	later.EventTime = t0.Add(10 * time.Minute)
	c.add(10 * time.Minute)
	if err := a.Notify(t.Context(), []findings.Finding{later}); err != nil {
		t.Fatal(err)
	}
	if pub.count() != 1 {
		t.Fatalf("inside the 15m window: published %d, want 1", pub.count())
	}
	c.add(6 * time.Minute)
	later.EventTime = t0.Add(16 * time.Minute)
	if err := a.Notify(t.Context(), []findings.Finding{later}); err != nil {
		t.Fatal(err)
	}
	if pub.count() != 2 {
		t.Fatalf("after the 15m window: published %d, want 2", pub.count())
	}
	// A failed aggregate finding fails the whole SQS batch (no message to
	// name).
	pub.fail = func(alerts.Message) error { return errors.New("down") }
	c.add(time.Hour)
	b := batch(true, finding(findings.RuleInvocationSpike, "", "arn:aws:iam::111122223333:role/other"))
	var pf *detector.PartialFailure
	if err := a.Deliver(t.Context(), b); err == nil || errors.As(err, &pf) {
		t.Errorf("aggregate failure on SQS: %v, want a whole-batch error", err)
	}
}

func TestAlerterStoreDownFailsWholeBatchAndPublishesNothing(t *testing.T) {
	a, st, pub, _ := newAlerter()
	st.Fail = func(op string) error {
		if op == "Handled" {
			return errors.New("dynamodb unreachable")
		}
		return nil
	}
	b := batch(true, finding(findings.RuleUnauthorizedModel, "e1", role))
	var pf *detector.PartialFailure
	if err := a.Deliver(t.Context(), b); err == nil || errors.As(err, &pf) {
		t.Fatalf("Deliver = %v, want a whole-batch error", err)
	}
	if pub.count() != 0 {
		t.Error("published although the state store is down")
	}
}

func TestAlerterNoFindingsTouchesNothing(t *testing.T) {
	a, st, pub, _ := newAlerter()
	st.Fail = func(op string) error { return fmt.Errorf("%s called for a benign batch", op) }
	b := &detector.Batch{Events: []normalize.Event{{ID: "benign"}}}
	if err := a.Deliver(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if pub.count() != 0 {
		t.Error("published for a benign batch")
	}
}
