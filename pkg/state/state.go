// Package state keeps what the alert path must remember between
// invocations: which CloudTrail events were already handled (idempotency)
// and, per finding fingerprint, the alert window that suppresses repeats
// (dedup). Store is the seam; NewMemory is an in-process store for unit
// tests and the CLI, package dynamostore the DynamoDB one.
//
// The protocol (see docs/alerts.md, "Nothing lost, nothing doubled"):
//
//  1. Handled: skip events already marked.
//  2. Window + Decide: read the fingerprint's window and decide; a claim is
//     a conditional write (Claim) on the version read, so of two
//     concurrent claimers exactly one wins and the other decides again.
//  3. The winner publishes; on failure it calls Release so a retry may
//     claim again at once.
//  4. Commit marks the claim sent, adds follow-up counts and marks the
//     events handled, atomically. Only then is the event done.
package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Item key prefixes in the shared state table (partition key pk).
const (
	// EventPrefix + eventID is a handled-event marker, sort key EventSK.
	EventPrefix = "EVT#"
	// AlertPrefix + fingerprint is a fingerprint's alert window, sort key
	// AlertSK.
	AlertPrefix = "ALERT#"
	// EventSK is the sort key of handled-event markers.
	EventSK = "HANDLED"
	// AlertSK is the sort key of alert windows.
	AlertSK = "WINDOW"
)

// Defaults for the timings a Store and the alert path use.
const (
	// DefaultEventTTL is how long a handled-event marker is kept: longer
	// than any redelivery (EventBridge retries for 24 h, SQS keeps
	// messages up to 14 days).
	DefaultEventTTL = 14 * 24 * time.Hour
	// DefaultWindowRetention is how long a window item outlives its
	// window, so follow-up counts still reach the next alert.
	DefaultWindowRetention = 7 * 24 * time.Hour
	// DefaultLease is how long a pending claim blocks other claimers. It
	// must exceed the longest time between claim and commit — the
	// detector's function timeout (template.yaml: 30 s) — so a live
	// invocation never loses its claim; and it must be shorter than the
	// spacing of Lambda's asynchronous retries (the first comes about a
	// minute after a failed attempt), so that when an invocation dies
	// between claim and publish, the first retry takes the claim over and
	// alerts instead of being told to retry until the event lands in the
	// dead-letter queue unalerted. tests/template_test.go ties the two
	// numbers together.
	DefaultLease = 45 * time.Second
	// MaxClockSkew is how far ahead of now a stored claim time may lie.
	MaxClockSkew = time.Minute
)

// ErrConflict reports a conditional write that lost: the stored state is
// not what the caller read. Read again and decide again.
var ErrConflict = errors.New("state changed concurrently")

// Status is the state of a fingerprint's alert window.
type Status string

// Window statuses.
const (
	// StatusNone: no window (never alerted, or expired by TTL).
	StatusNone Status = ""
	// StatusPending: an invocation claimed the alert and is publishing.
	StatusPending Status = "pending"
	// StatusSent: the alert went out; repeats inside the window are
	// counted, not alerted.
	StatusSent Status = "sent"
	// StatusReleased: a claim whose publish failed; the next claimer
	// takes over at once.
	StatusReleased Status = "released"
)

// Window is the stored alert window of one fingerprint.
type Window struct {
	Fingerprint string
	Rule        string
	Status      Status
	// Owner is the key of the finding that holds the claim (or sent the
	// alert): "evt:<eventId>" for event findings, see OwnerKey.
	Owner string
	// Token identifies the claiming invocation; a Release or Commit of a
	// claim must present it.
	Token     string
	ClaimedAt time.Time
	// WindowEnd is when repeats stop being suppressed: claim (or send)
	// time plus the rule's suppression window.
	WindowEnd time.Time
	// Count is the number of follow-ups not yet reported in an alert.
	Count int64
	// Reporting is the part of Count the pending claim's alert reports;
	// Commit subtracts it from Count.
	Reporting int64
	// Alerts is how many alerts this fingerprint has raised.
	Alerts int64
	// Version increases with every claim; 0 means no item.
	Version int64
}

// Claim is a request to take the alert of a fingerprint.
type Claim struct {
	Fingerprint string
	Rule        string
	Owner       string
	Token       string
	Now         time.Time
	// Window is the suppression window to start.
	Window time.Duration
	// PrevVersion is the Version read; the claim succeeds only if it is
	// still current (0: only if there is no item).
	PrevVersion int64
}

// Sent marks a claimed alert as published.
type Sent struct {
	Fingerprint string
	Token       string
	// Reported is the follow-up count the alert reported (the claim's
	// Reporting).
	Reported int64
}

// Commit is one atomic write: mark claims sent, add follow-up counts and
// mark events handled. All of it happens or none of it.
type Commit struct {
	Sent []Sent
	// Counts adds follow-ups per fingerprint; the window item must exist.
	Counts map[string]int64
	// Handled are event ids to mark; the commit fails with ErrConflict if
	// one is already marked.
	Handled []string
	Now     time.Time
}

// MaxCommitItems is the most items one Commit may touch (DynamoDB's
// TransactWriteItems limit).
const MaxCommitItems = 100

