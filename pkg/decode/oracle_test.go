package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The oracle is a second decoder, written only for the tests, on
// encoding/json: json.Decoder walks the input and its lists token by token
// (validating what it reads with encoding/json's own scanner) and
// json.Unmarshal decodes each record, envelope and SQS message into
// struct types tagged as CloudTrail writes them. It implements the same
// contract as Bytes — shapes, origins, JSON lines, lists read member by
// member, resynchronisation after a value that is not JSON — so that the
// differential tests can hold the product's one parser to it item by item
// on valid and invalid input.

type oRecordWire struct {
	Record
	ReadOnly        oReadOnly `json:"readOnly"`
	ManagementEvent oMgmt     `json:"managementEvent"`
}

func (w *oRecordWire) record() Record {
	rec := w.Record
	rec.ReadOnly = w.ReadOnly.ptr()
	rec.ManagementEvent = w.ManagementEvent.ptr()
	rec.EventID = strings.TrimSpace(rec.EventID)
	rec.Time, _ = ParseTime(rec.EventTime)
	return rec
}

func (w *oRecordWire) looksLikeRecord() bool {
	r := &w.Record
	return r.EventName != "" || r.EventSource != "" || r.EventID != "" ||
		r.EventVersion != "" || r.EventTime != "" || r.RequestID != "" ||
		r.EventType != "" || r.RecipientAccountID != "" ||
		r.UserIdentity != (UserIdentity{}) || w.ReadOnly.set
}

type oElemWire struct {
	oRecordWire
	MessageID string  `json:"messageId"`
	Body      *string `json:"body"`
}

func (w *oElemWire) isSQS() bool {
	return w.EventSource == sqsEventSource || w.Body != nil || w.MessageID != ""
}

type oTopWire struct {
	oElemWire
	Resources  oFlexResources   `json:"resources"`
	DetailType string           `json:"detail-type"`
	Source     string           `json:"source"`
	ID         string           `json:"id"`
	Detail     *oRecordWire     `json:"detail"`
	Records    *json.RawMessage `json:"Records"`
}

type oFlexBool struct{ set, v bool }

func (f *oFlexBool) parse(field string, b []byte) error {
	switch strings.TrimSpace(string(b)) {
	case "null", `""`:
		return nil
	case "true", `"true"`, `"True"`, `"TRUE"`:
		f.set, f.v = true, true
		return nil
	case "false", `"false"`, `"False"`, `"FALSE"`:
		f.set, f.v = true, false
		return nil
	}
	return fmt.Errorf("%s: want true or false", field)
}

func (f oFlexBool) ptr() *bool {
	if !f.set {
		return nil
	}
	v := f.v
	return &v
}

type oReadOnly struct{ oFlexBool }

func (f *oReadOnly) UnmarshalJSON(b []byte) error { return f.parse("readOnly", b) }

type oMgmt struct{ oFlexBool }

func (f *oMgmt) UnmarshalJSON(b []byte) error { return f.parse("managementEvent", b) }

type oFlexResources struct{ list []Resource }

func (f *oFlexResources) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		f.list = nil
		return nil
	}
	if err := json.Unmarshal(b, &f.list); err == nil {
		return nil
	}
	f.list = nil
	var arns []string
	if err := json.Unmarshal(b, &arns); err != nil {
		return errors.New("resources: want a list of objects or ARN strings")
	}
	f.list = make([]Resource, len(arns))
	for i, a := range arns {
		f.list[i] = Resource{ARN: a}
	}
	return nil
}

// oracle decodes data (plain, not gzip) as Bytes should.
func oracle(source string, data []byte) []Item {
	o := &oRun{source: source, data: data}
	o.run()
	return o.items
}

type oRun struct {
	source  string
	data    []byte
	items   []Item
	values  int
	first   *oResult
	holding bool
}

type oResult struct {
	items  func(multi bool) []Item
	line   int
	err    error
	syntax bool
}

func (o *oRun) fail(or Origin, err error) {
	o.items = append(o.items, Item{Origin: or, Err: &Error{Source: or.Source, Index: or.Index, Shape: or.Shape, MessageID: or.MessageID, Err: err}})
}

func (o *oRun) lineOf(off int) int { return bytes.Count(o.data[:off], []byte("\n")) }

func skipWS(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n') {
		i++
	}
	return i
}

func (o *oRun) run() {
	pos := 0
	if bytes.HasPrefix(o.data, []byte("\xef\xbb\xbf")) {
		pos = 3
	}
	for {
		pos = skipWS(o.data, pos)
		if pos >= len(o.data) {
			break
		}
		if o.values == 1 && o.holding {
			o.holding = false
			o.emit(o.first, true)
		}
		o.values++
		next, failedAt := o.value(pos)
		if failedAt < 0 {
			pos = next
			continue
		}
		pos = o.resync(failedAt)
	}
	if o.values == 0 {
		o.fail(Origin{Source: o.source, Index: -1}, ErrEmpty)
		return
	}
	if o.holding {
		o.emit(o.first, false)
	}
}

