package decode

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

// repeat is an io.Reader of head, then body n times (joined by sep), then
// tail, produced as it is read.
type repeat struct {
	parts [][]byte
	body  []byte
	sep   []byte
	n     int
	buf   []byte
}

func newRepeat(head, body, sep, tail string, n int) *repeat {
	return &repeat{parts: [][]byte{[]byte(head)}, body: []byte(body), sep: []byte(sep), n: n, buf: []byte(tail)}
}

func (r *repeat) Read(p []byte) (int, error) {
	for len(r.parts) == 0 {
		switch {
		case r.n > 0:
			r.n--
			r.parts = append(r.parts, r.body)
			if r.n > 0 {
				r.parts = append(r.parts, r.sep)
			}
		case r.buf != nil:
			r.parts, r.buf = append(r.parts, r.buf), nil
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, r.parts[0])
	r.parts[0] = r.parts[0][n:]
	if len(r.parts[0]) == 0 {
		r.parts = r.parts[1:]
	}
	return n, nil
}

// TestReaderBoundedMemory: Reader decodes a 160 MB input of each list
// shape while the live heap stays within a few megabytes.
func TestReaderBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 480 MB")
	}
	rec := string(sampleRecord(t, sumo))
	n := 160 << 20 / len(rec)
	for name, r := range map[string]func() io.Reader{
		"json lines": func() io.Reader { return newRepeat("", rec, "\n", "\n", n) },
		"log file":   func() io.Reader { return newRepeat(`{"Records":[`, rec, ",", "]}", n) },
		"array":      func() io.Reader { return newRepeat("[", rec, ",\n", "]", n) },
	} {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base, peak := ms.HeapAlloc, ms.HeapAlloc
		got := 0
		for it := range Reader(name, r()) {
			if it.Err != nil {
				t.Fatalf("%s: %v", name, it.Err)
			}
			got++
			if got%20000 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
		if got != n {
			t.Fatalf("%s: %d records, want %d", name, got, n)
		}
		if grew := peak - base; grew > 48<<20 {
			t.Errorf("%s: the heap grew by %d MB decoding %d MB", name, grew>>20, n*len(rec)>>20)
		}
	}
}

// TestReaderOversize: a member or line above MaxRecordBytes is reported and
// skipped without being buffered whole; the rest is decoded.
func TestReaderOversize(t *testing.T) {
	rec := string(sampleRecord(t, sumo))
	huge := `{"eventName":"X","requestParameters":{"p":"` + strings.Repeat(`a\"{[`, 3*MaxRecordBytes/5) + `"}}`
	for name, in := range map[string]string{
		"log file":   `{"Records":[` + rec + `,` + huge + `,` + rec + `]}`,
		"json lines": rec + "\n" + huge + "\n" + rec + "\n",
	} {
		for _, via := range []string{"Bytes", "Reader"} {
			var items []Item
			if via == "Bytes" {
				items = collect(t, Bytes(name, []byte(in)))
			} else {
				items = collect(t, Reader(name, bytes.NewReader([]byte(in))))
			}
			if len(items) != 3 || items[0].Err != nil || items[2].Err != nil || !errors.Is(items[1].Err, ErrTooLarge) {
				t.Errorf("%s via %s: %v", name, via, summary(items))
			}
		}
	}
}

// TestReaderResynchronises: after a line that is not JSON, decoding goes on
// at the next line that starts a value, and the line numbers stay right.
func TestReaderResynchronises(t *testing.T) {
	rec := string(sampleRecord(t, sumo))
	pretty := "{\n  \"eventName\": \"Converse\",\n  \"eventSource\": \"bedrock.amazonaws.com\"\n}"
	in := rec + "\n" + rec[:100] + "\n" + "{\n  \"eventName\": ,\n  \"x\": 1\n}\n" + pretty + "\n" + rec + "\n"
	items := collect(t, Reader("in", strings.NewReader(in)))
	var got []string
	for _, it := range items {
		s := it.Record.EventName
		if it.Err != nil {
			s = "error"
		}
		got = append(got, s+"@"+strconv.Itoa(it.Origin.Index))
	}
	if want := "InvokeModel@0 error@1 error@2 Converse@6 InvokeModel@10"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
	sameItems(t, items, oracle("in", []byte(in)))
}

// Streams share pooled buffers one after another and side by side: what a
// decode yielded stays as it was while later decodes (plain, gzip,
// stopped early) reuse them.
func TestReaderPooledBuffers(t *testing.T) {
	seeds := fuzzSeeds(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	for _, s := range seeds {
		zw.Write(s)
		zw.Write([]byte("\n"))
	}
	zw.Close()
	inputs := append(seeds, gz.Bytes())
	kept := make([][]Item, len(inputs))
	want := make([][]Item, len(inputs))
	for i, in := range inputs {
		kept[i] = collect(t, Reader("pool", bytes.NewReader(in)))
		want[i] = collect(t, Bytes("pool", in))
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i, in := range inputs {
				n := 0
				for range Reader("pool", iotest.HalfReader(bytes.NewReader(in))) {
					if n++; (i+w)%3 == 0 && n == 2 {
						break // stopped early
					}
				}
			}
		})
	}
	wg.Wait()
	for i := range inputs {
		sameItems(t, kept[i], want[i])
	}
}

// TestReadReusesItsRun: Read yields what Reader's sequence yields, and
// once warm a one-record input costs the record's own allocations (its
// bytes and its boxed parts) and nothing for the decode itself.
func TestReadReusesItsRun(t *testing.T) {
	for _, in := range fuzzSeeds(t) {
		var got []Item
		Read("read", bytes.NewReader(in), func(it Item) bool {
			got = append(got, it)
			return true
		})
		sameItems(t, got, collect(t, Reader("read", bytes.NewReader(in))))
	}
	rec := sampleRecord(t, permiso)
	var r bytes.Reader
	n := 0
	count := func(it Item) bool {
		if it.Err == nil {
			n++
		}
		return true
	}
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(rec)
		Read("read", &r, count)
	})
	if n != 101 {
		t.Fatalf("%d records decoded in 101 runs", n)
	}
	if allocs > 2 && !raceEnabled {
		t.Errorf("%.1f allocations to read one record, want at most 2", allocs)
	}
}
