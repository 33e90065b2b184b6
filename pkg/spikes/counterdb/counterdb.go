// Package counterdb keeps the invocation-spike window counters in the
// Bedrock Warden DynamoDB state table (partition key pk, sort key sk, TTL
// attribute ttl). It implements spikes.Store.
//
// Item layout, one item per (key, window):
//
//	pk        "SPIKE#<window start, RFC 3339 UTC>"
//	sk        "principal#<principal ARN>" or "model#<base model id>"
//	c         N  invocations counted (atomic ADD)
//	kind, id  S  the key, repeated for readers
//	ws        S  window start (RFC 3339); win N window length in seconds
//	t0 … t7   M  batch snapshots {m: {model: n}, i: {ip: n}} (top 5 each)
//	k0 … k15  S  tokens of recent batches, so a replayed batch is not
//	             counted twice (see spikes.Increment.Token)
//	alertedAt S  set once, conditionally, when the window raised its finding
//	ttl       N  epoch seconds: window end + spikes.Retention
//
// One window's items share a partition, so `warden spikes status` reads a
// window with one Query; a key's history is one BatchGetItem.
package counterdb

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

	"github.com/bedrock-warden/warden/pkg/spikes"
	"github.com/bedrock-warden/warden/pkg/statetable"
)

// PKPrefix starts every spike item's partition key.
const PKPrefix = "SPIKE#"

// maxBatchGet is DynamoDB's BatchGetItem key limit.
const maxBatchGet = 100

// API is the part of the DynamoDB client the store uses.
type API interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Store is a spikes.Store on one DynamoDB table.
type Store struct {
	client API
	table  string
}

var _ spikes.Store = (*Store)(nil)

// New returns a Store on table.
func New(client API, table string) *Store { return &Store{client: client, table: table} }

// PK returns the partition key of the window starting at start.
func PK(start time.Time) string { return PKPrefix + start.UTC().Format(time.RFC3339) }

// SK returns the sort key of k.
//
// DynamoDB caps a sort key at 1,024 bytes while a model id is the caller's
// to choose (up to 2,048 characters), so an id longer than MaxKeyID bytes
// is kept as its first 64 bytes and a SHA-256 of the whole: still one
// counter per id, never a failed write.
func SK(k spikes.Key) string {
	id := k.ID
	if len(id) > MaxKeyID {
		sum := sha256.Sum256([]byte(id))
		id = id[:64] + "…sha256:" + hex.EncodeToString(sum[:])
	}
	return k.Kind + "#" + id
}

// MaxKeyID is the longest principal or model id kept as is in a sort key.
const MaxKeyID = 512

func key(k spikes.Key, start time.Time) map[string]types.AttributeValue {
	return statetable.Key(PK(start), SK(k))
}

