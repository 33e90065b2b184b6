package policy

import (
	"strings"
	"testing"
)

// Moved from package budget with PriceFor: prices are one table shared by
// budgets and usage limits.
func TestPriceForMostSpecificWins(t *testing.T) {
	prices := map[string]Price{
		"*":                             {Input: 1, Output: 1},
		"anthropic.*":                   {Input: 2, Output: 2},
		"anthropic.claude-3-5-sonnet-*": {Input: 0.003, Output: 0.015},
		"anthropic.claude-3-5-sonnet-20240620-v1:0": {Input: 0.004, Output: 0.016},
		"*sonnet*": {Input: 9, Output: 9},
	}
	cases := map[string]string{
		"anthropic.claude-3-5-sonnet-20240620-v1:0": "anthropic.claude-3-5-sonnet-20240620-v1:0",
		"anthropic.claude-3-5-sonnet-20241022-v2:0": "anthropic.claude-3-5-sonnet-*",
		"anthropic.claude-3-haiku-20240307-v1:0":    "anthropic.*",
		"meta.llama3-8b-instruct-v1:0":              "*",
		"mistral.sonnet-lookalike":                  "*sonnet*", // literal prefix 0 ties "*"; more literal characters win
	}
	for model, want := range cases {
		got, _, ok := PriceFor(prices, model)
		if !ok || got != want {
			t.Errorf("PriceFor(%s) = %q, want %q", model, got, want)
		}
	}
	if got, _, _ := PriceFor(map[string]Price{"abc*": {}, "abc": {}, "ab?": {}}, "abc"); got != "abc" {
		t.Errorf("exact key lost to %q", got)
	}
	if _, _, ok := PriceFor(map[string]Price{"amazon.*": {}}, "meta.x"); ok {
		t.Error("no key matches, yet ok")
	}
}

// Property: the choice does not depend on map iteration order (run many
// times over the same map) and always matches the model.
func TestPriceForDeterministic(t *testing.T) {
	prices := map[string]Price{"a*": {Input: 1}, "a?c*": {Input: 2}, "ab*": {Input: 3}, "*c*": {Input: 4}, "abc*": {Input: 5}}
	first, _, _ := PriceFor(prices, "abcd")
	for range 50 {
		if got, _, _ := PriceFor(prices, "abcd"); got != first {
			t.Fatalf("PriceFor unstable: %q then %q", first, got)
		}
	}
	if first != "abc*" {
		t.Fatalf("PriceFor = %q, want abc*", first)
	}
}

// TestPriceTableSaysWhereEachFigureCameFrom: every built-in row carries the
// date and source of its figures, and its cache prices are those of its
// kind (Claude: writes 1.25x, reads 0.1x the input price).
func TestPriceTableSaysWhereEachFigureCameFrom(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range PriceTable() {
		if seen[e.Pattern] {
			t.Errorf("%s is listed twice", e.Pattern)
		}
		seen[e.Pattern] = true
		if len(e.AsOf) < 4 || strings.Trim(e.AsOf[:4], "0123456789") != "" {
			t.Errorf("%s: AsOf %q does not start with a year", e.Pattern, e.AsOf)
		}
		if len(e.Source) < 20 {
			t.Errorf("%s: source %q says too little", e.Pattern, e.Source)
		}
		if e.Price.CacheRead > e.Price.CacheWrite || e.Price.CacheRead <= 0 || e.Price.CacheRead > e.Price.Input {
			t.Errorf("%s: cache prices %+v implausible", e.Pattern, e.Price)
		}
	}
	if got := defaultPrices["anthropic.claude-sonnet-4*"]; got != (Price{Input: 0.003, Output: 0.015, CacheWrite: 0.00375, CacheRead: 0.0003}) {
		t.Errorf("Sonnet 4 price = %+v", got)
	}
	if len(seen) != len(defaultPrices) {
		t.Errorf("DefaultPrices has %d rows, the table %d", len(defaultPrices), len(seen))
	}
	tbl := PriceTable()
	tbl[0].Source = "x"
	if PriceTable()[0].Source == "x" {
		t.Error("PriceTable must return a copy")
	}
}

// TestPricesCacheDefaultsToInput: a policy price without cache prices
// charges cached tokens at the input price; explicit ones (0 included)
// are kept; the effective policy prints and reads them back.
func TestPricesCacheDefaultsToInput(t *testing.T) {
	p, err := Load("p.yaml", []byte("prices:\n  a.m: {input: 0.002, output: 0.01}\n  b.m: {input: 0.002, output: 0.01, cacheRead: 0.0002, cacheWrite: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Prices["a.m"]; got != (Price{Input: 0.002, Output: 0.01, CacheRead: 0.002, CacheWrite: 0.002}) {
		t.Errorf("a.m = %+v", got)
	}
	if got := p.Prices["b.m"]; got != (Price{Input: 0.002, Output: 0.01, CacheRead: 0.0002}) {
		t.Errorf("b.m = %+v", got)
	}
	y, err := p.YAML()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Load("effective", y)
	if err != nil {
		t.Fatalf("effective policy does not load: %v", err)
	}
	if q.Prices["b.m"] != p.Prices["b.m"] {
		t.Errorf("round trip: %+v != %+v", q.Prices["b.m"], p.Prices["b.m"])
	}
	if _, err := Load("p.yaml", []byte("prices:\n  a.m: {input: 1, cachRead: 2}\n")); err == nil || !strings.Contains(err.Error(), `did you mean "cacheRead"`) {
		t.Errorf("typo not caught: %v", err)
	}
}
