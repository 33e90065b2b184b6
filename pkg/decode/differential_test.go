package decode

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// The decoder has one parser. These tests hold it to encoding/json on
// valid and invalid input:
//
//   - FuzzValid: the parser's validation (Valid) gives encoding/json.Valid's
//     verdict on every input;
//   - FuzzBytes: Bytes gives exactly the items of the reference decoder in
//     oracle_test.go, built on json.Decoder and json.Unmarshal — the same
//     records field for field, an error where it has one (so whatever
//     encoding/json rejects is rejected, at the same record), the same
//     origins — and Reader gives the same items whatever the size of its
//     reads.

// sameItems fails unless got and want hold the same records, errors (by
// presence) and origins, in order.
func sameItems(t testing.TB, got, want []Item) {
	t.Helper()
	n := min(len(got), len(want))
	for i := range n {
		g, w := got[i], want[i]
		if (g.Err == nil) != (w.Err == nil) {
			t.Fatalf("item %d: error %v, want %v\n got %+v\nwant %+v", i, g.Err, w.Err, summary(got), summary(want))
		}
		if g.Origin != w.Origin {
			t.Fatalf("item %d: origin %+v, want %+v (errors %v / %v)\n got %+v\nwant %+v", i, g.Origin, w.Origin, g.Err, w.Err, summary(got), summary(want))
		}
		if !reflect.DeepEqual(g.Record, w.Record) {
			t.Fatalf("item %d: record\n%+v\nwant\n%+v", i, g.Record, w.Record)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d items, want %d:\n got %+v\nwant %+v", len(got), len(want), summary(got), summary(want))
	}
}

func summary(items []Item) []string {
	var out []string
	for _, it := range items {
		s := it.Origin.Source + "[" + string(rune('0'+it.Origin.Index%10)) + "] " + string(it.Origin.Shape) + " " + it.Record.EventName
		if it.Err != nil {
			s += " ERR " + it.Err.Error()
		}
		out = append(out, s)
	}
	return out
}

// differential decodes data every way and compares with the oracle.
func differential(t *testing.T, data []byte) {
	t.Helper()
	var got []Item
	for it := range Bytes("fuzz", data) {
		checkItem(t, it)
		if it.Err == nil && it.Origin.Shape == "" {
			t.Fatalf("record without a shape: %+v", it)
		}
		got = append(got, it)
	}
	if isGzip(data) {
		return
	}
	sameItems(t, got, oracle("fuzz", data))
	sameItems(t, collect(t, Reader("fuzz", iotest.HalfReader(bytes.NewReader(data)))), got)
}

func FuzzValid(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	for _, s := range validSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := Valid(data), json.Valid(data); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json.Valid = %v", data, got, want)
		}
	})
}

func FuzzBytes(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		differential(t, data)
	})
}

// validSeeds are inputs at the edges of the JSON grammar.
var validSeeds = []string{
	``, ` `, `0`, `-0`, `01`, `-`, `1.`, `1.5`, `1e`, `1e+`, `1E-5`, `-1.5e10`, `.5`, `+1`, `1 2`,
	`"`, `""`, `"\"`, `"\u00"`, `"\u00e9"`, `"\uD800"`, `"\x"`, "\"\x01\"", "\"\xff\"", "\"\t\"",
	`true`, `tru`, `truex`, `nul`, `null`, `False`, `[]`, `[,]`, `[1,]`, `[1 2]`, `{}`, `{,}`,
	`{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`, `{1:2}`, `{"a":1}}`, `[[]]]`, "\xef\xbb\xbf{}",
	"{\"a\":\v1}", "{\"a\":\f1}", "[\u00a01]",
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000),
	strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
}

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	inputs := append([]string(nil), validSeeds...)
	for _, s := range fuzzSeeds(t) {
		inputs = append(inputs, string(s))
		// Every prefix of a sample: truncated input in every position.
		for i := range len(s) {
			inputs = append(inputs, string(s[:i]))
		}
	}
	for _, in := range inputs {
		if got, want := Valid([]byte(in)), json.Valid([]byte(in)); got != want {
			t.Errorf("Valid(%.80q) = %v, encoding/json.Valid = %v", in, got, want)
		}
	}
}

