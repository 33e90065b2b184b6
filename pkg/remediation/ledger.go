package remediation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Results a ledger record can carry.
const (
	ResultPlanned    = "planned"     // dry-run: computed, not applied
	ResultApplying   = "applying"    // enforce: written before acting
	ResultApplied    = "applied"     // enforce: every step succeeded
	ResultFailed     = "failed"      // enforce: a step failed (see Error)
	ResultRefused    = "refused"     // the principal must not be touched
	ResultNoop       = "noop"        // nothing to change
	ResultUndone     = "undone"      // a later undo reversed it
	ResultUndoFailed = "undo-failed" // an undo was attempted and failed
	ResultUndo       = "undo"        // this record is an undo
)

// Before is the state needed to undo, saved before acting.
type Before struct {
	Managed     []string       `json:"managed,omitempty"` // attached managed policy ARNs
	Inline      []InlinePolicy `json:"inline,omitempty"`  // inline documents verbatim
	Credentials []Credential   `json:"credentials,omitempty"`
}

// BeforeOf extracts the undo-relevant part of a snapshot.
func BeforeOf(st State) Before {
	b := Before{Inline: st.Inline, Credentials: st.Credentials}
	for _, m := range st.Managed {
		b.Managed = append(b.Managed, m.ARN)
	}
	return b
}

// Record is one ledger entry: an action (planned, applied, refused) or an
// undo.
type Record struct {
	ID            string     `json:"id"`
	Time          time.Time  `json:"time"`
	Mode          Mode       `json:"mode"`
	Action        string     `json:"action"`
	Rule          string     `json:"rule"`
	EventID       string     `json:"eventId,omitempty"`
	Fingerprint   string     `json:"fingerprint"`
	Principal     string     `json:"principal"`
	PrincipalType string     `json:"principalType,omitempty"`
	Model         string     `json:"model,omitempty"`
	Account       string     `json:"account,omitempty"`
	Region        string     `json:"region,omitempty"`
	Plan          Plan       `json:"plan"`
	Before        *Before    `json:"before,omitempty"`
	Result        string     `json:"result"`
	Outcome       *Outcome   `json:"outcome,omitempty"`
	Error         string     `json:"error,omitempty"`
	ExpiresAt     *time.Time `json:"expiresAt,omitempty"`
	// UndoOf: on an undo record, the record it reversed.
	UndoOf string `json:"undoOf,omitempty"`
	// UndoneBy/UndoneAt: on a reversed record, the undo record and when.
	UndoneBy string     `json:"undoneBy,omitempty"`
	UndoneAt *time.Time `json:"undoneAt,omitempty"`
	// Actor: who asked (the Lambda, the sweeper, or the CLI caller).
	Actor string `json:"actor,omitempty"`
}

// AppliedSteps returns the steps an Apply carried out without error. For a
// record left "applying" (the remediator stopped before writing the
// outcome) it returns every planned step: each undo step is safe to run
// whether or not its step ran.
func (r Record) AppliedSteps() []Step {
	if r.Result == ResultApplying {
		return r.Plan.Steps
	}
	if r.Outcome == nil {
		return nil
	}
	var out []Step
	for _, s := range r.Outcome.Steps {
		if s.Error == "" {
			out = append(out, s.Step)
		}
	}
	return out
}

// idLayout is the time part of a record id; the id sorts by time.
const idLayout = "20060102T150405.000000000Z"

// NewID returns a record id for time t: the UTC time to the nanosecond and
// 8 random hex characters, e.g. 20261124T105300.123456789Z-1a2b3c4d.
func NewID(t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format(idLayout) + "-" + hex.EncodeToString(b[:])
}

// IDTime returns the time encoded in a record id.
func IDTime(id string) (time.Time, error) {
	ts, _, ok := strings.Cut(id, "-")
	if !ok {
		return time.Time{}, fmt.Errorf("record id %q: want <time>-<hex>", id)
	}
	t, err := time.Parse(idLayout, ts)
	if err != nil {
		return time.Time{}, fmt.Errorf("record id %q: %w", id, err)
	}
	return t, nil
}

// ErrNoRecord is returned (wrapped) when a ledger record does not exist.
var ErrNoRecord = errors.New("no such ledger record")

