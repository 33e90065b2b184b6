// Package seal authenticates what crosses Bedrock Warden's trust boundary
// on its way to an IAM write: the findings the detector publishes to the
// alert topic (which the remediator acts on) and the remediation ledger
// records kept in the state table (which the sweeper and `warden
// remediation undo` restore from). Anyone in the account who may publish
// to the topic, invoke the remediator or write the table can forge either;
// only the stack's roles can compute a MAC with the stack's KMS HMAC keys.
//
// The package is pure: it defines the exact bytes a MAC covers and the
// checks a verifier makes. The KMS calls sit behind two small interfaces;
// package kmsmac implements them over KMS GenerateMac and VerifyMac
// (HMAC_SHA_256).
//
// KMS MACs messages of at most 4,096 bytes, so a MAC covers a short,
// domain-separated message that names what is sealed and carries the
// SHA-256 of its exact bytes:
//
//	bedrock-warden/finding/v1 <sealed-at, RFC 3339 nanoseconds, UTC> <hex sha256 of the finding JSON>
//	bedrock-warden/ledger/v1 <record id> <hex sha256 of the record JSON>
//
// A finding MAC made for one purpose can never verify as the other: the
// two kinds also use different keys.
package seal

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SNS message attributes that carry a finding's seal. Both are of data
// type String; subscribers may ignore them.
const (
	// AttrMAC is the base64 MAC over FindingMessage.
	AttrMAC = "warden-mac"
	// AttrSealedAt is the sealing time, RFC 3339 with nanoseconds, UTC.
	AttrSealedAt = "warden-sealed-at"
)

// AttrReserve is the most bytes the two seal attributes add to an SNS
// message (names, the "String" type SNS counts, and values): a message
// builder keeps this much room under the SNS size limit.
const AttrReserve = len(AttrMAC) + len("String") + 64 + len(AttrSealedAt) + len("String") + 40

// Time limits a verifier applies to a finding's seal.
const (
	// MaxFindingAge is how old a sealed finding may be when the remediator
	// acts on it. SNS delivers to Lambda within seconds and Lambda's
	// asynchronous retries come within minutes; an older message is a
	// replay, or a delivery so late that a person should look first.
	MaxFindingAge = time.Hour
	// MaxClockSkew is how far in the future a sealing time may lie.
	MaxClockSkew = 5 * time.Minute
)

const (
	findingDomain = "bedrock-warden/finding/v1"
	ledgerDomain  = "bedrock-warden/ledger/v1"
)

// Generator computes a MAC over a message with the key it holds.
type Generator interface {
	GenerateMAC(ctx context.Context, message []byte) ([]byte, error)
}

// Checker verifies a MAC over a message with the key it holds; a MAC that
// does not match is (false, nil), not an error.
type Checker interface {
	VerifyMAC(ctx context.Context, message, mac []byte) (bool, error)
}

// Errors a verification returns, wrapped with detail. Every one of them
// means "do not act".
var (
	// ErrMissing: nothing sealed the message or record.
	ErrMissing = errors.New("not sealed")
	// ErrInvalid: a MAC is there but does not verify with the key.
	ErrInvalid = errors.New("seal does not verify")
	// ErrStale: the seal is older than the verifier accepts (a replay).
	ErrStale = errors.New("seal too old")
	// ErrFuture: the sealing time lies in the future.
	ErrFuture = errors.New("sealing time in the future")
	// ErrMalformed: the seal attributes cannot be read.
	ErrMalformed = errors.New("seal malformed")
)

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// FindingMessage is what a finding's MAC covers: the sealing time and the
// exact bytes of the finding JSON as the alert carries it.
func FindingMessage(sealedAt time.Time, findingJSON []byte) []byte {
	return []byte(findingDomain + "\n" + FormatTime(sealedAt) + "\n" + digest(findingJSON))
}

// RecordMessage is what a ledger record's MAC covers: its id and the exact
// bytes of the record JSON as the ledger stores it.
func RecordMessage(id string, body []byte) []byte {
	return []byte(ledgerDomain + "\n" + id + "\n" + digest(body))
}

// FormatTime is the sealing-time form AttrSealedAt carries.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Findings seals findings for the alert topic.
type Findings struct {
	MAC Generator
}

