package normalize

import (
	"encoding/json"
	"testing"
	"unsafe"

	"pgregory.net/rapid"
)

func TestFieldsDecode(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want fields
	}{
		{"empty", ``, fields{}},
		{"null", `null`, fields{}},
		{"not an object", `["modelId","x"]`, fields{}},
		{"empty object", ` { } `, fields{}},
		{"all members", `{"modelId":"a.b","baseModelIdentifier":"c.d","importedModelName":"n","modelSource":{"copyFrom":"arn:x"},"model":"m.n","inferenceRegion":"us-west-2","callWithBearerToken":true}`,
			fields{ModelID: "a.b", BaseModelIdentifier: "c.d", ImportedModelName: "n", CopyFrom: "arn:x", Model: "m.n", InferenceRegion: "us-west-2", CallWithBearerToken: true}},
		{"whitespace everywhere", "{\n  \"modelId\" :\t\"a.b\" ,\r\n \"callWithBearerToken\" : \"true\"\n}",
			fields{ModelID: "a.b", CallWithBearerToken: true}},
		{"escaped string", `{"modelId":"a\"b\\c\u0041"}`, fields{ModelID: "a\"b\\cA"}},
		{"escaped key is not matched as another key", `{"model\"Id":"x","model":"y"}`, fields{Model: "y"}},
		{"nested values skipped", `{"body":{"modelId":"inner","list":[1,{"a":"]"}],"s":"}"},"modelId":"outer"}`, fields{ModelID: "outer"}},
		{"wrong types read as empty", `{"modelId":42,"model":{"id":"x"},"inferenceRegion":null,"callWithBearerToken":1}`, fields{}},
		{"members before a syntax error are kept", `{"modelId":"a.b","inferenceRegion":"us-west-2" "model":"c"}`, fields{ModelID: "a.b", InferenceRegion: "us-west-2"}},
		{"truncated string", `{"modelId":"a.b`, fields{}},
		{"truncated object value", `{"modelSource":{"copyFrom":"x"`, fields{}},
		{"missing colon", `{"modelId" "a.b"}`, fields{}},
		{"missing value", `{"modelId":}`, fields{}},
		{"invalid escape reads as empty", `{"modelId":"a\x","model":"m.n"}`, fields{Model: "m.n"}},
		{"trailing backslash", `{"modelId":"a\`, fields{}},
		{"copyFrom not an object", `{"modelSource":"copyFrom"}`, fields{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f fields
			f.decode(json.RawMessage(tt.raw))
			if f != tt.want {
				t.Errorf("decode(%s)\n got %+v\nwant %+v", tt.raw, f, tt.want)
			}
		})
	}
}

// TestFieldsDecodeAgreesWithEncodingJSON: for any object encoding/json
// writes, the scanner reads the same string members encoding/json reads.
func TestFieldsDecodeAgreesWithEncodingJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		obj := map[string]any{}
		keys := []string{"modelId", "model", "inferenceRegion", "baseModelIdentifier", "other", "body", "modelSource"}
		n := rapid.IntRange(0, len(keys)).Draw(t, "n")
		for i := 0; i < n; i++ {
			k := rapid.SampledFrom(keys).Draw(t, "key")
			switch rapid.IntRange(0, 3).Draw(t, "kind") {
			case 0:
				obj[k] = rapid.String().Draw(t, "s")
			case 1:
				obj[k] = rapid.Int().Draw(t, "i")
			case 2:
				obj[k] = map[string]any{"copyFrom": rapid.String().Draw(t, "c"), "x": []any{"]", "}", 1}}
			default:
				obj[k] = []any{rapid.String().Draw(t, "a"), nil, true}
			}
		}
		raw, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		var f fields
		f.decode(raw)
		str := func(k string) string { s, _ := obj[k].(string); return s }
		var copyFrom string
		if ms, ok := obj["modelSource"].(map[string]any); ok {
			copyFrom, _ = ms["copyFrom"].(string)
		}
		want := fields{ModelID: str("modelId"), Model: str("model"), InferenceRegion: str("inferenceRegion"),
			BaseModelIdentifier: str("baseModelIdentifier"), CopyFrom: copyFrom}
		if f != want {
			t.Fatalf("decode(%s)\n got %+v\nwant %+v", raw, f, want)
		}
	})
}

// TestFieldsDecodeNeverPanics feeds arbitrary bytes to the scanner.
func TestFieldsDecodeNeverPanics(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		raw := rapid.SliceOf(rapid.SampledFrom([]byte(`{}[]":,\ tru0a`))).Draw(t, "raw")
		var f fields
		f.decode(raw)
	})
}

// TestNormalizeAllocations guards the hot path: a benign invocation costs
// two allocations (the model id and the inference region are copied out of
// the record's JSON); everything else is slices of the record.
func TestNormalizeAllocations(t *testing.T) {
	r := benignInvoke()
	allocs := testing.AllocsPerRun(100, func() { _ = Normalize(r, benignOrigin) })
	if allocs > 2 {
		t.Errorf("Normalize allocates %.0f times per benign event, want at most 2", allocs)
	}
}

func TestJSONStringInterns(t *testing.T) {
	a := jsonString([]byte(`"anthropic.claude-3-haiku-20240307-v1:0"`))
	b := jsonString([]byte(`"anthropic.claude-3-haiku-20240307-v1:0"`))
	if a != b || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("the same value was copied twice")
	}
	if got := jsonString([]byte(`"a\u0062c"`)); got != "abc" {
		t.Errorf("escaped string = %q", got)
	}
	region := []byte(`"us-west-2"`)
	if n := testing.AllocsPerRun(100, func() { jsonString(region) }); n != 0 {
		t.Errorf("%v allocations for an interned value", n)
	}
}
