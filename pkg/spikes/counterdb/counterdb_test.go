package counterdb

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/spikes"
)

func hashes(prefix string, ids ...int) []spikes.EventHash {
	out := make([]spikes.EventHash, len(ids))
	for i, id := range ids {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s-%d", prefix, id)))
		copy(out[i][:], sum[:])
	}
	return out
}

func TestStoreAgainstMoto(t *testing.T) {
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	cfg := srv.Config(t)
	rec := awsconf.NewRecorder()
	rec.Attach(&cfg)
	s := New(dynamodb.NewFromConfig(cfg), "warden")
	ctx := context.Background()
	p := spikes.Key{Kind: spikes.KindPrincipal, ID: "arn:aws:iam::123456789012:role/r"}
	m := spikes.Key{Kind: spikes.KindModel, ID: "amazon.nova-pro-v1:0"}
	w := 5 * time.Minute
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	add := func(start time.Time, incs ...spikes.Increment) []spikes.Counter {
		t.Helper()
		cs, err := s.Add(ctx, spikes.WindowBatch{Start: start, Window: w, Expires: start.Add(time.Hour), Keys: incs})
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}

	// Two keys, one write.
	cs := add(t0,
		spikes.Increment{Key: p, Events: hashes("e", 1, 2, 3), Models: []spikes.Ranked{{Name: "m1", Count: 3}}, IPs: []spikes.Ranked{{Name: "10.0.0.1", Count: 2}, {Name: "10.0.0.2", Count: 1}}},
		spikes.Increment{Key: m, Events: hashes("e", 1, 2, 3)})
	if cs[0].Count != 3 || cs[0].New != 3 || cs[1].Count != 3 {
		t.Fatalf("first Add = %+v", cs)
	}
	if n := rec.Calls()["dynamodb:UpdateItem"]; n != 1 {
		t.Fatalf("%d UpdateItem calls for two keys, want 1", n)
	}
	// Redelivered events, alone or regrouped with new ones, count once.
	if cs = add(t0, spikes.Increment{Key: p, Events: hashes("e", 3, 2), Models: []spikes.Ranked{{Name: "m1", Count: 2}}}); cs[0].Count != 3 || cs[0].New != 0 || rank(cs[0].IPs, "10.0.0.1") != 2 {
		t.Fatalf("redelivery = %+v, want count 3, nothing new", cs[0])
	}
	cs = add(t0, spikes.Increment{Key: p, Events: hashes("e", 1, 4, 5), Models: []spikes.Ranked{{Name: "m2", Count: 3}}})
	if cs[0].Count != 5 || cs[0].New != 2 || rank(cs[0].Models, "m1") != 2 {
		t.Fatalf("regrouped = %+v, want count 5, 2 new, the latest stored snapshot", cs[0])
	}
	// Beyond the cap: counted as a number.
	if cs = add(t0, spikes.Increment{Key: p, Events: hashes("x", 1, 2), Beyond: true, Models: []spikes.Ranked{{Name: "m3", Count: 2}}}); cs[0].New != 2 {
		t.Fatalf("beyond = %+v", cs[0])
	}
	add(t0.Add(-2*w), spikes.Increment{Key: p, Events: hashes("old", 1, 2, 3, 4, 5, 6, 7, 8, 9)})

	got, err := s.Counts(ctx, p, []time.Time{t0.Add(-w), t0.Add(-2 * w), t0})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 0 || got[1] != 9 || got[2] != 7 {
		t.Fatalf("Counts = %v, want [0 9 7] in the order asked", got)
	}

	first, err := s.MarkAlerted(ctx, p, t0, t0.Add(time.Minute))
	if err != nil || !first {
		t.Fatalf("first mark = %v, %v", first, err)
	}
	if first, err = s.MarkAlerted(ctx, p, t0, t0.Add(2*time.Minute)); err != nil || first {
		t.Fatalf("second mark = %v, %v; want false", first, err)
	}
	// UnmarkAlerted removes only the marker written at the given time.
	if err := s.UnmarkAlerted(ctx, p, t0, t0.Add(5*time.Minute)); err != nil {
		t.Fatalf("unmark with another time: %v", err)
	}
	if first, _ := s.MarkAlerted(ctx, p, t0, t0); first {
		t.Fatal("a marker written at another time was removed")
	}
	if err := s.UnmarkAlerted(ctx, p, t0, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if first, err := s.MarkAlerted(ctx, p, t0, t0.Add(time.Minute)); err != nil || !first {
		t.Fatalf("re-mark = %v, %v", first, err)
	}

	entries, err := s.Window(ctx, t0)
	if err != nil || len(entries) != 2 {
		t.Fatalf("Window = %+v, %v", entries, err)
	}
	if e := entries[1]; e.Key != p || e.Count != 7 || !e.Alerted || e.AlertedAt != "2026-01-01T00:01:00Z" || e.Models["m3"] != 2 {
		t.Fatalf("principal entry = %+v", e)
	}
	if e := entries[0]; e.Key != m || e.Count != 3 || e.Alerted {
		t.Fatalf("model entry = %+v", e)
	}
}

// More keys than one update expression holds: several writes, each key
// counted.
func TestStoreManyKeys(t *testing.T) {
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	cfg := srv.Config(t)
	rec := awsconf.NewRecorder()
	rec.Attach(&cfg)
	s := New(dynamodb.NewFromConfig(cfg), "warden")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var incs []spikes.Increment
	for i := range 250 {
		incs = append(incs, spikes.Increment{Key: spikes.Key{Kind: spikes.KindPrincipal, ID: fmt.Sprintf("arn:aws:iam::1:user/u%03d", i)},
			Events: hashes("u", i, i+1000)})
	}
	cs, err := s.Add(context.Background(), spikes.WindowBatch{Start: t0, Window: 5 * time.Minute, Expires: t0.Add(time.Hour), Keys: incs})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cs {
		if c.Count != 2 || c.New != 2 {
			t.Fatalf("key %d = %+v", i, c)
		}
	}
	if n := rec.Calls()["dynamodb:UpdateItem"]; n != 3 {
		t.Fatalf("%d writes for 250 keys, want 3", n)
	}
	entries, err := s.Window(context.Background(), t0)
	if err != nil || len(entries) != 250 || !strings.HasSuffix(entries[249].Key.ID, "u249") {
		t.Fatalf("Window: %d entries, %v", len(entries), err)
	}
}

// refuseBigSets is DynamoDB as moto_server is, except that it refuses, as
// DynamoDB does (moto does not check item sizes), an update that adds more
// than limit bytes of event hashes.
type refuseBigSets struct {
	*dynamodb.Client
	limit   int
	refused int
}

func (r *refuseBigSets) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	n := 0
	for _, v := range in.ExpressionAttributeValues {
		if bs, ok := v.(*types.AttributeValueMemberBS); ok {
			n += 8 * len(bs.Value)
		}
	}
	if n > r.limit {
		r.refused++
		return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "Item size has exceeded the maximum allowed size"}
	}
	return r.Client.UpdateItem(ctx, in, opts...)
}

