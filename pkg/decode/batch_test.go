package decode

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/bedrock-warden/warden/internal/corpus"
)

// sqsCorpus returns an SQS event of n generated envelopes (as
// corpus.SQSBatch builds it, message ids derived from the index) and the
// message ids in order.
func sqsCorpus(t testing.TB, n int) ([]byte, []string) {
	t.Helper()
	evs, err := corpus.Generate(1, n, corpus.Standard)
	if err != nil {
		t.Fatal(err)
	}
	data, err := corpus.SQSBatch(evs)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("5f1c0a2e-0000-4000-8000-%012d", i)
	}
	return data, ids
}

var (
	bigBatchOnce sync.Once
	bigBatch     []byte
	bigBatchIDs  []string
)

// sqsCorpus10k is the 10,000-message SQS event of the memory goal (22 MB).
func sqsCorpus10k(t testing.TB) ([]byte, []string) {
	bigBatchOnce.Do(func() { bigBatch, bigBatchIDs = sqsCorpus(t, 10000) })
	return bigBatch, bigBatchIDs
}

// checkSQSItems decodes data without allocating in the consumer and fails
// on any item that is not the next message's record.
func checkSQSItems(t testing.TB, data []byte, ids []string) {
	t.Helper()
	n := 0
	for it := range Bytes("sqs", data) {
		if it.Err != nil {
			t.Fatalf("item %d: %v", n, it.Err)
		}
		if it.Origin.Index != n || it.Origin.Shape != ShapeSQS || it.Origin.Source != "sqs" ||
			n >= len(ids) || it.Origin.MessageID != ids[n] || it.Record.EventName == "" || it.Record.EventID == "" {
			t.Fatalf("item %d: origin %+v, event %q %q", n, it.Origin, it.Record.EventName, it.Record.EventID)
		}
		n++
	}
	if n != len(ids) {
		t.Fatalf("got %d items, want %d", n, len(ids))
	}
}

