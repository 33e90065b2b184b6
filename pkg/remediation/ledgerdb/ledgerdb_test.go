package ledgerdb

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/remediation"
)

func newStore(t *testing.T) Store {
	t.Helper()
	srv := motoserver.Start(t)
	srv.CreateTable(t, "state")
	return New(srv.Config(t), "state")
}

var t0 = time.Date(2026, 11, 24, 10, 15, 0, 0, time.UTC)

func TestClaimsLifecycle(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	fp := "0123456789abcdef0123456789abcdef"
	claim := func(at time.Time) remediation.ClaimState {
		t.Helper()
		s, _, err := st.Claim(ctx, fp, remediation.ModeEnforce, at, 15*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := claim(t0); s != remediation.ClaimAcquired {
		t.Fatalf("first claim: %v", s)
	}
	if s := claim(t0.Add(time.Minute)); s != remediation.ClaimBusy {
		t.Fatalf("while pending: %v, want busy", s)
	}
	if s := claim(t0.Add(16 * time.Minute)); s != remediation.ClaimAcquired {
		t.Fatalf("stale pending claim must be taken over: %v", s)
	}
	if err := st.Complete(ctx, fp, remediation.ModeEnforce, "rec-1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s, holder, err := st.Claim(ctx, fp, remediation.ModeEnforce, t0.Add(20*time.Minute), 15*time.Minute)
	if err != nil || s != remediation.ClaimDuplicate || holder != "rec-1" {
		t.Fatalf("after complete: %v %q %v", s, holder, err)
	}
	if s := claim(t0.Add(2 * time.Hour)); s != remediation.ClaimAcquired {
		t.Fatalf("a claim past its ttl must be acquirable: %v", s)
	}
	// Another mode is a different claim.
	if s, _, _ := st.Claim(ctx, fp, remediation.ModeDryRun, t0, time.Minute); s != remediation.ClaimAcquired {
		t.Fatalf("dry-run claim: %v", s)
	}
	if err := st.Release(ctx, fp, remediation.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	if s := claim(t0.Add(2*time.Hour + time.Second)); s != remediation.ClaimAcquired {
		t.Fatalf("after release: %v", s)
	}
}

func TestBreakerIsExactUnderConcurrency(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	var allowed, first atomic.Int32
	var wg sync.WaitGroup
	for range 25 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := st.Take(ctx, "111122223333", t0, 10)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				allowed.Add(1)
				return
			}
			f, err := st.MarkOpen(ctx, "111122223333", t0)
			if err != nil {
				t.Error(err)
			}
			if f {
				first.Add(1)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 10 || first.Load() != 1 {
		t.Fatalf("allowed %d (want 10), first-open %d (want 1)", allowed.Load(), first.Load())
	}
	s, err := st.Status(ctx, "111122223333", t0)
	if err != nil || s.Count != 10 || !s.Open {
		t.Fatalf("status %+v %v", s, err)
	}
	if ok, _ := st.Take(ctx, "111122223333", t0.Add(time.Hour), 10); !ok {
		t.Error("a new hour must start closed")
	}
	if ok, _ := st.Take(ctx, "444455556666", t0, 10); !ok {
		t.Error("breakers are per account")
	}
	if err := st.Reset(ctx, "111122223333", t0); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.Take(ctx, "111122223333", t0, 10); !ok {
		t.Error("reset must close the breaker")
	}
}

func TestLedgerPutGetListExpired(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	exp := t0.Add(24 * time.Hour)
	a := remediation.Record{ID: remediation.NewID(t0), Time: t0, Mode: remediation.ModeEnforce, Action: "quarantine", Result: remediation.ResultApplied,
		Principal: "arn:aws:iam::111122223333:role/a", ExpiresAt: &exp,
		Before: &remediation.Before{Inline: []remediation.InlinePolicy{{Name: "x", Document: "{ \"Statement\" :[]}\n"}}}}
	b := remediation.Record{ID: remediation.NewID(t0.Add(time.Minute)), Time: t0.Add(time.Minute), Mode: remediation.ModeDryRun, Result: remediation.ResultPlanned,
		Principal: "arn:aws:iam::111122223333:role/b"}
	for _, r := range []remediation.Record{b, a} {
		if err := st.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Get(ctx, a.ID)
	if err != nil || got.Before.Inline[0].Document != a.Before.Inline[0].Document || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("Get: %+v %v", got, err)
	}
	if _, err := st.Get(ctx, remediation.NewID(t0.Add(time.Hour))); !errors.Is(err, remediation.ErrNoRecord) {
		t.Fatalf("missing record: %v", err)
	}
	all, err := st.List(ctx, t0.Add(-time.Second), "")
	if err != nil || len(all) != 2 || all[0].ID != a.ID {
		t.Fatalf("List oldest first: %+v %v", all, err)
	}
	if later, _ := st.List(ctx, t0.Add(30*time.Second), ""); len(later) != 1 || later[0].ID != b.ID {
		t.Fatalf("List since: %+v", later)
	}
	if only, _ := st.List(ctx, t0.Add(-time.Hour), a.Principal); len(only) != 1 || only[0].ID != a.ID {
		t.Fatalf("List principal: %+v", only)
	}
	if ids, _ := st.Expired(ctx, exp.Add(-time.Second)); len(ids) != 0 {
		t.Fatalf("not yet expired: %v", ids)
	}
	if ids, _ := st.Expired(ctx, exp); len(ids) != 1 || ids[0] != a.ID {
		t.Fatalf("expired: %v", ids)
	}
	a.Result, a.UndoneBy = remediation.ResultUndone, "u"
	if err := st.Put(ctx, a); err != nil {
		t.Fatal(err)
	}
	if ids, _ := st.Expired(ctx, exp.Add(time.Hour)); len(ids) != 0 {
		t.Fatalf("undone record still in the expiry index: %v", ids)
	}
	// A failed enforce record may have applied some steps: its expiry is
	// indexed so the sweeper lifts what was applied.
	a.Result, a.UndoneBy = remediation.ResultFailed, ""
	if err := st.Put(ctx, a); err != nil {
		t.Fatal(err)
	}
	if ids, _ := st.Expired(ctx, exp); len(ids) != 1 || ids[0] != a.ID {
		t.Fatalf("failed record not in the expiry index: %v", ids)
	}
}
