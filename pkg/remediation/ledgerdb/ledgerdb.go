// Package ledgerdb keeps remediation's state in the shared Bedrock Warden
// DynamoDB table (partition key pk, sort key sk, TTL attribute ttl): the
// ledger of actions, the expiry index the sweeper reads, the idempotency
// claims per finding fingerprint, and the per-account hourly breaker.
// Every item lives under a pk starting with "REM#"; docs/remediation.md
// lists the layout.
//
// Ledger records are sealed: Put stores a MAC over the exact JSON it
// writes (package seal, KMS HMAC through Seal.Gen) and Get verifies it
// (Seal.Check) before returning the record, so nothing forged in the
// table can drive an undo.
package ledgerdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bedrock-warden/warden/pkg/remediation"
	"github.com/bedrock-warden/warden/pkg/seal"
	"github.com/bedrock-warden/warden/pkg/statetable"
)

// Partition keys and prefixes.
const (
	PKLedger        = "REM#LEDGER"
	PKExpiry        = "REM#EXPIRY"
	PKClaimPrefix   = "REM#FP#"
	PKBreakerPrefix = "REM#BREAKER#"
	PKNoticePrefix  = "REM#NOTICE#"
)

// skNotice is the sort key of notice items.
const skNotice = "NOTICE"

// sortLayout is a fixed-width UTC time, so sort keys order by time.
const sortLayout = "2006-01-02T15:04:05.000000000Z"

// API is the part of the DynamoDB client the store calls; *dynamodb.Client
// satisfies it.
type API interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Store implements remediation.Ledger, remediation.Claims,
// remediation.Breaker and remediation.Notices on one table.
type Store struct {
	API   API
	Table string
	// Seal seals records on Put (Gen) and verifies them on Get (Check).
	// A Store without Gen cannot write records; without Check, Get
	// refuses every record (List needs neither).
	Seal seal.Records
}

var (
	_ remediation.Ledger  = Store{}
	_ remediation.Claims  = Store{}
	_ remediation.Breaker = Store{}
	_ remediation.Notices = Store{}
)

// New returns a Store over the SDK client built from cfg, sealing and
// verifying with sealer.
func New(cfg aws.Config, table string, sealer seal.Records, opts ...func(*dynamodb.Options)) Store {
	return Store{API: dynamodb.NewFromConfig(cfg, opts...), Table: table, Seal: sealer}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func key(pk, sk string) map[string]types.AttributeValue {
	return statetable.Key(pk, sk)
}

func ledgerSK(id string) (string, error) {
	t, err := remediation.IDTime(id)
	if err != nil {
		return "", err
	}
	return t.UTC().Format(sortLayout) + "#" + id, nil
}

// RecordKey returns the table key of ledger record id (partition
// PKLedger, sort key "<time>#<id>").
func RecordKey(id string) (map[string]types.AttributeValue, error) {
	sk, err := ledgerSK(id)
	if err != nil {
		return nil, err
	}
	return key(PKLedger, sk), nil
}

func str(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func num(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		i, _ := strconv.ParseInt(v.Value, 10, 64)
		return i
	}
	return 0
}

func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// Put implements remediation.Ledger: it writes the record (the JSON in
// attribute "record", with a few attributes beside it for people reading
// the table) and keeps the expiry index in step.
func (st Store) Put(ctx context.Context, r remediation.Record) error {
	sk, err := ledgerSK(r.ID)
	if err != nil {
		return err
	}
	body, err := remediation.MarshalRecord(r)
	if err != nil {
		return fmt.Errorf("marshal record %s: %w", r.ID, err)
	}
	mac, err := st.Seal.Seal(ctx, r.ID, body)
	if err != nil {
		return err
	}
	item := key(PKLedger, sk)
	item["id"] = s(r.ID)
	item["record"] = s(string(body))
	item["mac"] = &types.AttributeValueMemberB{Value: mac}
	item["mode"] = s(string(r.Mode))
	item["action"] = s(r.Action)
	item["result"] = s(r.Result)
	item["rule"] = s(r.Rule)
	item["principal"] = s(r.Principal)
	if _, err := st.API.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.Table), Item: item}); err != nil {
		return fmt.Errorf("put ledger record %s: %w", r.ID, err)
	}
	if r.ExpiresAt == nil {
		return nil
	}
	ek := key(PKExpiry, r.ExpiresAt.UTC().Format(sortLayout)+"#"+r.ID)
	// Index every enforce record that may have changed IAM: an applied one,
	// and a failed or interrupted one whose earlier steps did (undo
	// reverses only the steps that were applied).
	changed := r.Result == remediation.ResultApplied || r.Result == remediation.ResultFailed || r.Result == remediation.ResultApplying
	if changed && r.UndoneBy == "" {
		ek["id"] = s(r.ID)
		if _, err := st.API.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.Table), Item: ek}); err != nil {
			return fmt.Errorf("put expiry of %s: %w", r.ID, err)
		}
		return nil
	}
	if _, err := st.API.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(st.Table), Key: ek}); err != nil {
		return fmt.Errorf("delete expiry of %s: %w", r.ID, err)
	}
	return nil
}

