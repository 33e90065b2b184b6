// Package metrics collects Bedrock Warden's per-batch CloudWatch metrics and
// writes them as Embedded Metric Format (EMF) log lines: CloudWatch Logs
// turns them into metrics with no API call. Package cwput sends the same
// data with PutMetricData instead.
//
// Cardinality is bounded by design: dimensions are rule, severity, base
// model and region, never a principal or an event id.
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// DefaultNamespace is the CloudWatch namespace unless configured.
const DefaultNamespace = "BedrockWarden"

// Metric names.
const (
	EventsProcessed  = "EventsProcessed"  // Bedrock events in the batch
	DecodeErrors     = "DecodeErrors"     // records rejected (undecodable or not Bedrock)
	Invocations      = "Invocations"      // invocation events, by Model or by Region
	Findings         = "Findings"         // findings, by Rule and Severity
	AlertsSent       = "AlertsSent"       // alerts published
	AlertsSuppressed = "AlertsSuppressed" // findings folded into an alert instead of alerting
)

// Dimension names.
const (
	DimModel    = "Model"
	DimRegion   = "Region"
	DimRule     = "Rule"
	DimSeverity = "Severity"
)

// UnitCount is the unit of every Bedrock Warden metric.
const UnitCount = "Count"

// Dimension is one name/value pair.
type Dimension struct {
	Name  string
	Value string
}

// Datum is one metric value with its dimensions.
type Datum struct {
	Name       string
	Unit       string
	Dimensions []Dimension // sorted by name
	Value      float64
}

// key identifies a metric: name plus dimension pairs.
func (d *Datum) key() string { return string(appendKey(nil, d.Name, d.Dimensions)) }

// Set accumulates counters; adding to the same metric and dimensions sums.
// The zero value is ready to use. Not safe for concurrent use.
type Set struct {
	index map[string]int
	data  []Datum
	buf   []byte // the key being looked up
}

// Add adds v to metric name with the given dimensions (empty values become
// "unknown", so every datum is publishable). Adding to a metric the Set
// already holds allocates nothing: the detector adds two per event.
func (s *Set) Add(name string, v float64, dims ...Dimension) {
	var small [4]Dimension
	ds := small[:0]
	for _, d := range dims {
		if strings.TrimSpace(d.Value) == "" {
			d.Value = "unknown"
		}
		ds = append(ds, d)
	}
	// Sorted by name (insertion sort: there are one or two).
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && ds[j].Name < ds[j-1].Name; j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
	s.buf = appendKey(s.buf[:0], name, ds)
	if i, ok := s.index[string(s.buf)]; ok {
		s.data[i].Value += v
		return
	}
	if s.index == nil {
		s.index = map[string]int{}
	}
	s.index[string(s.buf)] = len(s.data)
	s.data = append(s.data, Datum{Name: name, Unit: UnitCount, Dimensions: slices.Clone(ds), Value: v})
}

// appendKey appends the identity of a metric: its name and dimension pairs.
func appendKey(b []byte, name string, dims []Dimension) []byte {
	b = append(b, name...)
	for _, dim := range dims {
		b = append(b, 0)
		b = append(b, dim.Name...)
		b = append(b, 1)
		b = append(b, dim.Value...)
	}
	return b
}

// Datums returns the accumulated data in insertion order.
func (s *Set) Datums() []Datum { return slices.Clone(s.data) }

// emfMaxMetrics is EMF's limit of metrics in one directive.
const emfMaxMetrics = 100

// WriteEMF writes ds as EMF documents, one JSON line per distinct dimension
// set and values (EMF keeps dimension values in the document root, so each
// line carries one combination), at timestamp ts.
func WriteEMF(w io.Writer, namespace string, ts time.Time, ds []Datum) error {
	type group struct {
		dims    []Dimension
		metrics []Datum
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, d := range ds {
		k := (&Datum{Dimensions: d.Dimensions}).key()
		g := byKey[k]
		if g == nil || len(g.metrics) == emfMaxMetrics {
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
