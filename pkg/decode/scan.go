package decode

import (
	"encoding/binary"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The parser looks at every byte once. It validates as it goes — JSON
// grammar, string escapes, numbers, literals and nesting depth, exactly as
// encoding/json.Valid does (FuzzValid holds the two to the same verdict) —
// and decodes the fields Bedrock Warden reads on the way; the subtrees it
// does not read (request parameters, unknown keys) are skipped by the same
// validating walk, with no second pass and no intermediate tree.
//
// Strings that need no unescaping are not copied while parsing: they point
// into the input, and the record is moved into a buffer of its own once it
// is complete (see own), so that no Record refers to the caller's bytes.

// maxDepth is encoding/json's nesting limit: 10,000 open objects and
// arrays are valid, 10,001 are not.
const maxDepth = 10000

// errShort reports that a streaming parser ran out of buffered input in the
// middle of a value; the caller reads more and parses the value again.
var errShort = errors.New("decode: short buffer")

// SyntaxError is a violation of the JSON grammar, at Offset bytes into the
// value being decoded (a line, a record, an SQS body or a whole input).
type SyntaxError struct {
	msg    string
	Offset int64
}

func (e *SyntaxError) Error() string { return e.msg }

// parser walks one buffer of JSON text.
type parser struct {
	buf []byte
	i   int
	// more says that buf may be continued (a stream): running out of
	// bytes in the middle of a value is errShort, not a syntax error.
	more bool
	// err is the first hard error: a *SyntaxError or errShort. Parsing
	// stops at it.
	err   error
	depth int
	// base is the offset of buf[0] in the input, for error offsets.
	base int64
	// nl counts the line feeds white space skipping passed.
	nl int
}

// stop records a hard error and returns false.
func (p *parser) stop(err error) bool {
	if p.err == nil {
		p.err = err
	}
	return false
}

// eof reports running out of bytes where a byte is needed.
func (p *parser) eof() bool {
	if p.more {
		return p.stop(errShort)
	}
	return p.stop(&SyntaxError{msg: "unexpected end of JSON input", Offset: p.base + int64(p.i)})
}

// bad reports the byte at p.i as invalid, with encoding/json's wording.
func (p *parser) bad(context string) bool {
	return p.stop(&SyntaxError{msg: "invalid character " + quoteChar(p.buf[p.i]) + " " + context, Offset: p.base + int64(p.i) + 1})
}

// quoteChar formats c as encoding/json does in its messages.
func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}

// ws skips white space (space, tab, CR, LF).
func (p *parser) ws() {
	if p.i < len(p.buf) && p.buf[p.i] > ' ' {
		return
	}
	p.wsSlow()
}

func (p *parser) wsSlow() {
	for p.i < len(p.buf) {
		switch p.buf[p.i] {
		case '\n':
			p.nl++
			p.i++
		case ' ', '\t', '\r':
			p.i++
		default:
			return
		}
	}
}

// next returns the byte at p.i after white space, or 0 with ok false at
// the end of the buffer (p.err set by eof).
func (p *parser) next() (byte, bool) {
	p.ws()
	if p.i >= len(p.buf) {
		return 0, p.eof()
	}
	return p.buf[p.i], true
}

