package remediation

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/bedrock-warden/warden/pkg/findings"
)

// memStore is an in-memory Ledger, Claims and Breaker for unit tests.
type memStore struct {
	mu      sync.Mutex
	records map[string]Record
	claims  map[string]string // key -> "pending" | "done:<id>"
	count   map[string]int
	opened  map[string]bool
}

func newMemStore() *memStore {
	return &memStore{records: map[string]Record{}, claims: map[string]string{}, count: map[string]int{}, opened: map[string]bool{}}
}

func (m *memStore) Put(_ context.Context, r Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records[r.ID] = r
	return nil
}
func (m *memStore) Get(_ context.Context, id string) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[id]
	if !ok {
		return r, ErrNoRecord
	}
	return r, nil
}
func (m *memStore) List(context.Context, time.Time, string) ([]Record, error) { return nil, nil }
func (m *memStore) Expired(context.Context, time.Time) ([]string, error)      { return nil, nil }
func (m *memStore) Claim(_ context.Context, fp string, mode Mode, _ time.Time, _ time.Duration) (ClaimResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := fp + "/" + string(mode)
	switch v := m.claims[k]; {
	case v == "":
		m.claims[k] = "pending"
		return ClaimResult{State: ClaimAcquired}, nil
	case v == "pending":
		return ClaimResult{State: ClaimBusy}, nil
	default:
		id, notified := strings.CutSuffix(strings.TrimPrefix(v, "done:"), "+n")
		return ClaimResult{State: ClaimDuplicate, Record: id, Notified: notified}, nil
	}
}
func (m *memStore) Complete(_ context.Context, fp string, mode Mode, id string, _ time.Time, notified bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := "done:" + id
	if notified {
		v += "+n"
	}
	m.claims[fp+"/"+string(mode)] = v
	return nil
}
func (m *memStore) MarkNotified(_ context.Context, fp string, mode Mode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := fp + "/" + string(mode)
	if v := m.claims[k]; strings.HasPrefix(v, "done:") && !strings.HasSuffix(v, "+n") {
		m.claims[k] = v + "+n"
	}
	return nil
}
func (m *memStore) Release(_ context.Context, fp string, mode Mode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.claims, fp+"/"+string(mode))
	return nil
}
func (m *memStore) Take(_ context.Context, acct string, _ time.Time, max int) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.count[acct] >= max {
		return false, nil
	}
	m.count[acct]++
	return true, nil
}
func (m *memStore) MarkOpen(_ context.Context, acct string, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.opened[acct] = true
	return nil
}
func (m *memStore) Status(context.Context, string, time.Time) (BreakerStatus, error) {
	return BreakerStatus{}, nil
}
func (m *memStore) Reset(context.Context, string, time.Time) error { return nil }
func (m *memStore) BeginNotice(_ context.Context, key string, _ time.Time, _, _ time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.opened["notice:"+key] {
		return false, nil
	}
	m.opened["notice:"+key] = true
	return true, nil
}
func (m *memStore) NoticeSent(context.Context, string) error { return nil }
func (m *memStore) AbandonNotice(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.opened, "notice:"+key)
	return nil
}

type fixedMode Mode

func (f fixedMode) Mode(context.Context) (Mode, error) { return Mode(f), nil }

type alertLog struct{ got []Alert }

func (a *alertLog) Publish(_ context.Context, al Alert) error { a.got = append(a.got, al); return nil }

// flakyIAM fails Snapshot a set number of times.
type flakyIAM struct {
	*fakeIAM
	failSnapshots int
}

func (f *flakyIAM) Snapshot(ctx context.Context, p Principal, o SnapshotOptions) (State, error) {
	if f.failSnapshots > 0 {
		f.failSnapshots--
		return State{}, errors.New("Throttling: Rate exceeded")
	}
	return f.fakeIAM.Snapshot(ctx, p, o)
}

func newUnitRemediator(t *testing.T, iam IAM, mode Mode) (*Remediator, *memStore, *alertLog) {
	t.Helper()
	store, alerts := newMemStore(), &alertLog{}
	return &Remediator{
		Config:  Config{Actions: map[string]string{findings.RuleUnauthorizedModel: ActionQuarantine}, MaxActionsPerHour: 2, Guard: Guard{Account: "123456789012"}},
		Mode:    fixedMode(mode),
		IAM:     iam,
		Applier: Applier{IAM: iam, Sleep: func(time.Duration) {}},
		Ledger:  store, Claims: store, Breaker: store, Notices: store, Alerts: alerts, Metrics: io.Discard,
		Admission: Admission{TopicARN: "arn:aws:sns:us-east-1:123456789012:alerts"},
		Now:       func() time.Time { return t0 },
	}, store, alerts
}

