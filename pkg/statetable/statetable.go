// Package statetable holds the layout of Bedrock Warden's one DynamoDB
// table, which every stateful adapter shares (dedup, spike counters, budget
// marks, heartbeat, remediation ledger): partition key "pk" (S), sort key
// "sk" (S), and a TTL attribute "ttl" (N, epoch seconds). template.yaml
// declares the same layout; each adapter keeps its items under its own pk
// prefix (EVT#, ALERT#, SPIKE#, BUDGET#, HB#, REM#, RECON#, POSTURE#, SELFTEST#,
// TRAILOBJ#).
package statetable

import (
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names of the key and of the expiry.
const (
	PK  = "pk"
	SK  = "sk"
	TTL = "ttl"
)

// PrefixRecon starts the partition key of the recon-then-invoke marks
// (package recon/recondb documents their layout).
const PrefixRecon = "RECON#"

// PrefixSelfTest starts the partition key of the sentinel's marks of
// self-test subscriptions (package tamper/markdb).
const PrefixSelfTest = "SELFTEST#"

// PrefixTrailObject starts the partition key of the S3 intake's marks of
// the log files it judged (package archive/intake/objectdb).
const PrefixTrailObject = "TRAILOBJ#"

// Key returns the item key (pk, sk).
func Key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		PK: &types.AttributeValueMemberS{Value: pk},
		SK: &types.AttributeValueMemberS{Value: sk},
	}
}

// Expires returns the TTL attribute value for t (epoch seconds).
func Expires(t time.Time) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}

// PartitionKey returns the item's pk, or "" when it has none.
func PartitionKey(item map[string]types.AttributeValue) string {
	if v, ok := item[PK].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// The weekly posture audit (package audit/posturedb) keeps, per audited
// account, the dimensions in which each principal was allowed at the last
// run, so that the next run alerts on what changed:
//
//	pk "POSTURE#<account>"
//	sk "P#<principal ARN>"  allowed  S  the allowed dimension ids, comma-joined, sorted
//	                        at       S  the run that wrote it (RFC 3339)
//	sk "RUN"                at       S  the last completed run (RFC 3339)
//	                        principals, exceeding  N  what that run judged
//
// A principal allowed in no dimension has no item. The items do not
// expire: a principal's item lives until a run finds it allowed in
// nothing (or gone), and the run marker until the next run.
const (
	PosturePrefix          = "POSTURE#"
	PosturePrincipalPrefix = "P#"
	PostureRunSK           = "RUN"
)

// PostureKey returns the posture partition key of account.
func PostureKey(account string) string { return PosturePrefix + account }
