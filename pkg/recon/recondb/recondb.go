// Package recondb keeps the recon-then-invoke marks in the Bedrock Warden
// DynamoDB state table (package statetable: pk, sk, ttl). It implements
// recon.Store.
//
// Item layout, one item per (key, bucket) that made suspect recon calls:
//
//	pk         "RECON#<sequence key>" ("key#AKIA…" or "principal#<ARN>")
//	sk         "W<window seconds>#<bucket start, RFC 3339 UTC>"
//	first      N  earliest recon call in the bucket (Unix milliseconds)
//	last       N  latest recon call in the bucket (Unix milliseconds)
//	calls      SS recon eventNames seen
//	principal  S  the principal that made them
//	ev         S  eventID of the latest recon call
//	ttl        N  epoch seconds: bucket start + recon.Retention(window)
//
// A key's items share a partition; the window is in the sort key, so a
// policy that changes rules.recon-then-invoke.window starts new items
// rather than misreading old ones. Marks reads any set of items with one
// BatchGetItem (up to 100 keys: two buckets for each of 50 keys).
package recondb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bedrock-warden/warden/pkg/recon"
	"github.com/bedrock-warden/warden/pkg/rules"
	"github.com/bedrock-warden/warden/pkg/statetable"
)

// PKPrefix starts every recon item's partition key.
const PKPrefix = statetable.PrefixRecon

// maxBatchGet is DynamoDB's BatchGetItem key limit.
const maxBatchGet = 100

// maxKey is the longest sequence key kept as is in a partition key
// (DynamoDB allows 2,048 bytes; a principal ARN can be that long).
const maxKey = 512

// API is the part of the DynamoDB client the store uses.
type API interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// Store is a recon.Store on one DynamoDB table.
type Store struct {
	client API
	table  string
}

var _ recon.Store = (*Store)(nil)

// New returns a Store on table.
func New(client API, table string) *Store { return &Store{client: client, table: table} }

// PK returns the partition key of a sequence key; a key longer than 512
// bytes is kept as its first 64 bytes and a SHA-256 of the whole.
func PK(key string) string {
	if len(key) > maxKey {
		sum := sha256.Sum256([]byte(key))
		key = key[:64] + "…sha256:" + hex.EncodeToString(sum[:])
	}
	return PKPrefix + key
}

// SK returns the sort key of the bucket starting at start.
func SK(start time.Time, window time.Duration) string {
	return "W" + strconv.FormatInt(int64(window/time.Second), 10) + "#" + start.UTC().Format(time.RFC3339)
}

func millis(t time.Time) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
}

// Marks is one BatchGetItem per 100 keys, plus retries of the keys
// DynamoDB returns unprocessed under throttling.
func (s *Store) Marks(ctx context.Context, keys []rules.MarkKey, window time.Duration) ([]rules.Mark, error) {
	byItem := map[[2]string]rules.MarkKey{}
	var out []rules.Mark
	for lo := 0; lo < len(keys); lo += maxBatchGet {
		hi := min(lo+maxBatchGet, len(keys))
		var req []map[string]types.AttributeValue
		for _, k := range keys[lo:hi] {
			id := [2]string{PK(k.Key), SK(k.Start, window)}
			if _, dup := byItem[id]; dup {
				continue
			}
			byItem[id] = k
			req = append(req, statetable.Key(id[0], id[1]))
		}
		pending := map[string]types.KeysAndAttributes{s.table: {Keys: req}}
		for attempt := 0; len(pending) > 0 && len(pending[s.table].Keys) > 0; attempt++ {
			if attempt > 8 {
				return nil, fmt.Errorf("recondb: marks: keys still unprocessed after %d attempts", attempt)
			}
			if attempt > 0 {
				if err := sleep(ctx, time.Duration(attempt)*50*time.Millisecond); err != nil {
					return nil, fmt.Errorf("recondb: marks: %w", err)
				}
			}
			resp, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return nil, fmt.Errorf("recondb: marks: %w", err)
			}
			for _, item := range resp.Responses[s.table] {
				pk, _ := item[statetable.PK].(*types.AttributeValueMemberS)
				sk, _ := item[statetable.SK].(*types.AttributeValueMemberS)
				if pk == nil || sk == nil {
					continue
				}
				k, ok := byItem[[2]string{pk.Value, sk.Value}]
				if !ok {
					continue
				}
				m, err := decode(item)
				if err != nil {
					return nil, fmt.Errorf("recondb: item %s %s: %w", pk.Value, sk.Value, err)
				}
				m.MarkKey = k
				out = append(out, m)
			}
			pending = resp.UnprocessedKeys
		}
	}
	return out, nil
}

