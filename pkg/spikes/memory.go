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
	// models and ips are the latest batch's snapshot, in the buffers
	// below unless longer than TopN.
	models, ips     []Ranked
	modelBuf, ipBuf [TopN]Ranked
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
		c.models, c.ips = c.modelBuf[:0], c.ipBuf[:0]
		m.windows[wk] = c
	}
	return c
}

// Add implements Store. It keeps copies of the batch's top lists, never
// wb's arrays, and returns copies of the snapshots it held, never its
// own arrays (they are overwritten by the next Add).
func (m *MemoryStore) Add(_ context.Context, wb WindowBatch) ([]Counter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Adds++
	held := 0
	for _, inc := range wb.Keys {
		c := m.get(inc.Key, wb.Start)
		held += len(c.models) + len(c.ips)
	}
	out, room := addOutput(len(wb.Keys), held)
	for i, inc := range wb.Keys {
		c := m.get(inc.Key, wb.Start)
		o := &out[i]
		o.Models, room = keep(room, c.models)
		o.IPs, room = keep(room, c.ips)
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
		c.models = append(c.models[:0], inc.Models...)
		c.ips = append(c.ips[:0], inc.IPs...)
	}
	return out, nil
}

// smallAdd is the output of an Add of up to two keys (a one-event batch:
// its principal and its model) in one allocation: the counters and room
// for their snapshots.
type smallAdd struct {
	counters [2]Counter
	ranked   [2 * 2 * TopN]Ranked
}

// addOutput returns keys counters and room for ranked snapshot entries.
func addOutput(keys, ranked int) ([]Counter, []Ranked) {
	if keys <= len(smallAdd{}.counters) && ranked <= len(smallAdd{}.ranked) {
		s := new(smallAdd)
		return s.counters[:keys], s.ranked[:0]
	}
	return make([]Counter, keys), make([]Ranked, 0, ranked)
}

// keep appends rs to room, which has the space, and returns the copy (nil
// when rs is empty) and the longer room.
func keep(room, rs []Ranked) (kept, grown []Ranked) {
	if len(rs) == 0 {
		return nil, room
	}
	n := len(room)
	room = append(room, rs...)
	return room[n:len(room):len(room)], room
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