func num(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func countMap(m map[string]int64) *types.AttributeValueMemberM {
	out := make(map[string]types.AttributeValue, len(m))
	for k, v := range m {
		out[k] = num(v)
	}
	return &types.AttributeValueMemberM{Value: out}
}

// Add is one UpdateItem: ADD c, SET the batch's snapshot slot, the key and
// the TTL, and (with a token) the token slot, on condition that the slot
// does not already hold this token. It returns the item after the update,
// or, for a replayed token, the item as it is (ReturnValuesOnConditionCheckFailure).
func (s *Store) Add(ctx context.Context, inc spikes.Increment) (spikes.Counter, error) {
	if inc.Slot < 0 || inc.Slot >= spikes.Slots || inc.TokenSlot < 0 || inc.TokenSlot >= spikes.TokenSlots {
		return spikes.Counter{}, fmt.Errorf("counterdb: slot %d / token slot %d out of range", inc.Slot, inc.TokenSlot)
	}
	update := "ADD #c :n SET #kind = :kind, #id = :id, #ws = :ws, #win = :win, #ttl = :ttl, #slot = :snap"
	names := map[string]string{
		"#c": "c", "#kind": "kind", "#id": "id", "#ws": "ws", "#win": "win", "#ttl": statetable.TTL,
		"#slot": "t" + strconv.Itoa(inc.Slot),
	}
	values := map[string]types.AttributeValue{
		":n":    num(inc.Count),
		":kind": &types.AttributeValueMemberS{Value: inc.Key.Kind},
		":id":   &types.AttributeValueMemberS{Value: inc.Key.ID},
		":ws":   &types.AttributeValueMemberS{Value: inc.WindowStart.UTC().Format(time.RFC3339)},
		":win":  num(int64(inc.Window / time.Second)),
		":ttl":  num(inc.Expires.Unix()),
		":snap": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"m": countMap(inc.Models), "i": countMap(inc.IPs),
		}},
	}
	var cond *string
	if inc.Token != "" {
		update += ", #tok = :tok"
		names["#tok"] = "k" + strconv.Itoa(inc.TokenSlot)
		values[":tok"] = &types.AttributeValueMemberS{Value: inc.Token}
		cond = aws.String("attribute_not_exists(#tok) OR #tok <> :tok")
	}
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 key(inc.Key, inc.WindowStart),
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 cond,
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	item, replayed := map[string]types.AttributeValue(nil), false
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		if ccf.Item == nil {
			return spikes.Counter{}, fmt.Errorf("counterdb: %s %s: token %s already counted, but DynamoDB returned no item", PK(inc.WindowStart), SK(inc.Key), inc.Token)
		}
		item, replayed = ccf.Item, true
	case err != nil:
		return spikes.Counter{}, fmt.Errorf("counterdb: add to %s %s: %w", PK(inc.WindowStart), SK(inc.Key), err)
	default:
		item = out.Attributes
	}
	e, err := decode(item)
	if err != nil {
		return spikes.Counter{}, fmt.Errorf("counterdb: item %s %s: %w", PK(inc.WindowStart), SK(inc.Key), err)
	}
	e.Replayed = replayed
	return e.Counter, nil
}

// Counts is one BatchGetItem per 100 windows (plus retries of unprocessed
// keys, which DynamoDB returns under throttling).
func (s *Store) Counts(ctx context.Context, k spikes.Key, starts []time.Time) ([]int64, error) {
	out := make([]int64, len(starts))
	index := make(map[string]int, len(starts))
	for i, st := range starts {
		index[PK(st)] = i
	}
	for lo := 0; lo < len(starts); lo += maxBatchGet {
		hi := min(lo+maxBatchGet, len(starts))
		keys := make([]map[string]types.AttributeValue, 0, hi-lo)
		for _, st := range starts[lo:hi] {
			keys = append(keys, key(k, st))
		}
		req := map[string]types.KeysAndAttributes{s.table: {
			Keys:                     keys,
			ProjectionExpression:     aws.String("pk, #c"),
			ExpressionAttributeNames: map[string]string{"#c": "c"},
		}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt > 0 {
				if err := sleep(ctx, time.Duration(attempt)*50*time.Millisecond); err != nil {
					return nil, fmt.Errorf("counterdb: history of %s: %w", k, err)
				}
			}
			if attempt > 8 {
				return nil, fmt.Errorf("counterdb: history of %s: keys still unprocessed after %d attempts", k, attempt)
			}
			resp, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("counterdb: history of %s: %w", k, err)
			}
			for _, item := range resp.Responses[s.table] {
				pk, _ := item[statetable.PK].(*types.AttributeValueMemberS)
				if pk == nil {
					continue
				}
				i, ok := index[pk.Value]
				if !ok {
					continue
				}
				c, err := numAttr(item, "c")
				if err != nil {
					return nil, fmt.Errorf("counterdb: history of %s at %s: %w", k, pk.Value, err)
				}
				out[i] = c
			}
			req = resp.UnprocessedKeys
		}
	}
	return out, nil
}

