// Package budgetdb keeps the budget alert markers in the Bedrock Warden
// DynamoDB state table (pk, sk, ttl). It implements budget.Marks: a marker
// is written once with a conditional PutItem, so each (rule, budget, model,
// period) alerts once even when two budget runs overlap or a run is
// retried.
//
// Item layout:
//
//	pk       "BUDGET#<period>#<period start, RFC 3339 UTC>"
//	sk       "<rule>#<budget model pattern>#<base model id>"
//	rule, budget, model, period  S  the marker's fields, for readers
//	ttl      N  epoch seconds: period end + 7 days
package budgetdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bedrock-warden/warden/pkg/budget"
	"github.com/bedrock-warden/warden/pkg/statetable"
)

// PKPrefix starts every budget item's partition key.
const PKPrefix = "BUDGET#"

// API is the part of the DynamoDB client the store uses.
type API interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Store is a budget.Marks on one DynamoDB table.
type Store struct {
	client API
	table  string
}

var _ budget.Marks = (*Store)(nil)

// New returns a Store on table.
func New(client API, table string) *Store { return &Store{client: client, table: table} }

// Key returns the item key of m.
func Key(m budget.Mark) map[string]types.AttributeValue {
	return statetable.Key(PKPrefix+m.Period+"#"+m.PeriodStart.UTC().Format(time.RFC3339), m.Rule+"#"+m.Budget+"#"+m.Model)
}

// Claim is one conditional PutItem (attribute_not_exists(pk)).
func (s *Store) Claim(ctx context.Context, m budget.Mark, expires time.Time) (bool, error) {
	item := Key(m)
	item["rule"] = &types.AttributeValueMemberS{Value: m.Rule}
	item["budget"] = &types.AttributeValueMemberS{Value: m.Budget}
	item["model"] = &types.AttributeValueMemberS{Value: m.Model}
	item["period"] = &types.AttributeValueMemberS{Value: m.Period}
	item[statetable.TTL] = statetable.Expires(expires)
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("budgetdb: claim %s %s for %s: %w", m.Rule, m.Period, m.Model, err)
	}
	return true, nil
}

// Release is one DeleteItem.
func (s *Store) Release(ctx context.Context, m budget.Mark) error {
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: Key(m)})
	if err != nil {
		return fmt.Errorf("budgetdb: release %s %s for %s: %w", m.Rule, m.Period, m.Model, err)
	}
	return nil
}
