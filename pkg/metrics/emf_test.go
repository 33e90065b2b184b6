package metrics_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/metrics"
)

// oracleWriteEMF is WriteEMF as it was written with encoding/json (a map
// per document): the reference the appending writer must match byte for
// byte.
func oracleWriteEMF(w io.Writer, namespace string, ts time.Time, ds []metrics.Datum) error {
	type group struct {
		dims    []metrics.Dimension
		metrics []metrics.Datum
	}
	key := func(dims []metrics.Dimension) string {
		var b []byte
		for _, d := range dims {
			b = fmt.Appendf(b, "\x00%s\x01%s", d.Name, d.Value)
		}
		return string(b)
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, d := range ds {
		k := key(d.Dimensions)
		g := byKey[k]
		if g == nil || len(g.metrics) == 100 {
			g = &group{dims: d.Dimensions}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.metrics = append(g.metrics, d)
	}
	for _, g := range groups {
		type metricDef struct {
			Name string `json:"Name"`
			Unit string `json:"Unit,omitempty"`
		}
		type directive struct {
			Namespace  string      `json:"Namespace"`
			Dimensions [][]string  `json:"Dimensions"`
			Metrics    []metricDef `json:"Metrics"`
		}
		doc := map[string]any{}
		names := make([]string, 0, len(g.dims))
		for _, d := range g.dims {
			names = append(names, d.Name)
			doc[d.Name] = d.Value
		}
		dir := directive{Namespace: namespace, Dimensions: [][]string{names}}
		for _, m := range g.metrics {
			if _, clash := doc[m.Name]; clash {
				return fmt.Errorf("emf: metric %q clashes with a dimension name", m.Name)
			}
			dir.Metrics = append(dir.Metrics, metricDef{Name: m.Name, Unit: m.Unit})
			doc[m.Name] = m.Value
		}
		doc["_aws"] = map[string]any{
			"Timestamp":         ts.UnixMilli(),
			"CloudWatchMetrics": []directive{dir},
		}
		line, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("emf: encode: %w", err)
		}
		line = append(line, '\n')
		if _, err := w.Write(line); err != nil {
			return fmt.Errorf("emf: write: %w", err)
		}
	}
	return nil
}

// emfInput builds datums from fuzz bytes: names and values drawn from a
// small alphabet (so that names collide) and from the raw strings.
func emfInput(a, b string, vals []float64, shape uint8) []metrics.Datum {
	names := []string{"Rule", "Model", "Findings", "_aws", a, b, "<&>\u2028", "x\x00y", "\xff"}
	var ds []metrics.Datum
	for i, v := range vals {
		d := metrics.Datum{Name: names[(int(shape)+i)%len(names)], Value: v}
		if shape&1 == 0 {
			d.Unit = metrics.UnitCount
		}
		for j := range int(shape>>(i%4)) % 3 {
			d.Dimensions = append(d.Dimensions, metrics.Dimension{Name: names[(i+j+int(shape>>2))%len(names)], Value: []string{a, b, "m1", "é\"\\\t"}[(i+j)%4]})
		}
		ds = append(ds, d)
	}
	return ds
}

func FuzzWriteEMF(f *testing.F) {
	f.Add("anthropic.claude", "us-east-1", 1.0, 2.5, 3e-7, uint8(0))
	f.Add("<b>", "\xe2\x80\xa8", 1e21, -0.0, 123456789.0, uint8(7))
	f.Add("Rule", "Model", math.NaN(), 1.0, 2.0, uint8(3))
	f.Add("", "\x01", math.Inf(1), 1e-7, 5.0, uint8(200))
	f.Fuzz(func(t *testing.T, a, b string, v1, v2, v3 float64, shape uint8) {
		ds := emfInput(a, b, []float64{v1, v2, v3, v1 + v2}, shape)
		ts := time.UnixMilli(int64(shape) * 1e9)
		var got, want bytes.Buffer
		gerr := metrics.WriteEMF(&got, "NS<"+a, ts, ds)
		werr := oracleWriteEMF(&want, "NS<"+a, ts, ds)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("WriteEMF error %v, encoding/json %v; datums %+v", gerr, werr, ds)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("WriteEMF wrote\n%s\nencoding/json\n%s\ndatums %+v", got.Bytes(), want.Bytes(), ds)
		}
	})
}

// The writer allocates a handful of times per call, not per metric.
func TestWriteEMFAllocations(t *testing.T) {
	var s metrics.Set
	s.Add(metrics.EventsProcessed, 5)
	s.Add(metrics.DecodeErrors, 0)
	s.Add(metrics.Invocations, 3, metrics.Dimension{Name: metrics.DimModel, Value: "m1"})
	s.Add(metrics.Invocations, 2, metrics.Dimension{Name: metrics.DimRegion, Value: "us-east-1"})
	ds := s.Datums()
	ts := time.Now()
	var buf bytes.Buffer
	buf.Grow(4096)
	allocs := testing.AllocsPerRun(100, func() {
		buf.Reset()
		if err := metrics.WriteEMF(&buf, "NS", ts, ds); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 10 {
		t.Errorf("%.0f allocations per WriteEMF, want ≤ 10", allocs)
	}
}
