package decode

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Size limits.
const (
	// MaxRecordBytes caps one record, envelope or SQS message (its JSON
	// text). EventBridge caps events at 256 KB and CloudTrail records stay
	// far below this; only a log file or SQS batch may be larger as a whole.
	MaxRecordBytes = 1 << 20
	// MaxInputBytes caps what Reader reads (after gzip decompression, and of
	// the compressed stream itself), as a guard against gzip bombs.
	MaxInputBytes = 512 << 20
)

// Sentinel errors, always wrapped in an *Error; test with errors.Is.
var (
	// ErrUnknownShape: valid JSON that is none of the recognised shapes.
	ErrUnknownShape = errors.New("unknown shape")
	// ErrTooLarge: a record above MaxRecordBytes or an input above
	// MaxInputBytes.
	ErrTooLarge = errors.New("too large")
	// ErrEmpty: an input with nothing but white space.
	ErrEmpty = errors.New("empty input")
)

// fastPath enables the allocation-light decoder in fast.go; tests turn it
// off to compare it with encoding/json.
var fastPath = true

// maxInputBytes is MaxInputBytes; tests lower it.
var maxInputBytes int64 = MaxInputBytes

// sqsEventSource is an SQS message's eventSource.
const sqsEventSource = "aws:sqs"

// Item is one decoded record or one failure.
type Item struct {
	Record Record
	Origin Origin
	Err    error // an *Error when non-nil; Record is then the zero value
}

// Error is a decode failure of one record or of a whole input.
type Error struct {
	Source    string
	Index     int // as Origin.Index; -1 when the whole input failed
	Shape     Shape
	MessageID string
	Err       error
}

// Error returns e.g.
// `events/x.json[3]: record: json: cannot unmarshal number into eventName of type string`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Index >= 0 {
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(e.Index))
		b.WriteByte(']')
	}
	if e.MessageID != "" {
		b.WriteString(" message ")
		b.WriteString(strconv.Quote(e.MessageID))
	}
	if e.Shape != "" {
		b.WriteString(": ")
		b.WriteString(string(e.Shape))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Bytes decodes data in any recognised shape, auto-detected:
//
//   - an EventBridge envelope ("detail-type" ending "via CloudTrail", an
//     aws.* "source") around a CloudTrail record in "detail": ShapeEventBridge,
//     Index 0, MessageID = envelope id;
//   - a bare CloudTrail record: ShapeRecord, Index 0;
//   - a CloudTrail log file {"Records":[...]}, plain or gzip (magic 1f 8b):
//     ShapeLogFile, Index = position in Records;
//   - an SQS event {"Records":[{"eventSource":"aws:sqs","body":...}]} whose
//     bodies are envelopes or bare records: ShapeSQS, Index = position in
//     the batch, MessageID = messageId; a single SQS message: Index 0;
//   - JSON lines, one record or envelope a line, blank lines skipped:
//     ShapeJSONLines, Index = line number - 1; SQS messages on a line keep
//     ShapeSQS. A line holding a log file or SQS batch yields its members with
//     Source "source:line" (1-based) and Index = position in its Records;
//   - concatenated JSON values not one a line (e.g. pretty-printed records
//     one after another): as JSON lines but Index = 0-based value ordinal;
//     a syntax error ends such a stream.
//
// It never panics; a bad record yields an Item with Err and decoding carries
// on with the rest. Records hold no reference to data.
func Bytes(source string, data []byte) iter.Seq[Item] {
	return func(yield func(Item) bool) {
		r := &run{source: source, yield: yield}
		if isGzip(data) {
			r.reader(bytes.NewReader(data))
			return
		}
		r.bytes(data)
	}
}

// Reader reads r (gzip aware, at most MaxInputBytes) and decodes it as Bytes
// does. A read error (e.g. truncated gzip) yields an Item with Err (Index -1)
// after the records that could be decoded from the bytes read before it:
// whole lines of JSON lines, whole members of a log file's Records.
func Reader(source string, r io.Reader) iter.Seq[Item] {
	return func(yield func(Item) bool) {
		rn := &run{source: source, yield: yield}
		rn.reader(r)
	}
}

func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// run is the state of one decode.
type run struct {
	source  string
	yield   func(Item) bool
	stopped bool
}

// emit yields it; false once the consumer has stopped.
func (r *run) emit(it Item) bool {
	if r.stopped {
		return false
	}
	if !r.yield(it) {
		r.stopped = true
	}
	return !r.stopped
}

// fail yields an Item whose Err is an *Error built from o and err.
func (r *run) fail(o Origin, err error) bool {
	return r.emit(Item{Origin: o, Err: &Error{
		Source: o.Source, Index: o.Index, Shape: o.Shape, MessageID: o.MessageID, Err: err,
	}})
}

func (r *run) whole() Origin { return Origin{Source: r.source, Index: -1} }

func (r *run) reader(in io.Reader) {
	limit := maxInputBytes
	raw := &countingReader{r: io.LimitReader(in, limit+1)}
	br := bufio.NewReader(raw)
	var src io.Reader = br
	if magic, _ := br.Peek(2); isGzip(magic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			r.fail(r.whole(), fmt.Errorf("gzip: %w", err))
			return
		}
		defer zr.Close()
		src = zr
	}
	data, err := io.ReadAll(io.LimitReader(src, limit+1))
	if int64(len(data)) > limit || raw.n > limit {
		r.fail(r.whole(), fmt.Errorf("%w: input exceeds %d bytes", ErrTooLarge, limit))
		return
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) && isGzip(data) {
			err = fmt.Errorf("gzip: %w", err)
		}
		r.salvage(data)
		r.fail(r.whole(), fmt.Errorf("read after %d bytes: %w", len(data), err))
		return
	}
	if isGzip(data) {
		r.fail(r.whole(), fmt.Errorf("%w: gzip inside gzip", ErrUnknownShape))
		return
	}
	r.bytes(data)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// trim drops a UTF-8 byte order mark and surrounding white space.
