package policy

import (
	"errors"
	"testing"
)

// FuzzLoad checks that Load never panics, that it returns either a policy
// or errors that are all *Error with the document's name, and that every
// accepted policy survives a YAML round trip. Its seeds run in `go test`.
func FuzzLoad(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add([]byte(""))
	f.Add([]byte("~"))
	f.Add([]byte("models: {allow: [\"a*\"], deny: [\"*b\"]}\nregions: {allow: [us-east-1]}"))
	f.Add([]byte("models:\n  alow: [x]\nregions:\n  allow: [us-esat-1]\n"))
	f.Add([]byte("a: &x [*x]"))
	f.Add([]byte("models: &m {allow: [a]}\nregions: *m\n"))
	f.Add([]byte("spikes: {window: 1m, perPrincipal: {baselineFactor: 1e308}, overrides: [{principal: x, max: 9223372036854775807}]}"))
	f.Add([]byte("remediation: {quarantineTTL: 106751d, actions: {api-key-used: disable-credentials}}"))
	f.Add([]byte("network: {allowCidrs: [\"::ffff:0.0.0.0/96\", \"0.0.0.0/0\", \"::/0\"]}"))
	f.Add([]byte("budgets: [{model: x, period: day, maxUSD: .inf}]"))
	f.Add([]byte("prices: {? [a, b] : {input: 1}}"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("\xff\xfe"))
	f.Add([]byte("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Load("fuzz.yaml", data)
		if err != nil {
			if p != nil {
				t.Fatal("policy returned with an error")
			}
			errs := Errors(err)
			if len(errs) == 0 {
				t.Fatalf("error without *Error: %v", err)
			}
			for _, e := range errs {
				if e.Name != "fuzz.yaml" || e.Msg == "" {
					t.Fatalf("bad error %#v", e)
				}
			}
			var first *Error
			if !errors.As(err, &first) {
				t.Fatalf("errors.As failed on %v", err)
			}
			return
		}
		out, err := p.YAML()
		if err != nil {
			t.Fatalf("YAML of an accepted policy: %v", err)
		}
		if _, err := Load("round-trip", out); err != nil {
			t.Fatalf("accepted policy does not reload: %v\n%s", err, out)
		}
	})
}