// resync: the next line after from that starts (after white space) with
// '{' or '['.
func (o *oRun) resync(from int) int {
	d := o.data
	i := bytes.IndexByte(d[from:], '\n')
	for i >= 0 {
		i += from + 1
		j := i
		for j < len(d) && (d[j] == ' ' || d[j] == '\t' || d[j] == '\r') {
			j++
		}
		if j < len(d) && (d[j] == '{' || d[j] == '[') {
			return j
		}
		from = j
		if j < len(d) && d[j] == '\n' {
			from = j
			i = 0
			continue
		}
		i = bytes.IndexByte(d[from:], '\n')
	}
	return len(d)
}

func (o *oRun) emit(res *oResult, multi bool) {
	or := Origin{Source: o.source}
	if multi {
		or.Index = res.line
	}
	if res.syntax {
		if multi {
			or.Shape = ShapeJSONLines
		}
		o.fail(or, res.err)
		return
	}
	o.items = append(o.items, res.items(multi)...)
}

func (o *oRun) hold(res *oResult) {
	if o.values == 1 {
		o.first, o.holding = res, true
		return
	}
	o.emit(res, true)
}

// value decodes the value at pos; it returns the end of the value, or -1
// and the offset to resynchronise from after a syntax error.
func (o *oRun) value(pos int) (next, failedAt int) {
	line := o.lineOf(pos)
	dec := json.NewDecoder(bytes.NewReader(o.data[pos:]))
	at := func() int { return pos + int(dec.InputOffset()) }
	syntax := func(err error) (int, int) {
		o.hold(&oResult{line: line, err: err, syntax: true})
		return -1, pos
	}
	switch o.data[pos] {
	case '[':
		if _, err := dec.Token(); err != nil {
			return syntax(err)
		}
		return o.list(dec, at, line, true)
	case '{':
	default:
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return syntax(err)
		}
		k := kindOf(raw)
		o.hold(&oResult{line: line, items: func(multi bool) []Item {
			return o.single(multi, line, nil, fmt.Errorf("%w: %s", ErrUnknownShape, k))
		}})
		return at(), -1
	}
	if _, err := dec.Token(); err != nil {
		return syntax(err)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return syntax(err)
		}
		k := t.(string)
		if strings.EqualFold(k, "Records") {
			if c := skipWS(o.data, at()); c < len(o.data) && o.data[c] == ':' {
				if v := skipWS(o.data, c+1); v < len(o.data) && o.data[v] == '[' {
					if _, err := dec.Token(); err != nil {
						return syntax(err)
					}
					return o.list(dec, at, line, false)
				}
			}
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return syntax(err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return syntax(err)
	}
	v := o.data[pos:at()]
	o.hold(&oResult{line: line, items: func(multi bool) []Item { return o.object(v, multi, line) }})
	return at(), -1
}

// single builds the one item of a top-level value that failed or is a
// plain record.
func (o *oRun) single(multi bool, line int, rec *Record, err error) []Item {
	or := Origin{Source: o.source}
	if multi {
		or.Index = line
		or.Shape = ShapeJSONLines
	}
	if err != nil {
		return []Item{{Origin: or, Err: &Error{Source: or.Source, Index: or.Index, Shape: or.Shape, MessageID: or.MessageID, Err: err}}}
	}
	return []Item{{Record: *rec, Origin: or}}
}

// object classifies a complete top-level object that holds no list.
func (o *oRun) object(v []byte, multi bool, line int) []Item {
	sub := &oRun{source: o.source}
	or := Origin{Source: o.source}
	if multi {
		or.Index = line
	}
	outer := Shape("")
	if multi {
		outer = ShapeJSONLines
	}
	sub.decodeObject(v, or, outer)
	return sub.items
}

