package decode

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/bedrock-warden/warden/internal/samples"
)

// samplesDir is testdata/cloudtrail-public at the repository root: real
// public CloudTrail records (see SOURCES.md there).
func samplesDir(t testing.TB) string {
	t.Helper()
	samples.Files(t)
	return samples.Dir()
}

func collect(t testing.TB, seq func(func(Item) bool)) []Item {
	t.Helper()
	var items []Item
	for it := range seq {
		checkItem(t, it)
		items = append(items, it)
	}
	return items
}

// checkItem asserts the Item invariant: an error is an *Error agreeing with
// Origin and comes with a zero Record.
func checkItem(t testing.TB, it Item) {
	t.Helper()
	if it.Err == nil {
		return
	}
	var e *Error
	if !errors.As(it.Err, &e) {
		t.Fatalf("Err is %T, want *Error: %v", it.Err, it.Err)
	}
	if e.Source != it.Origin.Source || e.Index != it.Origin.Index || e.Shape != it.Origin.Shape || e.MessageID != it.Origin.MessageID {
		t.Fatalf("Error %+v disagrees with Origin %+v", e, it.Origin)
	}
	if it.Record.EventName != "" || it.Record.EventID != "" {
		t.Fatalf("error item carries a record: %+v", it.Record)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func one(t *testing.T, items []Item) Item {
	t.Helper()
	if len(items) != 1 {
		t.Fatalf("got %d items, want 1: %+v", len(items), items)
	}
	return items[0]
}

func ptrBool(b bool) *bool { return &b }

func TestPublicSamples(t *testing.T) {
	dir := samplesDir(t)
	tests := []struct {
		file      string
		name      string
		region    string
		eventID   string
		time      string // RFC 3339 in UTC; "" = zero
		readOnly  *bool
		account   string // userIdentity.accountId
		shape     Shape
		messageID string
	}{
		{"cloudtrail_converse_crossregion_partial_awsblog_getting_started.json", "Converse", "us-east-1", "", "", nil, "", ShapeRecord, ""},
		{"cloudtrail_converse_resourcenotfound_legacy_model_partial_qiita.json", "Converse", "ap-northeast-1", "", "", nil, "", ShapeRecord, ""},
		{"cloudtrail_deletemodelinvocationloggingconfiguration_assumedrole_sso_panther.json", "DeleteModelInvocationLoggingConfiguration", "us-west-2", "28773860-a4fd-47c7-a215-6f0e6e6e532f", "2025-01-21T17:49:47Z", ptrBool(false), "123123123123", ShapeRecord, ""},
		{"cloudtrail_getfoundationmodelavailability_iamuser_permiso.json", "GetFoundationModelAvailability", "us-west-2", "318d332c-e398-4bbe-b50c-f5e252611591", "2024-09-16T05:09:28Z", ptrBool(true), "1234567890", ShapeRecord, ""},
		{"cloudtrail_invokemodel_accessdenied_iamuser_permiso.json", "InvokeModel", "eu-west-3", "d2ff79d2-cf19-4e5d-bf86-e43d065bf905", "2024-07-08T17:06:49Z", ptrBool(true), "1234567890", ShapeRecord, ""},
		{"cloudtrail_invokemodel_aws_docs_example_readOnly_false.json", "InvokeModel", "us-west-2", "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111", "2023-10-11T21:58:59Z", ptrBool(false), "111122223333", ShapeRecord, ""},
		{"cloudtrail_invokemodel_success_iamuser_sumologic.json", "InvokeModel", "us-west-2", "a8d388e2-3111-44bf-b78f-b0e263dc3d25", "2024-10-01T11:52:37Z", ptrBool(true), "956882123456", ShapeRecord, ""},
		{"cloudtrail_invokemodel_validationexception_iamuser_sysdig.json", "InvokeModel", "us-east-1", "419e15ca-2097-4190-a233-678415ed9a4f", "", ptrBool(true), "[REDACTED]", ShapeRecord, ""},
		{"eventbridge_envelope_aws_api_call_via_cloudtrail_s3_classic_example.json", "CreateBucket", "us-east-1", "24ba271e-d595-4e66-a7fd-9c16cbf8abae", "2016-02-20T01:09:13Z", nil, "123456789012", ShapeEventBridge, "36eb8523-97d0-4518-b33d-ee3579ff19f0"},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		seen[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			data := readFile(t, filepath.Join(dir, tc.file))
			it := one(t, collect(t, Bytes(tc.file, data)))
			if it.Err != nil {
				t.Fatalf("decode: %v", it.Err)
			}
			r := it.Record
			if r.EventName != tc.name || r.AWSRegion != tc.region || r.EventID != tc.eventID {
				t.Errorf("got name %q region %q id %q, want %q %q %q", r.EventName, r.AWSRegion, r.EventID, tc.name, tc.region, tc.eventID)
			}
			if tc.time == "" {
				if !r.Time.IsZero() {
					t.Errorf("Time = %v, want zero (eventTime %q)", r.Time, r.EventTime)
				}
			} else if got := r.Time.Format(time.RFC3339Nano); got != tc.time || r.Time.Location() != time.UTC {
				t.Errorf("Time = %s (%v), want %s UTC", got, r.Time.Location(), tc.time)
			}
			switch {
			case tc.readOnly == nil && r.ReadOnly != nil:
				t.Errorf("ReadOnly = %v, want nil", *r.ReadOnly)
			case tc.readOnly != nil && (r.ReadOnly == nil || *r.ReadOnly != *tc.readOnly):
				t.Errorf("ReadOnly = %v, want %v", r.ReadOnly, *tc.readOnly)
			}
			if r.UserIdentity.AccountID != tc.account {
				t.Errorf("accountId = %q, want %q", r.UserIdentity.AccountID, tc.account)
			}
			want := Origin{Source: tc.file, Index: 0, Shape: tc.shape, MessageID: tc.messageID}
			if it.Origin != want {
				t.Errorf("Origin = %+v, want %+v", it.Origin, want)
			}
		})
	}
	// Every sample on disk must be covered by the table.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") && !seen[e.Name()] {
			t.Errorf("sample %s is not in the table", e.Name())
		}
	}
}