func trim(data []byte) []byte {
	return bytes.TrimSpace(dropBOM(data))
}

// dropBOM drops a leading UTF-8 byte order mark.
func dropBOM(data []byte) []byte {
	return bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
}

// bytes decodes a complete, uncompressed input.
func (r *run) bytes(data []byte) {
	data = dropBOM(data)
	v := bytes.TrimSpace(data)
	if len(v) == 0 {
		r.fail(r.whole(), ErrEmpty)
		return
	}
	o := Origin{Source: r.source, Index: 0}
	err := r.value(v, o, "")
	if err == nil {
		return
	}
	// Not one JSON value: JSON lines, a stream of values, or not JSON.
	if hasObjectLine(v) {
		r.lines(data) // untrimmed, so that Index is the line number - 1
		return
	}
	r.stream(v)
}

// hasObjectLine reports whether some line is a JSON object on its own,
// which tells JSON lines from pretty-printed values.
func hasObjectLine(data []byte) bool {
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		if len(line) > 2 && line[0] == '{' && json.Valid(line) {
			return true
		}
	}
	return false
}

// lines decodes JSON lines; Index = line number - 1.
func (r *run) lines(data []byte) {
	n := 0
	for line := range bytes.Lines(data) {
		i := n
		n++
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		o := Origin{Source: r.source, Index: i, Shape: ShapeJSONLines}
		if err := r.value(line, o, ShapeJSONLines); err != nil {
			r.fail(o, fmt.Errorf("line %d is not JSON: %w", i+1, err))
		}
		if r.stopped {
			return
		}
	}
}

// stream decodes concatenated JSON values; Index = value ordinal. A syntax
// error ends the stream with an error Item.
func (r *run) stream(data []byte) {
	dec := json.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		o := Origin{Source: r.source, Index: i, Shape: ShapeJSONLines}
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return
		}
		if err != nil {
			if i == 0 {
				o.Shape = ""
			}
			r.fail(o, fmt.Errorf("not JSON: %w", err))
			return
		}
		if err := r.value(raw, o, ShapeJSONLines); err != nil {
			r.fail(o, fmt.Errorf("not JSON: %w", err))
		}
		if r.stopped {
			return
		}
	}
}

