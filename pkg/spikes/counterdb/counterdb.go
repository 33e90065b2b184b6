// Package counterdb keeps the invocation-spike window counters in the
// Bedrock Warden DynamoDB state table (partition key pk, sort key sk, TTL
// attribute ttl). It implements spikes.Store.
//
// Item layout. One item per window holds every key's events, so that a
// batch costs one write per window it touches (per 100 keys), whatever its
// number of events:
//
//	pk        "SPIKE#<window start, RFC 3339 UTC>"
//	sk        "counts"
//	e:<key>   BS  8-byte hashes of the distinct events counted for the key
//	              (spikes.EventHash; at most spikes.SetCap): a set, so ADD
//	              is idempotent and order-independent, which keeps counts
//	              exact under redelivery and regrouping
//	o:<key>   N   events counted beyond spikes.SetCap
//	t:<key>   M   {m: {model: n}, i: {ip: n}}: the latest batch's top 5
//	ws S, win N, ttl N (window end + spikes.Retention)
//
// where <key> is SK(key): "principal#<ARN>" or "model#<base model id>".
// Alert markers have items of their own, written only when a window trips:
//
//	pk "SPIKE#<window start>", sk SK(key), alertedAt S (set once,
//	conditionally), ttl N (window start + MarkerTTL)
//
// A window's items share a partition, so `warden spikes status` reads a
// window with one Query; a key's history is one BatchGetItem.
//
// Cost: a write is billed per KB of the larger of the item before and after
// it, and the counts item grows by about 16 bytes per event of its window
// (two 8-byte hashes: principal and model), so a window of N events read
// in B batches costs about B × N / 128 write units (see BENCHMARKS.md).
package counterdb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/bedrock-warden/warden/pkg/spikes"
	"github.com/bedrock-warden/warden/pkg/statetable"
)

// PKPrefix starts every spike item's partition key.
const PKPrefix = "SPIKE#"

// CountsSK is the sort key of a window's counts item.
const CountsSK = "counts"

// maxBatchGet is DynamoDB's BatchGetItem key limit.
const maxBatchGet = 100

// addChunk is how many keys one UpdateItem carries: DynamoDB caps an
// update expression at 4 KB, and each key takes about 25 characters of it.
const addChunk = 100

// Attribute name prefixes of the counts item.
const (
	prefixEvents   = "e:"
	prefixBeyond   = "o:"
	prefixSnapshot = "t:"
)

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

// SK returns the sort key of k's alert marker, also k's name in the counts
// item.
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
	if k.Account != "" {
		// model@111122223333#<id>: a model counted per account.
		return k.Kind + "@" + k.Account + "#" + id
	}
	return k.Kind + "#" + id
}

// MaxKeyID is the longest principal or model id kept as is in a sort key.
const MaxKeyID = 512

func key(k spikes.Key, start time.Time) map[string]types.AttributeValue {
	return statetable.Key(PK(start), SK(k))
}

func countsKey(start time.Time) map[string]types.AttributeValue {
	return statetable.Key(PK(start), CountsSK)
}

