package decode

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"sync"
	"unsafe"
)

// Read sizes of a stream.
const (
	readChunk = 256 << 10
	// maxBuffer is the most a stream buffers: one record of the largest
	// size and one read.
	maxBuffer = MaxRecordBytes + 2*readChunk
)

// input is the bytes being decoded: all of them (Bytes), or a window onto
// a stream that is refilled as units of it are decoded.
type input struct {
	buf  []byte
	pos  int
	r    io.Reader // nil: buf is everything
	eof  bool      // nothing more to read
	err  error     // the read error that ended the stream
	read int64     // bytes read from r
	drop int64     // bytes dropped from the front of buf
}

func (in *input) rest() []byte { return in.buf[in.pos:] }

// need reports whether n bytes are buffered at pos, reading as needed.
func (in *input) need(n int) bool {
	for len(in.buf)-in.pos < n {
		if !in.fill() {
			return false
		}
	}
	return true
}

// fill drops the bytes before pos and reads more. It reports false when
// nothing more can be read (end of input or read error).
func (in *input) fill() bool {
	if in.eof || in.err != nil || in.r == nil {
		in.eof = in.eof || in.r == nil
		return false
	}
	if in.pos > 0 {
		n := copy(in.buf, in.buf[in.pos:])
		in.buf = in.buf[:n]
		in.drop += int64(in.pos)
		in.pos = 0
	}
	if cap(in.buf)-len(in.buf) < readChunk/2 {
		c := max(2*cap(in.buf), readChunk)
		if c < len(in.buf)+readChunk {
			c = len(in.buf) + readChunk
		}
		nb := make([]byte, len(in.buf), c)
		copy(nb, in.buf)
		in.buf = nb
	}
	for tries := 0; tries < 100; tries++ {
		n, err := in.r.Read(in.buf[len(in.buf):cap(in.buf)])
		in.buf = in.buf[:len(in.buf)+n]
		in.read += int64(n)
		switch {
		case err == io.EOF:
			in.eof = true
			return n > 0
		case err != nil:
			in.err = err
			return n > 0
		case n > 0:
			return true
		}
	}
	in.err = io.ErrNoProgress
	return false
}

// unitResult is the outcome of decoding one unit of the input.
type unitResult struct {
	start, end int   // the unit's bytes in r.in.buf
	err        error // a *SyntaxError, or ErrTooLarge for a unit too large to buffer
	readErr    bool  // the stream failed (r.in.err) before the unit was complete
}

// unit decodes one unit — a top-level value, a member of a list, a
// separator — starting at r.in.pos with f, which must decode it from
// scratch each time it is called: when a stream's buffer ends inside the
// unit, more is read and f runs again. depth is the nesting depth at the
// unit's start. On success r.in.pos moves past the unit.
func (r *run) unit(depth int, f func(p *parser) bool) unitResult {
	in := &r.in
	for {
		r.p = parser{buf: in.buf, i: in.pos, more: !in.eof, depth: depth, base: in.drop}
		p := &r.p
		f(p)
		if p.err != errShort {
			if p.err == nil {
				r.line += p.nl // a failed unit's lines are counted by resync
			}
			u := unitResult{start: in.pos, end: p.i, err: p.err}
			in.pos = p.i
			return u
		}
		if len(in.buf)-in.pos > MaxRecordBytes {
			return r.oversize()
		}
		if !in.fill() && in.err != nil {
			r.halted = true
			return unitResult{readErr: true}
		}
	}
}

// oversize skips a unit that does not fit the buffer, without holding it:
// it follows strings and brackets only (the unit is rejected whatever its
// syntax) and counts its lines.
func (r *run) oversize() unitResult {
	in := &r.in
	depth, inString, escaped, begun := 0, false, false, false
	n := 0
	for {
		for ; in.pos < len(in.buf); in.pos++ {
			c := in.buf[in.pos]
			n++
			if inString {
				switch {
				case escaped:
					escaped = false
				case c == '\\':
					escaped = true
				case c == '"':
					inString = false
					if depth == 0 {
						in.pos++
						return r.tooLarge(n)
					}
				}
				continue
			}
			switch c {
			case '"':
				inString, begun = true, true
			case '{', '[':
				depth++
				begun = true
			case '}', ']':
				depth--
				if depth <= 0 {
					in.pos++
					return r.tooLarge(n)
				}
			case '\n':
				r.line++
				if begun && depth == 0 {
					return r.tooLarge(n)
				}
			default:
				if begun && depth == 0 && (c == ',' || c <= ' ') {
					return r.tooLarge(n)
				}
				begun = begun || c > ' '
			}
		}
		if !in.fill() {
			if in.err != nil {
				r.halted = true
				return unitResult{readErr: true}
			}
			return r.tooLarge(n)
		}
	}
}

func (r *run) tooLarge(n int) unitResult {
	return unitResult{start: r.in.pos, end: r.in.pos,
		err: fmt.Errorf("%w: value of more than %d bytes (%d read) exceeds the %d-byte record limit", ErrTooLarge, MaxRecordBytes, n, MaxRecordBytes)}
}

