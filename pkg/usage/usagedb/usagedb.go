// Package usagedb keeps the usage counters and the limit notification
// marks in the Bedrock Warden DynamoDB state table (pk, sk, ttl). It
// implements usage.Store and usage.Marks.
//
// Item layout:
//
//	counters, one per (subject, model) per period:
//	  pk  "USAGE#<period>#<period start, RFC 3339 UTC>"
//	  sk  "<subject>#<model>"  (a part over 400 bytes is cut and hashed)
//	  subject, model  S   the key, for readers
//	  inv, in, out, cr, cw, unpriced  N  invocations and tokens (atomic ADD)
//	  usd  N  cost at the policy's prices (atomic ADD)
//	  ttl  N  period end + Retention
//	batch markers, one per counter update:
//	  pk  "USAGE#SEEN#<digest>"   sk "SEEN"   ttl N  written + SeenFor
//	marks, one per (rule, limit, principal) per period:
//	  pk  "USAGE#MARK#<period>#<period start>"
//	  sk  "<rule>#<limit>#<principal ARN>"
//	  st  S  pending | sent;  at  N  epoch ms it was taken;  ttl N
//
// A counter update is one TransactWriteItems: the batch marker's
// conditional put (attribute_not_exists) and the counter's ADD commit
// together, so a batch delivered again — a Lambda retry, or CloudWatch
// Logs redelivering it — finds its marker and adds nothing, and a crash
// between keys leaves the keys written so far counted once. A period's
// counters share a partition: `warden usage` reads a period with one
// Query, a subject's usage with one Query on its sort-key prefix.
package usagedb

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

	"github.com/bedrock-warden/warden/pkg/statetable"
	"github.com/bedrock-warden/warden/pkg/usage"
)

// PKPrefix starts every usage item's partition key.
const PKPrefix = "USAGE#"

// Retention is how long counters stay after their period ends, for
// `warden usage --period … --at` on past periods.
const Retention = 400 * 24 * time.Hour

// SeenFor is how long a batch marker stays: longer than Lambda keeps
// retrying an event (6 hours) and than CloudWatch Logs retries a
// subscription delivery.
const SeenFor = 7 * 24 * time.Hour

// maxPart bounds each half of a counter's sort key: DynamoDB caps a sort
// key at 1,024 bytes.
const maxPart = 400

// API is the part of the DynamoDB client the store uses.
type API interface {
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Store is a usage.Store and usage.Marks on one DynamoDB table.
type Store struct {
	client API
	table  string
}

var (
	_ usage.Store = (*Store)(nil)
	_ usage.Marks = (*Store)(nil)
)

// New returns a Store on table.
func New(client API, table string) *Store { return &Store{client: client, table: table} }

// PK returns the partition key of a period's counters.
func PK(period string, start time.Time) string {
	return PKPrefix + period + "#" + start.UTC().Format(time.RFC3339)
}

// part keeps a sort-key part under maxPart bytes: a longer one is its
// first 64 bytes and a SHA-256 of the whole.
func part(s string) string {
	if len(s) <= maxPart {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return s[:64] + "…sha256:" + hex.EncodeToString(sum[:])
}

// SK returns the sort key of a subject's counter of model.
func SK(subject, model string) string { return part(subject) + "#" + part(model) }

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func f(v float64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatFloat(v, 'f', -1, 64)}
}

// Add implements usage.Store with one TransactWriteItems.
func (st *Store) Add(ctx context.Context, k usage.Key, c usage.Counters, digest string, now time.Time) (bool, error) {
	_, end, err := usage.Bounds(k.Period, k.Start)
	if err != nil {
		return false, fmt.Errorf("usagedb: %w", err)
	}
	seen := statetable.Key(PKPrefix+"SEEN#"+digest, "SEEN")
	seen[statetable.TTL] = statetable.Expires(now.Add(SeenFor))
	key := statetable.Key(PK(k.Period, k.Start), SK(k.Subject, k.Model))
	in := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(st.table), Item: seen, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Update: &types.Update{
			TableName: aws.String(st.table),
			Key:       key,
			UpdateExpression: aws.String("SET #subject = :subject, #model = :model, #ttl = :ttl " +
				"ADD #inv :inv, #in :in, #out :out, #cr :cr, #cw :cw, #usd :usd, #unpriced :unpriced"),
			ExpressionAttributeNames: map[string]string{"#subject": "subject", "#model": "model", "#ttl": statetable.TTL,
				"#inv": "inv", "#in": "in", "#out": "out", "#cr": "cr", "#cw": "cw", "#usd": "usd", "#unpriced": "unpriced"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":subject": s(k.Subject), ":model": s(k.Model), ":ttl": statetable.Expires(end.Add(Retention)),
				":inv": n(c.Invocations), ":in": n(c.InputTokens), ":out": n(c.OutputTokens), ":cr": n(c.CacheReadTokens),
				":cw": n(c.CacheWriteTokens), ":usd": f(c.USD), ":unpriced": n(c.UnpricedTokens),
			},
		}},
	}}
	for attempt := 1; ; attempt++ {
		_, err = st.client.TransactWriteItems(ctx, in)
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			break
		}
		switch reason(tce) {
		case "ConditionalCheckFailed":
			return false, nil // this batch's update was applied before
		case "TransactionConflict":
			// Another invocation is updating the same counter: both
			// succeed, one after the other.
			if attempt < maxConflicts {
				select {
				case <-ctx.Done():
					return false, ctx.Err()
				case <-time.After(time.Duration(attempt*attempt) * 20 * time.Millisecond):
				}
				continue
			}
		}
		break
	}
	if err != nil {
		return false, fmt.Errorf("usagedb: add: %w", err)
	}
	return true, nil
}