// salvage decodes what it can of a truncated input: the whole members of a
// log file's Records, or the whole lines of JSON lines.
func (r *run) salvage(data []byte) {
	data = dropBOM(data)
	if v := bytes.TrimSpace(data); len(v) == 0 || isGzip(v) {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		r.salvageLines(data)
		return
	}
	if t, err := dec.Token(); err != nil || t != "Records" {
		r.salvageLines(data)
		return
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return
	}
	o := Origin{Source: r.source, Index: 0}
	var slots []slot
	for dec.More() {
		var s slot
		if err := dec.Decode(&s); err != nil {
			break
		}
		slots = append(slots, s)
	}
	r.members(slots, o, "")
}

// salvageLines decodes the complete lines of truncated JSON lines; the cut
// last line is left to the read error.
func (r *run) salvageLines(data []byte) {
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 && hasObjectLine(data[:i]) {
		r.lines(data[:i])
	}
}

// value decodes one JSON value v (trimmed, non-empty) with origin o. outer
// is "" for a whole input, ShapeJSONLines for a line or stream member and
// ShapeSQS for an SQS body. It returns an error, without yielding, only
// when v is not valid JSON.
func (r *run) value(v []byte, o Origin, outer Shape) error {
	return r.decodeValue(v, o, outer, false)
}

// decodeValue is value; owned says that v is a private buffer the records
// may keep (an unescaped SQS body), so the fast path need not copy it.
func (r *run) decodeValue(v []byte, o Origin, outer Shape, owned bool) error {
	if v[0] != '{' {
		if !json.Valid(v) {
			return syntaxError(v)
		}
		o.Shape = outer
		r.fail(o, fmt.Errorf("%w: %s, want a CloudTrail record, EventBridge envelope, log file or SQS message", ErrUnknownShape, kindOf(v)))
		return nil
	}
	if fastPath && outer != ShapeSQS && r.records(v, o, outer) {
		return nil
	}
	if len(v) > MaxRecordBytes {
		return r.big(v, o, outer)
	}
	if fastPath {
		decodeFast := fastDecode
		if owned {
			decodeFast = fastDecodeOwned
		}
		if fr, ok := decodeFast(v); ok {
			r.emitFast(&fr, o, outer)
			return nil
		}
	}
	var w topWire
	err := json.Unmarshal(v, &w)
	if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
		return err
	}
	err = cleanJSONError(err)
	switch {
	case w.Records != nil:
		if outer == ShapeSQS {
			o.Shape = ShapeSQS
			r.fail(o, fmt.Errorf("%w: SQS body holds a Records list, want an EventBridge envelope or a CloudTrail record", ErrUnknownShape))
			return nil
		}
		if err != nil {
			o.Shape = containerShape(*w.Records)
			if outer == ShapeJSONLines {
				o.Shape = ShapeJSONLines
			}
			if !r.fail(o, err) {
				return nil
			}
		}
		r.members(*w.Records, o, outer)
	case w.DetailType != "" || w.Detail != nil:
		r.envelope(&w, o, outer, err)
	case w.isSQS():
		if outer == ShapeSQS {
			r.fail(o, fmt.Errorf("%w: SQS body holds an SQS message, want an EventBridge envelope or a CloudTrail record", ErrUnknownShape))
			return nil
		}
		o.Shape, o.MessageID = ShapeSQS, w.MessageID
		r.sqsMessage(&w.elemWire, o, err)
	case w.looksLikeRecord() || err != nil:
		if outer == "" {
			o.Shape = ShapeRecord
		} else {
			o.Shape = outer
		}
		if err != nil {
			r.fail(o, err)
			return nil
		}
		rec := w.record()
		rec.Resources = w.Resources.list
		r.emit(Item{Record: rec, Origin: o})
	default:
		o.Shape = outer
		r.fail(o, fmt.Errorf("%w: %s, want a CloudTrail record, EventBridge envelope, log file or SQS message", ErrUnknownShape, describeObject(v)))
	}
	return nil
}