// stream decodes a reader, decompressing gzip.
func (r *run) stream(src io.Reader) {
	sb := streamBufs.Get().(*streamBuf)
	defer sb.release(r)
	r.raw = countingReader{r: src}
	raw := &r.raw
	br := sb.reader(&sb.outer, raw)
	var in io.Reader = br
	if magic, _ := br.Peek(2); isGzip(magic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			r.fail(r.whole(), fmt.Errorf("gzip: %w", err))
			return
		}
		g := &gunzip{zr: zr, raw: raw}
		r.shared = true // the read-ahead may outlive the decode
		// Decompression runs ahead on a goroutine of its own, so that
		// inflating and parsing use two cores.
		ahead := newReadAhead(g)
		defer ahead.Close()
		// The read-ahead goroutine may still be reading br when the
		// decode ends: br is its own, not returned to the pool.
		sb.outer = nil
		inner := sb.reader(&sb.inner, ahead)
		if magic, _ := inner.Peek(2); isGzip(magic) {
			r.fail(r.whole(), fmt.Errorf("%w: gzip inside gzip", ErrUnknownShape))
			return
		}
		in = inner
	}
	r.in = input{r: in, buf: sb.buf[:0]}
	r.decode()
}

// streamBuf is a stream's buffers, pooled: a Lambda invocation or a small
// file decoded with Reader then costs no 300 KB of fresh buffers.
// Nothing decoded refers to them (records own their bytes).
type streamBuf struct {
	outer, inner *bufio.Reader
	buf          []byte
}

var streamBufs = sync.Pool{New: func() any { return new(streamBuf) }}

// maxPooled is the largest input buffer kept for reuse (one that grew to
// hold a large record is left to the collector).
const maxPooled = 2 * readChunk

func (sb *streamBuf) reader(br **bufio.Reader, r io.Reader) *bufio.Reader {
	if *br == nil {
		*br = bufio.NewReaderSize(r, 64<<10)
	} else {
		(*br).Reset(r)
	}
	return *br
}

func (sb *streamBuf) release(r *run) {
	if c := cap(r.in.buf); c > 0 && c <= maxPooled {
		sb.buf = r.in.buf[:0]
	}
	r.in.buf, r.in.r = nil, nil
	for _, br := range []*bufio.Reader{sb.outer, sb.inner} {
		if br != nil {
			br.Reset(nil)
		}
	}
	streamBufs.Put(sb)
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

// gunzip is a gzip stream held to MaxGzipRatio; its errors say "gzip".
type gunzip struct {
	zr  *gzip.Reader
	raw *countingReader
	n   int64
}

func (g *gunzip) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	g.n += int64(n)
	if g.n > gzipFloor && g.n > MaxGzipRatio*g.raw.n {
		return n, fmt.Errorf("%w: gzip stream expanded %d compressed bytes to more than %d (over %d×): refusing a likely decompression bomb",
			ErrTooLarge, g.raw.n, g.n, MaxGzipRatio)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("gzip: %w", err)
	}
	return n, err
}

// readAhead reads r on a goroutine of its own, a block ahead of its
// consumer.
type readAhead struct {
	blocks chan block
	free   chan []byte
	done   chan struct{}
	cur    block
	err    error
}

type block struct {
	buf []byte // the whole buffer, for reuse
	b   []byte // what is left to read of it
	err error
}

const aheadBlock = 256 << 10

func newReadAhead(r io.Reader) *readAhead {
	a := &readAhead{blocks: make(chan block, 2), free: make(chan []byte, 3), done: make(chan struct{})}
	for range 3 {
		a.free <- make([]byte, aheadBlock)
	}
	go func() {
		defer close(a.blocks)
		for {
			var buf []byte
			select {
			case buf = <-a.free:
			case <-a.done:
				return
			}
			n, err := io.ReadFull(r, buf)
			if err == io.ErrUnexpectedEOF {
				err = io.EOF // a short last block
			}
			if n == 0 && err == nil {
				continue
			}
			select {
			case a.blocks <- block{buf: buf, b: buf[:n], err: err}:
			case <-a.done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return a
}

func (a *readAhead) Read(p []byte) (int, error) {
	for len(a.cur.b) == 0 {
		if a.cur.err != nil || a.err != nil {
			if a.err == nil {
				a.err = a.cur.err
			}
			return 0, a.err
		}
		if a.cur.buf != nil {
			a.free <- a.cur.buf
			a.cur.buf = nil
		}
		blk, ok := <-a.blocks
		if !ok {
			a.err = io.EOF
			return 0, io.EOF
		}
		a.cur = blk
	}
	n := copy(p, a.cur.b)
	a.cur.b = a.cur.b[n:]
	return n, nil
}

// Close stops the goroutine.
func (a *readAhead) Close() {
	select {
	case <-a.done:
	default:
		close(a.done)
	}
}

// unsafeString returns b as a string without copying; b must never be
// written again.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