// Get implements remediation.Ledger.
func (st Store) Get(ctx context.Context, id string) (remediation.Record, error) {
	sk, err := ledgerSK(id)
	if err != nil {
		return remediation.Record{}, err
	}
	out, err := st.API.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.Table), Key: key(PKLedger, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return remediation.Record{}, fmt.Errorf("get ledger record %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return remediation.Record{}, fmt.Errorf("%w: %s", remediation.ErrNoRecord, id)
	}
	var mac []byte
	if b, ok := out.Item["mac"].(*types.AttributeValueMemberB); ok {
		mac = b.Value
	}
	if err := st.Seal.Verify(ctx, id, []byte(str(out.Item, "record")), mac); err != nil {
		if errors.Is(err, seal.ErrMissing) || errors.Is(err, seal.ErrInvalid) {
			return remediation.Record{}, fmt.Errorf("%w: %w", remediation.ErrUnauthenticated, err)
		}
		return remediation.Record{}, err
	}
	return decode(out.Item)
}

func decode(item map[string]types.AttributeValue) (remediation.Record, error) {
	var r remediation.Record
	if err := json.Unmarshal([]byte(str(item, "record")), &r); err != nil {
		return r, fmt.Errorf("ledger item %s: %w", str(item, statetable.SK), err)
	}
	return r, nil
}