// TestAgreesWithOracle runs every seed, and every truncation of the
// samples, through the differential check.
func TestAgreesWithOracle(t *testing.T) {
	for i, s := range fuzzSeeds(t) {
		differential(t, s)
		if i < 12 {
			for cut := 0; cut < len(s); cut += 7 {
				differential(t, s[:cut])
			}
		}
	}
	for _, s := range validSeeds {
		if len(s) < 1000 {
			differential(t, []byte(s))
		}
	}
}

// fuzzSeeds are the public samples, the shape fixtures and edge cases.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	dir := samplesDir(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			seeds = append(seeds, readFile(t, filepath.Join(dir, e.Name())))
		}
	}
	for _, f := range []string{"eventbridge_bedrock_invokemodel.json", "logfile_mixed.json", "siem_lines.jsonl"} {
		seeds = append(seeds, readFile(t, filepath.Join("testdata", f)))
	}
	env := string(readFile(t, "testdata/eventbridge_bedrock_invokemodel.json"))
	rec := string(sampleRecord(t, sumo))
	seeds = append(seeds,
		[]byte(`{"Records":[`+sqsMessage("m-1", env)+`,`+sqsMessage("m-2", rec)+`]}`),
		[]byte(sqsMessage("m", rec)),
		gzipBytes(t, []byte(`{"Records":[`+rec+`]}`)),
		[]byte(rec+"\n"+rec), []byte(rec+rec), []byte(`{"Records":5}`), []byte("[1,2]"), []byte(""),
		[]byte(`{"eventName":"X","readOnly":"true","resources":["a"]}`),
		[]byte(`{"Records":[null,`+sqsMessage("m-1", "nope")+`,{"messageId":"m-2","body":"{\"eventName\":\"X\u00e9\"}","eventSource":"aws:sqs"}]}`),
		[]byte(`{"Records":[5,`+rec+`]}`),
		[]byte(`[`+rec+`,`+rec+`]`),
		[]byte(`{"x":1,"Records":[`+rec+`],"y":[1,2],"Records":[]}`),
		[]byte(`{"records":[`+rec+`]}`),
		[]byte(`{"eventName":"X","EVENTNAME":"Y","userIdentity":{"ARN":"a","sessionContext":{"sessionIssuer":{"arn":"b"}},"sessionContext":null}}`),
		[]byte(`{"eventName":"X\ud83d\ude00\ud800\u00e9\/","eventſource":"s","tlsDetails":{"tlsVersion":"1"},"tlsDetails":{"cipherSuite":"c"}}`),
		[]byte(`{"detail-type":"AWS API Call via CloudTrail","source":"aws.bedrock","id":"i","detail":5}`),
		[]byte(`{"body":5,"eventName":"X"}`),
		[]byte("{\"eventName\":\"X\"}\n{\"eventName\":\n{\"eventName\":\"Y\"}\n  [{\"eventName\":\"Z\"}\n{]\n"),
		[]byte("{\"Records\":[{\"eventName\":\"X\"},\n{\"eventName\":5}, {]}\n{\"eventName\":\"Y\"}"),
		[]byte(`{"eventName":"X","resources":[{"ARN":"a"},"b"]}`),
		[]byte(`{"eventName":"X","resources":[null,{"arn":"a","type":5}]}`),
		[]byte(`{"eventName":"X","readOnly":"maybe","managementEvent":1}`),
		[]byte(`{"eventName":"X","requestParameters":{"modelId":"m","a":[1,2.5e3,-0,true,null,{"b":"\u0000"}]},"additionalEventData":null}`),
	)
	return seeds
}

func BenchmarkValid(b *testing.B) {
	data := sampleRecord(b, sumo)
	b.Run("decode.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if !Valid(data) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if !json.Valid(data) {
				b.Fatal("invalid")
			}
		}
	})
}

// TestExactMatchesKeys: the switch and the key table agree.
func TestExactMatchesKeys(t *testing.T) {
	for k, f := range keys {
		if exact(k) != f {
			t.Errorf("exact(%q) = %d, want %d", k, exact(k), f)
		}
	}
	if exact("nope") != fNone || exact("eventname") != fNone {
		t.Error("exact matched an unknown key")
	}
}