// Seal returns the message attributes that authenticate findingJSON,
// sealed at at.
func (s Findings) Seal(ctx context.Context, findingJSON []byte, at time.Time) (map[string]string, error) {
	if s.MAC == nil {
		return nil, errors.New("seal finding: no MAC key configured")
	}
	mac, err := s.MAC.GenerateMAC(ctx, FindingMessage(at, findingJSON))
	if err != nil {
		return nil, fmt.Errorf("seal finding: %w", err)
	}
	return map[string]string{AttrMAC: base64.StdEncoding.EncodeToString(mac), AttrSealedAt: FormatTime(at)}, nil
}

// FindingVerifier checks a finding's seal before anyone acts on it.
type FindingVerifier struct {
	MAC Checker
	// MaxAge is MaxFindingAge when zero.
	MaxAge time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Verify checks that attrs carry a MAC over findingJSON made with the key,
// sealed no longer than MaxAge ago and not in the future. It returns the
// sealing time. The error wraps one of the package's Err values.
func (v FindingVerifier) Verify(ctx context.Context, findingJSON []byte, attrs map[string]string) (time.Time, error) {
	macText, at := strings.TrimSpace(attrs[AttrMAC]), strings.TrimSpace(attrs[AttrSealedAt])
	if macText == "" && at == "" {
		return time.Time{}, fmt.Errorf("finding: %w (no %s attribute)", ErrMissing, AttrMAC)
	}
	sealedAt, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return time.Time{}, fmt.Errorf("finding: %w: %s %q is not an RFC 3339 time", ErrMalformed, AttrSealedAt, clip(at))
	}
	mac, err := base64.StdEncoding.DecodeString(macText)
	if err != nil || len(mac) == 0 {
		return sealedAt, fmt.Errorf("finding: %w: %s is not base64", ErrMalformed, AttrMAC)
	}
	if v.MAC == nil {
		return sealedAt, errors.New("verify finding: no MAC key configured")
	}
	// The MAC first: a forged time must not be reported as merely stale.
	ok, err := v.MAC.VerifyMAC(ctx, FindingMessage(sealedAt, findingJSON), mac)
	if err != nil {
		return sealedAt, fmt.Errorf("verify finding: %w", err)
	}
	if !ok {
		return sealedAt, fmt.Errorf("finding: %w", ErrInvalid)
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	maxAge := v.MaxAge
	if maxAge <= 0 {
		maxAge = MaxFindingAge
	}
	switch age := now.Sub(sealedAt); {
	case age > maxAge:
		return sealedAt, fmt.Errorf("finding: %w: sealed %s ago, more than %s", ErrStale, age.Round(time.Second), maxAge)
	case age < -MaxClockSkew:
		return sealedAt, fmt.Errorf("finding: %w: sealed at %s", ErrFuture, FormatTime(sealedAt))
	}
	return sealedAt, nil
}

// Records seals and verifies ledger records. The remediator seals every
// record it writes; the sweeper and `warden remediation undo` verify one
// before any IAM write, and seal what they write back.
type Records struct {
	Gen   Generator
	Check Checker
}

// Seal returns the MAC of the record id stored as body.
func (r Records) Seal(ctx context.Context, id string, body []byte) ([]byte, error) {
	if r.Gen == nil {
		return nil, errors.New("seal ledger record: no MAC key configured")
	}
	mac, err := r.Gen.GenerateMAC(ctx, RecordMessage(id, body))
	if err != nil {
		return nil, fmt.Errorf("seal ledger record %s: %w", id, err)
	}
	return mac, nil
}

// Verify checks mac over the record id stored as body. The error wraps
// ErrMissing or ErrInvalid when the record is not the one the remediator
// wrote.
func (r Records) Verify(ctx context.Context, id string, body, mac []byte) error {
	if len(mac) == 0 {
		return fmt.Errorf("ledger record %s: %w", clip(id), ErrMissing)
	}
	if r.Check == nil {
		return fmt.Errorf("verify ledger record %s: no MAC key configured", clip(id))
	}
	ok, err := r.Check.VerifyMAC(ctx, RecordMessage(id, body), mac)
	if err != nil {
		return fmt.Errorf("verify ledger record %s: %w", clip(id), err)
	}
	if !ok {
		return fmt.Errorf("ledger record %s: %w", clip(id), ErrInvalid)
	}
	return nil
}

// Reason names a verification failure for metrics and logs: "unsealed",
// "bad-mac", "stale", "future", "malformed", or "error" for anything else
// (a KMS outage).
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrMissing):
		return "unsealed"
	case errors.Is(err, ErrInvalid):
		return "bad-mac"
	case errors.Is(err, ErrStale):
		return "stale"
	case errors.Is(err, ErrFuture):
		return "future"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	}
	return "error"
}

// clip keeps attacker-supplied text in errors short.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
