package statetable

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestLayout(t *testing.T) {
	k := Key("EVT#1", "EVENT")
	if PartitionKey(k) != "EVT#1" || k[SK].(*types.AttributeValueMemberS).Value != "EVENT" || len(k) != 2 {
		t.Fatalf("key = %v", k)
	}
	if got := Expires(time.Unix(1700000000, 999)).Value; got != "1700000000" {
		t.Fatalf("Expires = %s", got)
	}
	if PartitionKey(map[string]types.AttributeValue{}) != "" {
		t.Fatal("missing pk")
	}
}