// emitFast yields what the fast path decoded, with the Origin value would
// have given it.
func (r *run) emitFast(fr *fastResult, o Origin, outer Shape) {
	switch {
	case fr.envelope && outer == "":
		o.Shape, o.MessageID = ShapeEventBridge, fr.envelopeID
	case fr.envelope && outer == ShapeJSONLines:
		o.Shape, o.MessageID = ShapeJSONLines, fr.envelopeID
	case outer == "":
		o.Shape = ShapeRecord
	default:
		o.Shape = outer
	}
	r.emit(Item{Record: fr.rec.record(), Origin: o})
}

// big handles a value above MaxRecordBytes: only a log file or SQS batch may
// be that large.
func (r *run) big(v []byte, o Origin, outer Shape) error {
	tooLarge := func() error {
		o.Shape = outer
		r.fail(o, fmt.Errorf("%w: value of %d bytes exceeds the %d-byte record limit", ErrTooLarge, len(v), MaxRecordBytes))
		return nil
	}
	if outer == ShapeSQS {
		return tooLarge()
	}
	var w bigWire
	err := json.Unmarshal(v, &w)
	if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
		return err
	}
	if w.Records == nil {
		return tooLarge()
	}
	if err != nil {
		o.Shape = containerShape(*w.Records)
		if !r.fail(o, cleanJSONError(err)) {
			return nil
		}
	}
	r.members(*w.Records, o, outer)
	return nil
}

// containerShape is ShapeSQS when any member is an SQS message, else
// ShapeLogFile.
func containerShape(slots []slot) Shape {
	for i := range slots {
		if slots[i].err == nil && slots[i].w.isSQS() {
			return ShapeSQS
		}
	}
	return ShapeLogFile
}

// members yields the members of a Records list found at origin o.
func (r *run) members(slots []slot, o Origin, outer Shape) {
	source := o.Source
	if outer == ShapeJSONLines {
		source = fmt.Sprintf("%s:%d", o.Source, o.Index+1)
	}
	batch := containerShape(slots)
	for i := range slots {
		r.member(&slots[i], Origin{Source: source, Index: i, Shape: batch})
		if r.stopped {
			return
		}
	}
}

// member yields one decoded member of a Records list. eo.Shape is the
// shape of the whole list (containerShape), which only a failed member
// without a message id takes.
func (r *run) member(s *slot, eo Origin) {
	switch {
	case s.err != nil:
		if s.w.MessageID != "" {
			eo.Shape, eo.MessageID = ShapeSQS, s.w.MessageID
		}
		r.fail(eo, s.err)
	case s.w.isSQS():
		eo.Shape, eo.MessageID = ShapeSQS, s.w.MessageID
		r.sqsMessage(&s.w, eo, nil)
	default:
		eo.Shape = ShapeLogFile
		if !s.w.looksLikeRecord() {
			r.fail(eo, fmt.Errorf("%w: Records member with no CloudTrail record fields", ErrUnknownShape))
			break
		}
		r.emit(Item{Record: s.w.record(), Origin: eo})
	}
}

// sqsMessage decodes the body of one SQS message; o has Shape ShapeSQS and
// the messageId.
func (r *run) sqsMessage(m *elemWire, o Origin, err error) {
	if err != nil {
		r.fail(o, err)
		return
	}
	if m.Body == nil {
		r.fail(o, errNoBody())
		return
	}
	r.sqsBody([]byte(*m.Body), o)
}

// sqsBody decodes body, an SQS message's body in a buffer of its own that
// the records may keep; o is as for sqsMessage.
func (r *run) sqsBody(body []byte, o Origin) {
	body = trim(body)
	if len(body) == 0 {
		r.fail(o, fmt.Errorf("SQS body: %w", ErrEmpty))
		return
	}
	if err := r.decodeValue(body, o, ShapeSQS, true); err != nil {
		r.fail(o, fmt.Errorf("SQS body is not JSON: %w", err))
	}
}

