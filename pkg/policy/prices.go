package policy

import (
	"sort"
	"strconv"
	"strings"

	"github.com/bedrock-warden/warden/pkg/glob"
	"gopkg.in/yaml.v3"
)

// PriceEntry is one row of the built-in price table: the price of the
// models matching Pattern (a glob on the base model id), with the date the
// figures were read and where from. Bedrock bills per region and changes
// prices; a policy's prices: section overrides any row (same key) or adds
// rows.
type PriceEntry struct {
	Pattern string
	Price   Price
	AsOf    string // when the figures were published: "2026-03-21", "2026-Q1" or "2026"
	Source  string // where they were read
}

// Sources of the built-in price table. Every figure is the on-demand
// us-east-1 list price in USD per 1,000 tokens.
const (
	srcPricing2026Q1 = "aws.amazon.com/bedrock/pricing (on-demand, us-east-1) as tabulated for Q1 2026 by atonementlicensing.pages.dev/blog/aws-bedrock-pricing-2026"
	srcPricing202603 = "aws.amazon.com/bedrock/pricing (on-demand, us-east-1) as quoted on 2026-03-21 by deploybase.ai/articles/amazon-bedrock-pricing"
	srcClaude2026    = "Bedrock Claude rates as listed by clauder-navi.com/en/bedrock-claude-cost (2026): Sonnet 4.x $3/$15, Haiku 4.5 $1/$5 per million tokens"
	srcClaudeCache   = "; prompt caching on Bedrock bills Claude cache writes at 1.25x and cache reads at 0.1x the input price (clauder-navi.com/en/bedrock-claude-cost, 2026; docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html)"
	srcNovaCache     = "; Nova cache reads cost 90 % less than input (dev.to/sachinm207, 2026-02-19, on Bedrock prompt caching); cache writes are priced at the input price here, which no published rate exceeds"
	srcRelease1      = "us-east-1 list price in the table Bedrock Warden first shipped (2026-11-24, commit 3170b7a); not re-read since"
	srcNoCache       = "; the model has no prompt caching on Bedrock, so cache prices are the input price (never used)"
)

// priceTable is the built-in on-demand price table.
var priceTable = []PriceEntry{
	// Anthropic. Cache write 1.25x, cache read 0.1x the input price.
	{"anthropic.claude-3-5-sonnet-*", claude(0.003, 0.015), "2026-Q1", srcPricing2026Q1 + srcClaudeCache},
	{"anthropic.claude-3-7-sonnet-*", claude(0.003, 0.015), "2026-03-21", srcPricing202603 + srcClaudeCache},
	{"anthropic.claude-sonnet-4*", claude(0.003, 0.015), "2026", srcClaude2026 + srcClaudeCache},
	{"anthropic.claude-3-5-haiku-*", claude(0.0008, 0.004), "2026-03-21", srcPricing202603 + srcClaudeCache},
	{"anthropic.claude-3-haiku-*", uncached(0.00025, 0.00125), "2026-11-24", srcRelease1 + srcNoCache},
	{"anthropic.claude-haiku-4-5*", claude(0.001, 0.005), "2026", srcClaude2026 + srcClaudeCache},
	{"anthropic.claude-3-opus-*", uncached(0.015, 0.075), "2026-Q1", srcPricing2026Q1 + srcNoCache},
	{"anthropic.claude-opus-4-2025*", claude(0.015, 0.075), "2026-03-21", srcPricing202603 + srcClaudeCache},
	{"anthropic.claude-opus-4-1-*", claude(0.015, 0.075), "2026-03-21", srcPricing202603 + srcClaudeCache},
	// Amazon. Nova cache reads 0.1x the input price.
	{"amazon.nova-micro-*", nova(0.000035, 0.00014), "2026-Q1", srcPricing2026Q1 + srcNovaCache},
	{"amazon.nova-lite-*", nova(0.00006, 0.00024), "2026-Q1", srcPricing2026Q1 + srcNovaCache},
	{"amazon.nova-pro-*", nova(0.0008, 0.0032), "2026-Q1", srcPricing2026Q1 + srcNovaCache},
	{"amazon.titan-embed-text-v2*", uncached(0.00002, 0), "2026-11-24", srcRelease1 + srcNoCache},
	{"cohere.embed-*", uncached(0.0001, 0), "2026-11-24", srcRelease1 + srcNoCache},
	// Meta
	{"meta.llama3-1-8b-*", uncached(0.00022, 0.00022), "2026-11-24", srcRelease1 + srcNoCache},
	{"meta.llama3-1-70b-*", uncached(0.00072, 0.00072), "2026-11-24", srcRelease1 + srcNoCache},
	{"meta.llama3-3-70b-*", uncached(0.00072, 0.00072), "2026-Q1", srcPricing2026Q1 + srcNoCache},
	{"meta.llama3-1-405b-*", uncached(0.0024, 0.0024), "2026-11-24", srcRelease1 + srcNoCache},
	// Mistral
	{"mistral.mistral-large-2407-*", uncached(0.002, 0.006), "2026-Q1", srcPricing2026Q1 + srcNoCache},
	{"mistral.mistral-large-2402-*", uncached(0.004, 0.012), "2026-11-24", srcRelease1 + srcNoCache},
	{"mistral.mistral-small-2402-*", uncached(0.001, 0.003), "2026-11-24", srcRelease1 + srcNoCache},
	{"mistral.mistral-7b-instruct-*", uncached(0.00015, 0.0002), "2026-11-24", srcRelease1 + srcNoCache},
	{"mistral.mixtral-8x7b-instruct-*", uncached(0.00045, 0.0007), "2026-11-24", srcRelease1 + srcNoCache},
}

