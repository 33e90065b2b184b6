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
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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

// Set accumulates counters; adding to the same metric and dimensions sums.
// The zero value is ready to use. Not safe for concurrent use.
//
// A Set can be reused batch after batch (Reset): it keeps the metrics it
// has seen, so a batch adding only metrics an earlier batch added
// allocates nothing.
type Set struct {
	index map[string]int // key → slot in data
	data  []Datum        // every retained metric, in the order first seen
	gens  []uint64       // gens[i] == gen: data[i] was added to since Reset
	order []int          // slots added to since Reset, in first-Add order
	gen   uint64
	bytes int    // key bytes retained
	buf   []byte // the key being looked up
}

// Bounds on what a Set keeps across Reset: past either, Reset forgets
// every metric, so a flood of distinct dimension values costs one batch's
// memory, not a growing heap.
const (
	maxRetainedMetrics = 1024
	maxRetainedBytes   = 256 << 10
)

// Add adds v to metric name with the given dimensions (empty values become
// "unknown", so every datum is publishable). Adding to a metric the Set
// already holds, or held before its last Reset, allocates nothing: the
// detector adds two per event. A new metric's name and dimensions are
// copied, so the Set never keeps the caller's memory.
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
		if s.gens[i] == s.gen {
			s.data[i].Value += v
			return
		}
		s.gens[i] = s.gen
		s.data[i].Value = v
		s.order = append(s.order, i)
		return
	}
	if s.index == nil {
		s.index = map[string]int{}
	}
	// The key owns the bytes of the name and every dimension: the datum's
	// strings are slices of it.
	key := string(s.buf)
	own := []Dimension{}
	if len(ds) > 0 {
		own = make([]Dimension, len(ds))
	}
	at := len(name)
	for i, d := range ds {
		at++ // past the 0 byte
		own[i].Name = key[at : at+len(d.Name)]
		at += len(d.Name) + 1 // past the name and the 1 byte
		own[i].Value = key[at : at+len(d.Value)]
		at += len(d.Value)
	}
	i := len(s.data)
	s.index[key] = i
	s.bytes += len(key)
	s.data = append(s.data, Datum{Name: key[:len(name)], Unit: UnitCount, Dimensions: own, Value: v})
	s.gens = append(s.gens, s.gen)
	s.order = append(s.order, i)
}