// kind names the JSON kind of the value starting with c, as
// encoding/json's UnmarshalTypeError.Value does.
func kind(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// skip consumes one value of any kind, validating it.
func (p *parser) skip() bool {
	if p.i >= len(p.buf) {
		return p.eof()
	}
	switch c := p.buf[p.i]; c {
	case '"':
		return p.skipString()
	case '{':
		return p.skipObject()
	case '[':
		return p.skipArray()
	case 't':
		return p.literal("true")
	case 'f':
		return p.literal("false")
	case 'n':
		return p.literal("null")
	default:
		if c == '-' || c >= '0' && c <= '9' {
			return p.number()
		}
		return p.bad("looking for beginning of value")
	}
}

// enter counts one more open object or array.
func (p *parser) enter() bool {
	p.depth++
	if p.depth > maxDepth {
		return p.stop(&SyntaxError{msg: "exceeded max depth", Offset: p.base + int64(p.i) + 1})
	}
	return true
}

func (p *parser) skipObject() bool {
	if !p.enter() {
		return false
	}
	p.i++ // '{'
	c, ok := p.next()
	if !ok {
		return false
	}
	if c == '}' {
		p.i++
		p.depth--
		return true
	}
	for {
		if c != '"' {
			return p.bad("looking for beginning of object key string")
		}
		if !p.skipString() || !p.colon() {
			return false
		}
		p.ws()
		if !p.skip() {
			return false
		}
		if c, ok = p.next(); !ok {
			return false
		}
		switch c {
		case ',':
			p.i++
			if c, ok = p.next(); !ok {
				return false
			}
		case '}':
			p.i++
			p.depth--
			return true
		default:
			return p.bad("after object key:value pair")
		}
	}
}

func (p *parser) skipArray() bool {
	if !p.enter() {
		return false
	}
	p.i++ // '['
	c, ok := p.next()
	if !ok {
		return false
	}
	if c == ']' {
		p.i++
		p.depth--
		return true
	}
	for {
		if !p.skip() {
			return false
		}
		if c, ok = p.next(); !ok {
			return false
		}
		switch c {
		case ',':
			p.i++
			p.ws()
		case ']':
			p.i++
			p.depth--
			return true
		default:
			return p.bad("after array element")
		}
	}
}

// colon consumes the ':' after an object key (and the white space around it).
func (p *parser) colon() bool {
	c, ok := p.next()
	if !ok {
		return false
	}
	if c != ':' {
		return p.bad("after object key")
	}
	p.i++
	return true
}

// literal consumes true, false or null.
func (p *parser) literal(lit string) bool {
	for k := 0; k < len(lit); k++ {
		if p.i >= len(p.buf) {
			return p.eof()
		}
		if p.buf[p.i] != lit[k] {
			return p.bad("in literal " + lit + " (expecting " + quoteChar(lit[k]) + ")")
		}
		p.i++
	}
	return true
}

// number consumes a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
// In a stream, a number that reaches the end of the buffer may go on in
// the next read: errShort.
func (p *parser) number() bool {
	b := p.buf
	i := p.i
	if b[i] == '-' {
		i++
		if i >= len(b) {
			p.i = i
			return p.eof()
		}
	}
	switch {
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i++
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		p.i = i
		return p.bad("in numeric literal")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) {
			p.i = i
			return p.eof()
		}
		if b[i] < '0' || b[i] > '9' {
			p.i = i
			return p.bad("after decimal point in numeric literal")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) {
			p.i = i
			return p.eof()
		}
		if b[i] < '0' || b[i] > '9' {
			p.i = i
			return p.bad("in exponent of numeric literal")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	p.i = i
	if i >= len(b) && p.more {
		return p.stop(errShort)
	}
	return true
}

// strStop marks the bytes that end the fast run of a string: the quote,
// the backslash and the control characters JSON forbids in strings.
var strStop = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// stopWord reports whether the 8 bytes of w hold a quote, a backslash or a
// control character (exact: no false negatives, possibly false positives).
func stopWord(w uint64) bool {
	q := w ^ (lsb * '"')
	s := w ^ (lsb * '\\')
	return ((q-lsb)&^q|(s-lsb)&^s|(w-lsb*0x20)&^w)&msb != 0
}

// str scans the string at p.i (p.buf[p.i] == '"'), validating it, and
// moves past it. It returns the raw bytes between the quotes, whether
// they hold an escape, and whether they hold a byte of 0x80 or above.
func (p *parser) str() (raw []byte, esc, high, ok bool) {
	b := p.buf
	start := p.i + 1
	i := start
	var acc uint64
	for {
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			if stopWord(w) {
				break
			}
			acc |= w
			i += 8
		}
		for i < len(b) && !strStop[b[i]] {
			acc |= uint64(b[i])
			i++
		}
		if i >= len(b) {
			p.i = i
			return nil, false, false, p.eof()
		}
		switch c := b[i]; c {
		case '"':
			p.i = i + 1
			return b[start:i], esc, acc&0x80808080_80808080 != 0, true
		case '\\':
			esc = true
			n, ok := p.escape(i)
			if !ok {
				return nil, false, false, false
			}
			i += n
		default:
			p.i = i
			return nil, false, false, p.bad("in string literal")
		}
	}
}

// strText scans the string at p.i (p.buf[p.i] == '"') as str does and
// appends its decoded value to out (as text would decode it) in the same
// pass: for an SQS message's body, which is then parsed once more as JSON,
// rather than scanned, copied and parsed.
func (p *parser) strText(out []byte) ([]byte, bool) {
	b := p.buf
	i := p.i + 1
	for {
		run := i
		var acc uint64
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			if stopWord(w) {
				break
			}
			acc |= w
			i += 8
		}
		for i < len(b) && !strStop[b[i]] {
			acc |= uint64(b[i])
			i++
		}
		if acc&msb == 0 {
			out = append(out, b[run:i]...)
		} else {
			out = unquote(b[run:i], out) // replaces invalid UTF-8
		}
		if i >= len(b) {
			p.i = i
			return out, p.eof()
		}
		switch b[i] {
		case '"':
			p.i = i + 1
			return out, true
		case '\\':
			if i+1 < len(b) {
				switch c := b[i+1]; c {
				case '"', '\\', '/':
					out = append(out, c)
					i += 2
					continue
				case 'b', 'f', 'n', 'r', 't':
					out = append(out, unescaped[c])
					i += 2
					continue
				}
			}
			n, ok := p.escape(i)
			if !ok {
				return out, false
			}
			// A \u escape, with the one after it when they may form a
			// surrogate pair (unquote decides).
			end := i + n
			if end+1 < len(b) && b[end] == '\\' && b[end+1] == 'u' {
				m, ok := p.escape(end)
				if !ok {
					return out, false
				}
				if r := rune(hex4(b[i+2 : i+6])); utf16.IsSurrogate(r) {
					end += m
				}
			}
			out = unquote(b[i:end], out)
			i = end
		default:
			p.i = i
			return out, p.bad("in string literal")
		}
	}
}

