package statetable

import (
	"strings"
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

func TestPostureLayout(t *testing.T) {
	if PostureKey("111122223333") != "POSTURE#111122223333" {
		t.Fatal(PostureKey("111122223333"))
	}
	if strings.HasPrefix(PostureRunSK, PosturePrincipalPrefix) {
		t.Error("the run marker's sort key must not look like a principal's")
	}
}
