package ledgerdb

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/remediation"
	"github.com/bedrock-warden/warden/pkg/seal"
	"github.com/bedrock-warden/warden/pkg/seal/kmsmac"
)

// newStore starts moto with the state table and a KMS HMAC ledger key.
func newStore(t *testing.T) Store {
	t.Helper()
	srv := motoserver.Start(t)
	srv.CreateTable(t, "state")
	cfg := srv.Config(t)
	k := kmsmac.New(cfg, srv.CreateHMACKey(t, "ledger"))
	return New(cfg, "state", seal.Records{Gen: k, Check: k})
}

var t0 = time.Date(2026, 11, 24, 10, 15, 0, 0, time.UTC)

func TestClaimsLifecycle(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	fp := "0123456789abcdef0123456789abcdef"
	claim := func(at time.Time) remediation.ClaimResult {
		t.Helper()
		r, err := st.Claim(ctx, fp, remediation.ModeEnforce, at, 15*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := claim(t0); r.State != remediation.ClaimAcquired {
		t.Fatalf("first claim: %+v", r)
	}
	if r := claim(t0.Add(time.Minute)); r.State != remediation.ClaimBusy {
		t.Fatalf("while pending: %+v, want busy", r)
	}
	if r := claim(t0.Add(16 * time.Minute)); r.State != remediation.ClaimAcquired {
		t.Fatalf("stale pending claim must be taken over: %+v", r)
	}
	if err := st.Complete(ctx, fp, remediation.ModeEnforce, "rec-1", t0.Add(time.Hour), false); err != nil {
		t.Fatal(err)
	}
	if r := claim(t0.Add(20 * time.Minute)); r.State != remediation.ClaimDuplicate || r.Record != "rec-1" || r.Notified {
		t.Fatalf("after complete, notice not sent: %+v", r)
	}
	if err := st.MarkNotified(ctx, fp, remediation.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	if r := claim(t0.Add(21 * time.Minute)); r.State != remediation.ClaimDuplicate || !r.Notified {
		t.Fatalf("after the notice: %+v", r)
	}
	if r := claim(t0.Add(2 * time.Hour)); r.State != remediation.ClaimAcquired {
		t.Fatalf("a claim past its ttl must be acquirable: %+v", r)
	}
	// Another mode, and a refusal key, are different claims.
	if r, _ := st.Claim(ctx, fp, remediation.ModeDryRun, t0, time.Minute); r.State != remediation.ClaimAcquired {
		t.Fatalf("dry-run claim: %+v", r)
	}
	if r, _ := st.Claim(ctx, remediation.RefusalKey(fp), remediation.ModeEnforce, t0.Add(2*time.Hour), time.Minute); r.State != remediation.ClaimAcquired {
		t.Fatalf("refusal claim: %+v", r)
	}
	if err := st.Release(ctx, fp, remediation.ModeEnforce); err != nil {
		t.Fatal(err)
	}
	if r := claim(t0.Add(2*time.Hour + time.Second)); r.State != remediation.ClaimAcquired {
		t.Fatalf("after release: %+v", r)
	}
}

// TestBreakerCountsAndResets runs sequentially: moto does not serialise
// conditional writes, so exactness under concurrency is tested on the
// memory ledger (package memledger) with the same protocol.
func TestBreakerCountsAndResets(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	allowed := 0
	for range 12 {
		ok, err := st.Take(ctx, "111122223333", t0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			allowed++
		}
	}
	if allowed != 10 {
		t.Fatalf("allowed %d, want 10", allowed)
	}
	for range 2 {
		if err := st.MarkOpen(ctx, "111122223333", t0); err != nil {
			t.Fatal(err)
		}
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

func TestNoticesGoOutOnceAndAfterAFailedPublish(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	key := "breaker-open/111122223333/2026-11-24T10:00:00Z"
	begin := func(at time.Time) bool {
		t.Helper()
		ok, err := st.BeginNotice(ctx, key, at, time.Minute, 2*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !begin(t0) {
		t.Fatal("first notice must begin")
	}
	if begin(t0.Add(10 * time.Second)) {
		t.Fatal("a notice being published must not begin twice")
	}
	// The publish failed: give it back; the retry sends it.
	if err := st.AbandonNotice(ctx, key); err != nil {
		t.Fatal(err)
	}
	if !begin(t0.Add(20 * time.Second)) {
		t.Fatal("an abandoned notice must begin again")
	}
	if err := st.NoticeSent(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := st.AbandonNotice(ctx, key); err != nil { // a late abandon leaves a sent notice alone
		t.Fatal(err)
	}
	if begin(t0.Add(30 * time.Minute)) {
		t.Fatal("a sent notice must not go out again within keep")
	}
	if !begin(t0.Add(3 * time.Hour)) {
		t.Fatal("after keep the key is free")
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

// TestLedgerRefusesRecordsItDidNotSeal: whoever can write the table can
// change a record's JSON, drop its MAC, or copy a genuine MAC onto another
// record; Get refuses all three, and a store without the key cannot write.
func TestLedgerRefusesRecordsItDidNotSeal(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	rec := remediation.Record{ID: remediation.NewID(t0), Time: t0, Mode: remediation.ModeEnforce, Action: "detach",
		Result: remediation.ResultApplied, Principal: "arn:aws:iam::111122223333:role/app"}
	if err := st.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	other := rec
	other.ID = remediation.NewID(t0.Add(time.Second))
	if err := st.Put(ctx, other); err != nil {
		t.Fatal(err)
	}
	sk, _ := ledgerSK(rec.ID)
	k := key(PKLedger, sk)
	item, err := st.API.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.Table), Key: k})
	if err != nil {
		t.Fatal(err)
	}
	osk, _ := ledgerSK(other.ID)
	otherItem, _ := st.API.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.Table), Key: key(PKLedger, osk)})
	forge := func(name string, edit func(map[string]types.AttributeValue)) {
		t.Helper()
		it := map[string]types.AttributeValue{}
		for k, v := range item.Item {
			it[k] = v
		}
		edit(it)
		if _, err := st.API.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.Table), Item: it}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Get(ctx, rec.ID); !errors.Is(err, remediation.ErrUnauthenticated) {
			t.Errorf("%s: Get = %v, want ErrUnauthenticated", name, err)
		}
	}
	forge("altered JSON", func(it map[string]types.AttributeValue) {
		it["record"] = s(`{"id":"` + rec.ID + `","mode":"enforce","result":"applied","principal":"arn:aws:iam::111122223333:role/Admin"}`)
	})
	forge("no MAC", func(it map[string]types.AttributeValue) { delete(it, "mac") })
	forge("another record's MAC", func(it map[string]types.AttributeValue) { it["mac"] = otherItem.Item["mac"] })

	readOnly := Store{API: st.API, Table: st.Table}
	if err := readOnly.Put(ctx, rec); err == nil {
		t.Error("a store without the ledger key wrote a record")
	}
	if _, err := readOnly.Get(ctx, other.ID); err == nil || errors.Is(err, remediation.ErrUnauthenticated) {
		t.Errorf("a store without the key must fail to verify, not call the record forged: %v", err)
	}
	if recs, err := readOnly.List(ctx, t0.Add(-time.Hour), ""); err != nil || len(recs) != 2 {
		t.Errorf("List needs no key: %d %v", len(recs), err)
	}
}
