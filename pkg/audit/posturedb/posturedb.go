// Package posturedb keeps the weekly posture audit's last snapshot in the
// Bedrock Warden state table, with the layout package statetable defines
// (pk "POSTURE#<account>": one item per principal allowed in some
// dimension, and the run marker). It implements audit.Baseline.
//
// A run reads the partition with Query and writes only what changed with
// BatchWriteItem (25 requests a call, unprocessed items retried), then the
// run marker. The weekly function has the partition to itself (reserved
// concurrency 1), so no conditional writes are needed.
package posturedb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bedrock-warden/warden/pkg/audit"
	"github.com/bedrock-warden/warden/pkg/statetable"
)

// API is the part of the DynamoDB client the store uses.
type API interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// Store is an audit.Baseline on one table.
type Store struct {
	client API
	table  string
	// Sleep waits between retries of unprocessed items (time.Sleep when
	// nil).
	Sleep func(time.Duration)
}

var _ audit.Baseline = (*Store)(nil)

// New returns a Store on table.
func New(client API, table string) *Store { return &Store{client: client, table: table} }

// Attribute names of the posture items.
const (
	attrAllowed    = "allowed"
	attrAt         = "at"
	attrPrincipals = "principals"
	attrExceeding  = "exceeding"
)

// Load reads the account's partition.
func (s *Store) Load(ctx context.Context, account string) (audit.Snapshot, error) {
	snap := audit.Snapshot{Allowed: map[string][]string{}}
	var start map[string]types.AttributeValue
	for {
		out, err := s.client.Query(ctx, &dynamodb.QueryInput{
			TableName:                aws.String(s.table),
			KeyConditionExpression:   aws.String("#pk = :pk"),
			ExpressionAttributeNames: map[string]string{"#pk": statetable.PK},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": &types.AttributeValueMemberS{Value: statetable.PostureKey(account)},
			},
			ExclusiveStartKey: start,
			ConsistentRead:    aws.Bool(true),
		})
		if err != nil {
			return audit.Snapshot{}, fmt.Errorf("posturedb: query %s: %w", account, err)
		}
		for _, item := range out.Items {
			sk := str(item[statetable.SK])
			switch {
			case sk == statetable.PostureRunSK:
				snap.Exists = true
				snap.At, _ = time.Parse(time.RFC3339, str(item[attrAt]))
			case strings.HasPrefix(sk, statetable.PosturePrincipalPrefix):
				if dims := str(item[attrAllowed]); dims != "" {
					snap.Allowed[strings.TrimPrefix(sk, statetable.PosturePrincipalPrefix)] = strings.Split(dims, ",")
				}
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return snap, nil
		}
		start = out.LastEvaluatedKey
	}
}

func str(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// Save writes the principals whose allowed dimensions changed, deletes
// those allowed in nothing any more, then the run marker.
func (s *Store) Save(ctx context.Context, account string, prev, next audit.Snapshot, stats audit.Summary) error {
	pk := statetable.PostureKey(account)
	at := next.At.UTC().Format(time.RFC3339)
	var writes []types.WriteRequest
	for arn, dims := range next.Allowed {
		if slices.Equal(prev.Allowed[arn], dims) {
			continue
		}
		item := statetable.Key(pk, statetable.PosturePrincipalPrefix+arn)
		item[attrAllowed] = &types.AttributeValueMemberS{Value: strings.Join(dims, ",")}
		item[attrAt] = &types.AttributeValueMemberS{Value: at}
		writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	for arn := range prev.Allowed {
		if _, ok := next.Allowed[arn]; !ok {
			writes = append(writes, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: statetable.Key(pk, statetable.PosturePrincipalPrefix+arn)}})
		}
	}
	run := statetable.Key(pk, statetable.PostureRunSK)
	run[attrAt] = &types.AttributeValueMemberS{Value: at}
	run[attrPrincipals] = &types.AttributeValueMemberN{Value: strconv.Itoa(stats.Principals)}
	run[attrExceeding] = &types.AttributeValueMemberN{Value: strconv.Itoa(stats.Exceeding)}
	// The marker goes last: a run that fails half-way is not recorded as
	// done, and its retry rewrites the same items.
	if err := s.batch(ctx, writes); err != nil {
		return err
	}
	return s.batch(ctx, []types.WriteRequest{{PutRequest: &types.PutRequest{Item: run}}})
}

// maxBatch is BatchWriteItem's limit of requests per call.
const maxBatch = 25

// batch writes requests 25 at a time, retrying what DynamoDB leaves
// unprocessed with a growing pause.
func (s *Store) batch(ctx context.Context, reqs []types.WriteRequest) error {
	sleep := s.Sleep
	if sleep == nil {
		sleep = time.Sleep
	}
	for len(reqs) > 0 {
		n := min(len(reqs), maxBatch)
		pending := reqs[:n]
		reqs = reqs[n:]
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt == 8 {
				return errors.New("posturedb: items still unprocessed after 8 attempts")
			}
			if attempt > 0 {
				sleep(time.Duration(50<<attempt) * time.Millisecond)
			}
			out, err := s.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{s.table: pending}})
			if err != nil {
				return fmt.Errorf("posturedb: batch write: %w", err)
			}
			pending = out.UnprocessedItems[s.table]
		}
	}
	return nil
}
