package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bedrock-warden/warden/pkg/decode"
)

// input is one PATH argument resolved: a file, or stdin ("-").
type input struct {
	name string
	// refused says why the input is not read (a named pipe, a device):
	// reading a FIFO with no writer would block forever.
	refused string
}

// expandPaths turns the PATH arguments into inputs: files as given,
// directories walked for event files in lexical order, "-" for stdin. A
// special file (FIFO, device, socket) is listed as refused, by name, and
// never opened.
func expandPaths(paths []string) ([]input, error) {
	var out []input
	for _, p := range paths {
		if p == "-" {
			out = append(out, input{name: "-"})
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if !fi.IsDir() {
			out = append(out, input{name: p, refused: special(fi.Mode())})
			continue
		}
		n := len(out)
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if skipWalk(p, path, d) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || !isEventFile(path) {
				return nil
			}
			mode := d.Type()
			if mode&fs.ModeSymlink != 0 {
				fi, err := os.Stat(path)
				if err != nil {
					out = append(out, input{name: path, refused: "broken link: " + err.Error()})
					return nil
				}
				mode = fi.Mode()
			}
			out = append(out, input{name: path, refused: special(mode)})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walk %s: %w", p, err)
		}
		if len(out) == n {
			return nil, fmt.Errorf("%s: no *.json, *.json.gz, *.jsonl or *.jsonl.gz files", p)
		}
	}
	return out, nil
}

// skipWalk reports the entries a directory walk leaves out: env.json
// (the environment of sam local invoke --env-vars) and functions/
// directories (the payloads of the other functions: SNS messages and
// schedules, not CloudTrail records).
func skipWalk(root, path string, d fs.DirEntry) bool {
	if path == root {
		return false
	}
	if d.IsDir() {
		return d.Name() == "functions"
	}
	return d.Name() == "env.json"
}

// special names the kind of a file that is not a regular file, or returns
// "" for a regular file.
func special(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return ""
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDir != 0:
		return "a directory"
	}
	return "not a regular file"
}

func isEventFile(path string) bool {
	for _, ext := range []string{".json", ".json.gz", ".jsonl", ".jsonl.gz"} {
		if strings.HasSuffix(path, ext) {
			return true
		}
	}
	return false
}

// openInput opens in for reading. A file is opened without blocking and
// checked again once open, so that a file replaced by a FIFO after the
// walk is refused rather than read.
func openInput(in input, stdin io.Reader) (io.Reader, func(), error) {
	if in.name == "-" {
		return stdin, func() {}, nil
	}
	if in.refused != "" {
		return nil, nil, fmt.Errorf("%s: %s, not a regular file: not read", in.name, in.refused)
	}
	f, err := os.OpenFile(in.name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: %s, not a regular file: not read", in.name, special(fi.Mode()))
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// batchSize is how many decoded items go from the decoding goroutine to
// the judging one at a time.
const batchSize = 256

// decodeInputs decodes every input in order on its own goroutine, handing
// items over in batches (a failed open is an item with Err), so that
// decoding and judging use two cores. Every batch must be handed back on
// free once used. The channel closes when all inputs are read or ctx ends.
func decodeInputs(ctx context.Context, inputs []input, stdin io.Reader) (batches <-chan []decode.Item, free chan<- []decode.Item) {
	out := make(chan []decode.Item, 2)
	back := make(chan []decode.Item, 4)
	for range 3 {
		back <- make([]decode.Item, 0, batchSize)
	}
	go func() {
		defer close(out)
		var b []decode.Item
		get := func() bool {
			select {
			case b = <-back:
				b = b[:0]
				return true
			case <-ctx.Done():
				return false
			}
		}
		send := func() bool {
			select {
			case out <- b:
				return get()
			case <-ctx.Done():
				return false
			}
		}
		if !get() {
			return
		}
		for _, in := range inputs {
			r, closeFn, err := openInput(in, stdin)
			if err != nil {
				b = append(b, decode.Item{Err: err})
				continue
			}
			for it := range decode.Reader(in.name, r) {
				b = append(b, it)
				if len(b) == batchSize && !send() {
					closeFn()
					return
				}
			}
			closeFn()
		}
		if len(b) > 0 {
			select {
			case out <- b:
			case <-ctx.Done():
			}
		}
	}()
	return out, back
}
