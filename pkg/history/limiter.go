package history

import (
	"context"
	"sync"
	"time"
)

// Clock is the time source of the limiter and the backoff; tests pass a
// fake one.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx ends, returning ctx.Err() then.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits for d, or until ctx is done.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DefaultRate is CloudTrail's LookupEvents quota: two requests per second
// per account and Region.
const DefaultRate = 2

// Limiter spaces requests so that no half-open one-second window holds
// more than Rate of them: a token bucket of depth one refilled every
// 1s/Rate. Safe for concurrent use; callers queue in arrival order of
// their reservations.
type Limiter struct {
	clock    Clock
	interval time.Duration

	mu   sync.Mutex
	next time.Time // earliest time the next request may go
}

// NewLimiter returns a limiter allowing rate requests per second (rate ≤ 0
// means DefaultRate) on clock (nil means RealClock).
func NewLimiter(rate int, clock Clock) *Limiter {
	if rate <= 0 {
		rate = DefaultRate
	}
	if clock == nil {
		clock = RealClock{}
	}
	return &Limiter{clock: clock, interval: time.Second / time.Duration(rate)}
}

// Wait blocks until the caller may send one request, or ctx ends.
func (l *Limiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	now := l.clock.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.interval)
	l.mu.Unlock()
	return l.clock.Sleep(ctx, at.Sub(now))
}

// Backoff computes retry delays: full jitter over an exponential ceiling,
// Base·2^attempt capped at Max.
type Backoff struct {
	Base time.Duration // default 500ms
	Max  time.Duration // default 20s
	// Rand returns a value in [0, 1); nil uses a fixed 0.5 (deterministic).
	// Production passes math/rand/v2's Float64.
	Rand func() float64
}

// Delay returns the wait before retry number attempt (0 for the first
// retry).
func (b Backoff) Delay(attempt int) time.Duration {
	base, ceil := b.Base, b.Max
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	if ceil <= 0 {
		ceil = 20 * time.Second
	}
	d := base
	for i := 0; i < attempt && d < ceil; i++ {
		d *= 2
	}
	if d > ceil {
		d = ceil
	}
	f := 0.5
	if b.Rand != nil {
		f = b.Rand()
	}
	// Never zero: a throttled caller must actually wait.
	return time.Duration(float64(d)*f) + base/2
}
