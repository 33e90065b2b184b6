// Package findings holds what Bedrock Warden reports: a Finding is one rule
// violated by one event, carrying everything an alert, a metric or a
// remediation needs, and a stable fingerprint that identifies the incident.
package findings

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Severity ranks findings. The zero value is invalid.
type Severity string

// Severities, lowest first.
const (
	Info     Severity = "info"
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Rank orders severities: info 1 … critical 5; 0 for an unknown value.
func (s Severity) Rank() int {
	switch s {
	case Info:
		return 1
	case Low:
		return 2
	case Medium:
		return 3
	case High:
		return 4
	case Critical:
		return 5
	}
	return 0
}

// Valid reports whether s is one of the defined severities.
func (s Severity) Valid() bool { return s.Rank() > 0 }

// Finding is one rule violated by one event (or, for aggregate rules such as
// invocation spikes, by a window of events). The JSON keys are the CLI's
// and the alert's contract.
type Finding struct {
	Rule            string    `json:"rule"`
	Severity        Severity  `json:"severity"`
	Title           string    `json:"title"`
	EventID         string    `json:"eventId"`
	EventName       string    `json:"eventName"`
	EventSource     string    `json:"eventSource,omitempty"`
	EventTime       time.Time `json:"eventTime"`
	Account         string    `json:"account"`
	Region          string    `json:"region"`
	InferenceRegion string    `json:"inferenceRegion"`
	Principal       string    `json:"principal"`
	PrincipalType   string    `json:"principalType"`
	SessionName     string    `json:"sessionName,omitempty"`
	AccessKeyID     string    `json:"accessKeyId,omitempty"`
	Model           string    `json:"model"`
	BaseModel       string    `json:"baseModel"`
	ModelKind       string    `json:"modelKind,omitempty"`
	SourceIP        string    `json:"sourceIp"`
	SourceService   string    `json:"sourceService,omitempty"`
	VPCEndpointID   string    `json:"vpcEndpointId,omitempty"`
	UserAgent       string    `json:"userAgent,omitempty"`
	ErrorCode       string    `json:"errorCode,omitempty"`
	// Reason says in words which policy entry the event broke, e.g.
	// `model "anthropic.claude-3-opus" matches models.deny "*opus*"`.
	Reason string `json:"reason,omitempty"`
	// Details holds rule-specific figures (spike counts, budget usage, …).
	Details map[string]string `json:"details,omitempty"`
	// Fingerprint identifies the incident: the same rule, principal, model
	// and region give the same fingerprint. See Fingerprint.
	Fingerprint string `json:"fingerprint"`
}

// Fingerprint returns the stable incident key for rule, principal, model and
// region: the first 16 bytes of a SHA-256 over the four fields, in hex.
// Callers pass the base model id when there is one, else the raw id.
func Fingerprint(rule, principal, model, region string) string {
	h := sha256.New()
	for _, s := range [...]string{rule, principal, model, region} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}
