package remediation

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/bedrock-warden/warden/pkg/alerts"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/seal"
	"github.com/bedrock-warden/warden/pkg/seal/sealtest"
)

const testTopic = "arn:aws:sns:us-east-1:" + acct + ":alerts"

// trustRig is a remediator whose admission verifies with findingKey.
type trustRig struct {
	r          *Remediator
	store      *memStore
	alerts     *alertLog
	iam        *fakeIAM
	findingKey *sealtest.Key
	metrics    *bytes.Buffer
}

func newTrustRig(t *testing.T) *trustRig {
	t.Helper()
	st := roleState(t)
	fake := &fakeIAM{st: map[string]*State{roleARN: &st}}
	r, store, al := newUnitRemediator(t, fake, ModeEnforce)
	key := sealtest.NewKey("the stack's finding key")
	var buf bytes.Buffer
	r.Metrics = &buf
	r.Admission = Admission{TopicARN: testTopic, Verifier: seal.FindingVerifier{MAC: key, Now: func() time.Time { return t0 }}}
	return &trustRig{r: r, store: store, alerts: al, iam: fake, findingKey: key, metrics: &buf}
}

// delivery is what Lambda hands the remediator for an alert built by the
// alerts package and sealed (at sealedAt) with key; edit may tamper with it.
func delivery(t *testing.T, f findings.Finding, key seal.Generator, sealedAt time.Time, edit func(*events.SNSEntity)) events.SNSEvent {
	t.Helper()
	return deliveryIn(t, alerts.FormatText, f, key, sealedAt, edit)
}

func deliveryIn(t *testing.T, format alerts.Format, f findings.Finding, key seal.Generator, sealedAt time.Time, edit func(*events.SNSEntity)) events.SNSEvent {
	t.Helper()
	m, err := alerts.Build(f, alerts.Options{Format: format, Remediable: true})
	if err != nil {
		t.Fatal(err)
	}
	if key != nil {
		attrs, err := seal.Findings{MAC: key}.Seal(context.Background(), m.FindingJSON, sealedAt)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range attrs {
			m.Attributes[k] = v
		}
	}
	e := events.SNSEntity{MessageID: "m-1", TopicArn: testTopic, Subject: m.Subject, Message: m.Body, MessageAttributes: map[string]any{}}
	for k, v := range m.Attributes {
		e.MessageAttributes[k] = map[string]any{"Type": "String", "Value": v}
	}
	if edit != nil {
		edit(&e)
	}
	return events.SNSEvent{Records: []events.SNSEventRecord{{SNS: e}}}
}

func TestAdmissionRefusesEverythingTheStackDidNotSeal(t *testing.T) {
	admin := "arn:aws:iam::" + acct + ":role/app-batch"
	f := modelFinding(admin)
	f.Rule = findings.RuleUnauthorizedModel
	attacker := sealtest.NewKey("someone else's HMAC key")
	cases := []struct {
		name, reason string
		ev           func(rig *trustRig) events.SNSEvent
	}{
		{"no seal, foreign topic", "wrong-topic", func(rig *trustRig) events.SNSEvent {
			return delivery(t, f, nil, t0, func(e *events.SNSEntity) { e.TopicArn = "arn:aws:sns:us-east-1:999988887777:other" })
		}},
		{"no remediable attribute", "not-remediable", func(rig *trustRig) events.SNSEvent {
			return delivery(t, f, rig.findingKey, t0, func(e *events.SNSEntity) { delete(e.MessageAttributes, findings.AttrRemediable) })
		}},
		{"no seal", "unsealed", func(rig *trustRig) events.SNSEvent { return delivery(t, f, nil, t0, nil) }},
		{"another key's MAC", "bad-mac", func(rig *trustRig) events.SNSEvent { return delivery(t, f, attacker, t0, nil) }},
		{"sealed, then altered", "bad-mac", func(rig *trustRig) events.SNSEvent {
			return delivery(t, f, rig.findingKey, t0, func(e *events.SNSEntity) {
				e.Message = strings.Replace(e.Message, `role/app-batch"`, `role/Admin"`, 1)
			})
		}},
		{"seal time moved", "bad-mac", func(rig *trustRig) events.SNSEvent {
			return delivery(t, f, rig.findingKey, t0.Add(-2*time.Hour), func(e *events.SNSEntity) {
				e.MessageAttributes[seal.AttrSealedAt] = map[string]any{"Type": "String", "Value": seal.FormatTime(t0)}
			})
		}},
		{"replayed two hours later", "stale", func(rig *trustRig) events.SNSEvent {
			return delivery(t, f, rig.findingKey, t0.Add(-2*time.Hour), nil)
		}},
		{"hand-written body", "malformed", func(rig *trustRig) events.SNSEvent {
			return delivery(t, f, rig.findingKey, t0, func(e *events.SNSEntity) { e.Message = "anything" })
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rig := newTrustRig(t)
			before, _ := rig.iam.Snapshot(context.Background(), roleState(t).Principal, SnapshotOptions{})
			if err := rig.r.HandleSNS(context.Background(), c.ev(rig)); err != nil {
				t.Fatalf("a refused message is not retried: %v", err)
			}
			after, _ := rig.iam.Snapshot(context.Background(), roleState(t).Principal, SnapshotOptions{})
			if !reflect.DeepEqual(before, after) || len(rig.store.records) != 0 || len(rig.store.claims) != 0 {
				t.Fatalf("a refused message changed something: IAM %+v -> %+v, records %d, claims %v", before, after, len(rig.store.records), rig.store.claims)
			}
			if len(rig.alerts.got) != 1 || rig.alerts.got[0].Rule != findings.RuleFindingRejected || rig.alerts.got[0].Severity != findings.Critical ||
				!strings.Contains(rig.alerts.got[0].Subject, c.reason) {
				t.Fatalf("alerts = %+v, want one critical %s alert (%s)", rig.alerts.got, findings.RuleFindingRejected, c.reason)
			}
			if !strings.Contains(rig.metrics.String(), `"FindingsRejected"`) || !strings.Contains(rig.metrics.String(), `"Reason":"`+c.reason+`"`) {
				t.Errorf("metric line = %s", rig.metrics.String())
			}
			// The same forgery again within the hour: counted, not alerted.
			if err := rig.r.HandleSNS(context.Background(), c.ev(rig)); err != nil {
				t.Fatal(err)
			}
			if len(rig.alerts.got) != 1 {
				t.Errorf("a second rejection for the same reason alerted again")
			}
		})
	}
}

