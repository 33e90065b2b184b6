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