// Reset empties s for the next batch. It keeps the metrics it has seen
// (up to 1,024 of them and 256 KiB of names and values; past that it
// forgets them all), so adding to them again allocates nothing. Data
// returned before a Reset stays intact: a datum's dimensions are never
// written to after it is first added.
func (s *Set) Reset() {
	s.order = s.order[:0]
	s.gen++
	if len(s.data) > maxRetainedMetrics || s.bytes > maxRetainedBytes {
		*s = Set{gen: s.gen}
	}
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

// Datums returns the data accumulated since the last Reset in insertion
// order, in a new slice.
func (s *Set) Datums() []Datum {
	if len(s.order) == 0 {
		return nil
	}
	return s.AppendDatums(make([]Datum, 0, len(s.order)))
}

// AppendDatums appends the data accumulated since the last Reset, in
// insertion order, to dst and returns the extended slice: Datums without
// a new slice when dst has room.
func (s *Set) AppendDatums(dst []Datum) []Datum {
	for _, i := range s.order {
		dst = append(dst, s.data[i])
	}
	return dst
}

// emfMaxMetrics is EMF's limit of metrics in one directive.
const emfMaxMetrics = 100

// WriteEMF writes ds as EMF documents, one JSON line per distinct dimension
// set and values (EMF keeps dimension values in the document root, so each
// line carries one combination), at timestamp ts. A line is the document
// encoding/json writes for it (keys sorted, HTML-safe strings), built by
// appending. It is EMF.Write with a new encoder.
func WriteEMF(w io.Writer, namespace string, ts time.Time, ds []Datum) error {
	e := EMF{
		docs: make([]emfDoc, 0, 8),
		line: make([]byte, 0, 1024),
		keys: make([]emfKey, 0, 8),
	}
	return e.Write(w, namespace, ts, ds)
}

// EMF writes EMF lines as WriteEMF does, keeping its buffers from one
// Write to the next: once they have grown to a batch's size, writing a
// batch like it allocates nothing (the detector writes one per
// invocation). The zero value is ready to use. Not safe for concurrent
// use.
type EMF struct {
	docs  []emfDoc
	docOf []int
	line  []byte
	keys  []emfKey
	ms    []Datum
}

// emfDoc is one EMF document being filled: its dimensions and how many
// metrics it holds.
type emfDoc struct {
	dims []Dimension
	n    int
}

// Bounds on the buffers an EMF keeps after a Write: one outsized batch
// does not pin its memory for every batch after it.
const (
	emfKeepLine   = 64 << 10
	emfKeepDatums = 4096
)

// Write writes ds to w as WriteEMF does.
func (e *EMF) Write(w io.Writer, namespace string, ts time.Time, ds []Datum) error {
	defer e.release()
	// Each datum's document: the last one begun for its dimensions,
	// until it holds emfMaxMetrics.
	docs := e.docs[:0]
	docOf := slices.Grow(e.docOf[:0], len(ds))[:len(ds)]
	for i, d := range ds {
		j := len(docs) - 1
		for ; j >= 0 && !slices.Equal(docs[j].dims, d.Dimensions); j-- {
		}
		if j < 0 || docs[j].n == emfMaxMetrics {
			j = len(docs)
			docs = append(docs, emfDoc{dims: d.Dimensions})
		}
		docs[j].n++
		docOf[i] = j
	}
	e.docs, e.docOf = docs, docOf
	// The lines go out in one write (one system call for the Lambda's
	// stdout, not one per line); the lines before a document that cannot
	// be encoded are still written.
	e.line = e.line[:0]
	var encErr error
	for j, doc := range docs {
		e.ms = e.ms[:0]
		for i, d := range ds {
			if docOf[i] == j {
				e.ms = append(e.ms, d)
			}
		}
		n := len(e.line)
		e.line, e.keys, encErr = appendEMF(e.line, e.keys[:0], namespace, ts, doc.dims, e.ms)
		if encErr != nil {
			e.line = e.line[:n]
			break
		}
	}
	if len(e.line) > 0 {
		if _, err := w.Write(e.line); err != nil {
			return fmt.Errorf("emf: write: %w", err)
		}
	}
	return encErr
}

// release drops the references a Write left in e's buffers (the caller's
// datums) and any buffer grown past the bounds.
func (e *EMF) release() {
	clear(e.docs[:cap(e.docs)])
	clear(e.ms[:cap(e.ms)])
	clear(e.keys[:cap(e.keys)])
	e.docs, e.ms, e.keys = e.docs[:0], e.ms[:0], e.keys[:0]
	if cap(e.line) > emfKeepLine {
		e.line = nil
	}
	if cap(e.docOf) > emfKeepDatums {
		e.docOf, e.docs, e.ms, e.keys = nil, nil, nil, nil
	}
}

// emfKey is one member of an EMF document's root: a dimension (i < 0:
// dimension -i-1), a metric (i ≥ 0) or "_aws".
type emfKey struct {
	name string
	i    int
}

// appendEMF appends the EMF line of one group of metrics sharing dims.
func appendEMF(b []byte, keys []emfKey, namespace string, ts time.Time, dims []Dimension, ms []Datum) ([]byte, []emfKey, error) {
	for i, d := range dims {
		keys = append(keys, emfKey{d.Name, -i - 1})
	}
	for i, m := range ms {
		for _, d := range dims {
			if d.Name == m.Name {
				return b, keys, fmt.Errorf("emf: metric %q clashes with a dimension name", m.Name)
			}
		}
		for _, o := range ms[:i] {
			if o.Name == m.Name {
				return b, keys, fmt.Errorf("emf: metric %q twice in one document", m.Name)
			}
		}
		keys = append(keys, emfKey{m.Name, i})
	}
	keys = append(keys, emfKey{"_aws", len(ms)})
	// A JSON object has one member per key: a later one replaces an
	// earlier one of the same name (as in the map encoding/json encodes),
	// "_aws" last of all.
	if len(keys) <= 12 {
		// The usual document holds a handful of keys: an insertion
		// sort, stable as the sort below, without its overhead.
		for i := 1; i < len(keys); i++ {
			for j := i; j > 0 && keys[j].name < keys[j-1].name; j-- {
				keys[j], keys[j-1] = keys[j-1], keys[j]
			}
		}
	} else {
		slices.SortStableFunc(keys, func(x, y emfKey) int { return strings.Compare(x.name, y.name) })
	}
	n := 0
	for i := range keys {
		if n > 0 && keys[n-1].name == keys[i].name {
			n--
		}
		keys[n] = keys[i]
		n++
	}
	keys = keys[:n]
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k.name)
		b = append(b, ':')
		switch {
		case k.i < 0:
			b = appendString(b, dims[-k.i-1].Value)
		case k.i < len(ms):
			v := ms[k.i].Value
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return b, keys, fmt.Errorf("emf: encode: json: unsupported value: %v", v)
			}
			b = appendFloat(b, v)
		default:
			b = append(b, `{"CloudWatchMetrics":[{"Namespace":`...)
			b = appendString(b, namespace)
			b = append(b, `,"Dimensions":[[`...)
			for j, d := range dims {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendString(b, d.Name)
			}
			b = append(b, `]],"Metrics":[`...)
			for j, m := range ms {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"Name":`...)
				b = appendString(b, m.Name)
				if m.Unit != "" {
					b = append(b, `,"Unit":`...)
					b = appendString(b, m.Unit)
				}
				b = append(b, '}')
			}
			b = append(b, `]}],"Timestamp":`...)
			b = strconv.AppendInt(b, ts.UnixMilli(), 10)
			b = append(b, '}')
		}
	}
	b = append(b, '}', '\n')
	return b, keys, nil
}

// appendFloat appends f as encoding/json encodes a float64.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString appends s as a JSON string as encoding/json writes it:
// HTML-safe (<, >, & escaped), invalid UTF-8 as U+FFFD, U+2028 and U+2029
// escaped.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