func TestAdmissionActsOnAGenuineSealedFinding(t *testing.T) {
	for _, format := range []alerts.Format{alerts.FormatText, alerts.FormatChat} {
		t.Run(string(format), func(t *testing.T) { testGenuine(t, format) })
	}
}

func testGenuine(t *testing.T, format alerts.Format) {
	rig := newTrustRig(t)
	f := modelFinding(roleARN)
	f.UserAgent = "ua <with> & \"quotes\" é" // escapes survive the chat body's JSON string
	if err := rig.r.HandleSNS(context.Background(), deliveryIn(t, format, f, rig.findingKey, t0.Add(-time.Minute), nil)); err != nil {
		t.Fatal(err)
	}
	if len(rig.store.records) != 1 {
		t.Fatalf("records %d", len(rig.store.records))
	}
	for _, rec := range rig.store.records {
		if rec.Result != ResultApplied {
			t.Errorf("result %s", rec.Result)
		}
	}
}

func TestAdmissionRetriesWhenVerificationCannotRun(t *testing.T) {
	rig := newTrustRig(t)
	ev := delivery(t, modelFinding(roleARN), rig.findingKey, t0, nil)
	rig.findingKey.Fail = errors.New("KMS: ThrottlingException")
	if err := rig.r.HandleSNS(context.Background(), ev); err == nil || !strings.Contains(err.Error(), "Throttling") {
		t.Fatalf("a KMS failure must be retried: %v", err)
	}
	if len(rig.alerts.got) != 0 || len(rig.store.records) != 0 {
		t.Error("a KMS failure is not a forgery")
	}
}

