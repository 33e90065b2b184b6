// Command validonly is the floor `warden check` is compared with: it reads
// the same input the same way (files or stdin, gzip-aware) and does nothing
// but run encoding/json.Valid — on every line of JSON lines, or on the
// whole of any other input (a CloudTrail log file) — and prints how many
// values were valid. A monitor that judges events should not be slower than
// a program that only checks that they are JSON.
//
//	validonly [-lines] FILE|- ...
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	lines := flag.Bool("lines", false, "validate each line (JSON lines) rather than each whole input")
	flag.Parse()
	valid, invalid := 0, 0
	for _, name := range flag.Args() {
		if err := run(name, *lines, &valid, &invalid); err != nil {
			fmt.Fprintln(os.Stderr, "validonly:", err)
			os.Exit(2)
		}
	}
	fmt.Printf("%d valid %d invalid\n", valid, invalid)
}

func run(name string, lines bool, valid, invalid *int) error {
	var r io.Reader = os.Stdin
	// size is how many bytes the whole input will be, when a file says:
	// the whole-input read then takes one buffer of that size, as
	// os.ReadFile does, rather than growing one.
	size := int64(-1)
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
	}
	br := bufio.NewReaderSize(r, 256<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		if f, ok := r.(*os.File); ok && size >= 4 {
			// gzip's trailer holds the inflated size (mod 4 GiB).
			var isize [4]byte
			if _, err := f.ReadAt(isize[:], size-4); err == nil {
				size = int64(binary.LittleEndian.Uint32(isize[:]))
			}
		} else {
			size = -1
		}
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 256<<10)
	}
	count := func(b []byte) {
		if json.Valid(b) {
			*valid++
		} else {
			*invalid++
		}
	}
	if !lines {
		var all bytes.Buffer
		if size >= 0 {
			all.Grow(int(size) + bytes.MinRead)
		}
		if _, err := all.ReadFrom(br); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		count(all.Bytes())
		return nil
	}
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: gather it.
			long := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if l := bytes.TrimSpace(line); len(l) > 0 {
			count(l)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
}
