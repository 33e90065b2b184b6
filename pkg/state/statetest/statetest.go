// Package statetest is the conformance suite every state.Store passes: the
// memory store in unit tests, the DynamoDB store against moto_server.
package statetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/state"
)

var t0 = time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)

// Options tune the suite to a peer's limits.
type Options struct {
	// SkipConcurrency skips the concurrent-claims case: moto_server does
	// not serialise conditional writes (two concurrent UpdateItems with
	// attribute_not_exists can both succeed), which DynamoDB does.
	SkipConcurrency bool
}

// Run runs the suite; newStore returns an empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) state.Store, o Options) {
	ctx := context.Background()

	t.Run("EmptyWindowAndNothingHandled", func(t *testing.T) {
		s := newStore(t)
		w, err := s.Window(ctx, "fp1")
		if err != nil {
			t.Fatal(err)
		}
		if w.Version != 0 || w.Status != state.StatusNone || w.Fingerprint != "fp1" {
			t.Errorf("empty window = %+v", w)
		}
		h, err := s.Handled(ctx, []string{"a", "b"})
		if err != nil || len(h) != 0 {
			t.Errorf("Handled on empty store = %v, %v", h, err)
		}
	})

	t.Run("ClaimIsConditionalOnVersion", func(t *testing.T) {
		s := newStore(t)
		c := state.Claim{Fingerprint: "fp", Rule: "r", Owner: "evt:1", Token: "tokA", Now: t0, Window: time.Hour}
		w, err := s.Claim(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if w.Status != state.StatusPending || w.Owner != "evt:1" || w.Token != "tokA" || w.Version != 1 ||
			!w.WindowEnd.Equal(t0.Add(time.Hour)) || !w.ClaimedAt.Equal(t0) || w.Rule != "r" {
			t.Errorf("claimed window = %+v", w)
		}
		// A second claimer that read the empty window loses.
		c2 := c
		c2.Owner, c2.Token = "evt:2", "tokB"
		if _, err := s.Claim(ctx, c2); !errors.Is(err, state.ErrConflict) {
			t.Fatalf("stale claim: err = %v, want ErrConflict", err)
		}
		got, err := s.Window(ctx, "fp")
		if err != nil {
			t.Fatal(err)
		}
		if got.Token != "tokA" || got.Version != 1 {
			t.Errorf("window after lost claim = %+v", got)
		}
	})

	t.Run("ConcurrentClaimsOneWinner", func(t *testing.T) {
		if o.SkipConcurrency {
			t.Skip("the peer does not serialise conditional writes")
		}
		s := newStore(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, conflicts := 0, 0
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Claim(ctx, state.Claim{Fingerprint: "race", Owner: "evt:x", Token: string(rune('a' + i)), Now: t0, Window: time.Hour})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, state.ErrConflict):
					conflicts++
				default:
					t.Errorf("claim: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || conflicts != 7 {
			t.Errorf("wins %d conflicts %d, want 1 and 7", wins, conflicts)
		}
	})

	t.Run("ReleaseOnlyByTokenHolder", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Claim(ctx, state.Claim{Fingerprint: "fp", Owner: "evt:1", Token: "mine", Now: t0, Window: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if err := s.Release(ctx, "fp", "other"); err != nil {
			t.Fatalf("release with a foreign token: %v, want nil (no-op)", err)
		}
		if w, _ := s.Window(ctx, "fp"); w.Status != state.StatusPending {
			t.Fatalf("foreign release changed the window: %+v", w)
		}
		if err := s.Release(ctx, "fp", "mine"); err != nil {
			t.Fatal(err)
		}
		w, err := s.Window(ctx, "fp")
		if err != nil {
			t.Fatal(err)
		}
		if w.Status != state.StatusReleased || w.Token != "" {
			t.Errorf("released window = %+v", w)
		}
		if err := s.Release(ctx, "missing", "mine"); err != nil {
			t.Errorf("release of a missing window: %v", err)
		}
	})

	t.Run("CommitMarksSentCountsAndHandled", func(t *testing.T) {
		s := newStore(t)
		w, err := s.Claim(ctx, state.Claim{Fingerprint: "fp", Owner: "evt:1", Token: "tok", Now: t0, Window: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, state.Commit{Sent: []state.Sent{{Fingerprint: "fp", Token: "tok", Reported: w.Reporting}},
			Handled: []string{"1"}, Now: t0}); err != nil {
			t.Fatal(err)
		}
		for i := 2; i <= 4; i++ {
			if err := s.Commit(ctx, state.Commit{Counts: map[string]int64{"fp": 1}, Handled: []string{string(rune('0' + i))}, Now: t0}); err != nil {
				t.Fatal(err)
			}
		}
		w, err = s.Window(ctx, "fp")
		if err != nil {
			t.Fatal(err)
		}
		if w.Status != state.StatusSent || w.Count != 3 || w.Alerts != 1 || w.Token != "" {
			t.Errorf("window = %+v, want sent, count 3, 1 alert", w)
		}
		h, err := s.Handled(ctx, []string{"1", "2", "3", "4", "5"})
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 4 || h["5"] {
			t.Errorf("handled = %v, want 1-4", h)
		}
		// The next claim reports the 3 and a commit subtracts them.
		w2, err := s.Claim(ctx, state.Claim{Fingerprint: "fp", Owner: "evt:9", Token: "tok2", Now: t0.Add(2 * time.Hour), Window: time.Hour, PrevVersion: w.Version})
		if err != nil {
			t.Fatal(err)
		}
		if w2.Reporting != 3 || w2.Count != 3 || w2.Version != 2 {
			t.Errorf("second claim = %+v, want reporting 3", w2)
		}
		// A follow-up counted while the claim is pending stays for later.
		if err := s.Commit(ctx, state.Commit{Counts: map[string]int64{"fp": 1}, Handled: []string{"10"}, Now: t0}); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, state.Commit{Sent: []state.Sent{{Fingerprint: "fp", Token: "tok2", Reported: w2.Reporting}}, Handled: []string{"9"}, Now: t0}); err != nil {
			t.Fatal(err)
		}
		w3, _ := s.Window(ctx, "fp")
		if w3.Count != 1 || w3.Alerts != 2 || w3.Reporting != 0 {
			t.Errorf("after second alert = %+v, want count 1, 2 alerts", w3)
		}
	})

	t.Run("CommitIsAllOrNothing", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Claim(ctx, state.Claim{Fingerprint: "fp", Owner: "evt:1", Token: "tok", Now: t0, Window: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, state.Commit{Handled: []string{"dup"}, Now: t0}); err != nil {
			t.Fatal(err)
		}
		// "dup" is already handled: the sent mark and the other event
		// must not be applied either.
		err := s.Commit(ctx, state.Commit{Sent: []state.Sent{{Fingerprint: "fp", Token: "tok"}}, Handled: []string{"new", "dup"}, Now: t0})
		if !errors.Is(err, state.ErrConflict) {
			t.Fatalf("commit with a handled event: %v, want ErrConflict", err)
		}
		if w, _ := s.Window(ctx, "fp"); w.Status != state.StatusPending {
			t.Errorf("window changed by a failed commit: %+v", w)
		}
		if h, _ := s.Handled(ctx, []string{"new"}); h["new"] {
			t.Error("event marked by a failed commit")
		}
		// A sent mark with a foreign token fails.
		if err := s.Commit(ctx, state.Commit{Sent: []state.Sent{{Fingerprint: "fp", Token: "nope"}}, Now: t0}); !errors.Is(err, state.ErrConflict) {
			t.Errorf("foreign token commit: %v, want ErrConflict", err)
		}
		// Counting on a missing window fails.
		if err := s.Commit(ctx, state.Commit{Counts: map[string]int64{"none": 1}, Now: t0}); !errors.Is(err, state.ErrConflict) {
			t.Errorf("count on missing window: %v, want ErrConflict", err)
		}
	})

	t.Run("CommitRejectsInvalid", func(t *testing.T) {
		s := newStore(t)
		err := s.Commit(ctx, state.Commit{Sent: []state.Sent{{Fingerprint: "a"}}, Counts: map[string]int64{"a": 1}, Now: t0})
		if err == nil || errors.Is(err, state.ErrConflict) {
			t.Errorf("same item sent and counted: %v, want a validation error", err)
		}
	})
}