// maxConflicts bounds the attempts of an update that keeps conflicting
// with concurrent ones; past it the batch fails and Lambda retries it.
const maxConflicts = 4

// reason returns the first cancellation reason that is not "None".
func reason(tce *types.TransactionCanceledException) string {
	for _, r := range tce.CancellationReasons {
		if c := aws.ToString(r.Code); c != "" && c != "None" {
			return c
		}
	}
	return ""
}

// Usage implements usage.Store: one strongly consistent Query on the
// subject's sort-key prefix, so it sees the Add just made.
func (st *Store) Usage(ctx context.Context, period string, start time.Time, subject string) (map[string]usage.Counters, error) {
	out := map[string]usage.Counters{}
	err := st.query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(st.table),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s(PK(period, start)), ":prefix": s(part(subject) + "#")},
		ConsistentRead:            aws.Bool(true),
	}, func(e usage.Entry) {
		if e.Subject == subject {
			out[e.Model] = e.Counters
		}
	})
	return out, err
}

// List implements usage.Store: one Query (paginated) on the period.
func (st *Store) List(ctx context.Context, period string, start time.Time) ([]usage.Entry, error) {
	var out []usage.Entry
	err := st.query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(st.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s(PK(period, start))},
	}, func(e usage.Entry) { out = append(out, e) })
	return out, err
}

func (st *Store) query(ctx context.Context, in *dynamodb.QueryInput, each func(usage.Entry)) error {
	for {
		res, err := st.client.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("usagedb: query %s: %w", in.ExpressionAttributeValues[":pk"].(*types.AttributeValueMemberS).Value, err)
		}
		for _, item := range res.Items {
			e, err := decode(item)
			if err != nil {
				return fmt.Errorf("usagedb: item %s: %w", statetable.PartitionKey(item), err)
			}
			each(e)
		}
		if len(res.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

func decode(item map[string]types.AttributeValue) (usage.Entry, error) {
	var e usage.Entry
	var err error
	str := func(name string) string {
		v, _ := item[name].(*types.AttributeValueMemberS)
		if v == nil {
			return ""
		}
		return v.Value
	}
	num := func(name string) string {
		v, ok := item[name].(*types.AttributeValueMemberN)
		if !ok {
			return "0"
		}
		return v.Value
	}
	i := func(name string) int64 {
		x, perr := strconv.ParseInt(num(name), 10, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("attribute %s: %w", name, perr)
		}
		return x
	}
	e.Subject, e.Model = str("subject"), str("model")
	e.Counters = usage.Counters{Invocations: i("inv"), InputTokens: i("in"), OutputTokens: i("out"), CacheReadTokens: i("cr"),
		CacheWriteTokens: i("cw"), UnpricedTokens: i("unpriced")}
	usd, perr := strconv.ParseFloat(num("usd"), 64)
	if perr != nil && err == nil {
		err = fmt.Errorf("attribute usd: %w", perr)
	}
	e.Counters.USD = usd
	if e.Subject == "" && err == nil {
		err = errors.New("no subject")
	}
	return e, err
}

// Mark states as stored.
const (
	markPending = "pending"
	markSent    = "sent"
)

func markKey(m usage.Mark) map[string]types.AttributeValue {
	return statetable.Key(PKPrefix+"MARK#"+m.Period+"#"+m.Start.UTC().Format(time.RFC3339), m.Rule+"#"+m.Limit+"#"+part(m.Principal))
}

// Begin implements usage.Marks: a conditional PutItem that succeeds when
// the mark does not exist or is pending for longer than lease; when it
// fails, a consistent read tells sent from busy.
func (st *Store) Begin(ctx context.Context, m usage.Mark, now time.Time, lease time.Duration, expires time.Time) (usage.MarkState, error) {
	item := markKey(m)
	item["st"] = s(markPending)
	item["at"] = n(now.UnixMilli())
	item["rule"], item["limit"], item["principal"] = s(m.Rule), s(m.Limit), s(m.Principal)
	item[statetable.TTL] = statetable.Expires(expires)
	_, err := st.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(st.table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR (st = :pending AND #at < :stale)"),
		ExpressionAttributeNames:  map[string]string{"#at": "at"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pending": s(markPending), ":stale": n(now.Add(-lease).UnixMilli())},
	})
	var ccf *types.ConditionalCheckFailedException
	if err == nil {
		return usage.MarkAcquired, nil
	}
	if !errors.As(err, &ccf) {
		return 0, fmt.Errorf("usagedb: begin mark: %w", err)
	}
	got, err := st.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.table), Key: markKey(m), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, fmt.Errorf("usagedb: read mark: %w", err)
	}
	if v, ok := got.Item["st"].(*types.AttributeValueMemberS); ok && v.Value == markSent {
		return usage.MarkDone, nil
	}
	return usage.MarkBusy, nil
}

// Sent implements usage.Marks.
func (st *Store) Sent(ctx context.Context, m usage.Mark) error {
	_, err := st.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.table),
		Key:                       markKey(m),
		UpdateExpression:          aws.String("SET st = :sent"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":sent": s(markSent)},
	})
	if err != nil {
		return fmt.Errorf("usagedb: mark sent: %w", err)
	}
	return nil
}

// Abandon implements usage.Marks.
func (st *Store) Abandon(ctx context.Context, m usage.Mark) error {
	_, err := st.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(st.table),
		Key:                       markKey(m),
		ConditionExpression:       aws.String("st = :pending"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pending": s(markPending)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("usagedb: abandon mark: %w", err)
	}
	return nil
}
