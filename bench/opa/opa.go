// Package opa runs Bedrock Warden's event rules as a Rego policy
// (warden.rego) through the Open Policy Agent, for the side-by-side
// benchmark. It lives in the bench module only: the product never
// compiles OPA.
package opa

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/bedrock-warden/warden/pkg/policy"
)

// Module is the Rego source of the rules.
//
//go:embed warden.rego
var Module string

// Query is the prepared query: the set of rule ids an event triggers.
const Query = "data.warden.findings"

// Engine is a prepared query over one policy. It is safe for concurrent use.
type Engine struct {
	pq rego.PreparedEvalQuery
}

// New prepares the Rego rules with p as data.policy: the same allow-lists,
// deny-lists, exemptions and rule switches the Go engine judges with.
func New(ctx context.Context, p *policy.Policy) (*Engine, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("opa: marshal policy: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("opa: policy as data: %w", err)
	}
	store := inmem.NewFromObjectWithOpts(map[string]any{"policy": doc}, inmem.OptReturnASTValuesOnRead(true))
	pq, err := rego.New(
		rego.Query(Query),
		rego.Module("warden.rego", Module),
		rego.Store(store),
		rego.StoreReadAST(true),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("opa: prepare %s: %w", Query, err)
	}
	return &Engine{pq: pq}, nil
}

// Eval parses one EventBridge envelope and returns the sorted rule ids it
// triggers. Parsing is part of the cost, as decoding is for the Go engine.
func (e *Engine) Eval(ctx context.Context, envelope []byte) ([]string, error) {
	input, err := ast.ValueFromReader(bytes.NewReader(envelope))
	if err != nil {
		return nil, fmt.Errorf("opa: parse input: %w", err)
	}
	rs, err := e.pq.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return nil, fmt.Errorf("opa: eval: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, fmt.Errorf("opa: %s gave %d results, want 1", Query, len(rs))
	}
	set, ok := rs[0].Expressions[0].Value.([]any)
	if !ok {
		return nil, fmt.Errorf("opa: %s is %T, want a set", Query, rs[0].Expressions[0].Value)
	}
	out := make([]string, 0, len(set))
	for _, v := range set {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("opa: finding %v is %T, want a rule id", v, v)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}
