package dynamostore_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/state"
	"github.com/bedrock-warden/warden/pkg/state/dynamostore"
	"github.com/bedrock-warden/warden/pkg/state/statetest"
)

// The DynamoDB store passes the same conformance suite as the memory
// store, against moto_server with the real client. Each subtest gets its
// own table on one server. moto does not serialise conditional writes, so
// the concurrency case runs on the memory store only.
func TestDynamoConformance(t *testing.T) {
	srv := motoserver.Start(t)
	client := dynamodb.NewFromConfig(srv.Config(t))
	var n atomic.Int64
	statetest.Run(t, func(t *testing.T) state.Store {
		name := fmt.Sprintf("warden-%d", n.Add(1))
		srv.CreateTable(t, name)
		return dynamostore.New(client, name)
	}, statetest.Options{SkipConcurrency: true})
}