// TestBreakerCountsInTheRemediatorsOwnAccount: the account a message
// names does not choose the breaker.
func TestBreakerCountsInTheRemediatorsOwnAccount(t *testing.T) {
	rig := newTrustRig(t)
	rig.r.Config.MaxActionsPerHour = 1
	ctx := context.Background()
	for i, model := range []string{"m1", "m2", "m3"} {
		f := modelFinding(roleARN)
		f.BaseModel, f.Model = model, model
		f.Account = []string{acct, "999988887777", "444455556666"}[i]
		f.Fingerprint = findings.Fingerprint(f.Rule, f.Principal, model, f.Region)
		rec, err := rig.r.Handle(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		want := ModeDryRun
		if i == 0 {
			want = ModeEnforce
		}
		if rec.Mode != want {
			t.Errorf("finding %d (account %s): mode %s, want %s", i, f.Account, rec.Mode, want)
		}
	}
	if len(rig.store.count) != 1 || rig.store.count[acct] != 1 {
		t.Errorf("breaker counts = %v, want only the remediator's account", rig.store.count)
	}
}

// TestRefusalNeverTakesTheFingerprint: a refused finding is recorded under
// its refusal key, so the genuine finding that follows is not a duplicate.
func TestRefusalNeverTakesTheFingerprint(t *testing.T) {
	rig := newTrustRig(t)
	ctx := context.Background()
	st := rig.iam.st[roleARN]
	st.Tags = map[string]string{"bedrock-warden:protected": "yes"}
	f := modelFinding(roleARN)
	rec, err := rig.r.Handle(ctx, f)
	if err != nil || rec.Result != ResultRefused {
		t.Fatalf("protected: %+v %v", rec, err)
	}
	if _, taken := rig.store.claims[f.Fingerprint+"/enforce"]; taken {
		t.Fatal("a refusal took the finding's fingerprint")
	}
	if again, _ := rig.r.Handle(ctx, f); again.Result != "duplicate" {
		t.Errorf("the same refusal again: %+v, want duplicate (one refusal notice)", again)
	}
	st.Tags = nil // on-call removes the protection
	rec, err = rig.r.Handle(ctx, f)
	if err != nil || rec.Result != ResultApplied {
		t.Fatalf("after the tag is removed the finding must act: %+v %v", rec, err)
	}
}

// flakyAlerts fails the first n publishes.
type flakyAlerts struct {
	alertLog
	fail int
}

func (a *flakyAlerts) Publish(ctx context.Context, al Alert) error {
	if a.fail > 0 {
		a.fail--
		return errors.New("sns: InternalError")
	}
	return a.alertLog.Publish(ctx, al)
}

// TestNoticeFailureIsRetriedWithoutActingAgain: the enforce notice could
// not be published; the invocation fails, and its retry sends the notice
// without a second IAM change.
func TestNoticeFailureIsRetriedWithoutActingAgain(t *testing.T) {
	rig := newTrustRig(t)
	fl := &flakyAlerts{fail: 1}
	rig.r.Alerts = fl
	ctx := context.Background()
	ev := delivery(t, modelFinding(roleARN), rig.findingKey, t0, nil)
	if err := rig.r.HandleSNS(ctx, ev); err == nil || !strings.Contains(err.Error(), "notice not sent") {
		t.Fatalf("first delivery: %v, want an error so SNS/Lambda retry", err)
	}
	doc := rig.iam.st[roleARN].Inline
	if len(doc) != 1 {
		t.Fatalf("the action was not taken once: %+v", doc)
	}
	if err := rig.r.HandleSNS(ctx, ev); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if len(fl.got) != 1 || !strings.Contains(fl.got[0].Subject, "applied") {
		t.Fatalf("notices = %+v, want the enforce notice once", fl.got)
	}
	if !reflect.DeepEqual(rig.iam.st[roleARN].Inline, doc) || len(rig.store.records) != 1 {
		t.Error("the retry acted again")
	}
	if err := rig.r.HandleSNS(ctx, ev); err != nil || len(fl.got) != 1 {
		t.Errorf("a third delivery: %v, %d notices", err, len(fl.got))
	}
}

// TestBreakerAlertIsMarkedSentOnlyAfterPublish: the breaker-open alert
// fails to publish; the finding is retried and the alert goes out then.
func TestBreakerAlertIsMarkedSentOnlyAfterPublish(t *testing.T) {
	rig := newTrustRig(t)
	rig.r.Config.MaxActionsPerHour = 1
	ctx := context.Background()
	first := modelFinding(roleARN)
	if rec, err := rig.r.Handle(ctx, first); err != nil || rec.Mode != ModeEnforce {
		t.Fatalf("%+v %v", rec, err)
	}
	fl := &flakyAlerts{fail: 1}
	rig.r.Alerts = fl
	g := modelFinding(roleARN)
	g.BaseModel, g.Model = "other", "other"
	g.Fingerprint = findings.Fingerprint(g.Rule, g.Principal, "other", g.Region)
	if _, err := rig.r.Handle(ctx, g); err == nil {
		t.Fatal("a lost breaker alert must fail the invocation")
	}
	if rec, err := rig.r.Handle(ctx, g); err != nil || rec.Mode != ModeDryRun {
		t.Fatalf("retry: %+v %v", rec, err)
	}
	n := 0
	for _, a := range fl.got {
		if a.Rule == findings.RuleRemediationBreakerOpen {
			n++
		}
	}
	if n != 1 {
		t.Errorf("breaker alerts sent: %d, want 1", n)
	}
}

// forgedLedger is a ledger whose records fail verification.
type forgedLedger struct {
	*memStore
	forged map[string]bool
}

func (l forgedLedger) Get(ctx context.Context, id string) (Record, error) {
	if l.forged[id] {
		return Record{}, errors.Join(ErrUnauthenticated, seal.ErrInvalid)
	}
	return l.memStore.Get(ctx, id)
}

// Expired lists every record, as a forged expiry index could.
func (l forgedLedger) Expired(context.Context, time.Time) ([]string, error) {
	var ids []string
	for id := range l.records {
		ids = append(ids, id)
	}
	return ids, nil
}

func appliedRecord(t *testing.T, steps []Step, before Before) Record {
	t.Helper()
	st := roleState(t)
	exp := t0.Add(time.Hour)
	return Record{ID: NewID(t0), Time: t0, Mode: ModeEnforce, Action: ActionDetach, Result: ResultApplied, Principal: roleARN,
		Plan: Plan{Action: ActionDetach, Principal: st.Principal, Steps: steps}, Before: &before, ExpiresAt: &exp,
		Outcome: &Outcome{Steps: func() []StepResult {
			var out []StepResult
			for _, s := range steps {
				out = append(out, StepResult{Step: s})
			}
			return out
		}()}}
}

func TestUndoRefusesForgedOrInconsistentRecords(t *testing.T) {
	admin := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	saved := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"*"}]}`
	cases := []struct {
		name   string
		rec    func() Record
		forged bool
		reason string
	}{
		{"not sealed by the remediator", func() Record {
			return appliedRecord(t, []Step{{Kind: StepDeleteInline, PolicyName: "admin", Document: admin}}, Before{Inline: []InlinePolicy{{Name: "admin", Document: admin}}})
		}, true, "bad-mac"},
		{"attaches a policy that was never detached", func() Record {
			return appliedRecord(t, []Step{{Kind: StepDetachManaged, PolicyARN: "arn:aws:iam::" + acct + ":policy/Admin"}}, Before{})
		}, false, "inconsistent"},
		{"restores a document other than the saved one", func() Record {
			return appliedRecord(t, []Step{{Kind: StepDeleteInline, PolicyName: "bedrock", Document: admin}}, Before{Inline: []InlinePolicy{{Name: "bedrock", Document: saved}}})
		}, false, "inconsistent"},
		{"puts a policy that is not Bedrock Warden's", func() Record {
			return appliedRecord(t, []Step{{Kind: StepPutRevoke, PolicyName: "AdminAccess", Document: admin}}, Before{})
		}, false, "inconsistent"},
		{"a Bedrock Warden role", func() Record {
			r := appliedRecord(t, nil, Before{})
			p, _ := ParsePrincipal("arn:aws:iam::" + acct + ":role/bedrock-warden/other-stack/detector")
			r.Plan.Principal = p
			return r
		}, false, "guarded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := roleState(t)
			fake := &fakeIAM{st: map[string]*State{roleARN: &st}}
			store := newMemStore()
			rec := c.rec()
			store.records[rec.ID] = rec
			led := forgedLedger{memStore: store, forged: map[string]bool{}}
			if c.forged {
				led.forged[rec.ID] = true
			}
			al := &alertLog{}
			u := Undoer{Applier: Applier{IAM: fake, Sleep: func(time.Duration) {}}, Ledger: led, Claims: store, Notices: store,
				Alerts: al, Guard: Guard{Account: acct}, Metrics: &bytes.Buffer{}, Now: func() time.Time { return t0.Add(2 * time.Hour) }}
			for _, run := range []func() error{
				func() error { _, err := u.Undo(context.Background(), rec.ID, "oncall"); return err },
				func() error { _, err := u.Sweep(context.Background(), t0.Add(2*time.Hour), "sweeper"); return err },
			} {
				err := run()
				if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.reason) {
					t.Fatalf("err = %v, want ErrRefused (%s)", err, c.reason)
				}
			}
			if len(fake.st[roleARN].Inline)+len(fake.st[roleARN].Managed) != 0 {
				t.Fatalf("IAM changed: %+v", fake.st[roleARN])
			}
			if len(al.got) != 1 || al.got[0].Severity != findings.Critical {
				t.Errorf("alerts = %+v, want one critical alert (deduplicated)", al.got)
			}
		})
	}
}

// TestSweepRefusesARecordThatHasNotExpired: the expiry index is only a
// pointer; a forged index entry cannot lift a quarantine early.
func TestSweepRefusesARecordThatHasNotExpired(t *testing.T) {
	st := roleState(t)
	fake := &fakeIAM{st: map[string]*State{roleARN: &st}}
	store := newMemStore()
	rec := appliedRecord(t, nil, Before{})
	later := t0.Add(48 * time.Hour)
	rec.ExpiresAt = &later
	store.records[rec.ID] = rec
	index := expiredIndex{memStore: store, ids: []string{rec.ID}}
	u := Undoer{Applier: Applier{IAM: fake, Sleep: func(time.Duration) {}}, Ledger: index, Claims: store, Metrics: &bytes.Buffer{}}
	res, err := u.Sweep(context.Background(), t0.Add(time.Hour), "sweeper")
	if !errors.Is(err, ErrRefused) || len(res.Undone) != 0 || !strings.Contains(res.Failed[rec.ID], "not-expired") {
		t.Fatalf("sweep = %+v, %v", res, err)
	}
}

type expiredIndex struct {
	*memStore
	ids []string
}

func (e expiredIndex) Expired(context.Context, time.Time) ([]string, error) { return e.ids, nil }