func TestSampleDetails(t *testing.T) {
	dir := samplesDir(t)
	r := one(t, collect(t, Bytes("x", readFile(t, filepath.Join(dir, "cloudtrail_deletemodelinvocationloggingconfiguration_assumedrole_sso_panther.json"))))).Record
	sc := r.UserIdentity.SessionContext
	if sc == nil || sc.SessionIssuer == nil || sc.SessionIssuer.ARN != "arn:aws:iam::123123123123:role/aws-reserved/sso.amazonaws.com/us-west-2/DevAdmin" {
		t.Errorf("session issuer not decoded: %+v", sc)
	}
	if r.ManagementEvent == nil || !*r.ManagementEvent {
		t.Errorf("ManagementEvent = %v, want true", r.ManagementEvent)
	}
	if r.TLSDetails == nil || r.TLSDetails.ClientProvidedHostHeader != "bedrock.us-west-2.amazonaws.com" {
		t.Errorf("TLSDetails = %+v", r.TLSDetails)
	}
	r = one(t, collect(t, Bytes("x", readFile(t, filepath.Join(dir, "cloudtrail_converse_crossregion_partial_awsblog_getting_started.json"))))).Record
	if got := string(compact(t, r.AdditionalEventData)); got != `{"inferenceRegion":"us-west-2"}` {
		t.Errorf("AdditionalEventData = %s", got)
	}
	r = one(t, collect(t, Bytes("x", readFile(t, filepath.Join(dir, "cloudtrail_invokemodel_accessdenied_iamuser_permiso.json"))))).Record
	if r.ErrorCode != "AccessDenied" || r.SourceIPAddress != "198.44.136.222" || string(compact(t, r.RequestParameters)) != `{"modelId":"anthropic.claude-3-sonnet-20240229-v1:0"}` {
		t.Errorf("record = %+v", r)
	}
}

func compact(t *testing.T, raw json.RawMessage) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("compact %q: %v", raw, err)
	}
	return b.Bytes()
}

