package main

import (
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/rules"
)

// sequences gathers, while check or scan reads its input, the events that
// can take part in a recon-then-invoke sequence, and judges them together
// in time order once everything is read: the files or the history pages
// come in any order, the judgement does not depend on it. Only suspect
// recon calls and invocations are kept, so memory grows with those, not
// with the input.
type sequences struct {
	engine *rules.Engine
	events []normalize.Event
}

func (s *sequences) add(ev *normalize.Event) {
	if s.engine.SequenceRecon(ev) || s.engine.SequenceInvoke(ev) {
		// The decoder reuses its buffers: keep a copy of our own.
		s.events = append(s.events, ev.Detach())
	}
}

// findings returns the recon-then-invoke findings of everything added.
func (s *sequences) findings() []findings.Finding {
	fs, _, _ := s.engine.Sequences(s.events, nil) // no prior state: cannot fail
	return fs
}
