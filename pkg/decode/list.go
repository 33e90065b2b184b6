package decode

import (
	"bytes"
	"errors"
	"fmt"
	"unsafe"
)

// A list — a CloudTrail log file's Records, an SQS event's Records or a
// bare array of records — is walked one member at a time: each member is
// parsed (and validated) where it lies in the input, moved into a buffer
// of its own and yielded before the next one is read, so a list of any
// length is decoded in the memory of one member.

// list decodes the list whose '[' is at r.in.pos; t is the top-level value
// holding it, which started on line.
func (r *run) list(t *top, line int) {
	l := listWalk{source: r.listSource(line), bare: t.bare, depth: 2}
	if t.bare {
		l.depth = 1
	}
	r.in.pos++ // '['
	for i := 0; !r.stopped; i++ {
		var m member
		u := r.unit(l.depth, func(p *parser) bool {
			m = member{bodies: &r.bodies}
			c, ok := p.next()
			if !ok {
				return false
			}
			if i == 0 && c == ']' {
				m.end = true
				p.i++
				return true
			}
			m.start, m.begun = p.i, true
			return p.member(&m)
		})
		if u.readErr {
			return
		}
		if u.err != nil {
			from := u.end
			if m.begun {
				from = m.start
			}
			if !r.memberFailed(&l, i, u, from) {
				return
			}
		} else if m.end {
			break
		} else {
			r.listMember(&l, &m, i, r.in.buf[m.start:u.end])
		}
		if r.stopped {
			return
		}
		var end bool
		u = r.unit(l.depth, func(p *parser) bool {
			c, ok := p.next()
			if !ok {
				return false
			}
			switch c {
			case ',':
				end = false
			case ']':
				end = true
			default:
				return p.bad("after array element")
			}
			p.i++
			return true
		})
		if u.readErr {
			return
		}
		if u.err != nil {
			r.memberFailed(&l, i+1, u, u.end)
			return
		}
		if end {
			break
		}
	}
	if !t.bare && !r.stopped {
		r.tail(&l)
	}
}

// listWalk is what is known of a list being walked.
type listWalk struct {
	source string
	bare   bool // a bare array, not {"Records":[...]}
	depth  int  // nesting depth of the members
	// sqs reports that a member decoded as an SQS message: a failed member
	// without a message id then takes ShapeSQS (else ShapeLogFile).
	sqs bool
}

func (l *listWalk) shape() Shape {
	if l.sqs {
		return ShapeSQS
	}
	return ShapeLogFile
}

// memberFailed reports member i: too large (the walk goes on: it reports
// true) or not valid JSON at from (the list ends; decoding resumes at the
// next line after from that starts a value).
func (r *run) memberFailed(l *listWalk, i int, u unitResult, from int) bool {
	o := Origin{Source: l.source, Index: i, Shape: l.shape()}
	if errors.Is(u.err, ErrTooLarge) {
		r.fail(o, u.err)
		return true
	}
	r.fail(o, fmt.Errorf("not JSON: %w", u.err))
	r.line += bytes.Count(r.in.buf[u.start:from], []byte("\n"))
	r.resync(from)
	return false
}

// tail reads the rest of a {"Records":[...]} object after the list: other
// keys are validated and ignored; a second Records key is an error.
func (r *run) tail(l *listWalk) {
	for !r.stopped {
		var done, dup bool
		u := r.unit(1, func(p *parser) bool {
			done, dup = false, false
			c, ok := p.next()
			if !ok {
				return false
			}
			if c == '}' {
				p.i++
				done = true
				return true
			}
			if c != ',' {
				return p.bad("after object key:value pair")
			}
			p.i++
			if _, ok = p.next(); !ok {
				return false
			}
			k, ok := p.key()
			if !ok {
				return false
			}
			dup = lookup(k, topFields) == fRecords
			return p.skip()
		})
		if u.readErr {
			return
		}
		if u.err != nil {
			r.fail(Origin{Source: l.source, Index: -1, Shape: l.shape()}, fmt.Errorf("after the list: not JSON: %w", u.err))
			r.resync(u.start)
			return
		}
		if dup {
			r.fail(Origin{Source: l.source, Index: -1, Shape: l.shape()}, fmt.Errorf("%w: a second Records list; only the first is read", ErrUnknownShape))
		}
		if done {
			return
		}
	}
}

// member is one member of a list: a CloudTrail record or an SQS message.
type member struct {
	w         wire
	errs      error
	messageID string
	body      []byte // unescaped, in bodies (or a buffer of its own)
	bodies    *bodySlab
	hasBody   bool
	nonObject byte
	start     int
	begun     bool // start is set
	end       bool // the list was empty
}

func (m *member) isSQS() bool {
	return m.w.EventSource == sqsEventSource || m.hasBody || m.messageID != ""
}

// member decodes the member at p.i.
func (p *parser) member(m *member) bool {
	if c := p.buf[p.i]; c != '{' {
		m.nonObject = c
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
		switch f := lookup(k, memberFields); f {
		case fMessageID:
			ok = p.stringInto(&m.messageID, &m.errs, "", "messageId")
		case fBody:
			switch c := p.buf[p.i]; c {
			case '"':
				// Unescaped as it is scanned, into the buffer the body's
				// records will own (room left for the message id).
				buf, sok := p.strText(m.bodies.room(min(len(p.buf)-p.i, 2048)))
				m.body, m.hasBody = buf, sok
				ok = sok
			case 'n':
				m.body, m.hasBody = nil, false
				ok = p.literal("null")
			default:
				ok = p.soft(&m.errs, c, typString, "", "body")
			}
		default:
			ok = p.recordField(&m.w, f, &m.errs, "")
		}
		if !ok {
			return false
		}
	}
}

