package decode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A Records list — an SQS event of thousands of messages or a CloudTrail log
// file — is walked in place, one member at a time, instead of being
// unmarshalled into a slice of all its members first:
//
//   - the input is validated once with json.Valid, then scanned without a
//     copy; only the member being decoded is looked at;
//   - an SQS message is read without encoding/json: its body is unescaped
//     into one right-sized buffer that the body's records then own (the fast
//     path decodes the body inside that buffer, with no further copy), and
//     its messageId is copied out, so no record refers to the input;
//   - any other member, and any SQS message the scanner does not handle
//     exactly as encoding/json would (escapes in messageId, an escaped UTF-16
//     surrogate or invalid UTF-8 in body, wrong types, duplicate or
//     case-folded keys), is decoded as a slot, as before.
//
// The walk is taken only for an object whose one key is "Records" and whose
// value is an array, and only when the fast path is on; everything else
// (other keys beside Records, Records not an array, invalid JSON, a Records
// list inside an SQS body) is decoded as before. FuzzBytes checks that both
// give the same items.

// records decodes v when it is exactly {"Records":[...]} and reports
// whether it did; false means nothing was yielded. o and outer are as for
// value.
func (r *run) records(v []byte, o Origin, outer Shape) bool {
	p := fastParser{buf: v}
	// Look at the first key before paying for json.Valid: most inputs are
	// single records or envelopes.
	if p.peek() != '{' {
		return false
	}
	p.i++
	p.ws()
	if key, ok := p.str(); !ok || key != "Records" {
		return false
	}
	if !json.Valid(v) {
		return false
	}
	p.ws()
	p.i++ // ':'
	p.ws()
	if p.peek() != '[' {
		return false
	}
	list := p.i
	p.skip()
	p.ws()
	if p.peek() != '}' { // another key follows
		return false
	}

	source := o.Source
	if outer == ShapeJSONLines {
		source = fmt.Sprintf("%s:%d", o.Source, o.Index+1)
	}
	b := batch{v: v}
	p.i = list + 1
	for i := 0; ; i++ {
		p.ws()
		if p.peek() == ',' {
			p.i++
			p.ws()
		}
		if p.peek() == ']' || p.i >= len(v) { // the end is unreachable in valid JSON
			return true
		}
		start := p.i
		p.skip()
		r.listMember(v[start:p.i], Origin{Source: source, Index: i}, &b, p.i)
		if r.stopped {
			return true
		}
	}
}

// listMember decodes one member m of a Records list; end is the offset in
// the list's input just after m.
func (r *run) listMember(m []byte, eo Origin, b *batch, end int) {
	if msg, ok := fastSQSMember(m, true); ok {
		b.sqs = true
		eo.Shape, eo.MessageID = ShapeSQS, msg.id
		if !msg.hasBody {
			r.fail(eo, errNoBody())
			return
		}
		r.sqsBody(msg.body, eo)
		return
	}
	s := &b.slot
	*s = slot{}
	_ = s.UnmarshalJSON(m) // never fails; the error is in s.err
	if s.err == nil && s.w.isSQS() {
		b.sqs = true
	}
	if s.err != nil && s.w.MessageID == "" {
		eo.Shape = b.shape(end)
	}
	r.member(s, eo)
}

// batch holds what is known of a Records list being walked: whether any
// member is an SQS message that decodes, which makes the list an SQS event
// (containerShape). A failed member without a message id takes that shape,
// so only then are the members not yet reached looked at.
type batch struct {
	v     []byte
	sqs   bool // a member decoded as an SQS message
	ahead int  // offset just after the last member looked at ahead; 0: none
	done  bool // every member has been looked at ahead
	// slot and aheadSlot are reused for the members that are decoded as
	// slots (records hold copies, never pointers into a slot).
	slot, aheadSlot slot
}

// shape is containerShape of the whole list; from is the offset just after
// the member being decoded.
func (b *batch) shape(from int) Shape {
	if b.sqs {
		return ShapeSQS
	}
	if b.done {
		return ShapeLogFile
	}
	p := fastParser{buf: b.v, i: max(from, b.ahead)}
	for {
		p.ws()
		if p.peek() == ',' {
			p.i++
			p.ws()
		}
		if p.peek() == ']' || p.i >= len(p.buf) {
			b.done = true
			return ShapeLogFile
		}
		start := p.i
		p.skip()
		b.ahead = p.i
		if b.memberIsSQS(b.v[start:p.i]) {
			b.sqs = true
			return ShapeSQS
		}
	}
}

// memberIsSQS reports whether m decodes as an SQS message without error.
func (b *batch) memberIsSQS(m []byte) bool {
	if _, ok := fastSQSMember(m, false); ok {
		return true
	}
	s := &b.aheadSlot
	*s = slot{}
	_ = s.UnmarshalJSON(m)
	return s.err == nil && s.w.isSQS()
}

