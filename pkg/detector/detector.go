// Package detector runs the detection core — decode, normalise, evaluate —
// over a batch of input and hands the results to sinks. The same Core serves
// the `warden check` CLI, the detector Lambda, the history scan and the
// reconciler.
package detector

import (
	"errors"
	"fmt"
	"iter"

	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/rules"
)

// ErrNotBedrock marks a well-formed CloudTrail record from a source other
// than Bedrock: the EventBridge rule should never deliver one.
var ErrNotBedrock = errors.New("not a Bedrock event")

// Result is one record's outcome: the normalised event and its findings.
type Result struct {
	Event    normalize.Event
	Findings []findings.Finding
}

// Core is decode → normalise → evaluate.
type Core struct {
	Rules *rules.Engine
}

// Each runs every item through normalise and evaluate, calling fn with the
// result, or with an error for a record that could not be decoded
// (*decode.Error) or is not a Bedrock event (wrapping ErrNotBedrock). fn's
// Result is reused between calls: copy what must outlive the call.
func (c *Core) Each(items iter.Seq[decode.Item], fn func(r *Result, err error)) {
	var r Result
	for it := range items {
		if err := c.Judge(&it, &r); err != nil {
			fn(nil, err)
			continue
		}
		fn(&r, nil)
	}
}

// Judge runs one item through normalise and evaluate into r, reusing r's
// findings array; it returns the item's error instead for a record that
// could not be decoded (*decode.Error) or is not a Bedrock event (a
// *decode.Error wrapping ErrNotBedrock). Each is Judge over a sequence.
func (c *Core) Judge(it *decode.Item, r *Result) error {
	if it.Err != nil {
		return it.Err
	}
	r.Event = normalize.Normalize(&it.Record, it.Origin)
	if r.Event.Unsupported {
		r.Findings = r.Findings[:0]
		return &decode.Error{Source: it.Origin.Source, Index: it.Origin.Index, Shape: it.Origin.Shape,
			MessageID: it.Origin.MessageID,
			Err:       fmt.Errorf("%w: eventSource %q eventName %q", ErrNotBedrock, it.Record.EventSource, it.Record.EventName)}
	}
	r.Findings = c.Rules.Evaluate(&r.Event, r.Findings[:0])
	return nil
}