// listMember yields the items of member i, whose text is v.
func (r *run) listMember(l *listWalk, m *member, i int, v []byte) {
	o := Origin{Source: l.source, Index: i, Shape: l.shape()}
	// Whatever the outcome, the body's bytes stay as they are: records
	// and errors may refer to them.
	r.bodies.keep(m.body)
	switch {
	case len(v) > MaxRecordBytes:
		r.fail(o, fmt.Errorf("%w: record of %d bytes exceeds the %d-byte limit", ErrTooLarge, len(v), MaxRecordBytes))
	case m.nonObject != 0:
		where := "Records"
		if l.bare {
			where = "the array"
		}
		r.fail(o, fmt.Errorf("%w: %s in %s, want an object", ErrUnknownShape, kindOf(v), where))
	case m.errs != nil:
		if m.messageID != "" {
			o.Shape, o.MessageID = ShapeSQS, ownString(m.messageID)
		}
		r.fail(o, m.errs)
	case m.isSQS():
		l.sqs = true
		o.Shape = ShapeSQS
		if !m.hasBody {
			o.MessageID = ownString(m.messageID)
			r.fail(o, errNoBody())
			return
		}
		// One buffer holds the unescaped body, which the body's records
		// keep, and the message id.
		buf := m.body
		n := len(buf)
		buf = append(buf, m.messageID...)
		r.bodies.keep(buf[n:])
		r.sqsBodyID(buf[:n:n], buf[n:], o)
	default:
		o.Shape = ShapeLogFile
		if !m.w.looksLikeRecord() {
			r.fail(o, fmt.Errorf("%w: Records member with no CloudTrail record fields", ErrUnknownShape))
			return
		}
		rec := m.w.record()
		own(&rec, v)
		r.emit(Item{Record: rec, Origin: o})
	}
}

// sqsBody decodes body, an SQS message's body in a buffer of its own that
// the records may keep; o has Shape ShapeSQS and the messageId.
func (r *run) sqsBody(body []byte, o Origin) {
	r.sqsBodyID(body, nil, o)
}

// sqsBodyID is sqsBody with the message id held in id, a buffer of its own
// (nil: o.MessageID is already the caller's).
func (r *run) sqsBodyID(body, id []byte, o Origin) {
	if len(id) > 0 {
		o.MessageID = unsafeString(id)
	}
	v := bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")))
	if len(v) == 0 {
		r.fail(o, fmt.Errorf("SQS body: %w", ErrEmpty))
		return
	}
	p := parser{buf: v}
	var t top
	ok := p.top(&t)
	if ok && t.list {
		// Only an envelope or a record may be a body; validate the rest
		// for the message.
		p = parser{buf: v}
		ok = p.skip()
	}
	if ok {
		p.ws()
		if p.i < len(v) {
			ok = p.bad("after top-level value")
		}
	}
	if !ok {
		r.fail(o, fmt.Errorf("SQS body is not JSON: %w", p.err))
		return
	}
	var err error
	switch {
	case t.nonObject != 0 || t.bare:
		err = fmt.Errorf("%w: %s, want a CloudTrail record, EventBridge envelope, log file or SQS message", ErrUnknownShape, kindOf(v))
	case t.records:
		err = fmt.Errorf("%w: SQS body holds a Records list, want an EventBridge envelope or a CloudTrail record", ErrUnknownShape)
	case t.detailType != "" || t.hasDetail:
		res := t.envelope(nil)
		if res.err != nil {
			err = res.err
			break
		}
		r.emit(Item{Record: res.rec, Origin: o})
		return
	case t.isSQS():
		err = fmt.Errorf("%w: SQS body holds an SQS message, want an EventBridge envelope or a CloudTrail record", ErrUnknownShape)
	case t.errs != nil:
		err = t.errs
	case t.w.looksLikeRecord():
		r.emit(Item{Record: t.w.record(), Origin: o})
		return
	default:
		err = fmt.Errorf("%w: %s, want a CloudTrail record, EventBridge envelope, log file or SQS message", ErrUnknownShape, describeObject(v))
	}
	r.fail(o, err)
}

// bodySlab is where a list's SQS message bodies are unescaped: one
// allocation holds many bodies and their message ids, which the bodies'
// records keep (rather than a buffer per message). Bytes once kept are
// never written again; a slab that is full is left to the records that
// refer to it and a new one begun.
type bodySlab struct {
	buf []byte // len: the bytes kept
}

// Slab sizes: small for a small batch, then 64 KiB (some 40 messages).
const (
	firstSlab = 4 << 10
	maxSlab   = 64 << 10
)

// room returns the slab's free space, at least n bytes of capacity, to
// append to; keep then marks what was used.
func (s *bodySlab) room(n int) []byte {
	if cap(s.buf)-len(s.buf) < n {
		size := min(max(2*cap(s.buf), firstSlab), maxSlab)
		s.buf = make([]byte, 0, max(size, n))
	}
	return s.buf[len(s.buf):len(s.buf):cap(s.buf)]
}

// keep marks b as used if it is the start of the free space (room's
// result, appended to in place); else (b was reallocated, or is nil) it
// does nothing.
func (s *bodySlab) keep(b []byte) {
	free := s.buf[len(s.buf):cap(s.buf)]
	if len(b) > 0 && len(b) <= len(free) && unsafe.SliceData(b) == unsafe.SliceData(free) {
		s.buf = s.buf[:len(s.buf)+len(b)]
	}
}