// errNoBody is the error of an SQS message without a body.
func errNoBody() error {
	return fmt.Errorf("%w: SQS message without a body", ErrUnknownShape)
}

// sqsMember is what fastSQSMember keeps of an SQS message.
type sqsMember struct {
	id      string // messageId, a copy
	body    []byte // the unescaped body in a buffer of its own
	hasBody bool   // body was present and not null
}

// fastSQSMember decodes a Records member m (valid JSON) that is an SQS
// message as slot.UnmarshalJSON would, keeping only its messageId and body,
// or reports false: for anything that is not an SQS message, or that
// encoding/json might decode differently or fail on. wantBody false skips
// unescaping the body. Nothing returned refers to m.
func fastSQSMember(m []byte, wantBody bool) (sqsMember, bool) {
	var out sqsMember
	if len(m) > MaxRecordBytes || len(m) == 0 || m[0] != '{' || !mayBeSQS(m) {
		return out, false
	}
	p := fastParser{buf: m}
	var (
		w        recordWire // the message's own record fields, checked and dropped
		id       string
		seenMsg  uint8
		seenRec  uint32
		bodySeen bool
	)
	ok := p.object(func(key string) bool {
		switch key {
		case "messageId":
			return p.once(&seenMsg, 0) && p.stringField(&id)
		case "body":
			if !p.once(&seenMsg, 1) {
				return false
			}
			if p.null() {
				return true
			}
			bodySeen = true
			if !wantBody {
				return p.scanQuoted() >= 0
			}
			b, ok := p.unquoted()
			out.body = b
			return ok
		}
		if foldsTo(key, memberNames) {
			return false
		}
		return p.recordMember(&w, key, &seenRec)
	})
	if !ok || !(w.EventSource == sqsEventSource || bodySeen || id != "") {
		return sqsMember{}, false
	}
	out.id = strings.Clone(id)
	out.hasBody = bodySeen
	return out, true
}

// mayBeSQS reports whether m holds one of the literals without which
// fastSQSMember cannot succeed; it spares log file members a parse.
func mayBeSQS(m []byte) bool {
	return bytes.Contains(m, []byte(`"aws:sqs"`)) || bytes.Contains(m, []byte(`"body"`)) ||
		bytes.Contains(m, []byte(`"messageId"`))
}

// unquoted reads the string value at p.i into a new buffer of exactly its
// length, with escapes resolved as encoding/json resolves them. It reports
// false for what encoding/json would rewrite (invalid UTF-8, an escaped
// UTF-16 surrogate) and for anything but a string.
func (p *fastParser) unquoted() ([]byte, bool) {
	start := p.i + 1
	n := p.scanQuoted()
	if n < 0 {
		return nil, false
	}
	raw := p.buf[start : p.i-1]
	out := make([]byte, 0, n)
	for i := 0; i < len(raw); {
		j := i
		for j < len(raw) && raw[j] != '\\' {
			j++
		}
		out = append(out, raw[i:j]...)
		if j == len(raw) {
			break
		}
		c := raw[j+1]
		switch c {
		case 'u':
			out = utf8.AppendRune(out, hex4(raw[j+2:j+6]))
			i = j + 6
			continue
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		}
		out = append(out, c) // '"', '\\' and '/' stand for themselves
		i = j + 2
	}
	return out, true
}

// scanQuoted moves p past the string value at p.i and returns its length
// once unescaped, or -1 (p.i then undefined) when it is not a string, is
// malformed, holds invalid UTF-8 or escapes a UTF-16 surrogate.
func (p *fastParser) scanQuoted() int {
	if p.peek() != '"' {
		return -1
	}
	p.i++
	start := p.i
	n := 0
	high := false
	for p.i < len(p.buf) {
		c := p.buf[p.i]
		switch {
		case c == '"':
			if high && !utf8.Valid(p.buf[start:p.i]) {
				return -1
			}
			p.i++
			return n
		case c < ' ':
			return -1
		case c == '\\':
			if p.i+1 >= len(p.buf) {
				return -1
			}
			switch p.buf[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				n++
				p.i += 2
			case 'u':
				if p.i+6 > len(p.buf) {
					return -1
				}
				r := hex4(p.buf[p.i+2 : p.i+6])
				if r < 0 || utf16.IsSurrogate(r) {
					return -1
				}
				n += utf8.RuneLen(r)
				p.i += 6
			default:
				return -1
			}
			continue
		case c >= utf8.RuneSelf:
			high = true
		}
		n++
		p.i++
	}
	return -1
}

// hex4 decodes four hex digits, or returns -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}
