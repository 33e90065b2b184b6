package state_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/state"
	"github.com/bedrock-warden/warden/pkg/state/statetest"
)

func TestMemoryConformance(t *testing.T) {
	statetest.Run(t, func(*testing.T) state.Store { return state.NewMemory() }, statetest.Options{})
}

func TestMemoryFail(t *testing.T) {
	m := state.NewMemory()
	boom := errors.New("boom")
	m.Fail = func(op string) error {
		if op == "Commit" {
			return boom
		}
		return nil
	}
	if err := m.Commit(t.Context(), state.Commit{Handled: []string{"x"}}); !errors.Is(err, boom) {
		t.Errorf("Commit = %v, want boom", err)
	}
	if _, err := m.Window(t.Context(), "fp"); err != nil {
		t.Errorf("Window = %v", err)
	}
}

var t0 = time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)

func TestDecide(t *testing.T) {
	lease := 5 * time.Minute
	sent := state.Window{Status: state.StatusSent, Owner: "evt:a", WindowEnd: t0.Add(time.Hour), Version: 1}
	pending := state.Window{Status: state.StatusPending, Owner: "evt:a", Token: "t", ClaimedAt: t0, WindowEnd: t0.Add(time.Hour), Version: 1}
	released := pending
	released.Status = state.StatusReleased
	cases := []struct {
		name  string
		w     state.Window
		owner string
		now   time.Time
		want  state.Action
	}{
		{"no window", state.Window{}, "evt:a", t0, state.ActionClaim},
		{"released", released, "evt:b", t0, state.ActionClaim},
		{"released, same owner retrying", released, "evt:a", t0, state.ActionClaim},
		{"pending by other, fresh", pending, "evt:b", t0.Add(time.Minute), state.ActionCount},
		{"pending by self, fresh", pending, "evt:a", t0.Add(time.Minute), state.ActionRetry},
		{"pending, lease over", pending, "evt:b", t0.Add(lease), state.ActionClaim},
		{"pending by self, lease over", pending, "evt:a", t0.Add(lease + time.Second), state.ActionClaim},
		{"sent, in window", sent, "evt:b", t0.Add(59 * time.Minute), state.ActionCount},
		{"sent, window over", sent, "evt:b", t0.Add(time.Hour), state.ActionClaim},
		{"sent by self", sent, "evt:a", t0.Add(time.Minute), state.ActionDone},
		{"sent by self, window over", sent, "evt:a", t0.Add(2 * time.Hour), state.ActionDone},
		{"unknown status", state.Window{Status: "future"}, "evt:a", t0, state.ActionClaim},
		// Written by someone else: a window that never ends, a claim from
		// the future. They must not silence the incident.
		{"sent, forged far window end", state.Window{Status: state.StatusSent, Owner: "evt:x", ClaimedAt: t0, WindowEnd: t0.AddDate(10, 0, 0), Version: 1}, "evt:b", t0.Add(time.Minute), state.ActionClaim},
		{"pending, forged future claim", state.Window{Status: state.StatusPending, Owner: "evt:x", ClaimedAt: t0.AddDate(1, 0, 0), Version: 1}, "evt:b", t0, state.ActionClaim},
		{"sent, window end within one window", state.Window{Status: state.StatusSent, Owner: "evt:x", ClaimedAt: t0, WindowEnd: t0.Add(time.Hour), Version: 1}, "evt:b", t0.Add(time.Second), state.ActionCount},
	}
	for _, c := range cases {
		if got := state.Decide(c.w, c.owner, c.now, lease, time.Hour); got != c.want {
			t.Errorf("%s: Decide = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestOwnerKey(t *testing.T) {
	if got := state.OwnerKey("e1", "fp", t0); got != "evt:e1" {
		t.Errorf("event owner = %q", got)
	}
	if got := state.OwnerKey("", "fp", t0); got != "agg:fp@"+strconv.FormatInt(t0.Unix(), 10) {
		t.Errorf("aggregate owner = %q", got)
	}
}
