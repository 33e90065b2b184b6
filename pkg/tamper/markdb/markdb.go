// Package markdb keeps the sentinel's marks of self-test subscriptions in
// the state table (tamper.SubscriptionMarks):
//
//	pk "SELFTEST#<subscription ARN>"  sk "SUBSCRIPTION"  ttl N
//
// `warden selftest` reads the mark to know the sentinel saw its
// subscription before it removes it.
package markdb

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bedrock-warden/warden/pkg/statetable"
	"github.com/bedrock-warden/warden/pkg/tamper"
)

// SortKey is the marks' sort key.
const SortKey = "SUBSCRIPTION"

// API is the part of the DynamoDB client the store calls.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// Store implements tamper.SubscriptionMarks.
type Store struct {
	API   API
	Table string
	// Now is the clock expired marks are judged by (time.Now when nil):
	// DynamoDB deletes expired items only eventually.
	Now func() time.Time
}

var _ tamper.SubscriptionMarks = Store{}

// New returns a Store over the SDK client built from cfg.
func New(cfg aws.Config, table string, opts ...func(*dynamodb.Options)) Store {
	return Store{API: dynamodb.NewFromConfig(cfg, opts...), Table: table}
}

func key(arn string) map[string]types.AttributeValue {
	return statetable.Key(statetable.PrefixSelfTest+arn, SortKey)
}

// Mark implements tamper.SubscriptionMarks.
func (s Store) Mark(ctx context.Context, arn string, until time.Time) error {
	item := key(arn)
	item[statetable.TTL] = statetable.Expires(until)
	if _, err := s.API.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item}); err != nil {
		return fmt.Errorf("dynamodb PutItem %s: %w", s.Table, err)
	}
	return nil
}

// Marked implements tamper.SubscriptionMarks.
func (s Store) Marked(ctx context.Context, arn string) (bool, error) {
	out, err := s.API.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: key(arn), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, fmt.Errorf("dynamodb GetItem %s: %w", s.Table, err)
	}
	if len(out.Item) == 0 {
		return false, nil
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	if v, ok := out.Item[statetable.TTL].(*types.AttributeValueMemberN); ok {
		if exp, err := strconv.ParseInt(v.Value, 10, 64); err == nil && exp < now.Unix() {
			return false, nil
		}
	}
	return true, nil
}

// Seen is Marked under the name selftest.Sentinel uses.
func (s Store) Seen(ctx context.Context, arn string) (bool, error) { return s.Marked(ctx, arn) }