// claude is an Anthropic price: cache writes 1.25x, reads 0.1x the input.
func claude(in, out float64) Price {
	return Price{Input: in, Output: out, CacheWrite: round(in * 1.25), CacheRead: round(in * 0.1)}
}

// nova is an Amazon Nova price: cache reads 0.1x the input, writes at the
// input price.
func nova(in, out float64) Price {
	return Price{Input: in, Output: out, CacheWrite: in, CacheRead: round(in * 0.1)}
}

// uncached is the price of a model without prompt caching.
func uncached(in, out float64) Price {
	return Price{Input: in, Output: out, CacheWrite: in, CacheRead: in}
}

// round keeps 12 significant digits, so 0.003*1.25 prints as 0.00375.
func round(v float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64)
	return r
}

// defaultPrices is priceTable by pattern.
var defaultPrices = func() map[string]Price {
	m := make(map[string]Price, len(priceTable))
	for _, e := range priceTable {
		m[e.Pattern] = e.Price
	}
	return m
}()

// DefaultPrices returns a copy of the built-in price table (USD per 1,000
// tokens, keyed by a glob on the base model id).
func DefaultPrices() map[string]Price {
	m := make(map[string]Price, len(defaultPrices))
	for k, v := range defaultPrices {
		m[k] = v
	}
	return m
}

// PriceTable returns the built-in table with the date and source of each
// row, in documentation order.
func PriceTable() []PriceEntry { return append([]PriceEntry(nil), priceTable...) }

// MarshalYAML writes p with plain decimals ("0.00006", not "6e-05"), which
// is how price lists print them.
func (p Price) MarshalYAML() (any, error) {
	num := func(v float64) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(v, 'f', -1, 64)}
	}
	return &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: "input"}, num(p.Input),
		{Kind: yaml.ScalarNode, Value: "output"}, num(p.Output),
		{Kind: yaml.ScalarNode, Value: "cacheRead"}, num(p.CacheRead),
		{Kind: yaml.ScalarNode, Value: "cacheWrite"}, num(p.CacheWrite),
	}}, nil
}

// prices reads the prices: section. An entry without cacheRead or
// cacheWrite gets its input price for them.
func (l *loader) prices(n *yaml.Node, path string, p *Policy) {
	l.entries(n, path, func(k, v *yaml.Node, path string) {
		if msg := checkPattern(k.Value); msg != "" {
			l.fail(k, path, "%s", msg)
			return
		}
		var pr Price
		var read, write bool
		num := func(dst *float64, set *bool) field {
			return func(v *yaml.Node, path string) {
				if x, ok := l.number(v, path); ok {
					*dst = x
					if set != nil {
						*set = true
					}
				}
			}
		}
		if l.mapping(v, path, map[string]field{
			"input":      num(&pr.Input, nil),
			"output":     num(&pr.Output, nil),
			"cacheRead":  num(&pr.CacheRead, &read),
			"cacheWrite": num(&pr.CacheWrite, &write),
		}) {
			if !read {
				pr.CacheRead = pr.Input
			}
			if !write {
				pr.CacheWrite = pr.Input
			}
			p.Prices[k.Value] = pr
		}
	})
}

// PriceFor returns the price of model from prices, whose keys are globs on
// the base model id. A key equal to model wins. Otherwise, when several keys
// match, the most specific wins: the longest literal prefix (characters
// before the first wildcard), then the most literal characters, then the
// lexically smaller key, so the choice never depends on map order.
func PriceFor(prices map[string]Price, model string) (pattern string, price Price, ok bool) {
	if p, found := prices[model]; found && model != "" {
		return model, p, true
	}
	keys := make([]string, 0, len(prices))
	for k := range prices {
		if glob.Match(k, model) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "", Price{}, false
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if pa, pb := literalPrefix(a), literalPrefix(b); pa != pb {
			return pa > pb
		}
		if la, lb := literalCount(a), literalCount(b); la != lb {
			return la > lb
		}
		return a < b
	})
	return keys[0], prices[keys[0]], true
}

// literalPrefix is the number of characters before the first wildcard.
func literalPrefix(pattern string) int {
	if i := strings.IndexAny(pattern, "*?"); i >= 0 {
		return i
	}
	return len(pattern)
}

// literalCount is the number of characters that are not wildcards.
func literalCount(pattern string) int {
	return len(pattern) - strings.Count(pattern, "*") - strings.Count(pattern, "?")
}
