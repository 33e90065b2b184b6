package normalize

import (
	"encoding/json"
	"testing"

	"github.com/bedrock-warden/warden/pkg/decode"
)

// benignInvoke is a typical allowed invocation: an assumed role calling
// Converse on a us. profile, rerouted, through the runtime host.
func benignInvoke() *decode.Record {
	ro := true
	return &decode.Record{
		EventVersion: "1.10",
		UserIdentity: decode.UserIdentity{
			Type: "AssumedRole", PrincipalID: "AROAEXAMPLE:app", ARN: "arn:aws:sts::111122223333:assumed-role/AppRole/app",
			AccountID: "111122223333", AccessKeyID: "ASIAEXAMPLE",
			SessionContext: &decode.SessionContext{
				Attributes:    decode.SessionAttributes{CreationDate: "2025-01-01T00:00:00Z", MFAAuthenticated: "false"},
				SessionIssuer: &decode.SessionIssuer{Type: "Role", ARN: "arn:aws:iam::111122223333:role/AppRole", AccountID: "111122223333", UserName: "AppRole"},
			},
		},
		EventSource: "bedrock.amazonaws.com", EventName: "Converse", AWSRegion: "us-east-1",
		SourceIPAddress: "10.1.2.3", UserAgent: "aws-sdk-go-v2/1.30",
		RequestParameters:   json.RawMessage(`{"modelId":"us.anthropic.claude-3-5-sonnet-20240620-v1:0"}`),
		AdditionalEventData: json.RawMessage(`{"inferenceRegion":"us-west-2"}`),
		RequestID:           "r", EventID: "e", ReadOnly: &ro, EventType: "AwsApiCall", RecipientAccountID: "111122223333",
		VPCEndpointID: "vpce-0123", TLSDetails: &decode.TLSDetails{ClientProvidedHostHeader: "bedrock-runtime.us-east-1.amazonaws.com"},
	}
}

func BenchmarkNormalize(b *testing.B) {
	r := benignInvoke()
	b.ReportAllocs()
	for b.Loop() {
		_ = Normalize(r, benignOrigin)
	}
}

func BenchmarkParseModelID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = ParseModelID("arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0")
	}
}

var benignOrigin = decode.Origin{Source: "sqs", Index: 0, Shape: decode.ShapeSQS, MessageID: "m-1"}