func num(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func countMap(rs []spikes.Ranked) *types.AttributeValueMemberM {
	out := make(map[string]types.AttributeValue, len(rs))
	for _, r := range rs {
		out[r.Name] = num(r.Count)
	}
	return &types.AttributeValueMemberM{Value: out}
}

// Add is one UpdateItem on the window's counts item per 100 keys: ADD each
// key's event hashes to its set (or, beyond spikes.SetCap, their number to
// its plain count) and SET its snapshot, returning the item as it was,
// from which the counts and the events new to the window follow. Should the item outgrow DynamoDB's 400 KB, the keys of the
// refused write are counted as plain numbers.
func (s *Store) Add(ctx context.Context, wb spikes.WindowBatch) ([]spikes.Counter, error) {
	out := make([]spikes.Counter, len(wb.Keys))
	for lo := 0; lo < len(wb.Keys); lo += addChunk {
		hi := min(lo+addChunk, len(wb.Keys))
		err := s.add(ctx, wb, lo, hi, out, false)
		if err != nil && itemTooLarge(err) {
			err = s.add(ctx, wb, lo, hi, out, true)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// itemTooLarge reports DynamoDB's refusal of an item above 400 KB.
func itemTooLarge(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "ValidationException" &&
		strings.Contains(strings.ToLower(api.ErrorMessage()), "item size")
}

// add writes keys [lo, hi) of wb; numbers counts every key as a plain
// number (the item is full).
func (s *Store) add(ctx context.Context, wb spikes.WindowBatch, lo, hi int, out []spikes.Counter, numbers bool) error {
	var adds []string
	names := map[string]string{"#ws": "ws", "#win": "win", "#ttl": statetable.TTL}
	values := map[string]types.AttributeValue{
		":ws":  &types.AttributeValueMemberS{Value: wb.Start.UTC().Format(time.RFC3339)},
		":win": num(int64(wb.Window / time.Second)),
		":ttl": num(wb.Expires.Unix()),
	}
	sets := []string{"#ws = :ws", "#win = :win", "#ttl = :ttl"}
	for i := lo; i < hi; i++ {
		inc := wb.Keys[i]
		n := strconv.Itoa(i - lo)
		name := SK(inc.Key)
		switch {
		case len(inc.Events) == 0:
		case inc.Beyond || numbers:
			names["#o"+n] = prefixBeyond + name
			values[":o"+n] = num(int64(len(inc.Events)))
			adds = append(adds, "#o"+n+" :o"+n)
		default:
			names["#e"+n] = prefixEvents + name
			set := make([][]byte, len(inc.Events))
			for j := range inc.Events {
				set[j] = inc.Events[j][:]
			}
			values[":e"+n] = &types.AttributeValueMemberBS{Value: set}
			adds = append(adds, "#e"+n+" :e"+n)
		}
		names["#t"+n] = prefixSnapshot + name
		values[":t"+n] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"m": countMap(inc.Models), "i": countMap(inc.IPs),
		}}
		sets = append(sets, "#t"+n+" = :t"+n)
	}
	update := "SET " + strings.Join(sets, ", ")
	if len(adds) > 0 {
		update += " ADD " + strings.Join(adds, ", ")
	}
	// The item as it was (ALL_OLD; UPDATED_OLD leaves out a set that the
	// update did not change, which is exactly the redelivery to detect).
	ret := types.ReturnValueAllOld
	if numbers {
		// The sets are not updated, so only the whole item tells their
		// sizes.
		ret = types.ReturnValueAllNew
	}
	resp, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       countsKey(wb.Start),
		UpdateExpression:          aws.String(update),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              ret,
	})
	if err != nil {
		return fmt.Errorf("counterdb: add to %s: %w", PK(wb.Start), err)
	}
	for i := lo; i < hi; i++ {
		inc := wb.Keys[i]
		c := &out[i]
		old, err := readKey(resp.Attributes, SK(inc.Key))
		if err != nil {
			return fmt.Errorf("counterdb: item %s: %w", PK(wb.Start), err)
		}
		c.Models, c.IPs = spikes.Rank(old.models, 0), spikes.Rank(old.ips, 0)
		switch {
		case numbers:
			// ALL_NEW: the item after the update, snapshot included.
			c.Count = int64(len(old.events)) + old.beyond
			c.New = int64(len(inc.Events))
		case inc.Beyond:
			c.New = int64(len(inc.Events))
			c.Count = int64(len(old.events)) + old.beyond + c.New
		default:
			for _, h := range inc.Events {
				if _, ok := old.events[h]; !ok {
					c.New++
				}
			}
			c.Count = int64(len(old.events)) + c.New + old.beyond
		}
	}
	return nil
}

// keyState is what the counts item holds for one key.
type keyState struct {
	events      map[spikes.EventHash]struct{}
	beyond      int64
	models, ips map[string]int64
}

// readKey reads the attributes of key name from item (nil: none).
func readKey(item map[string]types.AttributeValue, name string) (keyState, error) {
	st := keyState{events: map[spikes.EventHash]struct{}{}}
	if v, ok := item[prefixEvents+name]; ok {
		bs, ok := v.(*types.AttributeValueMemberBS)
		if !ok {
			return st, fmt.Errorf("attribute %s%s is %T, want a binary set", prefixEvents, name, v)
		}
		for _, b := range bs.Value {
			var h spikes.EventHash
			copy(h[:], b)
			st.events[h] = struct{}{}
		}
	}
	n, err := numAttr(item, prefixBeyond+name)
	if err != nil {
		return st, err
	}
	st.beyond = n
	if snap, ok := item[prefixSnapshot+name].(*types.AttributeValueMemberM); ok {
		st.models, st.ips = map[string]int64{}, map[string]int64{}
		if err := addCounts(st.models, snap.Value["m"]); err != nil {
			return st, fmt.Errorf("snapshot of %s: %w", name, err)
		}
		if err := addCounts(st.ips, snap.Value["i"]); err != nil {
			return st, fmt.Errorf("snapshot of %s: %w", name, err)
		}
	}
	return st, nil
}