// List implements remediation.Ledger with a Query on the ledger partition
// from since on.
func (st Store) List(ctx context.Context, since time.Time, principal string) ([]remediation.Record, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(st.Table),
		KeyConditionExpression:    aws.String("pk = :pk AND sk >= :from"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s(PKLedger), ":from": s(since.UTC().Format(sortLayout))},
		ConsistentRead:            aws.Bool(true),
	}
	if principal != "" {
		in.FilterExpression = aws.String("principal = :p")
		in.ExpressionAttributeValues[":p"] = s(principal)
	}
	var out []remediation.Record
	for {
		page, err := st.API.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("query ledger: %w", err)
		}
		for _, item := range page.Items {
			r, err := decode(item)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// Expired implements remediation.Ledger from the expiry index.
func (st Store) Expired(ctx context.Context, t time.Time) ([]string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(st.Table),
		KeyConditionExpression:    aws.String("pk = :pk AND sk <= :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s(PKExpiry), ":to": s(t.UTC().Format(sortLayout) + "#~")},
		ConsistentRead:            aws.Bool(true),
	}
	var ids []string
	for {
		page, err := st.API.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("query expiry index: %w", err)
		}
		for _, item := range page.Items {
			ids = append(ids, str(item, "id"))
		}
		if len(page.LastEvaluatedKey) == 0 {
			return ids, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// Claim implements remediation.Claims with a conditional put: it succeeds
// when no claim exists, when the existing one has expired (ttl passed), or
// when a pending one is older than lease.
func (st Store) Claim(ctx context.Context, claimKey string, mode remediation.Mode, now time.Time, lease time.Duration) (remediation.ClaimResult, error) {
	item := key(PKClaimPrefix+claimKey, string(mode))
	item["status"] = s("pending")
	item["at"] = n(now.Unix())
	_, err := st.API.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(st.Table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(pk) OR (attribute_exists(#ttl) AND #ttl < :now) OR (#status = :pending AND #at < :stale)"),
		ExpressionAttributeNames: map[string]string{"#ttl": statetable.TTL, "#status": "status", "#at": "at"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": n(now.Unix()), ":pending": s("pending"), ":stale": n(now.Add(-lease).Unix()),
		},
	})
	if err == nil {
		return remediation.ClaimResult{State: remediation.ClaimAcquired}, nil
	}
	if !conditionFailed(err) {
		return remediation.ClaimResult{}, fmt.Errorf("claim %s/%s: %w", claimKey, mode, err)
	}
	out, err := st.API.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.Table), Key: key(PKClaimPrefix+claimKey, string(mode)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return remediation.ClaimResult{}, fmt.Errorf("read claim %s/%s: %w", claimKey, mode, err)
	}
	if str(out.Item, "status") == "done" {
		notified := false
		if b, ok := out.Item["notified"].(*types.AttributeValueMemberBOOL); ok {
			notified = b.Value
		}
		return remediation.ClaimResult{State: remediation.ClaimDuplicate, Record: str(out.Item, "record"), Notified: notified}, nil
	}
	return remediation.ClaimResult{State: remediation.ClaimBusy}, nil
}

// Complete implements remediation.Claims.
func (st Store) Complete(ctx context.Context, claimKey string, mode remediation.Mode, recordID string, until time.Time, notified bool) error {
	item := key(PKClaimPrefix+claimKey, string(mode))
	item["status"] = s("done")
	item["record"] = s(recordID)
	item["notified"] = &types.AttributeValueMemberBOOL{Value: notified}
	if !until.IsZero() {
		item[statetable.TTL] = statetable.Expires(until)
	}
	if _, err := st.API.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.Table), Item: item}); err != nil {
		return fmt.Errorf("complete claim %s/%s: %w", claimKey, mode, err)
	}
	return nil
}

// MarkNotified implements remediation.Claims.
func (st Store) MarkNotified(ctx context.Context, claimKey string, mode remediation.Mode) error {
	_, err := st.API.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.Table),
		Key:                       key(PKClaimPrefix+claimKey, string(mode)),
		UpdateExpression:          aws.String("SET #n = :t"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#n": "notified"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("mark claim %s/%s notified: %w", claimKey, mode, err)
	}
	return nil
}

// Release implements remediation.Claims.
func (st Store) Release(ctx context.Context, claimKey string, mode remediation.Mode) error {
	if _, err := st.API.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(st.Table), Key: key(PKClaimPrefix+claimKey, string(mode))}); err != nil {
		return fmt.Errorf("release claim %s/%s: %w", claimKey, mode, err)
	}
	return nil
}

// BeginNotice implements remediation.Notices with a conditional put: it
// succeeds when no notice item exists, when it expired (ttl passed), or
// when a pending one is older than lease.
func (st Store) BeginNotice(ctx context.Context, noticeKey string, now time.Time, lease, keep time.Duration) (bool, error) {
	item := key(PKNoticePrefix+noticeKey, skNotice)
	item["status"] = s("pending")
	item["at"] = n(now.Unix())
	item[statetable.TTL] = statetable.Expires(now.Add(keep))
	_, err := st.API.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(st.Table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(pk) OR #ttl < :now OR (#status = :pending AND #at < :stale)"),
		ExpressionAttributeNames: map[string]string{"#ttl": statetable.TTL, "#status": "status", "#at": "at"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": n(now.Unix()), ":pending": s("pending"), ":stale": n(now.Add(-lease).Unix()),
		},
	})
	if err == nil {
		return true, nil
	}
	if conditionFailed(err) {
		return false, nil
	}
	return false, fmt.Errorf("begin notice %s: %w", noticeKey, err)
}

