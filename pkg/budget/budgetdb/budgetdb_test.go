package budgetdb

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/budget"
	"github.com/bedrock-warden/warden/pkg/findings"
)

func TestClaimReleaseAgainstMoto(t *testing.T) {
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	client := dynamodb.NewFromConfig(srv.Config(t))
	s := New(client, "warden")
	ctx := context.Background()
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	m := budget.Mark{Rule: findings.RuleBudgetWarning, Budget: "anthropic.*", Model: "anthropic.x", Period: "month", PeriodStart: start}
	expires := start.AddDate(0, 1, 7)

	if ok, err := s.Claim(ctx, m, expires); err != nil || !ok {
		t.Fatalf("first claim = %v, %v", ok, err)
	}
	if ok, err := s.Claim(ctx, m, expires); err != nil || ok {
		t.Fatalf("second claim = %v, %v; want false", ok, err)
	}
	other := m
	other.Rule = findings.RuleBudgetExceeded
	if ok, err := s.Claim(ctx, other, expires); err != nil || !ok {
		t.Fatalf("exceeded is a separate marker: %v, %v", ok, err)
	}
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("warden"), Key: Key(m)})
	if err != nil {
		t.Fatal(err)
	}
	if pk := out.Item["pk"].(*types.AttributeValueMemberS).Value; pk != "BUDGET#month#2026-06-01T00:00:00Z" {
		t.Fatalf("pk = %s", pk)
	}
	if ttl := out.Item["ttl"].(*types.AttributeValueMemberN).Value; ttl != "1783468800" {
		t.Fatalf("ttl = %s, want %d", ttl, expires.Unix())
	}
	if err := s.Release(ctx, m); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Claim(ctx, m, expires); err != nil || !ok {
		t.Fatalf("claim after release = %v, %v", ok, err)
	}
}
