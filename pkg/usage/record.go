// Package usage counts what each principal spends on Amazon Bedrock —
// invocations, tokens and dollars, per model — from the model invocation
// logs, and enforces the policy's limits: limit-warning at a limit's
// warnAt share, limit-exceeded at 100 %, once per limit, principal and
// period, and for a limit with action block a block-until the period ends,
// carried out by the remediator through the sealed-finding path.
//
// It is pure: no AWS SDK. A Meter takes one batch of log events (package
// logsrc decodes the CloudWatch Logs subscription payload), parses each
// record for the few fields it needs (never the request or response
// bodies), maps the caller to the principal the detector names, prices the
// tokens, and makes one counter update per (subject, model, period) key
// per batch through a Store (package usagedb on DynamoDB), each applied at
// most once whatever the redelivery. It then compares the subjects it saw
// with their limits, and notifies findings once per limit, principal,
// period and rule through Marks. Directory (package iamsrc) gives a role's
// path and a principal's tags; DeadLetters (package sqspub) keeps the
// records it cannot read, without their bodies.
package usage

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SchemaType is the schemaType of a Bedrock model invocation log record.
const SchemaType = "ModelInvocationLog"

// Record is the part of one model invocation log record that usage reads.
// The record's bodies (input.inputBodyJson, output.outputBodyJson, …) are
// skipped by the parser and never kept, logged or stored.
type Record struct {
	Time      time.Time
	Account   string
	Region    string
	RequestID string
	Operation string
	// ModelID is the id as logged: a model id, an inference profile id or
	// an ARN.
	ModelID string
	// Identity is identity.arn as logged: an IAM user ARN, an STS
	// assumed-role session ARN, …
	Identity string
	// Counters holds one invocation and the record's token counts (USD
	// is filled in when the record is priced).
	Counters Counters
}

// wireRecord is the record as Bedrock writes it, without the bodies:
// encoding/json skips keys a struct does not name.
type wireRecord struct {
	SchemaType    string `json:"schemaType"`
	SchemaVersion string `json:"schemaVersion"`
	Timestamp     string `json:"timestamp"`
	AccountID     string `json:"accountId"`
	Identity      struct {
		ARN string `json:"arn"`
	} `json:"identity"`
	Region    string `json:"region"`
	RequestID string `json:"requestId"`
	Operation string `json:"operation"`
	ModelID   string `json:"modelId"`
	Input     struct {
		InputTokenCount           int64 `json:"inputTokenCount"`
		CacheReadInputTokenCount  int64 `json:"cacheReadInputTokenCount"`
		CacheWriteInputTokenCount int64 `json:"cacheWriteInputTokenCount"`
	} `json:"input"`
	Output struct {
		OutputTokenCount int64 `json:"outputTokenCount"`
	} `json:"output"`
}

// Reasons a record is rejected, the Reason dimension of the
// UsageRecordsRejected metric.
const (
	ReasonNotJSON     = "not-json"
	ReasonSchema      = "not-invocation-log"
	ReasonMissing     = "missing-field"
	ReasonBadValue    = "bad-value"
	ReasonNoPrincipal = "no-principal"
)

// RecordError says why a log event is not a usable invocation log record.
// Its message never quotes the record's content.
type RecordError struct {
	Reason string // one of the Reason constants
	Msg    string
}

func (e *RecordError) Error() string { return e.Reason + ": " + e.Msg }

// maxID bounds ids and ARNs taken from a record: they go into item keys.
const maxID = 512

// ParseRecord reads one invocation log record. Only the metadata and the
// token counts are decoded; a record of another schemaType, without
// timestamp, requestId, modelId or identity.arn, or with a negative or
// fractional token count is a *RecordError.
func ParseRecord(msg string) (Record, error) {
	var w wireRecord
	if err := json.Unmarshal([]byte(msg), &w); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return Record{}, &RecordError{ReasonNotJSON, "not JSON (syntax error at byte " + strconv.FormatInt(se.Offset, 10) + ")"}
		case errors.As(err, &te):
			return Record{}, &RecordError{ReasonBadValue, "field " + te.Field + " is not a " + te.Type.String()}
		}
		return Record{}, &RecordError{ReasonNotJSON, "not a JSON object"}
	}
	if w.SchemaType != "" && w.SchemaType != SchemaType {
		return Record{}, &RecordError{ReasonSchema, fmt.Sprintf("schemaType is not %s", SchemaType)}
	}
	var missing []string
	for name, v := range map[string]string{"timestamp": w.Timestamp, "requestId": w.RequestID, "modelId": w.ModelID, "identity.arn": w.Identity.ARN} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return Record{}, &RecordError{ReasonMissing, "no " + strings.Join(missing, ", ")}
	}
	for name, v := range map[string]string{"requestId": w.RequestID, "modelId": w.ModelID, "identity.arn": w.Identity.ARN, "accountId": w.AccountID, "region": w.Region, "operation": w.Operation} {
		if len(v) > maxID || !printable(v) {
			return Record{}, &RecordError{ReasonBadValue, name + " is longer than " + strconv.Itoa(maxID) + " characters or not printable ASCII"}
		}
	}
	t, err := time.Parse(time.RFC3339Nano, w.Timestamp)
	if err != nil {
		return Record{}, &RecordError{ReasonBadValue, "timestamp is not an RFC 3339 time"}
	}
	c := Counters{Invocations: 1, InputTokens: w.Input.InputTokenCount, OutputTokens: w.Output.OutputTokenCount,
		CacheReadTokens: w.Input.CacheReadInputTokenCount, CacheWriteTokens: w.Input.CacheWriteInputTokenCount}
	if c.InputTokens < 0 || c.OutputTokens < 0 || c.CacheReadTokens < 0 || c.CacheWriteTokens < 0 {
		return Record{}, &RecordError{ReasonBadValue, "a token count is negative"}
	}
	return Record{Time: t.UTC(), Account: w.AccountID, Region: w.Region, RequestID: w.RequestID, Operation: w.Operation,
		ModelID: w.ModelID, Identity: w.Identity.ARN, Counters: c}, nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
