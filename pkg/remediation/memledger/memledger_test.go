package memledger

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/remediation"
	"github.com/bedrock-warden/warden/pkg/seal"
	"github.com/bedrock-warden/warden/pkg/seal/sealtest"
)

var t0 = time.Date(2026, 11, 24, 10, 15, 0, 0, time.UTC)

func newStore() *Store {
	k := sealtest.NewKey("ledger")
	return New(seal.Records{Gen: k, Check: k})
}

// TestBreakerIsExactUnderConcurrency: 25 concurrent enforce actions
// against a maximum of 10 — exactly 10 are allowed. The DynamoDB breaker
// uses the same conditional ADD; moto does not serialise conditional
// writes, so the property is proven here.
func TestBreakerIsExactUnderConcurrency(t *testing.T) {
	st := newStore()
	ctx := context.Background()
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 25 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := st.Take(ctx, "111122223333", t0, 10)
			if err != nil {
				t.Error(err)
			}
			if ok {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 10 {
		t.Fatalf("allowed %d, want 10", allowed.Load())
	}
	if s, _ := st.Status(ctx, "111122223333", t0); s.Count != 10 {
		t.Fatalf("count %d", s.Count)
	}
}

func TestNoticeOnceUnderConcurrency(t *testing.T) {
	st := newStore()
	ctx := context.Background()
	var first atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _ := st.BeginNotice(ctx, "k", t0, time.Minute, time.Hour)
			if ok {
				first.Add(1)
			}
		}()
	}
	wg.Wait()
	if first.Load() != 1 {
		t.Fatalf("%d began the notice, want 1", first.Load())
	}
}

func TestLedgerVerifiesSeals(t *testing.T) {
	st := newStore()
	ctx := context.Background()
	r := remediation.Record{ID: remediation.NewID(t0), Time: t0, Mode: remediation.ModeEnforce, Result: remediation.ResultApplied}
	if err := st.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	body, _ := remediation.MarshalRecord(r)
	st.PutRaw(r.ID, r, append(body, ' '), nil)
	if _, err := st.Get(ctx, r.ID); !errors.Is(err, remediation.ErrUnauthenticated) {
		t.Fatalf("unsealed record: %v", err)
	}
}