// MarkAlerted is one conditional UpdateItem (attribute_not_exists).
func (s *Store) MarkAlerted(ctx context.Context, k spikes.Key, start, at time.Time) (bool, error) {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(k, start),
		UpdateExpression:          aws.String("SET #a = :at"),
		ConditionExpression:       aws.String("attribute_not_exists(#a)"),
		ExpressionAttributeNames:  map[string]string{"#a": "alertedAt"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)}},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("counterdb: mark %s %s alerted: %w", PK(start), SK(k), err)
	}
	return true, nil
}

// UnmarkAlerted is one conditional UpdateItem: REMOVE alertedAt when it still
// holds the time MarkAlerted wrote. A marker already gone, or written by
// another batch, is left alone and is not an error.
func (s *Store) UnmarkAlerted(ctx context.Context, k spikes.Key, start, at time.Time) error {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(k, start),
		UpdateExpression:          aws.String("REMOVE #a"),
		ConditionExpression:       aws.String("#a = :at"),
		ExpressionAttributeNames:  map[string]string{"#a": "alertedAt"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)}},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("counterdb: unmark %s %s: %w", PK(start), SK(k), err)
	}
	return nil
}

// Entry is one counter item, as `warden spikes status` shows it.
type Entry struct {
	Key         spikes.Key
	WindowStart time.Time
	spikes.Counter
	AlertedAt string
}

// Window returns every counter of the window starting at start (one Query,
// paginated), in sort-key order.
func (s *Store) Window(ctx context.Context, start time.Time) ([]Entry, error) {
	p := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: PK(start)}},
	})
	var out []Entry
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("counterdb: query window %s: %w", PK(start), err)
		}
		for _, item := range page.Items {
			e, err := decode(item)
			if err != nil {
				return nil, fmt.Errorf("counterdb: window %s: %w", PK(start), err)
			}
			e.WindowStart = start.UTC()
			out = append(out, e)
		}
	}
	return out, nil
}

func decode(item map[string]types.AttributeValue) (Entry, error) {
	var e Entry
	c, err := numAttr(item, "c")
	if err != nil {
		return e, err
	}
	e.Count = c
	if v, ok := item["kind"].(*types.AttributeValueMemberS); ok {
		e.Key.Kind = v.Value
	}
	if v, ok := item["id"].(*types.AttributeValueMemberS); ok {
		e.Key.ID = v.Value
	}
	if v, ok := item["alertedAt"].(*types.AttributeValueMemberS); ok {
		e.Alerted, e.AlertedAt = true, v.Value
	}
	e.Models, e.IPs = map[string]int64{}, map[string]int64{}
	for i := range spikes.Slots {
		snap, ok := item["t"+strconv.Itoa(i)].(*types.AttributeValueMemberM)
		if !ok {
			continue
		}
		if err := addCounts(e.Models, snap.Value["m"]); err != nil {
			return e, fmt.Errorf("slot t%d models: %w", i, err)
		}
		if err := addCounts(e.IPs, snap.Value["i"]); err != nil {
			return e, fmt.Errorf("slot t%d ips: %w", i, err)
		}
	}
	return e, nil
}

func addCounts(dst map[string]int64, av types.AttributeValue) error {
	m, ok := av.(*types.AttributeValueMemberM)
	if !ok {
		return nil
	}
	for k, v := range m.Value {
		n, ok := v.(*types.AttributeValueMemberN)
		if !ok {
			return fmt.Errorf("%q is not a number", k)
		}
		c, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			return fmt.Errorf("%q: %w", k, err)
		}
		dst[k] += c
	}
	return nil
}

func numAttr(item map[string]types.AttributeValue, name string) (int64, error) {
	v, ok := item[name]
	if !ok {
		return 0, nil
	}
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("attribute %s is %T, want a number", name, v)
	}
	c, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %s: %w", name, err)
	}
	return c, nil
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
