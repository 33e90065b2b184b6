package state

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Memory is an in-process Store with the same conditional semantics as the
// DynamoDB store. It serves unit tests and the CLI.
type Memory struct {
	mu      sync.Mutex
	handled map[string]time.Time
	windows map[string]Window
	// Fail, when set, is consulted before every operation ("Handled",
	// "Window", "Claim", "Release", "Commit"); a non-nil result is
	// returned as that operation's error. Tests use it to simulate an
	// outage.
	Fail func(op string) error
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{handled: map[string]time.Time{}, windows: map[string]Window{}}
}

var _ Store = (*Memory)(nil)

func (m *Memory) fail(op string) error {
	if m.Fail != nil {
		if err := m.Fail(op); err != nil {
			return fmt.Errorf("memory state %s: %w", op, err)
		}
	}
	return nil
}

// Handled implements Store.
func (m *Memory) Handled(_ context.Context, ids []string) (map[string]bool, error) {
	if err := m.fail("Handled"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]bool{}
	for _, id := range ids {
		if _, ok := m.handled[id]; ok {
			out[id] = true
		}
	}
	return out, nil
}

// Window implements Store.
func (m *Memory) Window(_ context.Context, fingerprint string) (Window, error) {
	if err := m.fail("Window"); err != nil {
		return Window{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.windows[fingerprint]
	if !ok {
		return Window{Fingerprint: fingerprint}, nil
	}
	return w, nil
}

// Claim implements Store.
func (m *Memory) Claim(_ context.Context, c Claim) (Window, error) {
	if err := m.fail("Claim"); err != nil {
		return Window{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.windows[c.Fingerprint]
	if w.Version != c.PrevVersion {
		return Window{}, ErrConflict
	}
	w.Fingerprint, w.Rule = c.Fingerprint, c.Rule
	w.Status, w.Owner, w.Token = StatusPending, c.Owner, c.Token
	w.ClaimedAt, w.WindowEnd = c.Now, c.Now.Add(c.Window)
	w.Reporting = w.Count
	w.Version++
	m.windows[c.Fingerprint] = w
	return w, nil
}

// Release implements Store.
func (m *Memory) Release(_ context.Context, fingerprint, token string) error {
	if err := m.fail("Release"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.windows[fingerprint]
	if !ok || w.Status != StatusPending || w.Token != token {
		return nil
	}
	w.Status, w.Token = StatusReleased, ""
	m.windows[fingerprint] = w
	return nil
}

// Commit implements Store.
func (m *Memory) Commit(_ context.Context, c Commit) error {
	if err := m.fail("Commit"); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Check every condition first: all or nothing.
	for _, s := range c.Sent {
		w, ok := m.windows[s.Fingerprint]
		if !ok || w.Status != StatusPending || w.Token != s.Token {
			return fmt.Errorf("mark %s sent: %w", s.Fingerprint, ErrConflict)
		}
	}
	for fp := range c.Counts {
		if _, ok := m.windows[fp]; !ok {
			return fmt.Errorf("count %s: %w", fp, ErrConflict)
		}
	}
	for _, id := range c.Handled {
		if _, ok := m.handled[id]; ok {
			return fmt.Errorf("mark event %s handled: %w", id, ErrConflict)
		}
	}
	for _, s := range c.Sent {
		w := m.windows[s.Fingerprint]
		w.Status, w.Token = StatusSent, ""
		w.Count -= s.Reported
		w.Reporting = 0
		w.Alerts++
		m.windows[s.Fingerprint] = w
	}
	for fp, n := range c.Counts {
		w := m.windows[fp]
		w.Count += n
		m.windows[fp] = w
	}
	for _, id := range c.Handled {
		m.handled[id] = c.Now
	}
	return nil
}
