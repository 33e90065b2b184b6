package remediation

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ModeParameter returns the SSM parameter name of stack's mode toggle.
func ModeParameter(stack string) string {
	return "/bedrock-warden/" + stack + "/remediation/mode"
}

// ModeStore reads and writes the raw toggle value; found is false when the
// parameter does not exist.
type ModeStore interface {
	GetMode(ctx context.Context) (value string, found bool, err error)
	SetMode(ctx context.Context, m Mode) error
}

// ModeCacheTTL is the longest a cached mode is used: a flip takes effect
// within it.
const ModeCacheTTL = 30 * time.Second

// ModeCache reads the mode through a cache of at most TTL (ModeCacheTTL
// when zero). A missing parameter means DefaultMode; an unreadable or
// unknown value means dry-run (never enforce on a value nobody meant) and
// is logged. Safe for concurrent use.
type ModeCache struct {
	Store ModeStore
	TTL   time.Duration
	Now   Clock
	Log   *slog.Logger

	mu      sync.Mutex
	mode    Mode
	fetched time.Time
	valid   bool
}

// Mode returns the current mode.
func (c *ModeCache) Mode(ctx context.Context) (Mode, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	ttl := c.TTL
	if ttl <= 0 || ttl > ModeCacheTTL {
		ttl = ModeCacheTTL
	}
	if c.valid && now.Sub(c.fetched) < ttl && !now.Before(c.fetched) {
		return c.mode, nil
	}
	v, found, err := c.Store.GetMode(ctx)
	if err != nil {
		return "", fmt.Errorf("read remediation mode: %w", err)
	}
	m := DefaultMode
	if found {
		var ok bool
		if m, ok = ParseMode(v); !ok {
			m = ModeDryRun
			c.logger().Warn("unknown remediation mode value; using dry-run", "value", v)
		}
	}
	c.mode, c.fetched, c.valid = m, now, true
	return m, nil
}

// Invalidate drops the cached value.
func (c *ModeCache) Invalidate() {
	c.mu.Lock()
	c.valid = false
	c.mu.Unlock()
}

func (c *ModeCache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *ModeCache) logger() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}
