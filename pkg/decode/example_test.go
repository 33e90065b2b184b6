package decode_test

import (
	"errors"
	"fmt"

	"github.com/bedrock-warden/warden/pkg/decode"
)

func ExampleBytes() {
	input := []byte(`{"eventSource":"bedrock.amazonaws.com","eventName":"InvokeModel","awsRegion":"us-east-1","eventTime":"2025-01-21 17:49:47.000000000","readOnly":"true"}
{"foo":1}
{"version":"0","id":"ev-1","detail-type":"AWS API Call via CloudTrail","source":"aws.bedrock","detail":{"eventName":"Converse","awsRegion":"eu-west-1","eventTime":"[REDACTED]"}}`)
	for it := range decode.Bytes("stdin", input) {
		if it.Err != nil {
			fmt.Println("error:", it.Err, "| unknown shape:", errors.Is(it.Err, decode.ErrUnknownShape))
			continue
		}
		r := it.Record
		readOnly := "unknown"
		if r.ReadOnly != nil {
			readOnly = fmt.Sprint(*r.ReadOnly)
		}
		fmt.Printf("line %d %s id=%q %s %s time=%v zero=%v readOnly=%s\n",
			it.Origin.Index+1, it.Origin.Shape, it.Origin.MessageID, r.EventName, r.AWSRegion,
			r.Time.Format("2006-01-02T15:04:05Z07:00"), r.Time.IsZero(), readOnly)
	}
	// Output:
	// line 1 jsonl id="" InvokeModel us-east-1 time=2025-01-21T17:49:47Z zero=false readOnly=true
	// error: stdin[1]: jsonl: unknown shape: JSON object with keys "foo", want a CloudTrail record, EventBridge envelope, log file or SQS message | unknown shape: true
	// line 3 jsonl id="ev-1" Converse eu-west-1 time=0001-01-01T00:00:00Z zero=true readOnly=unknown
}