// Record is one UpdateItem that creates the item or adds the calls, then
// at most two conditional UpdateItems that move first earlier or last
// later when this mark widens the stored span. Recording the same mark
// twice changes nothing.
func (s *Store) Record(ctx context.Context, m rules.Mark, window time.Duration, expires time.Time) error {
	key := statetable.Key(PK(m.Key), SK(m.Start, window))
	update := "SET #first = if_not_exists(#first, :first), #last = if_not_exists(#last, :last), " +
		"#principal = if_not_exists(#principal, :principal), #ev = if_not_exists(#ev, :ev), #ttl = :ttl"
	names := map[string]string{"#first": "first", "#last": "last", "#principal": "principal", "#ev": "ev", "#ttl": statetable.TTL}
	values := map[string]types.AttributeValue{
		":first": millis(m.First), ":last": millis(m.Last),
		":principal": &types.AttributeValueMemberS{Value: orDash(m.Principal)},
		":ev":        &types.AttributeValueMemberS{Value: orDash(m.EventID)},
		":ttl":       statetable.Expires(expires),
	}
	if len(m.Calls) > 0 {
		update += " ADD #calls :calls"
		names["#calls"] = "calls"
		values[":calls"] = &types.AttributeValueMemberSS{Value: m.Calls}
	}
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key,
		UpdateExpression: aws.String(update), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		return fmt.Errorf("recondb: record %s %s: %w", PK(m.Key), SK(m.Start, window), err)
	}
	stored, err := decode(out.Attributes)
	if err != nil {
		return fmt.Errorf("recondb: record %s %s: %w", PK(m.Key), SK(m.Start, window), err)
	}
	if m.First.Before(stored.First) {
		if err := s.widen(ctx, key, "SET #t = :t", "#t > :t", "first", millis(m.First), nil); err != nil {
			return err
		}
	}
	if m.Last.After(stored.Last) {
		ev := &types.AttributeValueMemberS{Value: orDash(m.EventID)}
		if err := s.widen(ctx, key, "SET #t = :t, #ev = :ev", "#t < :t", "last", millis(m.Last), ev); err != nil {
			return err
		}
	}
	return nil
}

// widen sets one bound when the condition still holds; a concurrent writer
// that already widened it further wins.
func (s *Store) widen(ctx context.Context, key map[string]types.AttributeValue, update, cond, attr string, v types.AttributeValue, ev types.AttributeValue) error {
	names := map[string]string{"#t": attr}
	values := map[string]types.AttributeValue{":t": v}
	if ev != nil {
		names["#ev"] = "ev"
		values[":ev"] = ev
	}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key,
		UpdateExpression: aws.String(update), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("recondb: widen %s: %w", attr, err)
	}
	return nil
}

func decode(item map[string]types.AttributeValue) (rules.Mark, error) {
	var m rules.Mark
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"first", &m.First}, {"last", &m.Last}} {
		n, ok := item[f.name].(*types.AttributeValueMemberN)
		if !ok {
			return m, fmt.Errorf("attribute %s missing or not a number", f.name)
		}
		ms, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			return m, fmt.Errorf("attribute %s: %w", f.name, err)
		}
		*f.dst = time.UnixMilli(ms).UTC()
	}
	if v, ok := item["calls"].(*types.AttributeValueMemberSS); ok {
		m.Calls = v.Value
	}
	if v, ok := item["principal"].(*types.AttributeValueMemberS); ok && v.Value != "-" {
		m.Principal = v.Value
	}
	if v, ok := item["ev"].(*types.AttributeValueMemberS); ok && v.Value != "-" {
		m.EventID = v.Value
	}
	return m, nil
}

// orDash stands in for an empty string, which DynamoDB attributes may
// hold but which reads back ambiguously here.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
