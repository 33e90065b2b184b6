// Package remediation takes away the permission a finding shows was
// misused, only when on-call allows it, never on the wrong principal,
// never too often, and always so that it can be undone exactly.
//
// The pieces: a pure Planner turns a finding and a snapshot of the
// principal's IAM state into a Plan; an Applier carries a Plan out through
// a small IAM interface and verifies what it sees afterwards; a Ledger
// records every action with the before-state needed to undo it; a Breaker
// caps enforce actions per account per hour; Claims make delivery
// idempotent on the finding's fingerprint; a ModeSource reads the on-call
// toggle (off, dry-run, enforce) with a short cache. Remediator wires them
// together for the remediator Lambda; Undoer reverses a ledger record.
// AWS adapters live in the subpackages iamstate, ledgerdb and ssmmode.
package remediation

import (
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
)

// Mode is the on-call toggle.
type Mode string

// Modes.
const (
	ModeOff     Mode = "off"
	ModeDryRun  Mode = "dry-run"
	ModeEnforce Mode = "enforce"
)

// DefaultMode is used when the parameter does not exist.
const DefaultMode = ModeDryRun

// ParseMode parses "off", "dry-run" or "enforce".
func ParseMode(s string) (Mode, bool) {
	switch m := Mode(strings.TrimSpace(s)); m {
	case ModeOff, ModeDryRun, ModeEnforce:
		return m, true
	}
	return "", false
}

// Action names, as written in the policy's remediation.actions.
const (
	ActionQuarantine         = "quarantine"
	ActionDetach             = "detach"
	ActionRevokeSessions     = "revoke-sessions"
	ActionDisableCredentials = "disable-credentials"
	// ActionBlockUntil is not written in remediation.actions: a usage
	// limit with action block asks for it with its limit-exceeded finding
	// (see Block).
	ActionBlockUntil = "block-until"
)

// ValidAction reports whether a is one of the five actions.
func ValidAction(a string) bool {
	switch a {
	case ActionQuarantine, ActionDetach, ActionRevokeSessions, ActionDisableCredentials, ActionBlockUntil:
		return true
	}
	return false
}

// Inline policy names Bedrock Warden owns.
const (
	QuarantinePolicyName = "BedrockWardenQuarantine"
	RevokePolicyName     = "BedrockWardenRevokeSessions"
	BlockPolicyName      = "BedrockWardenUsageBlock"
)

// BedrockServiceName is the IAM service name of Bedrock API keys
// (service-specific credentials).
const BedrockServiceName = "bedrock.amazonaws.com"

// PrincipalKind is the IAM entity type.
type PrincipalKind string

// Principal kinds remediation can act on.
const (
	KindUser PrincipalKind = "user"
	KindRole PrincipalKind = "role"
)

// Principal identifies an IAM user or role.
type Principal struct {
	ARN       string        `json:"arn"`
	Kind      PrincipalKind `json:"kind"`
	Name      string        `json:"name"`
	Path      string        `json:"path"` // "/" or "/a/b/"
	Account   string        `json:"account"`
	Partition string        `json:"partition"`
}

// ManagedPolicy is a managed policy attached to the principal, with the
// document of its default version.
type ManagedPolicy struct {
	ARN      string `json:"arn"`
	Name     string `json:"name"`
	Document string `json:"document"` // decoded JSON text
}

// InlinePolicy is an inline policy of the principal. Document is the exact
// text IAM holds (URL-decoded), saved and restored byte for byte.
type InlinePolicy struct {
	Name     string `json:"name"`
	Document string `json:"document"`
}

