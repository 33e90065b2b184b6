package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// Size limits.
const (
	// MaxRecordBytes caps one record, envelope, SQS message or JSON line
	// (its JSON text). EventBridge caps events at 256 KB and CloudTrail
	// records stay far below this; only a log file, an SQS batch or an
	// array of records may be larger as a whole, and those are read one
	// member at a time.
	MaxRecordBytes = 1 << 20
	// MaxGzipRatio caps how much a gzip stream may expand: past
	// gzipFloor decompressed bytes, a stream that has produced more than
	// MaxGzipRatio times the compressed bytes read so far is refused as a
	// decompression bomb. CloudTrail log files expand about 10 to 20 times.
	MaxGzipRatio = 100
	gzipFloor    = 64 << 20
)

// Sentinel errors, always wrapped in an *Error; test with errors.Is.
var (
	// ErrUnknownShape: valid JSON that is none of the recognised shapes.
	ErrUnknownShape = errors.New("unknown shape")
	// ErrTooLarge: a record above MaxRecordBytes, or a gzip stream that
	// expands more than MaxGzipRatio times.
	ErrTooLarge = errors.New("too large")
	// ErrEmpty: an input with nothing but white space.
	ErrEmpty = errors.New("empty input")
)

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
//   - a CloudTrail log file {"Records":[...]}, plain or gzip (magic 1f 8b),
//     or a bare JSON array of records (as attack-simulation tools such as
//     Stratus Red Team write them): ShapeLogFile, Index = position in the
//     list;
//   - an SQS event {"Records":[{"eventSource":"aws:sqs","body":...}]} whose
//     bodies are envelopes or bare records: ShapeSQS, Index = position in
//     the batch, MessageID = messageId; a single SQS message: Index 0;
//   - several JSON values, one a line (JSON lines) or pretty-printed one
//     after another: ShapeJSONLines, Index = the line the value starts on,
//     counted from 0; SQS messages keep ShapeSQS. A value that is a log
//     file, SQS batch or array yields its members with Source "source:line"
//     (1-based; plain source for the first value) and Index = position in
//     the list. A value that is not valid JSON yields one error and
//     decoding resumes at the next line that starts an object or array.
//
// Every byte is parsed once, validated as it is decoded: what
// encoding/json.Valid rejects is an error naming the record (its line or
// list position), never a record. Bytes never panics; a bad record yields
// an Item with Err and decoding carries on with the rest. Records hold no
// reference to data.
func Bytes(source string, data []byte) iter.Seq[Item] {
	return func(yield func(Item) bool) {
		r := newRun(source, yield)
		defer r.release()
		if isGzip(data) {
			r.stream(bytes.NewReader(data))
			return
		}
		r.in = input{buf: data, eof: true}
		r.decode()
	}
}

// Reader decodes r, plain or gzip, as Bytes does, in bounded memory: it
// holds at most one record (or one member of a list) and a read buffer at
// a time, whatever the input's size. A read error (e.g. truncated gzip)
// yields an Item with Err (Index -1) after every record that could be
// decoded from the bytes read before it.
func Reader(source string, r io.Reader) iter.Seq[Item] {
	return func(yield func(Item) bool) { Read(source, r, yield) }
}

// Read calls yield with every item of src, as Reader's sequence yields
// them, until yield returns false: Reader without a sequence to allocate,
// for a caller that decodes an input per call (the detector Lambda, once
// per invocation) and keeps its yield function.
func Read(source string, src io.Reader, yield func(Item) bool) {
	r := newRun(source, yield)
	defer r.release()
	r.stream(src)
}

func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// run is the state of one decode.
type run struct {
	source  string
	yield   func(Item) bool
	stopped bool
	in      input
	// values counts the top-level values begun; the first one's result is
	// held in first until it is known whether another value follows
	// (which makes the input JSON lines).
	values  int
	first   result
	holding bool
	// line is the 0-based line number at in.pos.
	line int
	// p is the parser of the current unit.
	p parser
	// bodies holds the SQS message bodies unescaped so far.
	bodies bodySlab
	// halted reports that the stream failed (in.err): nothing more is
	// decoded, and the read error ends the items.
	halted bool
	// raw counts the bytes read from a stream (for the gzip ratio).
	raw countingReader
	// shared reports that a goroutine other than the decode's may still
	// refer to the run (a gzip read-ahead holds raw): it is not reused.
	shared bool
}