// cloudTrailDetailType reports whether an EventBridge detail-type carries a
// CloudTrail record in detail ("AWS API Call via CloudTrail", "AWS Service
// Event via CloudTrail", "AWS Console Sign In via CloudTrail", …).
func cloudTrailDetailType(dt string) bool {
	return strings.HasSuffix(dt, " via CloudTrail") && dt != "AWS Insight via CloudTrail"
}

// envelope handles an EventBridge envelope.
func (r *run) envelope(w *topWire, o Origin, outer Shape, err error) {
	switch outer {
	case "":
		o.Shape, o.MessageID = ShapeEventBridge, w.ID
	case ShapeJSONLines:
		o.Shape, o.MessageID = ShapeJSONLines, w.ID
	}
	switch {
	case !cloudTrailDetailType(w.DetailType):
		r.fail(o, fmt.Errorf("%w: EventBridge event with detail-type %q, want \"AWS API Call via CloudTrail\"", ErrUnknownShape, clip([]byte(w.DetailType), 80)))
	case !strings.HasPrefix(w.Source, "aws."):
		// Only AWS services can put events with an aws.* source; any other
		// source claiming to carry CloudTrail is forged or replayed.
		r.fail(o, fmt.Errorf("%w: EventBridge event from source %q; CloudTrail events come from aws.* sources", ErrUnknownShape, clip([]byte(w.Source), 80)))
	case err != nil:
		r.fail(o, err)
	case w.Detail == nil:
		r.fail(o, fmt.Errorf("%w: EventBridge envelope without detail", ErrUnknownShape))
	case !w.Detail.looksLikeRecord():
		r.fail(o, fmt.Errorf("%w: EventBridge detail with no CloudTrail record fields", ErrUnknownShape))
	default:
		r.emit(Item{Record: w.Detail.record(), Origin: o})
	}
}

// syntaxError returns the syntax error in v.
func syntaxError(v []byte) error {
	var x json.RawMessage
	if err := json.Unmarshal(v, &x); err != nil {
		return err
	}
	return errors.New("invalid JSON")
}

// describeObject names the keys of an unrecognised object (error path only).
func describeObject(v []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(v, &m) != nil || len(m) == 0 {
		return "JSON object with no keys"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	more := ""
	if len(keys) > 6 {
		keys, more = keys[:6], ", …"
	}
	for i, k := range keys {
		keys[i] = strconv.Quote(clip([]byte(k), 40))
	}
	return "JSON object with keys " + strings.Join(keys, ", ") + more
}

// goNames are the Go names encoding/json puts into UnmarshalTypeError.Field
// for embedded structs; they are not JSON keys.
var goNames = map[string]bool{
	"Record": true, "recordWire": true, "elemWire": true, "flexBool": true,
}

// typeError is a json.UnmarshalTypeError that names the JSON path
// ("detail.eventName") instead of Go struct names.
type typeError struct {
	path string
	err  *json.UnmarshalTypeError
}

func (e *typeError) Error() string {
	return "json: cannot unmarshal " + e.err.Value + " into " + e.path + " of type " + typeName(e.err.Type)
}

func (e *typeError) Unwrap() error { return e.err }

func typeName(t reflect.Type) string {
	switch {
	case t == nil:
		return "unknown"
	case t == reflect.TypeFor[Record]() || t == reflect.TypeFor[recordWire]() || t == reflect.TypeFor[topWire]() || t == reflect.TypeFor[elemWire]():
		return "object"
	case t.Kind() == reflect.Struct:
		return "object"
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		return "array"
	case t.Kind() == reflect.Pointer:
		return typeName(t.Elem())
	}
	return t.String()
}

// cleanJSONError rewrites a type error to name the JSON path.
func cleanJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err
	}
	var parts []string
	for p := range strings.SplitSeq(te.Field, ".") {
		if p != "" && !goNames[p] {
			parts = append(parts, p)
		}
	}
	path := strings.Join(parts, ".")
	if path == "" {
		path = "value"
	}
	return &typeError{path: path, err: te}
}
