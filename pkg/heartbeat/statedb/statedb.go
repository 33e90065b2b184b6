// Package statedb keeps the heartbeat's State in the Bedrock Warden state
// table (partition key pk, sort key sk): one item, pk "HEARTBEAT#pipeline",
// sk "STATE", written with a version condition so that two overlapping
// checks cannot both open (and alert) the same outage.
//
//	pk "HEARTBEAT#pipeline" sk "STATE"  kind S, fp S, outageStart N,
//	    alertedAt N, watching N (unix ms, 0 = none), v N (version)
//
// It is written only when the state changes: the first check, an alert,
// a clear. No TTL: the item is the monitor's memory.
package statedb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bedrock-warden/warden/pkg/heartbeat"
	"github.com/bedrock-warden/warden/pkg/statetable"
)

// Item key.
const (
	PK = "HEARTBEAT#pipeline"
	SK = "STATE"
)

// API is the part of the DynamoDB client the store calls.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// Store is a heartbeat.Store on one table.
type Store struct {
	api   API
	table string
}

var _ heartbeat.Store = (*Store)(nil)

// New returns a Store on table.
func New(api API, table string) *Store { return &Store{api: api, table: table} }

func key() map[string]types.AttributeValue {
	return statetable.Key(PK, SK)
}

// Load reads the state (zero State when there is no item).
func (s *Store) Load(ctx context.Context) (heartbeat.State, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return heartbeat.State{}, fmt.Errorf("dynamodb GetItem %s %s: %w", s.table, PK, err)
	}
	if out.Item == nil {
		return heartbeat.State{}, nil
	}
	var st heartbeat.State
	if st.OutageStart, err = timeAttr(out.Item, "outageStart"); err != nil {
		return st, err
	}
	if st.AlertedAt, err = timeAttr(out.Item, "alertedAt"); err != nil {
		return st, err
	}
	if st.Watching, err = timeAttr(out.Item, "watching"); err != nil {
		return st, err
	}
	st.Kind = strAttr(out.Item, "kind")
	st.Fingerprint = strAttr(out.Item, "fp")
	if v, ok := out.Item["v"].(*types.AttributeValueMemberN); ok {
		if st.Version, err = strconv.ParseInt(v.Value, 10, 64); err != nil {
			return st, fmt.Errorf("heartbeat item: version %q: %w", v.Value, err)
		}
	}
	return st, nil
}

// Save writes st as version st.Version+1 if the stored version is
// st.Version (or there is no item and st.Version is 0).
func (s *Store) Save(ctx context.Context, st heartbeat.State) error {
	item := key()
	item["kind"] = &types.AttributeValueMemberS{Value: st.Kind}
	item["fp"] = &types.AttributeValueMemberS{Value: st.Fingerprint}
	item["outageStart"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(unixMilli(st.OutageStart), 10)}
	item["alertedAt"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(unixMilli(st.AlertedAt), 10)}
	item["watching"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(unixMilli(st.Watching), 10)}
	item["v"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(st.Version+1, 10)}
	in := &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}
	if st.Version == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(pk) OR v = :v")
	} else {
		in.ConditionExpression = aws.String("v = :v")
	}
	in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(st.Version, 10)}}
	if _, err := s.api.PutItem(ctx, in); err != nil {
		var cc *types.ConditionalCheckFailedException
		if errors.As(err, &cc) {
			return fmt.Errorf("dynamodb PutItem %s %s version %d: %w", s.table, PK, st.Version, heartbeat.ErrConflict)
		}
		return fmt.Errorf("dynamodb PutItem %s %s: %w", s.table, PK, err)
	}
	return nil
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func timeAttr(item map[string]types.AttributeValue, name string) (time.Time, error) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return time.Time{}, nil
	}
	ms, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("heartbeat item: %s %q: %w", name, v.Value, err)
	}
	if ms == 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(ms).UTC(), nil
}

func strAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}
