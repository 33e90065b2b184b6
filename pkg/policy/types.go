// Package policy loads and validates the Bedrock Warden policy: the YAML
// document that says which models, regions, networks and principals are
// allowed, how each rule behaves, and how alerts, spikes, budgets and
// remediation are tuned. One policy drives the CLI and every Lambda.
package policy

import "time"

// Policy is a loaded, validated policy. Build one with Load, LoadFile or
// Default; the zero value allows everything and enables every rule.
type Policy struct {
	Models      ModelRules             `yaml:"models" json:"models"`
	Regions     RegionRules            `yaml:"regions" json:"regions"`
	Network     NetworkRules           `yaml:"network" json:"network"`
	Principals  PrincipalRules         `yaml:"principals" json:"principals"`
	APIKeys     APIKeyRules            `yaml:"apiKeys" json:"apiKeys"`
	Rules       map[string]RuleSetting `yaml:"rules" json:"rules,omitempty"`
	Alerts      AlertSettings          `yaml:"alerts" json:"alerts"`
	Spikes      SpikeSettings          `yaml:"spikes" json:"spikes"`
	Budgets     []Budget               `yaml:"budgets" json:"budgets,omitempty"`
	Prices      map[string]Price       `yaml:"prices" json:"prices,omitempty"`
	Limits      []Limit                `yaml:"limits" json:"limits,omitempty"`
	Remediation RemediationSettings    `yaml:"remediation" json:"remediation"`
	Heartbeat   HeartbeatSettings      `yaml:"heartbeat" json:"heartbeat"`
	Monitor     MonitorSettings        `yaml:"monitor" json:"monitor"`

	compiled compiled
}

// ModelRules is the models: section. Patterns are IAM-style globs matched
// against the base model id and the raw id as given.
type ModelRules struct {
	Allow []string `yaml:"allow" json:"allow"` // missing or empty: any model
	Deny  []string `yaml:"deny" json:"deny"`   // deny wins over allow
}

// RegionRules is the regions: section.
type RegionRules struct {
	Allow []string `yaml:"allow" json:"allow"` // calling region; empty: any
	// Inference lists where cross-region inference may run; nil means
	// "same as Allow".
	Inference           []string `yaml:"inference" json:"inference"`
	AllowGlobalProfiles bool     `yaml:"allowGlobalProfiles" json:"allowGlobalProfiles"`
}

// NetworkRules is the network: section.
type NetworkRules struct {
	AllowCidrs        []string `yaml:"allowCidrs" json:"allowCidrs"` // empty: any source
	AllowVpcEndpoints []string `yaml:"allowVpcEndpoints" json:"allowVpcEndpoints"`
	// AllowAwsServiceCallers allows calls an AWS service made on a
	// principal's behalf (sourceIPAddress a service name, or "AWS
	// Internal"). Default true.
	AllowAwsServiceCallers *bool `yaml:"allowAwsServiceCallers" json:"allowAwsServiceCallers"`
}

// PrincipalRules is the principals: section. Globs on the normalised
// principal ARN.
type PrincipalRules struct {
	Allow  []string `yaml:"allow" json:"allow"`   // empty: any
	Exempt []string `yaml:"exempt" json:"exempt"` // never reported by allow-list rules, never remediated
}

// APIKeyRules is the apiKeys: section.
type APIKeyRules struct {
	Allow bool `yaml:"allow" json:"allow"`
}

// RuleSetting is one entry of the rules: section.
type RuleSetting struct {
	Enabled  *bool  `yaml:"enabled" json:"enabled,omitempty"`   // default true
	Severity string `yaml:"severity" json:"severity,omitempty"` // default: the catalogue's
	// ErrorCodes (denied-invocation only) are the errorCode values that make
	// an invocation a refused or probing call; default
	// DefaultDeniedErrorCodes. See Policy.DeniedErrorCode.
	ErrorCodes []string `yaml:"errorCodes,omitempty" json:"errorCodes,omitempty"`
	// Window (recon-then-invoke only) is how long after a reconnaissance
	// call an invocation by the same key completes the sequence; default
	// DefaultReconWindow.
	Window Duration `yaml:"window,omitempty" json:"window,omitempty"`
}

