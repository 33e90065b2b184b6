// Package dynamostore is the state.Store on the Bedrock Warden DynamoDB
// state table (partition key pk, sort key sk, TTL attribute ttl).
//
// Items:
//
//	pk "EVT#<eventId>"       sk "HANDLED"  at N (unix ms), ttl N
//	pk "ALERT#<fingerprint>" sk "WINDOW"   st S (pending|sent|released),
//	    rule S, fp S, owner S, tok S (while pending), claimedAt N (unix ms),
//	    windowEnd N (unix ms), cnt N (follow-ups not yet reported),
//	    rep N (part of cnt the pending alert reports), alerts N,
//	    v N (claim version), sentAt N (unix ms), ttl N
//
// A benign event writes nothing: only events with findings reach the store.
package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bedrock-warden/warden/pkg/state"
	"github.com/bedrock-warden/warden/pkg/statetable"
)

// API is the part of the DynamoDB client the store uses.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store is a state.Store on one table.
type Store struct {
	client API
	table  string
	// EventTTL is how long handled-event markers live
	// (state.DefaultEventTTL when zero).
	EventTTL time.Duration
	// WindowRetention is how long a window item outlives its window
	// (state.DefaultWindowRetention when zero).
	WindowRetention time.Duration
}

var _ state.Store = (*Store)(nil)

// New returns a Store on table.
func New(client API, table string) *Store { return &Store{client: client, table: table} }

// maxBatchGet is BatchGetItem's key limit.
const maxBatchGet = 100

func key(pk, sk string) map[string]types.AttributeValue {
	return statetable.Key(pk, sk)
}

func eventKey(id string) map[string]types.AttributeValue {
	return key(state.EventPrefix+id, state.EventSK)
}

func windowKey(fp string) map[string]types.AttributeValue {
	return key(state.AlertPrefix+fp, state.AlertSK)
}

func num(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func str(s string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: s} }

func (s *Store) eventTTL() time.Duration {
	if s.EventTTL > 0 {
		return s.EventTTL
	}
	return state.DefaultEventTTL
}

func (s *Store) retention() time.Duration {
	if s.WindowRetention > 0 {
		return s.WindowRetention
	}
	return state.DefaultWindowRetention
}

// Handled is one consistent BatchGetItem per 100 ids, retrying unprocessed
// keys.
func (s *Store) Handled(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	uniq := make([]string, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	for start := 0; start < len(uniq); start += maxBatchGet {
		chunk := uniq[start:min(start+maxBatchGet, len(uniq))]
		keys := make([]map[string]types.AttributeValue, len(chunk))
		for i, id := range chunk {
			keys[i] = eventKey(id)
		}
		req := map[string]types.KeysAndAttributes{s.table: {
			Keys: keys, ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String(statetable.PK),
		}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt == 5 {
				return nil, fmt.Errorf("dynamostore: read handled events: keys still unprocessed after %d attempts", attempt)
			}
			if attempt > 0 {
				if err := sleep(ctx, time.Duration(attempt)*50*time.Millisecond); err != nil {
					return nil, fmt.Errorf("dynamostore: read handled events: %w", err)
				}
			}
			res, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("dynamostore: read handled events: %w", err)
			}
			for _, item := range res.Responses[s.table] {
				if pk, ok := item[statetable.PK].(*types.AttributeValueMemberS); ok {
					out[pk.Value[len(state.EventPrefix):]] = true
				}
			}
			req = res.UnprocessedKeys
		}
	}
	return out, nil
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

// Window is one consistent GetItem.
func (s *Store) Window(ctx context.Context, fingerprint string) (state.Window, error) {
	res, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: windowKey(fingerprint), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return state.Window{}, fmt.Errorf("dynamostore: read window %s: %w", fingerprint, err)
	}
	if len(res.Item) == 0 {
		return state.Window{Fingerprint: fingerprint}, nil
	}
	w, err := decodeWindow(res.Item)
	if err != nil {
		return state.Window{}, fmt.Errorf("dynamostore: window %s: %w", fingerprint, err)
	}
	w.Fingerprint = fingerprint
	return w, nil
}

// Claim is one conditional UpdateItem on the window's version. Count is
// kept (created at 0) and copied to rep.
func (s *Store) Claim(ctx context.Context, c state.Claim) (state.Window, error) {
	cond := "attribute_not_exists(pk)"
	vals := map[string]types.AttributeValue{
		":pending": str(string(state.StatusPending)),
		":owner":   str(c.Owner),
		":tok":     str(c.Token),
		":rule":    str(c.Rule),
		":fp":      str(c.Fingerprint),
		":at":      num(c.Now.UnixMilli()),
		":end":     num(c.Now.Add(c.Window).UnixMilli()),
		":zero":    num(0),
		":v":       num(c.PrevVersion + 1),
		":ttl":     num(c.Now.Add(c.Window).Add(s.retention()).Unix()),
	}
	if c.PrevVersion > 0 {
		cond = "#v = :prev"
		vals[":prev"] = num(c.PrevVersion)
	}
	res, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table),
		Key:       windowKey(c.Fingerprint),
		UpdateExpression: aws.String("SET #st = :pending, #owner = :owner, #tok = :tok, #rule = :rule, #fp = :fp, " +
			"claimedAt = :at, windowEnd = :end, #cnt = if_not_exists(#cnt, :zero), #rep = if_not_exists(#cnt, :zero), " +
			"#alerts = if_not_exists(#alerts, :zero), #v = :v, #ttl = :ttl"),
		ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: map[string]string{
			"#st": "st", "#owner": "owner", "#tok": "tok", "#rule": "rule", "#fp": "fp",
			"#cnt": "cnt", "#rep": "rep", "#alerts": "alerts", "#v": "v", "#ttl": statetable.TTL,
		},
		ExpressionAttributeValues: vals,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return state.Window{}, fmt.Errorf("dynamostore: claim %s: %w", c.Fingerprint, state.ErrConflict)
		}
		return state.Window{}, fmt.Errorf("dynamostore: claim %s: %w", c.Fingerprint, err)
	}
	w, err := decodeWindow(res.Attributes)
	if err != nil {
		return state.Window{}, fmt.Errorf("dynamostore: claimed window %s: %w", c.Fingerprint, err)
	}
	w.Fingerprint = c.Fingerprint
	return w, nil
}

