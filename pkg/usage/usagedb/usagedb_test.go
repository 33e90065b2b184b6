package usagedb

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/usage"
)

func TestStoreAgainstMoto(t *testing.T) {
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	client := dynamodb.NewFromConfig(srv.Config(t))
	st := New(client, "warden")
	ctx := context.Background()
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	alice := usage.PrincipalSubject("arn:aws:iam::123456789012:role/team-a-app")
	k := usage.Key{Period: "month", Start: start, Subject: alice, Model: "anthropic.claude-3-5-haiku-20241022-v1:0"}
	c := usage.Counters{Invocations: 2, InputTokens: 100, OutputTokens: 50, CacheReadTokens: 7, CacheWriteTokens: 3, USD: 0.00043, UnpricedTokens: 0}

	d1 := usage.Digest(k, []string{"r1", "r2"})
	if ok, err := st.Add(ctx, k, c, d1, now); err != nil || !ok {
		t.Fatalf("first add = %v, %v", ok, err)
	}
	// The same batch again: nothing added.
	if ok, err := st.Add(ctx, k, c, d1, now); err != nil || ok {
		t.Fatalf("replayed add = %v, %v; want false", ok, err)
	}
	if ok, err := st.Add(ctx, k, c, usage.Digest(k, []string{"r3"}), now); err != nil || !ok {
		t.Fatalf("next batch = %v, %v", ok, err)
	}
	team := usage.TeamSubject("team-a")
	if _, err := st.Add(ctx, usage.Key{Period: "month", Start: start, Subject: team, Model: k.Model}, c, "t1", now); err != nil {
		t.Fatal(err)
	}
	u, err := st.Usage(ctx, "month", start, alice)
	if err != nil {
		t.Fatal(err)
	}
	got := u[k.Model]
	if len(u) != 1 || got.Invocations != 4 || got.InputTokens != 200 || got.OutputTokens != 100 || got.CacheReadTokens != 14 ||
		got.CacheWriteTokens != 6 || math.Abs(got.USD-0.00086) > 1e-12 {
		t.Fatalf("usage = %+v", u)
	}
	all, err := st.List(ctx, "month", start)
	if err != nil || len(all) != 2 {
		t.Fatalf("list = %+v %v", all, err)
	}
	// The layout the docs give.
	item, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("warden"), Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "USAGE#month#2026-11-01T00:00:00Z"},
		"sk": &types.AttributeValueMemberS{Value: alice + "#" + k.Model},
	}})
	if err != nil || item.Item == nil || item.Item["ttl"].(*types.AttributeValueMemberN).Value != "1830643200" {
		t.Fatalf("counter item = %+v %v (ttl: December 1 + 400 days)", item.Item, err)
	}
	// A long model id still makes a valid key.
	long := k
	long.Model = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/" + strings.Repeat("x", 500)
	if _, err := st.Add(ctx, long, c, "long", now); err != nil {
		t.Fatalf("long key: %v", err)
	}
	if u, _ := st.Usage(ctx, "month", start, alice); u[long.Model].Invocations != 2 {
		t.Errorf("long model not read back: %+v", u)
	}
}

func TestMarksAgainstMoto(t *testing.T) {
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	st := New(dynamodb.NewFromConfig(srv.Config(t)), "warden")
	ctx := context.Background()
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	m := usage.Mark{Rule: findings.RuleLimitExceeded, Limit: "team-a-claude", Principal: "arn:aws:iam::123456789012:role/a", Period: "month",
		Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	exp := now.Add(30 * 24 * time.Hour)
	begin := func(at time.Time) usage.MarkState {
		t.Helper()
		s, err := st.Begin(ctx, m, at, time.Minute, exp)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := begin(now); s != usage.MarkAcquired {
		t.Fatalf("first = %v", s)
	}
	if s := begin(now.Add(10 * time.Second)); s != usage.MarkBusy {
		t.Fatalf("while pending = %v, want busy", s)
	}
	if s := begin(now.Add(2 * time.Minute)); s != usage.MarkAcquired {
		t.Fatalf("after the lease = %v, want taken over", s)
	}
	if err := st.Abandon(ctx, m); err != nil {
		t.Fatal(err)
	}
	if s := begin(now.Add(2 * time.Minute)); s != usage.MarkAcquired {
		t.Fatalf("after abandon = %v", s)
	}
	if err := st.Sent(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := st.Abandon(ctx, m); err != nil {
		t.Fatal(err)
	}
	if s := begin(now.Add(time.Hour)); s != usage.MarkDone {
		t.Fatalf("after sent = %v, want done (abandon never removes a sent mark)", s)
	}
	other := m
	other.Rule = findings.RuleLimitWarning
	if s, err := st.Begin(ctx, other, now, time.Minute, exp); err != nil || s != usage.MarkAcquired {
		t.Fatalf("warning is its own mark: %v %v", s, err)
	}
}

// conflicting fails TransactWriteItems with a transaction conflict n
// times, then with the given final error (nil: success).
type conflicting struct {
	API
	n, calls int
	final    error
}

func (c *conflicting) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.calls++
	if c.calls <= c.n {
		return nil, &types.TransactionCanceledException{Message: aws.String("conflict"),
			CancellationReasons: []types.CancellationReason{{Code: aws.String("None")}, {Code: aws.String("TransactionConflict")}}}
	}
	return &dynamodb.TransactWriteItemsOutput{}, c.final
}

func TestAddRetriesTransactionConflicts(t *testing.T) {
	k := usage.Key{Period: "day", Start: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), Subject: usage.TeamSubject("t"), Model: "m"}
	c := &conflicting{n: 2}
	if ok, err := New(c, "t").Add(context.Background(), k, usage.Counters{Invocations: 1}, "d", time.Now()); !ok || err != nil || c.calls != 3 {
		t.Fatalf("after two conflicts: %v %v, %d calls", ok, err, c.calls)
	}
	c = &conflicting{n: 100}
	if _, err := New(c, "t").Add(context.Background(), k, usage.Counters{Invocations: 1}, "d", time.Now()); err == nil || c.calls != maxConflicts {
		t.Fatalf("endless conflicts: %v, %d calls", err, c.calls)
	}
}