// totalAlloc returns the bytes allocated while f runs.
func totalAlloc(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestSQSBatchMemory holds the memory goal: decoding the 10,000-message SQS
// event allocates at most 1.5 × its size. Unmarshalling the whole message
// list with encoding/json first, then copying every body twice, allocated
// 129 MB (5.9 ×) for these 22 MB; walking the list in place allocates
// about 19 MB (0.9 ×), mostly one buffer per body that its record keeps.
func TestSQSBatchMemory(t *testing.T) {
	data, ids := sqsCorpus10k(t)
	checkSQSItems(t, data, ids) // warm up, and check the records
	got := totalAlloc(func() { checkSQSItems(t, data, ids) })
	limit := uint64(len(data)) * 3 / 2
	t.Logf("10k SQS batch: %d bytes allocated for %d bytes of input (%.2f ×)", got, len(data), float64(got)/float64(len(data)))
	if got > limit {
		t.Errorf("decoding a %d-byte SQS batch allocated %d bytes, want at most %d (1.5 ×)", len(data), got, limit)
	}
}

// TestSQSBatchAgreesWithOracle: the walk gives exactly the items of the
// encoding/json reference decoder, and its records outlive their input
// unchanged.
func TestSQSBatchAgreesWithOracle(t *testing.T) {
	data, ids := sqsCorpus(t, 300)
	fast := collect(t, Bytes("fuzz", data))
	sameItems(t, fast, oracle("fuzz", data))
	if len(fast) != len(ids) {
		t.Fatalf("got %d items, want %d", len(fast), len(ids))
	}
	want := make([]Item, len(fast))
	copy(want, fast)
	for i := range want {
		r := &want[i].Record
		r.EventName = strings.Clone(r.EventName)
		r.RequestParameters = bytes.Clone(r.RequestParameters)
		want[i].Origin.MessageID = strings.Clone(want[i].Origin.MessageID)
	}
	for i := range data {
		data[i] = 'x'
	}
	for i := range fast {
		g, w := fast[i], want[i]
		if g.Origin.MessageID != ids[i] || g.Origin.MessageID != w.Origin.MessageID || g.Record.EventName != w.Record.EventName ||
			!bytes.Equal(g.Record.RequestParameters, w.Record.RequestParameters) {
			t.Fatalf("item %d changed with its input: %+v", i, g.Origin)
		}
	}
}

// TestRecordsListEdgeCases runs Records lists through the walk and the
// reference decoder.
func TestRecordsListEdgeCases(t *testing.T) {
	env := compactEnv(t, string(readFile(t, "testdata/eventbridge_bedrock_invokemodel.json")))
	rec := string(sampleRecord(t, sumo))
	msg := func(id, body string) string { return sqsMessage(id, body) }
	list := func(members ...string) string { return `{"Records":[` + strings.Join(members, ",") + `]}` }
	// raw puts body into the message unchanged: it must be a JSON string.
	raw := func(id, body string) string {
		return `{"messageId":"` + id + `","body":` + body + `,"eventSource":"aws:sqs"}`
	}
	quoted := strings.ReplaceAll(strings.ReplaceAll(env, `\`, `\\`), `"`, `\"`)
	bigBody := strings.Replace(env, `"requestParameters":{`, `"requestParameters":{"pad":"`+strings.Repeat("p", MaxRecordBytes)+`",`, 1)
	tests := []struct {
		name  string
		input string
		// want: per item, "" for a record or a substring of the error.
		want []string
		ids  []string // Origin.MessageID per item
	}{
		{"sqs batch", list(msg("m-1", env), msg("m-2", rec)), []string{"", ""}, []string{"m-1", "m-2"}},
		{"pretty", "{ \"Records\" : [\n " + msg("m-1", env) + " ,\n\t" + msg("m-2", rec) + " ]\n}\n", []string{"", ""}, []string{"m-1", "m-2"}},
		{"empty list", `{"Records":[]}`, nil, nil},
		{"empty list with space", `{"Records":[ ]}`, nil, nil},
		{"log file", list(rec, rec), []string{"", ""}, []string{"", ""}},
		{"mixed", list(rec, msg("m-2", env)), []string{"", ""}, []string{"", "m-2"}},
		{"escapes in body", list(raw("m-1", `"`+strings.Replace(quoted, `InvokeModel`, `Invoke\u004dodel\/`, 1)+`"`)), []string{""}, []string{"m-1"}},
		{"escaped controls and unicode in body", list(raw("m-1", `"\t\n `+strings.Replace(quoted, `worker`, `w\u00f6rker \u003c\u2028\\b\\f\\r\\n\/\\\\`, 1)+`\r\n"`)), []string{""}, []string{"m-1"}},
		{"surrogate pair in body", list(raw("m-1", `"`+strings.Replace(quoted, `worker`, `w\ud83d\ude00`, 1)+`"`)), []string{""}, []string{"m-1"}},
		{"lone surrogate in body", list(raw("m-1", `"`+strings.Replace(quoted, `worker`, `w\ud800x`, 1)+`"`)), []string{""}, []string{"m-1"}},
		{"invalid utf-8 in body", list(raw("m-1", `"`+strings.Replace(quoted, `worker`, "w\xffx", 1)+`"`)), []string{""}, []string{"m-1"}},
		{"raw utf-8 in body", list(raw("m-1", `"`+strings.Replace(quoted, `worker`, "wörker 名前", 1)+`"`)), []string{""}, []string{"m-1"}},
		{"byte order mark in body", list(raw("m-1", `"\ufeff`+quoted+`"`)), []string{""}, []string{"m-1"}},
		{"escape in messageId", list(raw(`m\u002d1`, `"`+quoted+`"`)), []string{""}, []string{"m-1"}},
		{"bad body among good", list(msg("m-1", env), msg("m-2", "nope"), msg("m-3", env)), []string{"", `[1] message "m-2": sqs: SQS body is not JSON`, ""}, []string{"m-1", "m-2", "m-3"}},
		{"empty body", list(msg("m-1", " ")), []string{"SQS body: empty input"}, []string{"m-1"}},
		{"null body", list(raw("m-1", `null`)), []string{"SQS message without a body"}, []string{"m-1"}},
		{"no body", list(`{"messageId":"m-1","eventSource":"aws:sqs"}`), []string{"SQS message without a body"}, []string{"m-1"}},
		{"number body", list(raw("m-1", `5`)), []string{"cannot unmarshal number into body of type string"}, []string{"m-1"}},
		{"duplicate body", list(`{"messageId":"m-1","body":"{}","body":` + `"` + quoted + `"}`), []string{""}, []string{"m-1"}},
		{"case-folded body key", list(`{"messageId":"m-1","Body":"` + quoted + `"}`), []string{""}, []string{"m-1"}},
		{"wrong type in message", list(`{"messageId":"m-1","awsRegion":5,"body":"`+quoted+`"}`, msg("m-2", env)), []string{"cannot unmarshal number into awsRegion", ""}, []string{"m-1", "m-2"}},
		{"log file in body", list(msg("m-1", list(rec))), []string{"SQS body holds a Records list"}, []string{"m-1"}},
		{"sqs message in body", list(msg("m-1", msg("n", env))), []string{"SQS body holds an SQS message"}, []string{"m-1"}},
		{"body too large", list(msg("m-1", env), msg("m-2", bigBody), msg("m-3", env)), []string{"", "exceeds the 1048576-byte", ""}, []string{"m-1", "", "m-3"}},
		{"null before messages", list(`null`, msg("m-1", env)), []string{"[0]: logfile: unknown shape: JSON null in Records", ""}, []string{"", "m-1"}},
		{"null after messages", list(msg("m-1", env), `null`), []string{"", "[1]: sqs: unknown shape: JSON null in Records"}, []string{"m-1", ""}},
		{"null before records", list(`null`, rec), []string{"[0]: logfile: unknown shape: JSON null in Records", ""}, []string{"", ""}},
		{"nulls before a bad and a good message", list(`null`, `5`, msg("m-1", "nope"), `[]`, msg("m-2", env), `null`), []string{"[0]: logfile:", "[1]: logfile:", "SQS body is not JSON", "[3]: sqs:", "", "[5]: sqs:"}, []string{"", "", "m-1", "", "m-2", ""}},
		{"other key after Records", `{"Records":[` + msg("m-1", env) + `],"x":1}`, []string{""}, []string{"m-1"}},
		{"other key before Records", `{"x":1,"Records":[` + msg("m-1", env) + `]}`, []string{""}, []string{"m-1"}},
		{"Records not a list", `{"Records":{"a":1}}`, []string{"cannot unmarshal object into Records"}, []string{""}},
		{"duplicate Records", `{"Records":[` + msg("m-1", env) + `],"Records":[` + msg("m-2", env) + `]}`, []string{"", "a second Records list"}, []string{"m-1", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for gz, in := range [][]byte{[]byte(tc.input), gzipBytes(t, []byte(tc.input))} {
				fast := collect(t, Bytes("fuzz", in))
				if gz == 0 {
					sameItems(t, fast, oracle("fuzz", in))
				}
				if len(fast) != len(tc.want) {
					t.Fatalf("got %d items, want %d: %+v", len(fast), len(tc.want), fast)
				}
				for i, it := range fast {
					checkItem(t, it)
					switch {
					case tc.want[i] == "" && it.Err != nil:
						t.Errorf("item %d: %v", i, it.Err)
					case tc.want[i] == "" && (it.Record.EventName == "" || it.Record.EventID == ""):
						t.Errorf("item %d: no record: %+v", i, it.Record)
					case tc.want[i] != "" && (it.Err == nil || !strings.Contains(it.Err.Error(), tc.want[i])):
						t.Errorf("item %d: error %v, want one containing %q", i, it.Err, tc.want[i])
					}
					if (it.Origin.Index != i && it.Origin.Index != -1) || it.Origin.MessageID != tc.ids[i] {
						t.Errorf("item %d: origin %+v, want index %d message %q", i, it.Origin, i, tc.ids[i])
					}
				}
			}
		})
	}
}

// TestSQSBatchOnJSONLine: a batch on a line of JSON lines takes the line's
// source and its members' positions.
func TestSQSBatchOnJSONLine(t *testing.T) {
	env := compactEnv(t, string(readFile(t, "testdata/eventbridge_bedrock_invokemodel.json")))
	in := []byte(string(sampleRecord(t, sumo)) + "\n" + `{"Records":[` + sqsMessage("m-1", env) + `,` + sqsMessage("m-2", "nope") + `]}` + "\n")
	items := collect(t, Bytes("fuzz", in))
	sameItems(t, items, oracle("fuzz", in))
	want := []Origin{
		{"fuzz", 0, ShapeJSONLines, ""},
		{"fuzz:2", 0, ShapeSQS, "m-1"},
		{"fuzz:2", 1, ShapeSQS, "m-2"},
	}
	if len(items) != len(want) {
		t.Fatalf("got %d items, want %d: %+v", len(items), len(want), items)
	}
	for i, w := range want {
		if items[i].Origin != w || (items[i].Err != nil) != (i == 2) {
			t.Errorf("item %d: origin %+v err %v, want %+v", i, items[i].Origin, items[i].Err, w)
		}
	}
}

// TestBatchWalkStopsEarly: a consumer that stops gets no more items.
func TestBatchWalkStopsEarly(t *testing.T) {
	data, _ := sqsCorpus(t, 50)
	n := 0
	for range Bytes("sqs", data) {
		n++
		if n == 3 {
			break
		}
	}
	if n != 3 {
		t.Fatalf("%d items after stopping at 3", n)
	}
}

// BenchmarkSQSBatch decodes the 10,000-message SQS event; B/op is the
// memory goal's figure (at most 2.5 × the 22 MB input).
func BenchmarkSQSBatch(b *testing.B) {
	data, ids := sqsCorpus10k(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		checkSQSItems(b, data, ids)
	}
}