// A window whose counts item would outgrow DynamoDB's 400 KB keeps
// counting, as plain numbers.
func TestStoreItemFull(t *testing.T) {
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	api := &refuseBigSets{Client: dynamodb.NewFromConfig(srv.Config(t)), limit: 400 << 10}
	s := New(api, "warden")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var incs []spikes.Increment
	for i := range 11 {
		ids := make([]int, 5000)
		for j := range ids {
			ids[j] = j
		}
		incs = append(incs, spikes.Increment{Key: spikes.Key{Kind: spikes.KindPrincipal, ID: fmt.Sprintf("arn:aws:iam::1:user/u%d", i)},
			Events: hashes(fmt.Sprint(i), ids...)})
	}
	incs = append(incs, spikes.Increment{Key: spikes.Key{Kind: spikes.KindModel, ID: "m"}, Events: hashes("m", 1)})
	cs, err := s.Add(context.Background(), spikes.WindowBatch{Start: t0, Window: 5 * time.Minute, Expires: t0.Add(time.Hour), Keys: incs})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cs[:11] {
		if c.Count != 5000 {
			t.Fatalf("key %d = %+v", i, c)
		}
	}
	if api.refused != 1 || cs[11].Count != 1 {
		t.Fatalf("refused %d writes; model = %+v", api.refused, cs[11])
	}
	n, err := s.Counts(context.Background(), incs[3].Key, []time.Time{t0})
	if err != nil || n[0] != 5000 {
		t.Fatalf("Counts = %v, %v", n, err)
	}
}

// rank is the count of name in rs.
func rank(rs []spikes.Ranked, name string) int64 {
	for _, r := range rs {
		if r.Name == name {
			return r.Count
		}
	}
	return 0
}

// TestStoreModelPerAccount: a model counted per account keeps its account
// through the store, apart from the same model's organisation-wide key.
func TestStoreModelPerAccount(t *testing.T) {
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	s := New(dynamodb.NewFromConfig(srv.Config(t)), "warden")
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	org := spikes.Key{Kind: spikes.KindModel, ID: "amazon.nova-pro-v1:0"}
	a := spikes.Key{Kind: spikes.KindModel, ID: "amazon.nova-pro-v1:0", Account: "111122223333"}
	if _, err := s.Add(ctx, spikes.WindowBatch{Start: t0, Window: 5 * time.Minute, Expires: t0.Add(time.Hour), Keys: []spikes.Increment{
		{Key: org, Events: hashes("o", 1, 2)}, {Key: a, Events: hashes("a", 1, 2, 3)}}}); err != nil {
		t.Fatal(err)
	}
	entries, err := s.Window(ctx, t0)
	if err != nil || len(entries) != 2 {
		t.Fatalf("Window = %+v, %v", entries, err)
	}
	got := map[spikes.Key]int64{}
	for _, e := range entries {
		got[e.Key] = e.Count
	}
	if got[org] != 2 || got[a] != 3 {
		t.Fatalf("counts = %v", got)
	}
}