func TestHandleFailedApplyIsRecordedAndNotRetried(t *testing.T) {
	st := roleState(t)
	fake := &fakeIAM{st: map[string]*State{roleARN: &st}, failPut: true}
	r, store, alerts := newUnitRemediator(t, fake, ModeEnforce)
	f := modelFinding(roleARN)
	rec, err := r.Handle(context.Background(), f)
	if err != nil {
		t.Fatalf("a failed IAM change is recorded and alerted, not retried: %v", err)
	}
	if rec.Result != ResultFailed || !strings.Contains(rec.Error, "AccessDenied") || store.records[rec.ID].Result != ResultFailed {
		t.Errorf("record = %+v", rec)
	}
	if len(alerts.got) != 1 || alerts.got[0].Severity != findings.Critical {
		t.Errorf("alerts = %+v", alerts.got)
	}
	again, err := r.Handle(context.Background(), f)
	if err != nil || again.Result != "duplicate" || again.ID != rec.ID {
		t.Errorf("redelivery = %+v %v, want duplicate of %s", again, err, rec.ID)
	}
}

func TestHandleTransientReadErrorReleasesClaimForRetry(t *testing.T) {
	st := roleState(t)
	iam := &flakyIAM{fakeIAM: &fakeIAM{st: map[string]*State{roleARN: &st}}, failSnapshots: 1}
	r, _, _ := newUnitRemediator(t, iam, ModeEnforce)
	f := modelFinding(roleARN)
	if _, err := r.Handle(context.Background(), f); err == nil || !strings.Contains(err.Error(), "Throttling") {
		t.Fatalf("want the read error returned (Lambda retries), got %v", err)
	}
	rec, err := r.Handle(context.Background(), f)
	if err != nil || rec.Result != ResultApplied {
		t.Fatalf("retry must act: %+v %v", rec, err)
	}
}

func TestHandleSkipsUnlistedRulesAndRejectsBadConfig(t *testing.T) {
	r, store, alerts := newUnitRemediator(t, &fakeIAM{st: map[string]*State{}}, ModeEnforce)
	f := modelFinding(roleARN)
	f.Rule = findings.RuleGuardrailChanged
	rec, err := r.Handle(context.Background(), f)
	if err != nil || rec.Result != "not-listed" || len(store.records)+len(alerts.got)+len(store.claims) != 0 {
		t.Errorf("unlisted rule: %+v %v", rec, err)
	}
	r.Config.Actions[findings.RuleGuardrailChanged] = "nuke"
	if _, err := r.Handle(context.Background(), f); err == nil {
		t.Error("an unknown action must be an error")
	}
}

func TestHandleBreakerFallsBackToDryRunAndAlertsOnce(t *testing.T) {
	st := roleState(t)
	fake := &fakeIAM{st: map[string]*State{roleARN: &st}}
	r, _, alerts := newUnitRemediator(t, fake, ModeEnforce)
	modes := map[Mode]int{}
	for _, m := range []string{"a", "b", "c", "d"} {
		f := modelFinding(roleARN)
		f.BaseModel, f.Model = m, m
		f.Fingerprint = findings.Fingerprint(f.Rule, f.Principal, m, f.Region)
		rec, err := r.Handle(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		modes[rec.Mode]++
	}
	if modes[ModeEnforce] != 2 || modes[ModeDryRun] != 2 {
		t.Errorf("modes = %v, want 2 enforce then 2 dry-run", modes)
	}
	n := 0
	for _, a := range alerts.got {
		if a.Rule == findings.RuleRemediationBreakerOpen {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d breaker alerts, want 1", n)
	}
}

func TestHandleSNSRejectsEmptyAndMalformed(t *testing.T) {
	r, store, alerts := newUnitRemediator(t, &fakeIAM{st: map[string]*State{}}, ModeEnforce)
	if err := r.HandleSNS(context.Background(), events.SNSEvent{}); err == nil {
		t.Error("an event with no records must be an error")
	}
	ev := events.SNSEvent{Records: []events.SNSEventRecord{{SNS: events.SNSEntity{MessageID: "1", TopicArn: r.Admission.TopicARN,
		Message: "plain text, no finding", MessageAttributes: map[string]any{"remediable": map[string]any{"Type": "String", "Value": "true"}}}}}}
	// Refused, not retried: a retry cannot make it a finding.
	if err := r.HandleSNS(context.Background(), ev); err != nil {
		t.Errorf("malformed: %v", err)
	}
	if len(store.records) != 0 {
		t.Error("a malformed message produced a record")
	}
	if len(alerts.got) != 1 || alerts.got[0].Rule != findings.RuleFindingRejected || !strings.Contains(alerts.got[0].Subject, "malformed") {
		t.Errorf("alerts = %+v", alerts.got)
	}
}
