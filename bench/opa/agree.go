package opa

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
)

// Tally is the number of findings per rule id each engine produced over a
// corpus.
type Tally struct {
	Rule string
	Go   int
	OPA  int
}

// Mismatch is one event on which the engines disagree.
type Mismatch struct {
	Index int
	Go    []string
	OPA   []string
}

// Agreement runs every envelope through the Go detection core and through
// the Rego rules and counts findings per rule for each. It returns the
// tallies sorted by rule id, and the events where the two disagree (at most
// maxMismatches of them, to keep a report short). An event the Go core
// cannot decode is an error: the corpus is meant to be clean.
func Agreement(ctx context.Context, core *detector.Core, e *Engine, events [][]byte, maxMismatches int) ([]Tally, []Mismatch, int, error) {
	goCount, opaCount := map[string]int{}, map[string]int{}
	var mism []Mismatch
	total := 0
	for i, ev := range events {
		var ours []string
		var fail error
		core.Each(decode.Bytes("corpus", ev), func(r *detector.Result, err error) {
			if err != nil {
				fail = err
				return
			}
			for _, f := range r.Findings {
				ours = append(ours, f.Rule)
			}
		})
		if fail != nil {
			return nil, nil, 0, fmt.Errorf("event %d: go core: %w", i, fail)
		}
		sort.Strings(ours)
		theirs, err := e.Eval(ctx, ev)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("event %d: %w", i, err)
		}
		for _, r := range ours {
			goCount[r]++
		}
		for _, r := range theirs {
			opaCount[r]++
		}
		if !slices.Equal(ours, theirs) {
			total++
			if len(mism) < maxMismatches {
				mism = append(mism, Mismatch{Index: i, Go: ours, OPA: theirs})
			}
		}
	}
	rules := map[string]bool{}
	for r := range goCount {
		rules[r] = true
	}
	for r := range opaCount {
		rules[r] = true
	}
	out := make([]Tally, 0, len(rules))
	for r := range rules {
		out = append(out, Tally{Rule: r, Go: goCount[r], OPA: opaCount[r]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rule < out[j].Rule })
	return out, mism, total, nil
}