// NoticeSent implements remediation.Notices.
func (st Store) NoticeSent(ctx context.Context, noticeKey string) error {
	_, err := st.API.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.Table),
		Key:                       key(PKNoticePrefix+noticeKey, skNotice),
		UpdateExpression:          aws.String("SET #status = :sent"),
		ExpressionAttributeNames:  map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":sent": s("sent")},
	})
	if err != nil {
		return fmt.Errorf("mark notice %s sent: %w", noticeKey, err)
	}
	return nil
}

// AbandonNotice implements remediation.Notices: a pending notice is
// deleted; a sent one is left alone.
func (st Store) AbandonNotice(ctx context.Context, noticeKey string) error {
	_, err := st.API.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(st.Table),
		Key:                       key(PKNoticePrefix+noticeKey, skNotice),
		ConditionExpression:       aws.String("#status = :pending"),
		ExpressionAttributeNames:  map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pending": s("pending")},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("abandon notice %s: %w", noticeKey, err)
	}
	return nil
}

func breakerKey(account string, hour time.Time) map[string]types.AttributeValue {
	return key(PKBreakerPrefix+account, remediation.Hour(hour).Format(time.RFC3339))
}

// Take implements remediation.Breaker: an atomic ADD guarded by a
// condition, so concurrent invocations never count past max.
func (st Store) Take(ctx context.Context, account string, hour time.Time, max int) (bool, error) {
	_, err := st.API.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.Table),
		Key:                       breakerKey(account, hour),
		UpdateExpression:          aws.String("ADD #c :one SET #ttl = :ttl"),
		ConditionExpression:       aws.String("attribute_not_exists(#c) OR #c < :max"),
		ExpressionAttributeNames:  map[string]string{"#c": "count", "#ttl": statetable.TTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": n(1), ":max": n(int64(max)), ":ttl": n(remediation.Hour(hour).Add(2 * time.Hour).Unix())},
	})
	if err == nil {
		return true, nil
	}
	if conditionFailed(err) {
		return false, nil
	}
	return false, fmt.Errorf("breaker take %s: %w", account, err)
}

// MarkOpen implements remediation.Breaker: openedAt is set once per hour.
func (st Store) MarkOpen(ctx context.Context, account string, hour time.Time) error {
	_, err := st.API.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.Table),
		Key:                       breakerKey(account, hour),
		UpdateExpression:          aws.String("SET #o = if_not_exists(#o, :t), #ttl = :ttl"),
		ExpressionAttributeNames:  map[string]string{"#o": "openedAt", "#ttl": statetable.TTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": n(time.Now().Unix()), ":ttl": n(remediation.Hour(hour).Add(2 * time.Hour).Unix())},
	})
	if err != nil {
		return fmt.Errorf("breaker mark open %s: %w", account, err)
	}
	return nil
}

// Status implements remediation.Breaker.
func (st Store) Status(ctx context.Context, account string, hour time.Time) (remediation.BreakerStatus, error) {
	out, err := st.API.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.Table), Key: breakerKey(account, hour), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return remediation.BreakerStatus{}, fmt.Errorf("breaker status %s: %w", account, err)
	}
	_, open := out.Item["openedAt"]
	return remediation.BreakerStatus{Account: account, Hour: remediation.Hour(hour), Count: int(num(out.Item, "count")), Open: open}, nil
}

// Reset implements remediation.Breaker by deleting the hour's item.
func (st Store) Reset(ctx context.Context, account string, hour time.Time) error {
	if _, err := st.API.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(st.Table), Key: breakerKey(account, hour)}); err != nil {
		return fmt.Errorf("breaker reset %s: %w", account, err)
	}
	return nil
}