// Validate checks that c touches each item once and at most MaxCommitItems
// items.
func (c *Commit) Validate() error {
	seen := map[string]bool{}
	for _, s := range c.Sent {
		if seen[s.Fingerprint] {
			return fmt.Errorf("commit: fingerprint %s twice", s.Fingerprint)
		}
		seen[s.Fingerprint] = true
	}
	for fp, n := range c.Counts {
		if seen[fp] {
			return fmt.Errorf("commit: fingerprint %s both sent and counted", fp)
		}
		if n <= 0 {
			return fmt.Errorf("commit: count %d for %s", n, fp)
		}
	}
	ids := map[string]bool{}
	for _, id := range c.Handled {
		if id == "" || ids[id] {
			return fmt.Errorf("commit: event id %q empty or twice", id)
		}
		ids[id] = true
	}
	if n := len(c.Sent) + len(c.Counts) + len(c.Handled); n > MaxCommitItems {
		return fmt.Errorf("commit: %d items, more than %d", n, MaxCommitItems)
	}
	return nil
}

// Store persists handled events and alert windows. Implementations are safe
// for concurrent use; every write is conditional as documented.
type Store interface {
	// Handled returns the subset of ids already marked handled.
	Handled(ctx context.Context, ids []string) (map[string]bool, error)
	// Window returns the fingerprint's window (Version 0 when none).
	// Reads are strongly consistent.
	Window(ctx context.Context, fingerprint string) (Window, error)
	// Claim sets the window to pending for c.Owner/c.Token if its version
	// is still c.PrevVersion, keeping Count and setting Reporting to it.
	// It returns the window as written, or ErrConflict.
	Claim(ctx context.Context, c Claim) (Window, error)
	// Release sets a pending claim held by token back to released. A
	// claim no longer held by token is left alone (nil error).
	Release(ctx context.Context, fingerprint, token string) error
	// Commit applies c atomically, or returns ErrConflict (a condition
	// failed) or another error.
	Commit(ctx context.Context, c Commit) error
}

// OwnerKey returns the claim owner for a finding: "evt:<eventId>" when it
// comes from an event, else "agg:<fingerprint>@<unix seconds of its time>"
// for aggregate findings (spikes, budgets, heartbeats) that have none.
func OwnerKey(eventID, fingerprint string, at time.Time) string {
	if eventID != "" {
		return "evt:" + eventID
	}
	return "agg:" + fingerprint + "@" + strconv.FormatInt(at.Unix(), 10)
}

// Action is what to do with a finding given its window.
type Action int

// Actions Decide returns.
const (
	// ActionClaim: claim the window and publish an alert.
	ActionClaim Action = iota + 1
	// ActionCount: a repeat inside the window; count it, no alert.
	ActionCount
	// ActionDone: this very finding already alerted (a redelivery after
	// the alert went out but before the event was marked); nothing to do.
	ActionDone
	// ActionRetry: another invocation is publishing this very finding
	// right now; come back later (error / batch item failure).
	ActionRetry
)

// String names the action for logs.
func (a Action) String() string {
	switch a {
	case ActionClaim:
		return "claim"
	case ActionCount:
		return "count"
	case ActionDone:
		return "done"
	case ActionRetry:
		return "retry"
	}
	return "unknown"
}

// Implausible says why a stored window cannot have been written by the
// alert path, or "" when it could: a window the protocol writes ends at
// most one suppression window after it was claimed, and was claimed no
// later than now (give or take MaxClockSkew). Someone who can write the
// table could otherwise pre-write a "sent" window that never ends and
// silence an incident for good; such a window is ignored (the finding
// alerts) and the caller logs it.
func Implausible(w Window, now time.Time, window time.Duration) string {
	limit := now.Add(window + MaxClockSkew)
	switch {
	case w.Status == StatusNone:
		return ""
	case w.ClaimedAt.After(now.Add(MaxClockSkew)):
		return "claimed in the future (" + w.ClaimedAt.UTC().Format(time.RFC3339) + ")"
	case w.Status == StatusSent && w.WindowEnd.After(limit):
		return "suppression window ends at " + w.WindowEnd.UTC().Format(time.RFC3339) + ", beyond one window from now"
	}
	return ""
}

// Decide is the dedup rule, pure: given the stored window w, the finding's
// owner key, the time, the claim lease and the rule's suppression window,
// what to do.
//
//   - an implausible window (see Implausible): claim;
//   - no window, a released one, or a sent one whose window ended: claim;
//   - a pending claim older than lease (its holder died): claim (take over);
//   - a pending claim by another finding: count (that alert will report it);
//   - a pending claim by this same finding, within the lease: retry later
//     (a concurrent duplicate is publishing it);
//   - a sent window owned by this same finding: done (it alerted already);
//   - a sent window still open: count.
func Decide(w Window, owner string, now time.Time, lease, window time.Duration) Action {
	if Implausible(w, now, window) != "" {
		return ActionClaim
	}
	switch w.Status {
	case StatusNone, StatusReleased:
		return ActionClaim
	case StatusPending:
		if now.Sub(w.ClaimedAt) >= lease {
			return ActionClaim
		}
		if w.Owner == owner {
			return ActionRetry
		}
		return ActionCount
	case StatusSent:
		if w.Owner == owner {
			return ActionDone
		}
		if !now.Before(w.WindowEnd) {
			return ActionClaim
		}
		return ActionCount
	}
	// Unknown status written by a newer version: be safe, alert.
	return ActionClaim
}
