package main

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/rules"
)

// sequenceMemory is how many suspect invocations sequences keeps in memory
// before it writes them to a temporary file.
var sequenceMemory = 4096

// sequences judges recon-then-invoke over everything check or scan reads.
// The files or the history pages come in any order and a key's recon call
// may be read after its invocation, so the judgement waits for the end of
// the input (rules.SequenceTally): recon calls are folded into marks as
// they are read, and the suspect invocations are kept, the first
// sequenceMemory in memory and the rest in an unlinked temporary file, to
// be judged once every recon call is known. Memory stays bounded whatever
// the number of invocations.
type sequences struct {
	tally *rules.SequenceTally
	mem   []normalize.Event
	file  *os.File
	buf   *bufio.Writer
	enc   *gob.Encoder
	err   error
}

func newSequences(engine *rules.Engine) *sequences {
	return &sequences{tally: engine.NewSequenceTally()}
}

func (s *sequences) add(ev *normalize.Event) {
	if s.err != nil || s.tally.Recon(ev) || !s.tally.Invoke(ev) {
		return
	}
	if len(s.mem) < sequenceMemory {
		// The decoder reuses its buffers: keep a copy of our own.
		s.mem = append(s.mem, ev.Detach())
		return
	}
	if s.file == nil {
		f, err := os.CreateTemp("", "warden-sequences-*.gob")
		if err != nil {
			s.err = fmt.Errorf("recon-then-invoke overflow file: %w", err)
			return
		}
		// Unlinked at once: the file disappears with the process.
		os.Remove(f.Name())
		s.file, s.buf = f, bufio.NewWriterSize(f, 64<<10)
		s.enc = gob.NewEncoder(s.buf)
	}
	if err := s.enc.Encode(ev); err != nil {
		s.err = fmt.Errorf("recon-then-invoke overflow file: %w", err)
	}
}

// findings returns the recon-then-invoke findings of everything added.
func (s *sequences) findings() ([]findings.Finding, error) {
	if s.err != nil {
		return nil, s.err
	}
	for i := range s.mem {
		s.tally.Offer(&s.mem[i])
	}
	s.mem = nil
	if s.file != nil {
		if err := s.replay(); err != nil {
			return nil, fmt.Errorf("recon-then-invoke overflow file: %w", err)
		}
	}
	return s.tally.Findings(), nil
}

// replay offers the invocations written to the overflow file.
func (s *sequences) replay() error {
	if err := s.buf.Flush(); err != nil {
		return err
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	dec := gob.NewDecoder(bufio.NewReaderSize(s.file, 64<<10))
	for {
		var ev normalize.Event
		err := dec.Decode(&ev)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		s.tally.Offer(&ev)
	}
}

// close removes the overflow file.
func (s *sequences) close() {
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
}
