// Package objectdb keeps the S3 intake's marks of the log files it judged
// in the state table (intake.Marks):
//
//	pk "TRAILOBJ#<bucket>/<key>"  sk "JUDGED"  at N (epoch seconds)  ttl N
//
// CloudTrail never writes a key twice (each name ends in a unique
// string), so the key alone identifies a log file.
package objectdb

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bedrock-warden/warden/pkg/archive/intake"
	"github.com/bedrock-warden/warden/pkg/statetable"
)

// SortKey is the marks' sort key.
const SortKey = "JUDGED"

// API is the part of the DynamoDB client the store calls.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// Store implements intake.Marks.
type Store struct {
	API   API
	Table string
	// Now is the clock expired marks are judged by (time.Now when nil):
	// DynamoDB deletes expired items only eventually.
	Now func() time.Time
}

var _ intake.Marks = Store{}

// New returns a Store over the SDK client built from cfg.
func New(cfg aws.Config, table string, opts ...func(*dynamodb.Options)) Store {
	return Store{API: dynamodb.NewFromConfig(cfg, opts...), Table: table}
}

func key(o intake.ObjectRef) map[string]types.AttributeValue {
	return statetable.Key(statetable.PrefixTrailObject+o.Bucket+"/"+o.Key, SortKey)
}

// Judged implements intake.Marks.
func (s Store) Judged(ctx context.Context, o intake.ObjectRef) (bool, error) {
	out, err := s.API.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: key(o), ConsistentRead: aws.Bool(true)})
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

// MarkJudged implements intake.Marks.
func (s Store) MarkJudged(ctx context.Context, o intake.ObjectRef, expires time.Time) error {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	item := key(o)
	item["at"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Unix(), 10)}
	item[statetable.TTL] = statetable.Expires(expires)
	if _, err := s.API.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item}); err != nil {
		return fmt.Errorf("dynamodb PutItem %s: %w", s.Table, err)
	}
	return nil
}
