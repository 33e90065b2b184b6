package memledger

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/remediation"
)

// lockedIAM is an in-memory IAM safe for concurrent use, counting writes.
type lockedIAM struct {
	mu     sync.Mutex
	st     map[string]*remediation.State
	writes int
}

func (f *lockedIAM) Snapshot(_ context.Context, p remediation.Principal, _ remediation.SnapshotOptions) (remediation.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.st[p.ARN]
	if !ok {
		return remediation.State{}, remediation.ErrNotFound
	}
	c := *s
	c.Inline = append([]remediation.InlinePolicy(nil), s.Inline...)
	return c, nil
}

func (f *lockedIAM) PutInline(_ context.Context, p remediation.Principal, name, doc string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	s := f.st[p.ARN]
	for i := range s.Inline {
		if s.Inline[i].Name == name {
			s.Inline[i].Document = doc
			return nil
		}
	}
	s.Inline = append(s.Inline, remediation.InlinePolicy{Name: name, Document: doc})
	return nil
}

func (f *lockedIAM) AttachManaged(context.Context, remediation.Principal, string) error {
	return errors.New("not used")
}
func (f *lockedIAM) DetachManaged(context.Context, remediation.Principal, string) error {
	return errors.New("not used")
}
func (f *lockedIAM) DeleteInline(context.Context, remediation.Principal, string) error {
	return errors.New("not used")
}
func (f *lockedIAM) SetAccessKeyStatus(context.Context, string, string, string) error {
	return errors.New("not used")
}
func (f *lockedIAM) SetServiceCredentialStatus(context.Context, string, string, string) error {
	return errors.New("not used")
}

type enforce struct{}

func (enforce) Mode(context.Context) (remediation.Mode, error) { return remediation.ModeEnforce, nil }

// TestConcurrentDeliveriesActOnce: ten concurrent deliveries of one
// finding (SNS delivers at least once) take one action and write one
// record; the others are told to retry or find it done — because the
// claim is one conditional write, which this ledger serialises as DynamoDB
// does (moto does not).
func TestConcurrentDeliveriesActOnce(t *testing.T) {
	const role = "arn:aws:iam::111122223333:role/app"
	p, _ := remediation.ParsePrincipal(role)
	iam := &lockedIAM{st: map[string]*remediation.State{role: {Principal: p}}}
	store := newStore()
	r := &remediation.Remediator{
		Config:  remediation.Config{Actions: map[string]string{findings.RuleUnauthorizedModel: remediation.ActionQuarantine}, MaxActionsPerHour: 10, Guard: remediation.Guard{Account: "111122223333"}},
		Mode:    enforce{},
		IAM:     iam,
		Applier: remediation.Applier{IAM: iam, Sleep: func(time.Duration) {}},
		Ledger:  store, Claims: store, Breaker: store, Notices: store,
		Now: func() time.Time { return t0 },
	}
	f := findings.Finding{Rule: findings.RuleUnauthorizedModel, Principal: role, PrincipalType: "AssumedRole", Account: "111122223333",
		Region: "us-east-1", Model: "m", BaseModel: "m", Fingerprint: findings.Fingerprint(findings.RuleUnauthorizedModel, role, "m", "us-east-1")}
	var wg sync.WaitGroup
	results := make([]string, 10)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := r.Handle(context.Background(), f)
			switch {
			case errors.Is(err, remediation.ErrInFlight):
				results[i] = "busy"
			case err != nil:
				t.Error(err)
			default:
				results[i] = rec.Result
			}
		}()
	}
	wg.Wait()
	applied := 0
	for _, res := range results {
		switch res {
		case remediation.ResultApplied:
			applied++
		case "busy", "duplicate":
		default:
			t.Errorf("unexpected result %q", res)
		}
	}
	recs, _ := store.List(context.Background(), t0.Add(-time.Hour), "")
	if applied != 1 || len(recs) != 1 {
		t.Fatalf("applied %d times, %d records (results %v); want exactly one", applied, len(recs), results)
	}
	// The quarantine is put once (the applier re-reads and skips a
	// statement already in place, but never needs to).
	if iam.writes != 1 {
		t.Errorf("%d IAM writes, want 1", iam.writes)
	}
}
