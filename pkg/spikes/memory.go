package spikes

import (
	"context"
	"sync"
	"time"
)

// MemoryStore is a Store in memory, with the semantics of counterdb.Store
// (distinct events per window and key, SetCap, alert markers): for tests,
// the benchmarks' local stand-in and anything that runs the analyzer
// without DynamoDB. Safe for concurrent use.
type MemoryStore struct {
	mu      sync.Mutex
	windows map[windowKey]*memCounter
	// Adds counts Add calls (each is one DynamoDB write per window in
	// counterdb, for up to 100 keys).
	Adds int
}

type memCounter struct {
	events  map[EventHash]struct{}
	beyond  int64
	alerted time.Time
	models  []Ranked
	ips     []Ranked
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{windows: map[windowKey]*memCounter{}}
}

func (m *MemoryStore) get(k Key, start time.Time) *memCounter {
	wk := windowKey{k, start.Unix()}
	c := m.windows[wk]
	if c == nil {
		c = &memCounter{events: map[EventHash]struct{}{}}
		m.windows[wk] = c
	}
	return c
}

// Add implements Store.
func (m *MemoryStore) Add(_ context.Context, wb WindowBatch) ([]Counter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Adds++
	out := make([]Counter, len(wb.Keys))
	for i, inc := range wb.Keys {
		c := m.get(inc.Key, wb.Start)
		o := &out[i]
		o.Models, o.IPs = c.models, c.ips
		if inc.Beyond {
			c.beyond += int64(len(inc.Events))
			o.New = int64(len(inc.Events))
		} else {
			for _, h := range inc.Events {
				if _, ok := c.events[h]; !ok {
					c.events[h] = struct{}{}
					o.New++
				}
			}
		}
		o.Count = int64(len(c.events)) + c.beyond
		c.models, c.ips = inc.Models, inc.IPs
	}
	return out, nil
}

// Counts implements Store.
func (m *MemoryStore) Counts(_ context.Context, key Key, starts []time.Time) ([]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int64, len(starts))
	for i, s := range starts {
		if c := m.windows[windowKey{key, s.Unix()}]; c != nil {
			out[i] = int64(len(c.events)) + c.beyond
		}
	}
	return out, nil
}

// Count returns key's count in the window starting at start.
func (m *MemoryStore) Count(key Key, start time.Time) int64 {
	n, _ := m.Counts(context.Background(), key, []time.Time{start})
	return n[0]
}

// MarkAlerted implements Store.
func (m *MemoryStore) MarkAlerted(_ context.Context, key Key, start, at time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.get(key, start)
	if !c.alerted.IsZero() {
		return false, nil
	}
	c.alerted = at
	return true, nil
}

// UnmarkAlerted implements Store.
func (m *MemoryStore) UnmarkAlerted(_ context.Context, key Key, start, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.windows[windowKey{key, start.Unix()}]; c != nil && c.alerted.Equal(at) {
		c.alerted = time.Time{}
	}
	return nil
}

// Alerted reports whether key's window is marked alerted.
func (m *MemoryStore) Alerted(key Key, start time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.windows[windowKey{key, start.Unix()}]
	return c != nil && !c.alerted.IsZero()
}