// ErrUnauthenticated is wrapped by Ledger.Get when the stored record's
// seal is missing or does not verify: it is not a record the remediator
// wrote (or it was altered since), and nothing may be undone from it.
var ErrUnauthenticated = errors.New("ledger record is not authenticated")

// Ledger stores records. Put replaces a record with the same id.
//
// A ledger that persists records outside the process seals each one on
// Put (package seal: a MAC over the exact bytes stored) and verifies the
// seal on Get, which returns ErrUnauthenticated (wrapped, together with
// the seal package's reason) when it does not verify. List is for people
// and does not verify; Expired returns only ids, which Get then checks.
type Ledger interface {
	Put(ctx context.Context, r Record) error
	Get(ctx context.Context, id string) (Record, error)
	// List returns records at or after since, oldest first, optionally only
	// those of principal (exact ARN; "" for all).
	List(ctx context.Context, since time.Time, principal string) ([]Record, error)
	// Expired returns the ids of applied records whose expiry is at or
	// before t and that are not undone.
	Expired(ctx context.Context, t time.Time) ([]string, error)
}

// ClaimState is the answer to a claim.
type ClaimState int

// Claim answers.
const (
	ClaimAcquired  ClaimState = iota // first delivery: go ahead
	ClaimDuplicate                   // already handled: do nothing
	ClaimBusy                        // another delivery is handling it now
)

// ClaimResult is what Claim found.
type ClaimResult struct {
	State ClaimState
	// Record is the ledger record that handled the claim (ClaimDuplicate).
	Record string
	// Notified is true once the notice about Record went out.
	Notified bool
}

// Claims make handling idempotent on (key, mode). The key is a finding's
// fingerprint, or RefusalKey(fingerprint) for a refusal, so that a
// refused finding never holds the key a genuine one needs.
type Claims interface {
	// Claim acquires (key, mode) at now; a pending claim older than lease
	// is taken over (its holder died).
	Claim(ctx context.Context, key string, mode Mode, now time.Time, lease time.Duration) (ClaimResult, error)
	// Complete marks the claim done with the record id; until is when a
	// new delivery may act again (zero: until Release). notified says
	// whether the record's notice already went out (or none is due).
	Complete(ctx context.Context, key string, mode Mode, recordID string, until time.Time, notified bool) error
	// MarkNotified records that the notice about the claim's record went
	// out.
	MarkNotified(ctx context.Context, key string, mode Mode) error
	// Release forgets the claim.
	Release(ctx context.Context, key string, mode Mode) error
}

// RefusalKey is the claim key of a refused finding.
func RefusalKey(fingerprint string) string { return "refused/" + fingerprint }

// BreakerStatus is a breaker's state for one account and hour.
type BreakerStatus struct {
	Account string    `json:"account"`
	Hour    time.Time `json:"hour"`
	Count   int       `json:"count"`
	Open    bool      `json:"open"`
}

// Breaker counts enforce actions per account per hour.
type Breaker interface {
	// Take counts one enforce action unless max were already counted in
	// the hour; allowed is false when the breaker is open.
	Take(ctx context.Context, account string, hour time.Time, max int) (allowed bool, err error)
	// MarkOpen records that the breaker opened in the hour (idempotent).
	MarkOpen(ctx context.Context, account string, hour time.Time) error
	Status(ctx context.Context, account string, hour time.Time) (BreakerStatus, error)
	// Reset closes the breaker for the hour (zeroes its count).
	Reset(ctx context.Context, account string, hour time.Time) error
}

// Notices make the remediator's alerts about a situation — the breaker
// opening in an hour, a forged message, a forged ledger record — go out
// once per key, and at least once: a notice is marked sent only after
// the publish succeeded.
type Notices interface {
	// BeginNotice takes key for one publish attempt. It is false when the
	// notice was sent already (within keep of its first attempt) or another
	// invocation began it less than lease ago.
	BeginNotice(ctx context.Context, key string, now time.Time, lease, keep time.Duration) (bool, error)
	// NoticeSent marks the notice sent.
	NoticeSent(ctx context.Context, key string) error
	// AbandonNotice gives the key back after a failed publish, so a retry
	// sends it.
	AbandonNotice(ctx context.Context, key string) error
}

// NoticeLease is how long a notice being published blocks others.
const NoticeLease = time.Minute

// Hour truncates t to its UTC hour, the breaker's bucket.
func Hour(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }
