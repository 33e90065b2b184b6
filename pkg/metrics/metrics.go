// Package metrics collects Bedrock Warden's per-batch CloudWatch metrics and
// writes them as Embedded Metric Format (EMF) log lines: CloudWatch Logs
// turns them into metrics with no API call. Package cwput sends the same
// data with PutMetricData instead.
//
// Cardinality is bounded by design: dimensions are rule, severity, base
// model, region and (for an organisation's stack) account, never a
// principal or an event id.
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
	// FindingsRejected counts messages the remediator refused to act on
	// because they are not authentic findings of this stack, by Reason.
	FindingsRejected = "FindingsRejected"
	// LedgerRecordsRejected counts ledger records the sweeper or undo
	// refused because their seal does not verify, by Reason.
	LedgerRecordsRejected = "LedgerRecordsRejected"
	// UsageRecords counts model invocation log records the usage function
	// counted; UsageRecordsRejected those it could not read, by Reason.
	UsageRecords         = "UsageRecords"
	UsageRecordsRejected = "UsageRecordsRejected"
	// LimitTokens and LimitUSD are the tokens and dollars newly counted
	// against each usage limit, by Limit (the dashboard's usage widget).
	LimitTokens = "LimitTokens"
	LimitUSD    = "LimitUSD"
	// TrailObjects counts the log files the S3 intake judged;
	// TrailObjectsSkipped those it left alone, by Reason (a repeated
	// announcement, a digest); TrailNoticesRejected the notifications it
	// could not serve, by Reason (they come back, then dead-letter).
	TrailObjects         = "TrailObjects"
	TrailObjectsSkipped  = "TrailObjectsSkipped"
	TrailNoticesRejected = "TrailNoticesRejected"
)

// Dimension names.
const (
	DimModel    = "Model"
	DimRegion   = "Region"
	DimRule     = "Rule"
	DimSeverity = "Severity"
	DimReason   = "Reason"
	DimLimit    = "Limit" // a usage limit's name: bounded by the policy
	// DimAccount is the account of an organisation trail's record, for a
	// stack that judges every member account (Intake=s3): bounded by the
	// organisation.
	DimAccount = "Account"
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
func (d *Datum) key() string {
	var b strings.Builder
	b.WriteString(d.Name)
	for _, dim := range d.Dimensions {
		b.WriteByte(0)
		b.WriteString(dim.Name)
		b.WriteByte(1)
		b.WriteString(dim.Value)
	}
	return b.String()
}

// Set accumulates counters; adding to the same metric and dimensions sums.
// The zero value is ready to use. Not safe for concurrent use.
type Set struct {
	index map[string]int
	data  []Datum
}

// Add adds v to metric name with the given dimensions (empty values become
// "unknown", so every datum is publishable).
func (s *Set) Add(name string, v float64, dims ...Dimension) {
	ds := make([]Dimension, len(dims))
	for i, d := range dims {
		if strings.TrimSpace(d.Value) == "" {
			d.Value = "unknown"
		}
		ds[i] = d
	}
	slices.SortFunc(ds, func(a, b Dimension) int { return strings.Compare(a.Name, b.Name) })
	d := Datum{Name: name, Unit: UnitCount, Dimensions: ds, Value: v}
	k := d.key()
	if s.index == nil {
		s.index = map[string]int{}
	}
	if i, ok := s.index[k]; ok {
		s.data[i].Value += v
		return
	}
	s.index[k] = len(s.data)
	s.data = append(s.data, d)
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
