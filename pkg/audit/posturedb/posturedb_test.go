package posturedb

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/audit"
	"github.com/bedrock-warden/warden/pkg/statetable"
)

func TestSaveLoadAgainstMoto(t *testing.T) {
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	client := dynamodb.NewFromConfig(srv.Config(t))
	s := New(client, "warden")
	ctx := context.Background()
	const acct = "111122223333"

	empty, err := s.Load(ctx, acct)
	if err != nil || empty.Exists || len(empty.Allowed) != 0 {
		t.Fatalf("empty: %+v, %v", empty, err)
	}
	// A first run with more principals than one batch holds.
	at := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	first := audit.Snapshot{Exists: true, At: at, Allowed: map[string][]string{}}
	for i := range 60 {
		first.Allowed[fmt.Sprintf("arn:aws:iam::%s:role/app-%02d", acct, i)] = []string{"logging", "models"}
	}
	if err := s.Save(ctx, acct, empty, first, audit.Summary{Principals: 70, Exceeding: 60}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, acct)
	if err != nil || !got.Exists || !got.At.Equal(at) || len(got.Allowed) != 60 || !slices.Equal(got.Allowed["arn:aws:iam::"+acct+":role/app-07"], []string{"logging", "models"}) {
		t.Fatalf("after the first run: exists %v at %v, %d principals, %v", got.Exists, got.At, len(got.Allowed), err)
	}
	// The next run: one principal changed, one allowed in nothing.
	next := audit.Snapshot{Exists: true, At: at.Add(7 * 24 * time.Hour), Allowed: map[string][]string{}}
	for k, v := range got.Allowed {
		next.Allowed[k] = v
	}
	next.Allowed["arn:aws:iam::"+acct+":role/app-01"] = []string{"models"}
	delete(next.Allowed, "arn:aws:iam::"+acct+":role/app-02")
	if err := s.Save(ctx, acct, got, next, audit.Summary{}); err != nil {
		t.Fatal(err)
	}
	got2, err := s.Load(ctx, acct)
	if err != nil || len(got2.Allowed) != 59 || !slices.Equal(got2.Allowed["arn:aws:iam::"+acct+":role/app-01"], []string{"models"}) || !got2.At.Equal(next.At) {
		t.Fatalf("after the second run: %d, %v, %v", len(got2.Allowed), got2.Allowed["arn:aws:iam::"+acct+":role/app-01"], err)
	}
	// The items are where statetable says.
	item, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("warden"), Key: statetable.Key("POSTURE#"+acct, "RUN")})
	if err != nil || item.Item["at"].(*types.AttributeValueMemberS).Value != "2026-11-30T06:00:00Z" {
		t.Fatalf("run marker: %v %v", item.Item, err)
	}
	// Another account's partition is separate.
	other, err := s.Load(ctx, "444455556666")
	if err != nil || other.Exists {
		t.Errorf("other account: %+v %v", other, err)
	}
}

// unprocessed leaves every second batch's items unprocessed once.
type unprocessed struct {
	API
	calls int
}

func (u *unprocessed) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	u.calls++
	if u.calls == 1 {
		return &dynamodb.BatchWriteItemOutput{UnprocessedItems: in.RequestItems}, nil
	}
	return &dynamodb.BatchWriteItemOutput{}, nil
}

func TestUnprocessedItemsRetried(t *testing.T) {
	u := &unprocessed{}
	s := New(u, "t")
	var slept []time.Duration
	s.Sleep = func(d time.Duration) { slept = append(slept, d) }
	next := audit.Snapshot{Exists: true, Allowed: map[string][]string{"a": {"models"}}}
	if err := s.Save(context.Background(), "1", audit.Snapshot{}, next, audit.Summary{}); err != nil {
		t.Fatal(err)
	}
	if u.calls != 3 || len(slept) != 1 {
		t.Errorf("calls %d, slept %v", u.calls, slept)
	}
}