// decodeObject is the previous decoder's classification of an object,
// on encoding/json. outer is "" for a whole input, ShapeJSONLines for a
// line and ShapeSQS for an SQS body.
func (o *oRun) decodeObject(v []byte, or Origin, outer Shape) {
	var w oTopWire
	err := json.Unmarshal(v, &w)
	if len(v) > MaxRecordBytes {
		or.Shape = outer
		o.fail(or, ErrTooLarge)
		return
	}
	switch {
	case w.Records != nil && string(*w.Records) != "null":
		if outer == ShapeSQS {
			or.Shape = ShapeSQS
			o.fail(or, ErrUnknownShape)
			return
		}
		or.Shape = ShapeLogFile
		if outer == ShapeJSONLines {
			or.Shape = ShapeJSONLines
		}
		o.fail(or, errors.New("Records is not a list"))
	case w.DetailType != "" || w.Detail != nil:
		switch outer {
		case "":
			or.Shape, or.MessageID = ShapeEventBridge, w.ID
		case ShapeJSONLines:
			or.Shape, or.MessageID = ShapeJSONLines, w.ID
		}
		switch {
		case !cloudTrailDetailType(w.DetailType), !strings.HasPrefix(w.Source, "aws."), err != nil, w.Detail == nil, !w.Detail.looksLikeRecord():
			o.fail(or, errors.Join(ErrUnknownShape, err))
		default:
			o.items = append(o.items, Item{Record: w.Detail.record(), Origin: or})
		}
	case w.isSQS():
		if outer == ShapeSQS {
			o.fail(or, ErrUnknownShape)
			return
		}
		or.Shape, or.MessageID = ShapeSQS, w.MessageID
		o.sqsMessage(&w.oElemWire, or, err)
	case w.looksLikeRecord() || err != nil:
		or.Shape = ShapeRecord
		if outer != "" {
			or.Shape = outer
		}
		if err != nil {
			o.fail(or, err)
			return
		}
		rec := w.record()
		rec.Resources = w.Resources.list
		o.items = append(o.items, Item{Record: rec, Origin: or})
	default:
		or.Shape = outer
		o.fail(or, ErrUnknownShape)
	}
}

func (o *oRun) sqsMessage(m *oElemWire, or Origin, err error) {
	switch {
	case err != nil:
		o.fail(or, err)
	case m.Body == nil:
		o.fail(or, ErrUnknownShape)
	default:
		body := bytes.TrimSpace(bytes.TrimPrefix([]byte(*m.Body), []byte("\xef\xbb\xbf")))
		switch {
		case len(body) == 0:
			o.fail(or, ErrEmpty)
		case !json.Valid(body):
			o.fail(or, errors.New("SQS body is not JSON"))
		case body[0] != '{':
			o.fail(or, ErrUnknownShape)
		default:
			o.decodeObject(body, or, ShapeSQS)
		}
	}
}

// list decodes the members of a list whose '[' dec has just read.
func (o *oRun) list(dec *json.Decoder, at func() int, line int, bare bool) (int, int) {
	source := o.source
	if o.values > 1 {
		source += ":" + strconv.Itoa(line+1)
	}
	sqs := false
	shape := func() Shape {
		if sqs {
			return ShapeSQS
		}
		return ShapeLogFile
	}
	for i := 0; ; i++ {
		more := dec.More()
		start := skipWS(o.data, at())
		if i > 0 && start < len(o.data) && o.data[start] == ',' {
			start = skipWS(o.data, start+1)
		}
		if !more {
			if _, err := dec.Token(); err != nil { // ']'
				o.fail(Origin{Source: source, Index: i, Shape: shape()}, err)
				return -1, skipWS(o.data, at())
			}
			break
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			o.fail(Origin{Source: source, Index: i, Shape: shape()}, err)
			return -1, start
		}
		or := Origin{Source: source, Index: i, Shape: shape()}
		sqs = o.member(raw, or, bare) || sqs
	}
	if bare {
		return at(), -1
	}
	for dec.More() {
		start := at()
		t, err := dec.Token()
		if err != nil {
			o.fail(Origin{Source: source, Index: -1, Shape: shape()}, err)
			return -1, start
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			o.fail(Origin{Source: source, Index: -1, Shape: shape()}, err)
			return -1, start
		}
		if strings.EqualFold(t.(string), "Records") {
			o.fail(Origin{Source: source, Index: -1, Shape: shape()}, ErrUnknownShape)
		}
	}
	start := at()
	if _, err := dec.Token(); err != nil { // '}'
		o.fail(Origin{Source: source, Index: -1, Shape: shape()}, err)
		return -1, start
	}
	return at(), -1
}

// member decodes one list member; it reports whether it was an SQS message.
func (o *oRun) member(m json.RawMessage, or Origin, bare bool) bool {
	if len(m) > MaxRecordBytes {
		o.fail(or, ErrTooLarge)
		return false
	}
	if m[0] != '{' {
		o.fail(or, ErrUnknownShape)
		return false
	}
	var w oElemWire
	if err := json.Unmarshal(m, &w); err != nil {
		if w.MessageID != "" {
			or.Shape, or.MessageID = ShapeSQS, w.MessageID
		}
		o.fail(or, err)
		return false
	}
	if w.isSQS() {
		or.Shape, or.MessageID = ShapeSQS, w.MessageID
		o.sqsMessage(&w, or, nil)
		return true
	}
	or.Shape = ShapeLogFile
	if !w.looksLikeRecord() {
		o.fail(or, ErrUnknownShape)
		return false
	}
	o.items = append(o.items, Item{Record: w.record(), Origin: or})
	return false
}

var _ = io.EOF