// Credential is an access key or a service-specific credential.
type Credential struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`   // CredAccessKey or CredServiceSpecific
	Status  string `json:"status"` // Active | Inactive | Expired
	Service string `json:"service,omitempty"`
}

// Credential kinds.
const (
	CredAccessKey       = "access-key"
	CredServiceSpecific = "service-specific"
)

// Credential statuses IAM uses.
const (
	StatusActive   = "Active"
	StatusInactive = "Inactive"
)

// State is a snapshot of a principal's IAM state: what the planner needs
// and what undo restores.
type State struct {
	Principal   Principal         `json:"principal"`
	Tags        map[string]string `json:"tags,omitempty"`
	Managed     []ManagedPolicy   `json:"managed,omitempty"`
	Inline      []InlinePolicy    `json:"inline,omitempty"`
	Credentials []Credential      `json:"credentials,omitempty"`
}

// InlineNamed returns the inline policy named name.
func (s State) InlineNamed(name string) (InlinePolicy, bool) {
	for _, p := range s.Inline {
		if p.Name == name {
			return p, true
		}
	}
	return InlinePolicy{}, false
}

// HasManaged reports whether arn is attached.
func (s State) HasManaged(arn string) bool {
	for _, p := range s.Managed {
		if p.ARN == arn {
			return true
		}
	}
	return false
}

// Credential returns the credential with id.
func (s State) Credential(id string) (Credential, bool) {
	for _, c := range s.Credentials {
		if c.ID == id {
			return c, true
		}
	}
	return Credential{}, false
}

// StepKind names one IAM change.
type StepKind string

// Step kinds.
const (
	StepDetachManaged    StepKind = "detach-managed"
	StepDeleteInline     StepKind = "delete-inline"
	StepPutQuarantine    StepKind = "put-quarantine"
	StepPutRevoke        StepKind = "put-revoke-sessions"
	StepDisableAccessKey StepKind = "disable-access-key"
	StepDisableServiceCr StepKind = "disable-service-credential"
	StepPutBlock         StepKind = "put-block"
)

// Step is one IAM change with everything needed to reverse it.
type Step struct {
	Kind   StepKind `json:"kind"`
	Reason string   `json:"reason"`
	// PolicyARN: detach-managed.
	PolicyARN string `json:"policyArn,omitempty"`
	// PolicyName: delete-inline, put-quarantine, put-revoke-sessions.
	PolicyName string `json:"policyName,omitempty"`
	// Document: delete-inline — the verbatim document deleted;
	// put-* — the document put.
	Document string `json:"document,omitempty"`
	// Previous: put-* — the verbatim document the policy had before, nil
	// when it did not exist.
	Previous *string `json:"previous,omitempty"`
	// Sid: put-quarantine, put-block — the statement this remediation
	// owns.
	Sid string `json:"sid,omitempty"`
	// Until: put-block — when the deny stops applying (its aws:CurrentTime
	// condition) and the sweeper removes it: the end of the limit's period.
	Until *time.Time `json:"until,omitempty"`
	// CredentialID and PreviousStatus: disable-*.
	CredentialID   string `json:"credentialId,omitempty"`
	PreviousStatus string `json:"previousStatus,omitempty"`
}

// Plan is what a remediation will do, or why it will do nothing.
type Plan struct {
	Action    string    `json:"action"`
	Principal Principal `json:"principal"`
	Steps     []Step    `json:"steps,omitempty"`
	// Refused is non-empty when the principal must not be touched.
	Refused string `json:"refused,omitempty"`
	// Advice is what a person should do instead (e.g. in Identity Center).
	Advice string `json:"advice,omitempty"`
	// Notes explain choices: mixed policies kept, quarantine added, …
	Notes []string `json:"notes,omitempty"`
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Steps) == 0 }

// Summary returns one line per step, for alerts and the CLI.
func (p Plan) Summary() []string {
	var out []string
	if p.Refused != "" {
		out = append(out, "refused: "+p.Refused)
	}
	for _, s := range p.Steps {
		out = append(out, string(s.Kind)+" "+stepTarget(s)+": "+s.Reason)
	}
	return out
}

func stepTarget(s Step) string {
	switch {
	case s.PolicyARN != "":
		return s.PolicyARN
	case s.CredentialID != "":
		return s.CredentialID
	}
	return s.PolicyName
}

// Clock returns the current time; tests pass a fake.
type Clock func() time.Time

// Block is what a limit-exceeded finding of a usage limit with action
// block asks for: deny the principal invocation of the limit's models
// until the limit's period ends.
type Block struct {
	Limit  string    `json:"limit"`
	Models []string  `json:"models"` // globs on the base model id; "*" for every model
	Until  time.Time `json:"until"`
}

// Limits resolves a limit-exceeded finding against the remediator's own
// policy: the block its limit asks for, ok false when the limit only
// alerts, an error when the finding names no limit or period of that
// policy (the policy changed, or the period is over).
type Limits interface {
	Block(f findings.Finding, now time.Time) (b Block, ok bool, err error)
}