// sampleRecord returns a compact public sample record.
func sampleRecord(t testing.TB, name string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, readFile(t, filepath.Join(samplesDir(t), name))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const (
	permiso  = "cloudtrail_invokemodel_accessdenied_iamuser_permiso.json"
	sumo     = "cloudtrail_invokemodel_success_iamuser_sumologic.json"
	s3Envlpe = "eventbridge_envelope_aws_api_call_via_cloudtrail_s3_classic_example.json"
)

func sqsMessage(id, body string) string {
	b, _ := json.Marshal(body)
	return `{"messageId":"` + id + `","receiptHandle":"AQEB","body":` + string(b) +
		`,"attributes":{"ApproximateReceiveCount":"1"},"messageAttributes":{},"md5OfBody":"x","eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:111122223333:warden","awsRegion":"us-east-1"}`
}

func TestShapes(t *testing.T) {
	rec := string(sampleRecord(t, permiso))
	rec2 := string(sampleRecord(t, sumo))
	env := string(readFile(t, "testdata/eventbridge_bedrock_invokemodel.json"))
	pretty := string(readFile(t, filepath.Join(samplesDir(t), permiso)))
	type want struct {
		name, eventID string
		origin        Origin
	}
	tests := []struct {
		name  string
		input string
		want  []want
	}{
		{"bedrock envelope", env, []want{{"InvokeModel", "e1e2e3e4-1111-4222-8333-444455556666", Origin{"in", 0, ShapeEventBridge, "6f1e0b9e-4c7a-4b8e-9a51-0d2f3c4b5a69"}}}},
		{"bare record", rec, []want{{"InvokeModel", "d2ff79d2-cf19-4e5d-bf86-e43d065bf905", Origin{"in", 0, ShapeRecord, ""}}}},
		{"log file", `{"Records":[` + rec + `,` + rec2 + `]}`, []want{
			{"InvokeModel", "d2ff79d2-cf19-4e5d-bf86-e43d065bf905", Origin{"in", 0, ShapeLogFile, ""}},
			{"InvokeModel", "a8d388e2-3111-44bf-b78f-b0e263dc3d25", Origin{"in", 1, ShapeLogFile, ""}},
		}},
		{"empty log file", `{"Records":[]}`, nil},
		{"sqs event of envelopes and records", `{"Records":[` + sqsMessage("m-1", env) + `,` + sqsMessage("m-2", rec2) + `]}`, []want{
			{"InvokeModel", "e1e2e3e4-1111-4222-8333-444455556666", Origin{"in", 0, ShapeSQS, "m-1"}},
			{"InvokeModel", "a8d388e2-3111-44bf-b78f-b0e263dc3d25", Origin{"in", 1, ShapeSQS, "m-2"}},
		}},
		{"single sqs message", sqsMessage("m-9", env), []want{
			{"InvokeModel", "e1e2e3e4-1111-4222-8333-444455556666", Origin{"in", 0, ShapeSQS, "m-9"}},
		}},
		{"json lines", "\n" + rec + "\n\n" + compactEnv(t, env) + "\r\n" + rec2 + "\n", []want{
			{"InvokeModel", "d2ff79d2-cf19-4e5d-bf86-e43d065bf905", Origin{"in", 1, ShapeJSONLines, ""}},
			{"InvokeModel", "e1e2e3e4-1111-4222-8333-444455556666", Origin{"in", 3, ShapeJSONLines, "6f1e0b9e-4c7a-4b8e-9a51-0d2f3c4b5a69"}},
			{"InvokeModel", "a8d388e2-3111-44bf-b78f-b0e263dc3d25", Origin{"in", 4, ShapeJSONLines, ""}},
		}},
		{"json lines after a byte order mark", "\xef\xbb\xbf" + rec + "\n" + rec2, []want{
			{"InvokeModel", "d2ff79d2-cf19-4e5d-bf86-e43d065bf905", Origin{"in", 0, ShapeJSONLines, ""}},
			{"InvokeModel", "a8d388e2-3111-44bf-b78f-b0e263dc3d25", Origin{"in", 1, ShapeJSONLines, ""}},
		}},
		{"concatenated pretty values", pretty + env, []want{
			{"InvokeModel", "d2ff79d2-cf19-4e5d-bf86-e43d065bf905", Origin{"in", 0, ShapeJSONLines, ""}},
			{"InvokeModel", "e1e2e3e4-1111-4222-8333-444455556666", Origin{"in", strings.Count(pretty, "\n"), ShapeJSONLines, "6f1e0b9e-4c7a-4b8e-9a51-0d2f3c4b5a69"}},
		}},
		{"bare array of records", "[" + rec + ",\n" + rec2 + "]", []want{
			{"InvokeModel", "d2ff79d2-cf19-4e5d-bf86-e43d065bf905", Origin{"in", 0, ShapeLogFile, ""}},
			{"InvokeModel", "a8d388e2-3111-44bf-b78f-b0e263dc3d25", Origin{"in", 1, ShapeLogFile, ""}},
		}},
		{"empty bare array", "[ ]", nil},
		{"bare array on a json line", rec + "\n" + `[` + rec2 + `]`, []want{
			{"InvokeModel", "d2ff79d2-cf19-4e5d-bf86-e43d065bf905", Origin{"in", 0, ShapeJSONLines, ""}},
			{"InvokeModel", "a8d388e2-3111-44bf-b78f-b0e263dc3d25", Origin{"in:2", 0, ShapeLogFile, ""}},
		}},
		{"log file on a json line", rec + "\n" + `{"Records":[` + rec2 + `]}`, []want{
			{"InvokeModel", "d2ff79d2-cf19-4e5d-bf86-e43d065bf905", Origin{"in", 0, ShapeJSONLines, ""}},
			{"InvokeModel", "a8d388e2-3111-44bf-b78f-b0e263dc3d25", Origin{"in:2", 0, ShapeLogFile, ""}},
		}},
		{"byte order mark", "\xef\xbb\xbf" + rec, []want{{"InvokeModel", "d2ff79d2-cf19-4e5d-bf86-e43d065bf905", Origin{"in", 0, ShapeRecord, ""}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, gz := range []bool{false, true} {
				input := []byte(tc.input)
				if gz {
					input = gzipBytes(t, input)
				}
				items := collect(t, Bytes("in", input))
				if len(items) != len(tc.want) {
					t.Fatalf("gzip=%v: got %d items, want %d: %+v", gz, len(items), len(tc.want), items)
				}
				for i, w := range tc.want {
					it := items[i]
					if it.Err != nil {
						t.Fatalf("gzip=%v: item %d: %v", gz, i, it.Err)
					}
					if it.Record.EventName != w.name || it.Record.EventID != w.eventID || it.Origin != w.origin {
						t.Errorf("gzip=%v: item %d = %s %s %+v, want %s %s %+v", gz, i, it.Record.EventName, it.Record.EventID, it.Origin, w.name, w.eventID, w.origin)
					}
				}
				// Reader gives the same result as Bytes, however the
				// stream is cut into reads.
				sameItems(t, collect(t, Reader("in", bytes.NewReader(input))), items)
				sameItems(t, collect(t, Reader("in", iotest.OneByteReader(bytes.NewReader(input)))), items)
				// And the reference decoder agrees.
				if !gz {
					sameItems(t, items, oracle("in", input))
				}
			}
		})
	}
}

func compactEnv(t *testing.T, s string) string {
	t.Helper()
	return string(compact(t, json.RawMessage(s)))
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestEnvelopeFields(t *testing.T) {
	it := one(t, collect(t, Bytes("in", readFile(t, "testdata/eventbridge_bedrock_invokemodel.json"))))
	if it.Err != nil {
		t.Fatal(it.Err)
	}
	r := it.Record
	if r.SourceIPAddress != "2001:db8::1" || r.UserIdentity.SessionContext.SessionIssuer.UserName != "app-role" {
		t.Errorf("record = %+v", r)
	}
	if want := time.Date(2025, 3, 4, 10, 20, 29, 123e6, time.UTC); !r.Time.Equal(want) {
		t.Errorf("Time = %v, want %v", r.Time, want)
	}
	if r.ReadOnly == nil || !*r.ReadOnly || r.ManagementEvent == nil || *r.ManagementEvent {
		t.Errorf("ReadOnly %v ManagementEvent %v, want true false", r.ReadOnly, r.ManagementEvent)
	}
	// The envelope's resources are ARN strings; they are not the record's.
	if len(r.Resources) != 0 {
		t.Errorf("Resources = %+v, want none", r.Resources)
	}
}

func TestRecordResources(t *testing.T) {
	it := one(t, collect(t, Bytes("in", []byte(`{"eventName":"X","resources":[{"ARN":"arn:a","accountId":"1","type":"T"}]}`))))
	if it.Err != nil || len(it.Record.Resources) != 1 || it.Record.Resources[0] != (Resource{ARN: "arn:a", AccountID: "1", Type: "T"}) {
		t.Fatalf("got %+v", it)
	}
}

func TestSIEMLines(t *testing.T) {
	items := collect(t, Bytes("siem.jsonl", readFile(t, "testdata/siem_lines.jsonl")))
	if len(items) != 4 {
		t.Fatalf("got %d items, want 4: %+v", len(items), items)
	}
	r := items[0].Record
	if items[0].Err != nil || r.EventName != "PutModelInvocationLoggingConfiguration" || r.ReadOnly == nil || *r.ReadOnly || r.ManagementEvent == nil || !*r.ManagementEvent || r.RecipientAccountID != "123123123" {
		t.Errorf("line 1: %+v %v", r, items[0].Err)
	}
	if want := time.Date(2025, 1, 21, 17, 49, 47, 0, time.UTC); !r.Time.Equal(want) {
		t.Errorf("line 1 Time = %v", r.Time)
	}
	if items[1].Err != nil || items[1].Origin != (Origin{"siem.jsonl", 2, ShapeJSONLines, "line-3-envelope"}) {
		t.Errorf("line 3: %+v", items[1])
	}
	if want := time.Date(2025, 1, 21, 15, 50, 0, 0, time.UTC); !items[1].Record.Time.Equal(want) || items[1].Record.Time.Location() != time.UTC {
		t.Errorf("line 3 Time = %v, want %v", items[1].Record.Time, want)
	}
	if items[2].Err == nil || items[2].Origin.Index != 3 || !strings.Contains(items[2].Err.Error(), "siem.jsonl[3]: jsonl: line 4 is not JSON") {
		t.Errorf("line 4: %+v", items[2])
	}
	if items[3].Err != nil || items[3].Record.EventID != "line-5" || items[3].Origin.Index != 4 {
		t.Errorf("line 5: %+v", items[3])
	}
}

func TestMixedLogFile(t *testing.T) {
	items := collect(t, Bytes("events/x.json", readFile(t, "testdata/logfile_mixed.json")))
	if len(items) != 3 {
		t.Fatalf("got %d items: %+v", len(items), items)
	}
	if items[0].Err != nil || items[0].Record.EventName != "Converse" || items[2].Err != nil || items[2].Record.EventName != "InvokeModel" {
		t.Fatalf("good records: %+v / %+v", items[0], items[2])
	}
	if items[2].Record.ReadOnly == nil || *items[2].Record.ReadOnly {
		t.Errorf(`readOnly "false" decoded as %v`, items[2].Record.ReadOnly)
	}
	bad := items[1]
	if bad.Err == nil || bad.Origin.Index != 1 || bad.Origin.Shape != ShapeLogFile {
		t.Fatalf("bad record: %+v", bad)
	}
	want := "events/x.json[1]: logfile: json: cannot unmarshal number into eventName of type string"
	if bad.Err.Error() != want {
		t.Errorf("error = %q, want %q", bad.Err, want)
	}
	var te *json.UnmarshalTypeError
	if !errors.As(bad.Err, &te) {
		t.Errorf("error does not unwrap to *json.UnmarshalTypeError")
	}
}

func TestErrors(t *testing.T) {
	big := `{"eventName":"InvokeModel","requestParameters":{"prompt":"` + strings.Repeat("a", MaxRecordBytes) + `"}}`
	tests := []struct {
		name     string
		input    string
		sentinel error  // nil: no sentinel expected
		contains string // in Error()
		index    int
		shape    Shape
	}{
		{"empty", "", ErrEmpty, "in: empty input", -1, ""},
		{"white space", " \n\t ", ErrEmpty, "empty input", -1, ""},
		{"not json", "hello world", nil, "in[0]: not JSON: invalid character 'h'", 0, ""},
		{"truncated object", `{"eventName":"X"`, nil, "not JSON", 0, ""},
		{"number", "42", ErrUnknownShape, "unknown shape: JSON number", 0, ""},
		{"array of a number", "[1]", ErrUnknownShape, "unknown shape: JSON number in the array, want an object", 0, ShapeLogFile},
		{"string", `"x"`, ErrUnknownShape, "JSON string", 0, ""},
		{"null", "null", ErrUnknownShape, "JSON null", 0, ""},
		{"foo object", `{"foo":1}`, ErrUnknownShape, `unknown shape: JSON object with keys "foo"`, 0, ""},
		{"empty object", `{}`, ErrUnknownShape, "JSON object with no keys", 0, ""},
		{"wrong type", `{"eventName":5,"eventSource":"bedrock.amazonaws.com"}`, nil, "in[0]: record: json: cannot unmarshal number into eventName of type string", 0, ShapeRecord},
		{"wrong nested type", `{"eventName":"X","userIdentity":{"type":["a"]}}`, nil, "cannot unmarshal array into userIdentity.type of type string", 0, ShapeRecord},
		{"userIdentity not object", `{"eventName":"X","userIdentity":"root"}`, nil, "into userIdentity of type object", 0, ShapeRecord},
		{"bad readOnly", `{"eventName":"X","readOnly":"maybe"}`, nil, `readOnly: want true or false, got "maybe"`, 0, ShapeRecord},
		{"wrong type in detail", `{"detail-type":"AWS API Call via CloudTrail","source":"aws.bedrock","id":"e-1","detail":{"eventName":true}}`, nil, `in[0] message "e-1": eventbridge: json: cannot unmarshal bool into detail.eventName of type string`, 0, ShapeEventBridge},
		{"non-cloudtrail detail-type", `{"detail-type":"Bedrock Batch Job State Change","source":"aws.bedrock","detail":{}}`, ErrUnknownShape, `detail-type "Bedrock Batch Job State Change"`, 0, ShapeEventBridge},
		{"forged source", `{"detail-type":"AWS API Call via CloudTrail","source":"my.app","detail":{"eventName":"InvokeModel"}}`, ErrUnknownShape, `source "my.app"`, 0, ShapeEventBridge},
		{"envelope without detail", `{"detail-type":"AWS API Call via CloudTrail","source":"aws.bedrock"}`, ErrUnknownShape, "without detail", 0, ShapeEventBridge},
		{"record too large", big, ErrTooLarge, "exceeds the 1048576-byte record limit", 0, ""},
		{"truncated log file", `{"Records":[{"eventName":"X"`, nil, "in[0]: logfile: not JSON: unexpected end of JSON input", 0, ShapeLogFile},
		{"nesting too deep", strings.Repeat("[", 100000), nil, "in[0]: logfile: not JSON: exceeded max depth", 0, ShapeLogFile},
		{"object nesting too deep", strings.Repeat(`{"eventName":`, 100000), nil, "in[0]: not JSON: exceeded max depth", 0, ""},
		{"binary", "\x00\x01\xff", nil, "not JSON: invalid character '\\x00' looking for beginning of value", 0, ""},
		{"records not an array", `{"Records":5}`, nil, "cannot unmarshal number into Records of type array", 0, ShapeLogFile},
		{"sqs message without body", `{"messageId":"m","eventSource":"aws:sqs"}`, ErrUnknownShape, `in[0] message "m": sqs: unknown shape: SQS message without a body`, 0, ShapeSQS},
		{"sqs body not json", sqsMessage("m", "nope"), nil, `message "m": sqs: SQS body is not JSON`, 0, ShapeSQS},
		{"sqs body unknown", sqsMessage("m", `{"foo":1}`), ErrUnknownShape, `JSON object with keys "foo"`, 0, ShapeSQS},
		{"sqs body empty", sqsMessage("m", ` `), ErrEmpty, `SQS body: empty input`, 0, ShapeSQS},
		{"sqs in sqs", sqsMessage("m", sqsMessage("n", "{}")), ErrUnknownShape, `SQS body holds an SQS message`, 0, ShapeSQS},
		{"null member", `{"Records":[null]}`, ErrUnknownShape, "JSON null in Records", 0, ShapeLogFile},
		{"member with no record fields", `{"Records":[{"x":1}]}`, ErrUnknownShape, "no CloudTrail record fields", 0, ShapeLogFile},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it := one(t, collect(t, Bytes("in", []byte(tc.input))))
			if it.Err == nil {
				t.Fatalf("no error; record %+v", it.Record)
			}
			if tc.sentinel != nil && !errors.Is(it.Err, tc.sentinel) {
				t.Errorf("error %v is not %v", it.Err, tc.sentinel)
			}
			if !strings.Contains(it.Err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", it.Err, tc.contains)
			}
			if it.Origin.Index != tc.index || it.Origin.Shape != tc.shape {
				t.Errorf("origin %+v, want index %d shape %q", it.Origin, tc.index, tc.shape)
			}
		})
	}
}

// TestBrokenList: the members before a syntax error come out, then the
// error names the member where it is.
func TestBrokenList(t *testing.T) {
	items := collect(t, Bytes("in", []byte(`{"Records":[{"eventName":"X"} {"eventName":"Y"}]}`)))
	if len(items) != 2 || items[0].Err != nil || items[0].Record.EventName != "X" ||
		items[1].Err == nil || items[1].Err.Error() != "in[1]: logfile: not JSON: invalid character '{' after array element" {
		t.Fatalf("got %+v", summary(items))
	}
}

func TestLargeStringInLogFile(t *testing.T) {
	rec := string(sampleRecord(t, sumo))
	huge := `{"eventName":"InvokeModel","requestParameters":{"prompt":"` + strings.Repeat("é", MaxRecordBytes/2+1) + `"}}`
	items := collect(t, Bytes("big.json", []byte(`{"Records":[`+rec+`,`+huge+`,`+rec+`]}`)))
	if len(items) != 3 {
		t.Fatalf("got %d items", len(items))
	}
	if items[0].Err != nil || items[2].Err != nil || items[2].Origin.Index != 2 {
		t.Fatalf("good records: %v / %v", items[0].Err, items[2].Err)
	}
	if !errors.Is(items[1].Err, ErrTooLarge) || items[1].Origin.Index != 1 {
		t.Errorf("huge record: %+v", items[1])
	}
}

func TestTruncatedGzip(t *testing.T) {
	rec := string(sampleRecord(t, sumo))
	t.Run("log file", func(t *testing.T) {
		var members []string
		for i := range 50 {
			members = append(members, strings.Replace(rec, `"eventID":"a8d388e2`, `"eventID":"`+strconv.Itoa(i)+`-`, 1))
		}
		z := gzipBytes(t, []byte(`{"Records":[`+strings.Join(members, ",")+`]}`))
		cut := z[:len(z)*2/3]
		items := collect(t, Bytes("trunc.json.gz", cut))
		checkTruncated(t, items, completeRecords(t, cut, rec))
	})
	t.Run("json lines", func(t *testing.T) {
		var lines []string
		for i := range 50 {
			lines = append(lines, strings.Replace(rec, `"eventID":"a8d388e2`, `"eventID":"`+strconv.Itoa(i)+`-`, 1))
		}
		z := gzipBytes(t, []byte(strings.Join(lines, "\n")))
		cut := z[:len(z)*2/3]
		items := collect(t, Reader("trunc.jsonl.gz", bytes.NewReader(cut)))
		// The last complete line is only known complete once its newline
		// arrived.
		checkTruncated(t, items, completeRecords(t, cut, rec+"\n"))
	})
	t.Run("header only", func(t *testing.T) {
		items := collect(t, Bytes("h.gz", []byte{0x1f, 0x8b, 8}))
		it := one(t, items)
		if it.Err == nil || it.Origin.Index != -1 || !strings.Contains(it.Err.Error(), "gzip") {
			t.Errorf("got %+v", it)
		}
	})
}

// completeRecords counts how many whole copies of rec's ending the
// decompressible prefix of the truncated gzip z holds.
func completeRecords(t *testing.T, z []byte, rec string) int {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	prefix, err := io.ReadAll(zr)
	if err == nil {
		t.Fatal("the cut gzip stream is not truncated")
	}
	return strings.Count(string(prefix), rec[len(rec)-60:])
}

// checkTruncated: want records, in order from 0, then one read error last.
func checkTruncated(t *testing.T, items []Item, want int) {
	t.Helper()
	if len(items) < 2 {
		t.Fatalf("got %d items, want records and an error", len(items))
	}
	last := items[len(items)-1]
	if last.Err == nil || last.Origin.Index != -1 || !strings.Contains(last.Err.Error(), "unexpected EOF") {
		t.Errorf("last item = %+v, want a read error", last)
	}
	good := 0
	for i, it := range items[:len(items)-1] {
		if it.Err != nil {
			continue
		}
		if it.Record.EventName != "InvokeModel" || !strings.HasPrefix(it.Record.EventID, strconv.Itoa(i)+"-") {
			t.Errorf("item %d = %s %s", i, it.Record.EventName, it.Record.EventID)
		}
		good++
	}
	if good != want || want == 0 || want == 50 {
		t.Errorf("%d records came out of the truncated input, want %d (of 50)", good, want)
	}
}

func TestGzipBomb(t *testing.T) {
	// 128 MiB of spaces compress to about 128 KiB: a ratio of 1,000.
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	for range 128 {
		zw.Write(chunk)
	}
	zw.Close()
	items := collect(t, Reader("bomb.gz", bytes.NewReader(buf.Bytes())))
	it := one(t, items)
	if !errors.Is(it.Err, ErrTooLarge) || it.Origin.Index != -1 || !strings.Contains(it.Err.Error(), "bomb.gz: read after") ||
		!strings.Contains(it.Err.Error(), "decompression bomb") {
		t.Errorf("got %+v", it)
	}
	// A log file that expands less than MaxGzipRatio is read in full.
	rec := string(sampleRecord(t, sumo))
	var members []string
	for range 20 {
		members = append(members, rec)
	}
	z := gzipBytes(t, []byte(`{"Records":[`+strings.Join(members, ",")+`]}`))
	if n := len(collect(t, Reader("ok.gz", bytes.NewReader(z)))); n != 20 {
		t.Errorf("got %d items, want 20", n)
	}
}

// TestGzipInsideGzip: a doubly compressed input is named, not decoded.
func TestGzipInsideGzip(t *testing.T) {
	it := one(t, collect(t, Bytes("x.gz", gzipBytes(t, gzipBytes(t, sampleRecord(t, sumo))))))
	if !errors.Is(it.Err, ErrUnknownShape) || !strings.Contains(it.Err.Error(), "gzip inside gzip") {
		t.Errorf("got %+v", it)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk on fire")
	}
	n := copy(p, strings.Repeat(" ", f.n))
	f.n -= n
	return n, nil
}

func TestReaderError(t *testing.T) {
	it := one(t, collect(t, Reader("f", &failingReader{n: 10})))
	if it.Err == nil || !strings.Contains(it.Err.Error(), "f: read after 10 bytes: disk on fire") {
		t.Errorf("got %+v", it)
	}
}

func TestEarlyStop(t *testing.T) {
	rec := string(sampleRecord(t, sumo))
	inputs := map[string]string{
		"log file":   `{"Records":[` + rec + `,` + rec + `,` + rec + `]}`,
		"json lines": rec + "\n" + rec + "\n" + rec,
		"stream":     rec + " " + rec + " " + rec,
		"errors":     "1\n{\"x\":1}\n2",
	}
	for name, in := range inputs {
		n := 0
		for range Bytes(name, []byte(in)) {
			n++
			break
		}
		if n != 1 {
			t.Errorf("%s: %d iterations", name, n)
		}
	}
}

func TestRecordsDoNotAliasInput(t *testing.T) {
	data := sampleRecord(t, permiso)
	it := one(t, collect(t, Bytes("in", data)))
	for i := range data {
		data[i] = 'x'
	}
	if it.Record.EventName != "InvokeModel" || !strings.Contains(string(it.Record.RequestParameters), "claude-3-sonnet") {
		t.Errorf("record changed with its input: %+v", it.Record)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC 3339 nano UTC; "" = not ok
	}{
		{"2023-10-11T21:58:59Z", "2023-10-11T21:58:59Z"},
		{"2024-07-08T17:06:49.0000000Z", "2024-07-08T17:06:49Z"},
		{"2024-07-08T17:06:49.1Z", "2024-07-08T17:06:49.1Z"},
		{"2024-07-08T17:06:49.123456789Z", "2024-07-08T17:06:49.123456789Z"},
		{"2025-01-21 17:49:47.000000000", "2025-01-21T17:49:47Z"},
		{"2025-01-21 17:49:47", "2025-01-21T17:49:47Z"},
		{"2025-01-21 17:49:47.5Z", "2025-01-21T17:49:47.5Z"},
		{"2025-01-21T17:49:47", "2025-01-21T17:49:47Z"},
		{"2025-01-21T17:49:47.25+02:00", "2025-01-21T15:49:47.25Z"},
		{"2025-01-21 17:49:47-05:30", "2025-01-21T23:19:47Z"},
		{"2025-01-21t17:49:47z", "2025-01-21T17:49:47Z"},
		{"[REDACTED]", ""},
		{"", ""},
		{"2025-01-21", ""},
		{"2025-13-21T17:49:47Z", ""},
		{"2025-01-21X17:49:47Z", ""},
		{"2025-01-21T17:49:47Zjunk", ""},
		{"1737481787", ""},
	}
	for _, tc := range tests {
		got, ok := ParseTime(tc.in)
		if tc.want == "" {
			if ok || !got.IsZero() {
				t.Errorf("ParseTime(%q) = %v, %v; want zero, false", tc.in, got, ok)
			}
			continue
		}
		if !ok || got.Format(time.RFC3339Nano) != tc.want || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %s", tc.in, got, ok, tc.want)
		}
	}
}

