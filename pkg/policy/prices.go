package policy

import (
	"strconv"

	"gopkg.in/yaml.v3"
)

// MarshalYAML writes p with plain decimals ("0.00006", not "6e-05"), which
// is how price lists print them.
func (p Price) MarshalYAML() (any, error) {
	num := func(v float64) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(v, 'f', -1, 64)}
	}
	return &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: "input"}, num(p.Input),
		{Kind: yaml.ScalarNode, Value: "output"}, num(p.Output),
	}}, nil
}