// Counts is one BatchGetItem per 100 windows (plus retries of unprocessed
// keys, which DynamoDB returns under throttling), projecting the key's
// attributes of each window's counts item.
func (s *Store) Counts(ctx context.Context, k spikes.Key, starts []time.Time) ([]int64, error) {
	out := make([]int64, len(starts))
	index := make(map[string]int, len(starts))
	for i, st := range starts {
		index[PK(st)] = i
	}
	name := SK(k)
	for lo := 0; lo < len(starts); lo += maxBatchGet {
		hi := min(lo+maxBatchGet, len(starts))
		keys := make([]map[string]types.AttributeValue, 0, hi-lo)
		for _, st := range starts[lo:hi] {
			keys = append(keys, countsKey(st))
		}
		req := map[string]types.KeysAndAttributes{s.table: {
			Keys:                     keys,
			ProjectionExpression:     aws.String("pk, #e, #o"),
			ExpressionAttributeNames: map[string]string{"#e": prefixEvents + name, "#o": prefixBeyond + name},
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
				st, err := readKey(item, name)
				if err != nil {
					return nil, fmt.Errorf("counterdb: history of %s at %s: %w", k, pk.Value, err)
				}
				out[i] = int64(len(st.events)) + st.beyond
			}
			req = resp.UnprocessedKeys
		}
	}
	return out, nil
}

// MarkerTTL is how long after its window starts an alert marker is kept:
// redeliveries come within hours.
const MarkerTTL = 48 * time.Hour

// MarkAlerted is one conditional UpdateItem (attribute_not_exists) on the
// key's marker item.
func (s *Store) MarkAlerted(ctx context.Context, k spikes.Key, start, at time.Time) (bool, error) {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(k, start),
		UpdateExpression:          aws.String("SET #a = :at, #ttl = :ttl"),
		ConditionExpression:       aws.String("attribute_not_exists(#a)"),
		ExpressionAttributeNames:  map[string]string{"#a": "alertedAt", "#ttl": statetable.TTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)}, ":ttl": num(start.Add(MarkerTTL).Unix())},
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

// Entry is one key's counter in a window, as `warden spikes status` shows
// it.
type Entry struct {
	Key         spikes.Key
	WindowStart time.Time
	Count       int64
	Alerted     bool
	AlertedAt   string
	// Models and IPs are the latest batch's top lists.
	Models map[string]int64
	IPs    map[string]int64
}

// Window returns every key counted or alerted in the window starting at
// start (one Query, paginated), in key order.
func (s *Store) Window(ctx context.Context, start time.Time) ([]Entry, error) {
	p := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: PK(start)}},
	})
	byName := map[string]*Entry{}
	entry := func(name string) *Entry {
		e := byName[name]
		if e == nil {
			kind, id, _ := strings.Cut(name, "#")
			kind, account, _ := strings.Cut(kind, "@")
			e = &Entry{Key: spikes.Key{Kind: kind, ID: id, Account: account}, WindowStart: start.UTC()}
			byName[name] = e
		}
		return e
	}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("counterdb: query window %s: %w", PK(start), err)
		}
		for _, item := range page.Items {
			sk, _ := item[statetable.SK].(*types.AttributeValueMemberS)
			switch {
			case sk == nil:
			case sk.Value != CountsSK:
				if v, ok := item["alertedAt"].(*types.AttributeValueMemberS); ok {
					e := entry(sk.Value)
					e.Alerted, e.AlertedAt = true, v.Value
				}
			default:
				names := map[string]bool{}
				for attr := range item {
					for _, pre := range []string{prefixEvents, prefixBeyond, prefixSnapshot} {
						if name, ok := strings.CutPrefix(attr, pre); ok {
							names[name] = true
						}
					}
				}
				for name := range names {
					st, err := readKey(item, name)
					if err != nil {
						return nil, fmt.Errorf("counterdb: window %s: %w", PK(start), err)
					}
					e := entry(name)
					e.Count = int64(len(st.events)) + st.beyond
					e.Models, e.IPs = st.models, st.ips
				}
			}
		}
	}
	out := make([]Entry, 0, len(byName))
	for _, e := range byName {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(SK(a.Key), SK(b.Key)) })
	return out, nil
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