func BenchmarkBytes(b *testing.B) {
	cases := map[string][]byte{
		"envelope": readFile(b, "testdata/eventbridge_bedrock_invokemodel.json"),
		"record":   sampleRecord(b, sumo),
	}
	var members []string
	for range 100 {
		members = append(members, string(cases["record"]))
	}
	cases["logfile-100"] = []byte(`{"Records":[` + strings.Join(members, ",") + `]}`)
	for name, data := range cases {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				for it := range Bytes("bench", data) {
					if it.Err != nil {
						b.Fatal(it.Err)
					}
				}
			}
		})
		b.Run(name+"/json.Valid", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if !json.Valid(data) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// The fast path for CloudTrail's own form agrees with time.Parse.
func TestParseZuluAgreesWithTimeParse(t *testing.T) {
	for _, s := range []string{"2023-10-11T21:58:59Z", "2024-07-08T17:06:49.0000000Z", "2024-07-08T17:06:49.1Z", "2024-07-08T17:06:49.123456789Z",
		"2024-02-29T00:00:00Z", "2025-02-29T00:00:00Z", "2025-13-01T00:00:00Z", "2025-01-01T24:00:00Z", "2025-01-01T00:00:60Z",
		"2025-01-01T00:00:00.Z", "2025-01-01T00:00:00.1234567890Z", "2025-1-01T00:00:00Z", "2025-01-01T00:00:00+00:00", "x025-01-01T00:00:00Z"} {
		got, ok := parseZulu(s)
		want, err := time.Parse(time.RFC3339Nano, s)
		if ok && (err != nil || !got.Equal(want)) {
			t.Errorf("parseZulu(%q) = %v, time.Parse = %v, %v", s, got, want, err)
		}
		if ok {
			continue
		}
		if p, pok := ParseTime(s); err == nil && (!pok || !p.Equal(want)) {
			t.Errorf("ParseTime(%q) = %v, %v; time.Parse = %v", s, p, pok, want)
		}
	}
}

func BenchmarkParseTime(b *testing.B) {
	for b.Loop() {
		ParseTime("2024-07-08T17:06:49Z")
	}
}