// unescaped maps the letter of a one-letter escape to its byte.
var unescaped = [256]byte{'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// skipString consumes a string, validating it.
func (p *parser) skipString() bool {
	_, _, _, ok := p.str()
	return ok
}

// escape validates the escape sequence at b[i] (a backslash) and returns
// its length.
func (p *parser) escape(i int) (int, bool) {
	b := p.buf
	if i+1 >= len(b) {
		p.i = i + 1
		return 0, p.eof()
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, true
	case 'u':
		for k := i + 2; k < i+6; k++ {
			if k >= len(b) {
				p.i = k
				return 0, p.eof()
			}
			if !isHex(b[k]) {
				p.i = k
				return 0, p.bad("in \\u hexadecimal character escape")
			}
		}
		return 6, true
	}
	p.i = i + 1
	return 0, p.bad("in string escape code")
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// text returns the value of a string scanned by str as encoding/json would
// decode it into a Go string: escapes resolved, invalid UTF-8 and lone
// surrogates replaced by U+FFFD. Without escapes or invalid UTF-8 the
// result points into the buffer (see own); otherwise it is a new string.
func text(raw []byte, esc, high bool) string {
	if !esc && (!high || utf8.Valid(raw)) {
		if len(raw) == 0 {
			return ""
		}
		return unsafe.String(&raw[0], len(raw))
	}
	return string(unquote(raw, make([]byte, 0, len(raw)+8)))
}

// unquote appends the decoded value of raw (validated string contents) to
// out, exactly as encoding/json's unquote does.
func unquote(raw, out []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			switch raw[i+1] {
			case 'u':
				r := rune(hex4(raw[i+2 : i+6]))
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						if r2 := rune(hex4(raw[i+2 : i+6])); utf16.DecodeRune(r, r2) != utf8.RuneError {
							out = utf8.AppendRune(out, utf16.DecodeRune(r, r2))
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
				continue
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			default: // '"', '\\', '/'
				out = append(out, raw[i+1])
			}
			i += 2
		case c < utf8.RuneSelf:
			j := i + 1
			for j < len(raw) && raw[j] < utf8.RuneSelf && raw[j] != '\\' {
				j++
			}
			out = append(out, raw[i:j]...)
			i = j
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, raw[i:i+size]...)
			}
			i += size
		}
	}
	return out
}

// hex4 decodes four validated hex digits.
func hex4(b []byte) int {
	v := 0
	for _, c := range b {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c = c - 'A' + 10
		default:
			c = c - 'a' + 10
		}
		v = v<<4 | int(c)
	}
	return v
}

// Valid reports whether data is one valid JSON value (surrounded by
// optional white space), with the verdict of encoding/json.Valid: it is
// the validation the decoder applies, exposed for tests and benchmarks.
func Valid(data []byte) bool {
	p := parser{buf: data}
	p.ws()
	if !p.skip() {
		return false
	}
	p.ws()
	return p.i == len(data)
}
