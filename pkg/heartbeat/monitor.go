package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// MetricReader finds the end of the latest period in [start, end] in which
// the detector processed at least one event (EventsProcessed > 0); zero
// time when there is none.
type MetricReader interface {
	LastProcessed(ctx context.Context, start, end time.Time) (time.Time, error)
}

// Store keeps the monitor's State between checks. Save is conditional:
// it fails with ErrConflict when the stored version is not st.Version (a
// concurrent check saved first), and stores st with Version+1.
type Store interface {
	Load(ctx context.Context) (State, error)
	Save(ctx context.Context, st State) error
}

// ErrConflict reports a lost conditional save.
var ErrConflict = errors.New("heartbeat state changed concurrently")

// Notifier delivers findings (the alerter in production).
type Notifier interface {
	Notify(ctx context.Context, fs []findings.Finding) error
}

// Monitor runs the heartbeat check.
type Monitor struct {
	Policy   *policy.Policy
	Metrics  MetricReader
	Store    Store
	Notifier Notifier
	Region   string
	Account  string
	// Grace is the Observation's (zero: the package's Grace).
	Grace time.Duration
	Now   func() time.Time // time.Now when nil
	Log   *slog.Logger
}

// Lookback is how far back the metric is read: past idleAfter, so that an
// idle outage still knows when the detector last processed something.
func (m *Monitor) Lookback() time.Duration {
	idle := m.Policy.Heartbeat.IdleAfter.D()
	if idle <= 0 {
		idle = DefaultIdleAfter
	}
	return idle + time.Hour
}

// Check reads the metric, decides with lastActivity (the newest Bedrock
// event time CloudTrail showed; zero when none), notifies, then saves the
// state. The notification goes out before the save: if the save fails, the
// next check alerts again with the same fingerprint, which the alerter
// suppresses — at least once, never lost.
func (m *Monitor) Check(ctx context.Context, lastActivity time.Time) (Decision, error) {
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	t := now().UTC()
	st, err := m.Store.Load(ctx)
	if err != nil {
		return Decision{}, fmt.Errorf("heartbeat: load state: %w", err)
	}
	last, err := m.Metrics.LastProcessed(ctx, t.Add(-m.Lookback()), t)
	if err != nil {
		return Decision{}, fmt.Errorf("heartbeat: read EventsProcessed: %w", err)
	}
	d := Decide(m.Policy, Observation{Now: t, LastProcessed: last, LastActivity: lastActivity, Region: m.Region, Account: m.Account, Grace: m.Grace}, st)
	log := m.Log
	if log == nil {
		log = slog.Default()
	}
	log.InfoContext(ctx, "heartbeat", "status", d.Status, "lastProcessed", stamp(last), "lastActivity", stamp(lastActivity))
	var out []findings.Finding
	for _, f := range []*findings.Finding{d.Alert, d.Cleared} {
		if f != nil {
			log.WarnContext(ctx, "finding", "finding", *f) // the JSON contract of docs/findings.md
			out = append(out, *f)
		}
	}
	if len(out) > 0 && m.Notifier != nil {
		if err := m.Notifier.Notify(ctx, out); err != nil {
			return d, fmt.Errorf("heartbeat: notify: %w", err)
		}
	}
	// Write only when something changed: an alert, a clear, or the very
	// first check (Watching). A quiet check costs no write.
	if d.Next == st {
		return d, nil
	}
	if err := m.Store.Save(ctx, d.Next); err != nil {
		return d, fmt.Errorf("heartbeat: save state: %w", err)
	}
	return d, nil
}

// Memory is an in-process Store.
type Memory struct {
	mu sync.Mutex
	st State
}

// Load implements Store.
func (m *Memory) Load(context.Context) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st, nil
}

// Save implements Store.
func (m *Memory) Save(_ context.Context, st State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st.Version != m.st.Version {
		return fmt.Errorf("save version %d over %d: %w", st.Version, m.st.Version, ErrConflict)
	}
	st.Version++
	m.st = st
	return nil
}