// Release is one conditional UpdateItem: pending with this token →
// released. A lost condition is not an error (the claim is not ours).
func (s *Store) Release(ctx context.Context, fingerprint, token string) error {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      windowKey(fingerprint),
		UpdateExpression:         aws.String("SET #st = :released REMOVE #tok"),
		ConditionExpression:      aws.String("#st = :pending AND #tok = :tok"),
		ExpressionAttributeNames: map[string]string{"#st": "st", "#tok": "tok"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":released": str(string(state.StatusReleased)),
			":pending":  str(string(state.StatusPending)),
			":tok":      str(token),
		},
	})
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return nil
		}
		return fmt.Errorf("dynamostore: release %s: %w", fingerprint, err)
	}
	return nil
}

// Commit is one TransactWriteItems: an Update per sent claim (condition:
// still pending with our token), an Update per counted fingerprint
// (condition: the window exists) and a Put per handled event (condition:
// not yet marked).
func (s *Store) Commit(ctx context.Context, c state.Commit) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("dynamostore: %w", err)
	}
	var items []types.TransactWriteItem
	for _, sent := range c.Sent {
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:           aws.String(s.table),
			Key:                 windowKey(sent.Fingerprint),
			UpdateExpression:    aws.String("SET #st = :sent, sentAt = :now, #cnt = #cnt - :rep, #rep = :zero, #alerts = #alerts + :one REMOVE #tok"),
			ConditionExpression: aws.String("#st = :pending AND #tok = :tok"),
			ExpressionAttributeNames: map[string]string{
				"#st": "st", "#cnt": "cnt", "#rep": "rep", "#alerts": "alerts", "#tok": "tok",
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":sent": str(string(state.StatusSent)), ":pending": str(string(state.StatusPending)),
				":tok": str(sent.Token), ":now": num(c.Now.UnixMilli()), ":rep": num(sent.Reported),
				":zero": num(0), ":one": num(1),
			},
		}})
	}
	for fp, n := range c.Counts {
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       windowKey(fp),
			UpdateExpression:          aws.String("ADD #cnt :n"),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeNames:  map[string]string{"#cnt": "cnt"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(n)},
		}})
	}
	for _, id := range c.Handled {
		item := eventKey(id)
		item["at"] = num(c.Now.UnixMilli())
		item[statetable.TTL] = statetable.Expires(c.Now.Add(s.eventTTL()))
		items = append(items, types.TransactWriteItem{Put: &types.Put{
			TableName:           aws.String(s.table),
			Item:                item,
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		}})
	}
	if len(items) == 0 {
		return nil
	}
	_, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err != nil {
		var tce *types.TransactionCanceledException
		if errors.As(err, &tce) {
			for _, r := range tce.CancellationReasons {
				if aws.ToString(r.Code) == "ConditionalCheckFailed" {
					return fmt.Errorf("dynamostore: commit: %w: %v", state.ErrConflict, err)
				}
			}
		}
		return fmt.Errorf("dynamostore: commit: %w", err)
	}
	return nil
}

func decodeWindow(item map[string]types.AttributeValue) (state.Window, error) {
	var w state.Window
	var err error
	getS := func(name string) string {
		if v, ok := item[name].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	getN := func(name string) int64 {
		v, ok := item[name]
		if !ok || err != nil {
			return 0
		}
		n, isN := v.(*types.AttributeValueMemberN)
		if !isN {
			err = fmt.Errorf("attribute %s is not a number", name)
			return 0
		}
		x, perr := strconv.ParseInt(n.Value, 10, 64)
		if perr != nil {
			err = fmt.Errorf("attribute %s: %w", name, perr)
		}
		return x
	}
	w.Rule = getS("rule")
	w.Status = state.Status(getS("st"))
	w.Owner = getS("owner")
	w.Token = getS("tok")
	w.ClaimedAt = time.UnixMilli(getN("claimedAt")).UTC()
	w.WindowEnd = time.UnixMilli(getN("windowEnd")).UTC()
	w.Count = getN("cnt")
	w.Reporting = getN("rep")
	w.Alerts = getN("alerts")
	w.Version = getN("v")
	return w, err
}