// runs are runs to reuse: an input decoded per call (a Lambda invocation)
// costs no run of its own.
var runs = sync.Pool{New: func() any { return new(run) }}

func newRun(source string, yield func(Item) bool) *run {
	r := runs.Get().(*run)
	*r = run{source: source, yield: yield}
	return r
}

// release returns r for reuse, holding nothing of the decode: the items
// own their bytes, and the slab of SQS bodies is theirs.
func (r *run) release() {
	if r.shared {
		return
	}
	*r = run{}
	runs.Put(r)
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

// decode decodes r.in: every top-level value in turn.
func (r *run) decode() {
	in := &r.in
	// A UTF-8 byte order mark may start the input.
	if !in.need(3) && in.err != nil {
		r.readFailed()
		return
	}
	if bytes.HasPrefix(in.rest(), []byte("\xef\xbb\xbf")) {
		in.pos += 3
	}
	for !r.stopped && !r.halted {
		if !r.skipSpace() {
			break
		}
		if r.values == 1 && r.holding {
			// A second value: the input is JSON lines.
			r.holding = false
			r.emitResult(&r.first, true)
		}
		r.values++
		r.value()
	}
	if r.stopped {
		return
	}
	if in.err != nil {
		r.flushFirst()
		r.readFailed()
		return
	}
	if r.values == 0 {
		r.fail(r.whole(), ErrEmpty)
		return
	}
	r.flushFirst()
}

func (r *run) flushFirst() {
	if r.holding {
		r.holding = false
		r.emitResult(&r.first, false)
	}
}

// readFailed yields the read error of a stream.
func (r *run) readFailed() {
	r.fail(r.whole(), fmt.Errorf("read after %d bytes: %w", r.in.read, r.in.err))
}

// skipSpace moves past white space (counting lines); false at the end of
// the input (or at a read error).
func (r *run) skipSpace() bool {
	in := &r.in
	for {
		for in.pos < len(in.buf) {
			switch in.buf[in.pos] {
			case '\n':
				r.line++
			case ' ', '\t', '\r':
			default:
				return true
			}
			in.pos++
		}
		if !in.fill() {
			return false
		}
	}
}

// multi reports whether the input is known to hold several values.
func (r *run) multi() bool { return r.values > 1 }

// listSource is the Source of the members of a list that is a top-level
// value starting on line (0-based).
func (r *run) listSource(line int) string {
	if r.multi() {
		return r.source + ":" + strconv.Itoa(line+1)
	}
	return r.source
}

// value decodes the top-level value at r.in.pos (not white space).
func (r *run) value() {
	line := r.line
	var t top
	u := r.unit(0, func(p *parser) bool { t = top{}; return p.top(&t) })
	switch {
	case u.readErr:
		return
	case u.err != nil:
		r.valueFailed(u, line)
	case t.list:
		r.list(&t, line)
	default:
		res := t.result(r.in.buf[u.start:u.end])
		if r.values == 1 {
			r.first, r.holding = res, true
			r.first.line = line
			return
		}
		res.line = line
		r.emitResult(&res, true)
	}
}

// valueFailed reports a top-level value that is not valid JSON (or too
// large) and resumes after it.
func (r *run) valueFailed(u unitResult, line int) {
	res := result{line: line, err: u.err, syntax: !errors.Is(u.err, ErrTooLarge)}
	if r.values == 1 {
		r.first, r.holding = res, true
	} else {
		r.emitResult(&res, true)
	}
	if res.syntax {
		r.resync(u.start)
	}
}

// resync skips from start (the beginning of a value that is not valid
// JSON) to the next line that starts, after white space, with '{' or '['.
func (r *run) resync(start int) {
	in := &r.in
	in.pos = start
	atLineStart := false
	for {
		for in.pos < len(in.buf) {
			c := in.buf[in.pos]
			switch {
			case c == '\n':
				r.line++
				atLineStart = true
			case atLineStart && (c == ' ' || c == '\t' || c == '\r'):
			case atLineStart && (c == '{' || c == '['):
				return
			default:
				atLineStart = false
			}
			in.pos++
		}
		if !in.fill() {
			return
		}
	}
}

// result is the outcome of a top-level value that is not a list, kept
// apart from its Item because its shape depends on whether other values
// follow.
type result struct {
	kind   resultKind
	rec    Record
	id     string // envelope id or SQS messageId
	line   int
	err    error
	syntax bool // err is a syntax error ("not JSON")
	// body is an SQS message's body, decoded later (its records may
	// fail on their own).
	body    []byte
	hasBody bool
}

type resultKind uint8

const (
	resError resultKind = iota // err without a more specific shape
	resRecord
	resEnvelope
	resSQS
	resLogFile // a log file whose Records is not a list
)

// emitResult yields the items of a top-level value; multi says the input
// holds several values (JSON lines).
func (r *run) emitResult(res *result, multi bool) {
	o := Origin{Source: r.source}
	if multi {
		o.Index = res.line
	}
	if res.syntax {
		if multi {
			o.Shape = ShapeJSONLines
			r.fail(o, fmt.Errorf("line %d is not JSON: %w", res.line+1, res.err))
		} else {
			r.fail(o, fmt.Errorf("not JSON: %w", res.err))
		}
		return
	}
	switch res.kind {
	case resRecord:
		o.Shape = ShapeRecord
	case resEnvelope:
		o.Shape, o.MessageID = ShapeEventBridge, res.id
	case resSQS:
		o.Shape, o.MessageID = ShapeSQS, res.id
	case resLogFile:
		o.Shape = ShapeLogFile
	}
	if multi && o.Shape != ShapeSQS {
		o.Shape = ShapeJSONLines
	}
	switch {
	case res.err != nil:
		r.fail(o, res.err)
	case res.kind == resSQS && !res.hasBody:
		r.fail(o, errNoBody())
	case res.kind == resSQS:
		r.sqsBody(res.body, o)
	default:
		r.emit(Item{Record: res.rec, Origin: o})
	}
}

// top is what the top-level object of an input decodes into: one struct
// holds the record fields and the envelope, log file and SQS fields, so
// one pass classifies every shape.
type top struct {
	w    wire
	errs error
	// container fields
	detailType, source, id string
	detail                 wire
	hasDetail              bool
	messageID              string
	body                   []byte // raw (escaped) string contents
	bodyEsc, bodyHigh      bool
	hasBody                bool
	records                bool // a Records key that is not null
	list                   bool // Records is an array: p.i is at its '['
	bare                   bool // the value is an array (list is set too)
	nonObject              byte // first byte of a value that is neither object nor array
	start                  int  // offset of the value in the unit's buffer
}

// top decodes the top-level value at p.i: an object into t, or, for an
// array or an object whose Records is an array, stops at the array's '['
// with t.list set.
func (p *parser) top(t *top) bool {
	t.start = p.i
	switch c := p.buf[p.i]; c {
	case '{':
	case '[':
		t.list, t.bare = true, true
		return true
	default:
		t.nonObject = c
		return p.skip()
	}
	if !p.open() {
		return false
	}
	for first := true; ; first = false {
		k, ok := p.nextKey(first)
		if !ok {
			return p.ended()
		}
		switch f := lookup(k, topFields); f {
		case fRecords:
			switch c := p.buf[p.i]; c {
			case 'n':
				t.records = false
				ok = p.literal("null")
			case '[':
				t.records, t.list = true, true
				return true
			default:
				t.records = true
				ok = p.soft(&t.errs, c, typArray, "", "Records")
			}
		case fDetailType:
			ok = p.stringInto(&t.detailType, &t.errs, "", "detail-type")
		case fSource:
			ok = p.stringInto(&t.source, &t.errs, "", "source")
		case fID:
			ok = p.stringInto(&t.id, &t.errs, "", "id")
		case fMessageID:
			ok = p.stringInto(&t.messageID, &t.errs, "", "messageId")
		case fBody:
			ok = p.bodyInto(t, &t.errs)
		case fDetail:
			if p.buf[p.i] == 'n' {
				t.hasDetail = false
				ok = p.literal("null")
				break
			}
			// As encoding/json, which allocates the detail before it
			// checks the value's type.
			t.hasDetail = true
			var isObj bool
			if isObj, ok = p.object(&t.errs, typObject, "", "detail"); isObj {
				ok = p.recordFields(&t.detail, &t.errs, "detail.")
			}
		case fResources:
			ok = p.flexResources(&t.w.Resources, &t.errs)
		default:
			ok = p.recordField(&t.w, f, &t.errs, "")
		}
		if !ok {
			return false
		}
	}
}

// bodyInto keeps the raw text of an SQS message body (a string; null
// clears it).
func (p *parser) bodyInto(t *top, errs *error) bool {
	switch c := p.buf[p.i]; c {
	case '"':
		raw, esc, high, ok := p.str()
		t.body, t.bodyEsc, t.bodyHigh, t.hasBody = raw, esc, high, ok
		return ok
	case 'n':
		t.body, t.hasBody = nil, false
		return p.literal("null")
	default:
		// encoding/json allocates the *string before it fails: the
		// message counts as having a body.
		t.body, t.hasBody = nil, true
		return p.soft(errs, c, typString, "", "body")
	}
}

func (t *top) isSQS() bool {
	return t.w.EventSource == sqsEventSource || t.hasBody || t.messageID != ""
}

// result classifies a complete top-level value whose text is v.
func (t *top) result(v []byte) result {
	if t.nonObject != 0 {
		return result{err: fmt.Errorf("%w: JSON %s, want a CloudTrail record, EventBridge envelope, log file or SQS message", ErrUnknownShape, kind(t.nonObject))}
	}
	if len(v) > MaxRecordBytes {
		return result{err: fmt.Errorf("%w: value of %d bytes exceeds the %d-byte record limit", ErrTooLarge, len(v), MaxRecordBytes)}
	}
	switch {
	case t.records:
		// Records of the wrong type: a log file that holds nothing.
		return result{kind: resLogFile, err: t.errs}
	case t.detailType != "" || t.hasDetail:
		return t.envelope(v)
	case t.isSQS():
		res := result{kind: resSQS, id: t.messageID, err: t.errs}
		if res.err == nil && t.hasBody {
			res.body, res.hasBody = t.ownedBody(), true
		}
		res.id = ownString(res.id)
		return res
	case t.w.looksLikeRecord() || t.errs != nil:
		if t.errs != nil {
			return result{kind: resRecord, err: t.errs}
		}
		rec := t.w.record()
		own(&rec, v)
		return result{kind: resRecord, rec: rec}
	}
	return result{err: fmt.Errorf("%w: %s, want a CloudTrail record, EventBridge envelope, log file or SQS message", ErrUnknownShape, describeObject(v))}
}

// envelope classifies an EventBridge envelope.
func (t *top) envelope(v []byte) result {
	res := result{kind: resEnvelope, id: t.id}
	switch {
	case !cloudTrailDetailType(t.detailType):
		res.err = fmt.Errorf("%w: EventBridge event with detail-type %q, want \"AWS API Call via CloudTrail\"", ErrUnknownShape, clip([]byte(t.detailType), 80))
	case !strings.HasPrefix(t.source, "aws."):
		// Only AWS services can put events with an aws.* source; any
		// other source claiming to carry CloudTrail is forged or replayed.
		res.err = fmt.Errorf("%w: EventBridge event from source %q; CloudTrail events come from aws.* sources", ErrUnknownShape, clip([]byte(t.source), 80))
	case t.errs != nil:
		res.err = t.errs
	case !t.hasDetail:
		res.err = fmt.Errorf("%w: EventBridge envelope without detail", ErrUnknownShape)
	case !t.detail.looksLikeRecord():
		res.err = fmt.Errorf("%w: EventBridge detail with no CloudTrail record fields", ErrUnknownShape)
	default:
		res.rec = t.detail.record()
		res.id = own(&res.rec, v, res.id)
		return res
	}
	res.id = ownString(res.id)
	return res
}

// ownedBody returns the body unescaped into a buffer of its own.
func (t *top) ownedBody() []byte {
	return unquote(t.body, make([]byte, 0, len(t.body)))
}

// cloudTrailDetailType reports whether an EventBridge detail-type carries a
// CloudTrail record in detail ("AWS API Call via CloudTrail", "AWS Service
// Event via CloudTrail", "AWS Console Sign In via CloudTrail", …).
func cloudTrailDetailType(dt string) bool {
	return strings.HasSuffix(dt, " via CloudTrail") && dt != "AWS Insight via CloudTrail"
}

// ownString copies a string that may point into the input.
func ownString(s string) string { return strings.Clone(s) }

// errNoBody is the error of an SQS message without a body.
func errNoBody() error {
	return fmt.Errorf("%w: SQS message without a body", ErrUnknownShape)
}

// kindOf names the JSON kind of a value from its first byte.
func kindOf(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	return "JSON " + kind(b[0])
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

// own copies v, the text a record was decoded from, into a buffer of the
// record's own and points the record's strings into it, so that the
// record no longer refers to the input. Strings that were unescaped are
// already their own. extra strings (an envelope id) are moved along and
// returned.
func own(rec *Record, v []byte, extra ...string) string {
	if len(v) == 0 {
		return ""
	}
	to := make([]byte, len(v))
	copy(to, v)
	m := mover{base: uintptr(unsafe.Pointer(&v[0])), n: uintptr(len(v))}
	m.record(rec, to)
	if len(extra) == 0 {
		return ""
	}
	s := extra[0]
	m.s(&s, to)
	return s
}

// mover moves strings that point into the n bytes at base into to.
type mover struct {
	base, n uintptr
}

func (m mover) s(p *string, to []byte) {
	if len(*p) == 0 {
		return
	}
	if d := uintptr(unsafe.Pointer(unsafe.StringData(*p))) - m.base; d < m.n {
		*p = unsafe.String(&to[d], len(*p))
	}
}

func (m mover) raw(p *json.RawMessage, to []byte) {
	if len(*p) == 0 {
		return
	}
	if d := uintptr(unsafe.Pointer(&(*p)[0])) - m.base; d < m.n {
		n := uintptr(len(*p))
		*p = to[d : d+n : d+n]
	}
}

func (m mover) record(r *Record, to []byte) {
	for _, p := range [...]*string{&r.EventVersion, &r.EventTime, &r.EventSource, &r.EventName,
		&r.AWSRegion, &r.SourceIPAddress, &r.UserAgent, &r.ErrorCode, &r.ErrorMessage, &r.RequestID,
		&r.EventID, &r.EventType, &r.RecipientAccountID, &r.EventCategory, &r.VPCEndpointID,
		&r.VPCEndpointAccount, &r.SharedEventID} {
		m.s(p, to)
	}
	m.raw(&r.RequestParameters, to)
	m.raw(&r.ResponseElements, to)
	m.raw(&r.AdditionalEventData, to)
	u := &r.UserIdentity
	for _, p := range [...]*string{&u.Type, &u.PrincipalID, &u.ARN, &u.AccountID, &u.AccessKeyID,
		&u.UserName, &u.InvokedBy, &u.IdentityProvider, &u.CredentialID} {
		m.s(p, to)
	}
	if sc := u.SessionContext; sc != nil {
		m.s(&sc.Attributes.CreationDate, to)
		m.s(&sc.Attributes.MFAAuthenticated, to)
		m.s(&sc.SourceIdentity, to)
		if si := sc.SessionIssuer; si != nil {
			for _, p := range [...]*string{&si.Type, &si.PrincipalID, &si.ARN, &si.AccountID, &si.UserName} {
				m.s(p, to)
			}
		}
		if wd := sc.WebIDFederationData; wd != nil {
			m.s(&wd.FederatedProvider, to)
		}
	}
	if t := r.TLSDetails; t != nil {
		m.s(&t.TLSVersion, to)
		m.s(&t.CipherSuite, to)
		m.s(&t.ClientProvidedHostHeader, to)
	}
	for i := range r.Resources {
		res := &r.Resources[i]
		m.s(&res.ARN, to)
		m.s(&res.AccountID, to)
		m.s(&res.Type, to)
	}
}
