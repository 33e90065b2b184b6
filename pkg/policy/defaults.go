package policy

import (
	"bytes"
	_ "embed"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"gopkg.in/yaml.v3"
)

// Defaults filled in when a key is not given.
const (
	DefaultAlertWindow       = time.Hour
	DefaultSpikeWindow       = 5 * time.Minute
	DefaultMaxActionsPerHour = 10
	DefaultQuarantineTTL     = 24 * time.Hour
	DefaultProtectedTag      = "bedrock-warden:protected"
	DefaultSilentAfter       = 30 * time.Minute
	DefaultIdleAfter         = 24 * time.Hour
)

// Default spike thresholds.
var (
	DefaultPerPrincipal = SpikeThreshold{Max: 500, BaselineFactor: 5, BaselineWindows: 12, Floor: 50}
	DefaultPerModel     = SpikeThreshold{Max: 2000}
)

// defaultPrices is the built-in on-demand price table, in USD per 1,000
// tokens (input, output), keyed by a glob on the base model id. The figures
// are the us-east-1 list prices as published when this table was written;
// other regions and newer price changes differ, so a policy's prices:
// section overrides or extends it entry by entry (same key replaces).
var defaultPrices = map[string]Price{
	// Anthropic
	"anthropic.claude-3-5-sonnet-*":   {Input: 0.003, Output: 0.015},
	"anthropic.claude-3-7-sonnet-*":   {Input: 0.003, Output: 0.015},
	"anthropic.claude-sonnet-4*":      {Input: 0.003, Output: 0.015},
	"anthropic.claude-3-5-haiku-*":    {Input: 0.0008, Output: 0.004},
	"anthropic.claude-3-haiku-*":      {Input: 0.00025, Output: 0.00125},
	"anthropic.claude-haiku-4-5*":     {Input: 0.001, Output: 0.005},
	"anthropic.claude-3-opus-*":       {Input: 0.015, Output: 0.075},
	"anthropic.claude-opus-4-2025*":   {Input: 0.015, Output: 0.075},
	"anthropic.claude-opus-4-1-*":     {Input: 0.015, Output: 0.075},
	"amazon.nova-micro-*":             {Input: 0.000035, Output: 0.00014},
	"amazon.nova-lite-*":              {Input: 0.00006, Output: 0.00024},
	"amazon.nova-pro-*":               {Input: 0.0008, Output: 0.0032},
	"amazon.titan-embed-text-v2*":     {Input: 0.00002},
	"cohere.embed-*":                  {Input: 0.0001},
	"meta.llama3-1-8b-*":              {Input: 0.00022, Output: 0.00022},
	"meta.llama3-1-70b-*":             {Input: 0.00072, Output: 0.00072},
	"meta.llama3-3-70b-*":             {Input: 0.00072, Output: 0.00072},
	"meta.llama3-1-405b-*":            {Input: 0.0024, Output: 0.0024},
	"mistral.mistral-large-2407-*":    {Input: 0.002, Output: 0.006},
	"mistral.mistral-large-2402-*":    {Input: 0.004, Output: 0.012},
	"mistral.mistral-small-2402-*":    {Input: 0.001, Output: 0.003},
	"mistral.mistral-7b-instruct-*":   {Input: 0.00015, Output: 0.0002},
	"mistral.mixtral-8x7b-instruct-*": {Input: 0.00045, Output: 0.0007},
}

// DefaultPrices returns a copy of the built-in price table (USD per 1,000
// tokens, keyed by a glob on the base model id).
func DefaultPrices() map[string]Price {
	m := make(map[string]Price, len(defaultPrices))
	for k, v := range defaultPrices {
		m[k] = v
	}
	return m
}

// newDefaults returns the policy every document starts from: what a key
// means when it is not given. Loading overwrites only the keys present, so
// an explicit 0 (e.g. quarantineTTL: 0) is kept apart from "not set".
func newDefaults() *Policy {
	yes := true
	return &Policy{
		Network: NetworkRules{AllowAwsServiceCallers: &yes},
		Alerts:  AlertSettings{Window: Duration(DefaultAlertWindow)},
		Spikes: SpikeSettings{
			Window:       Duration(DefaultSpikeWindow),
			PerPrincipal: DefaultPerPrincipal,
			PerModel:     DefaultPerModel,
		},
		Prices: DefaultPrices(),
		Remediation: RemediationSettings{
			MaxActionsPerHour: DefaultMaxActionsPerHour,
			QuarantineTTL:     Duration(DefaultQuarantineTTL),
			ProtectedTag:      DefaultProtectedTag,
		},
		Heartbeat: HeartbeatSettings{
			SilentAfter: Duration(DefaultSilentAfter),
			IdleAfter:   Duration(DefaultIdleAfter),
		},
	}
}

// fillRules gives every catalogue rule an explicit entry, so the effective
// policy shows each rule's state and severity.
func fillRules(p *Policy) {
	if p.Rules == nil {
		p.Rules = make(map[string]RuleSetting, len(findings.Catalogue))
	}
	for _, r := range findings.Catalogue {
		s := p.Rules[r.ID]
		if s.Enabled == nil {
			yes := true
			s.Enabled = &yes
		}
		if s.Severity == "" {
			s.Severity = string(r.Severity)
		}
		switch r.ID {
		case findings.RuleDeniedInvocation:
			if s.ErrorCodes == nil {
				s.ErrorCodes = slices.Clone(DefaultDeniedErrorCodes)
			}
		case findings.RuleReconThenInvoke:
			if s.Window == 0 {
				s.Window = Duration(DefaultReconWindow)
			}
		}
		p.Rules[r.ID] = s
	}
}

//go:embed default.yaml
var defaultYAML []byte

var (
	defaultOnce   sync.Once
	defaultPolicy *Policy
)

// DefaultYAML returns the embedded default policy document, comments and
// all (a copy; callers may modify it).
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Default returns the embedded default policy, parsed once. The same
// *Policy is returned to every caller and is safe for concurrent reads;
// do not modify it (Load(..., DefaultYAML()) gives a private copy). It
// panics only if the embedded document is broken, which a test guards.
func Default() *Policy {
	defaultOnce.Do(func() {
		p, err := Load("embedded default", defaultYAML)
		if err != nil {
			panic(fmt.Sprintf("policy: embedded default policy is invalid: %v", err))
		}
		defaultPolicy = p
	})
	return defaultPolicy
}

// YAML returns the effective policy (every default filled in) as a YAML
// document that Load reads back to an equal policy. A policy built by hand
// rather than loaded is written as it is, without defaults.
func (p *Policy) YAML() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Effective Bedrock Warden policy: the loaded document with every default filled in.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("policy: encode YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("policy: encode YAML: %w", err)
	}
	return b.Bytes(), nil
}