// AlertSettings is the alerts: section.
type AlertSettings struct {
	// Window is the default suppression window: findings with the same
	// fingerprint inside it produce one alert. Default 1h.
	Window Duration `yaml:"window" json:"window"`
	// Suppress overrides Window per rule id.
	Suppress map[string]Duration `yaml:"suppress" json:"suppress,omitempty"`
}

// SpikeSettings is the spikes: section.
type SpikeSettings struct {
	Window       Duration        `yaml:"window" json:"window"` // default 5m
	PerPrincipal SpikeThreshold  `yaml:"perPrincipal" json:"perPrincipal"`
	PerModel     SpikeThreshold  `yaml:"perModel" json:"perModel"`
	Overrides    []SpikeOverride `yaml:"overrides" json:"overrides,omitempty"`
}

// SpikeThreshold trips when a window's count exceeds Max, or exceeds
// BaselineFactor × the mean of the previous BaselineWindows windows while
// also above Floor. Zero fields are off.
type SpikeThreshold struct {
	Max             int64   `yaml:"max" json:"max,omitempty"`
	BaselineFactor  float64 `yaml:"baselineFactor" json:"baselineFactor,omitempty"`
	BaselineWindows int     `yaml:"baselineWindows" json:"baselineWindows,omitempty"`
	Floor           int64   `yaml:"floor" json:"floor,omitempty"`
}

// SpikeOverride replaces the per-principal threshold for matching principals.
type SpikeOverride struct {
	Principal       string  `yaml:"principal" json:"principal"` // glob
	Max             int64   `yaml:"max" json:"max,omitempty"`
	BaselineFactor  float64 `yaml:"baselineFactor" json:"baselineFactor,omitempty"`
	BaselineWindows int     `yaml:"baselineWindows" json:"baselineWindows,omitempty"`
	Floor           int64   `yaml:"floor" json:"floor,omitempty"`
}

// Budget is one entry of the budgets: list.
type Budget struct {
	Model          string  `yaml:"model" json:"model"`   // glob on the base model id
	Period         string  `yaml:"period" json:"period"` // "day" | "month" (UTC)
	MaxInvocations int64   `yaml:"maxInvocations" json:"maxInvocations,omitempty"`
	MaxTokens      int64   `yaml:"maxTokens" json:"maxTokens,omitempty"`
	MaxUSD         float64 `yaml:"maxUSD" json:"maxUSD,omitempty"`
}

// Price is USD per 1,000 tokens. Input is what uncached input tokens
// cost; CacheRead and CacheWrite what prompt-cache reads and writes cost.
// A policy entry that leaves the cache prices out gets the input price for
// both (Load fills them in): never less than a cached token can cost.
type Price struct {
	Input      float64 `yaml:"input" json:"input"`
	Output     float64 `yaml:"output" json:"output"`
	CacheRead  float64 `yaml:"cacheRead" json:"cacheRead"`
	CacheWrite float64 `yaml:"cacheWrite" json:"cacheWrite"`
}

// RemediationSettings is the remediation: section.
type RemediationSettings struct {
	// Actions maps a rule id to an action: quarantine, detach,
	// revoke-sessions, disable-credentials. Rules not listed never act.
	Actions           map[string]string `yaml:"actions" json:"actions,omitempty"`
	MaxActionsPerHour int               `yaml:"maxActionsPerHour" json:"maxActionsPerHour"` // default 10
	QuarantineTTL     Duration          `yaml:"quarantineTTL" json:"quarantineTTL"`         // 0: until undone
	ProtectedTag      string            `yaml:"protectedTag" json:"protectedTag"`           // default "bedrock-warden:protected"
}

// HeartbeatSettings is the heartbeat: section (rule pipeline-silent).
type HeartbeatSettings struct {
	// SilentAfter: alert when no event arrived through EventBridge for this
	// long while CloudTrail shows Bedrock activity. Default 30m.
	SilentAfter Duration `yaml:"silentAfter" json:"silentAfter"`
	// IdleAfter: alert when no event arrived for this long even without
	// activity. Default 24h.
	IdleAfter Duration `yaml:"idleAfter" json:"idleAfter"`
}

// MonitorSettings is the monitor: section (rule monitor-tampered).
type MonitorSettings struct {
	// OnCall lists principal globs allowed to change the toggle parameters
	// without a monitor-tampered finding.
	OnCall []string `yaml:"onCall" json:"onCall,omitempty"`
}

// Duration is a time.Duration written as "90s", "5m", "24h", "7d" or 0.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
