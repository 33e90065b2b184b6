// Package memstore is an in-process usage.Store and usage.Marks with the
// semantics of package usagedb (each digest applied once, marks taken and
// given back atomically), for unit tests and for properties moto cannot
// show, such as concurrent deliveries of the same batch.
package memstore

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bedrock-warden/warden/pkg/usage"
)

// Store holds counters, digests and marks in memory. The zero value is
// not ready: use New.
type Store struct {
	mu       sync.Mutex
	counters map[usage.Key]usage.Counters
	digests  map[string]bool
	marks    map[usage.Mark]mark
	// Adds counts Add calls (one per key per batch).
	Adds int
	// Fail, when set, is returned by every call (an outage).
	Fail error
}

type mark struct {
	sent bool
	at   time.Time
}

var (
	_ usage.Store = (*Store)(nil)
	_ usage.Marks = (*Store)(nil)
)

// New returns an empty Store.
func New() *Store {
	return &Store{counters: map[usage.Key]usage.Counters{}, digests: map[string]bool{}, marks: map[usage.Mark]mark{}}
}

// Add implements usage.Store.
func (s *Store) Add(_ context.Context, k usage.Key, c usage.Counters, digest string, _ time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return false, s.Fail
	}
	s.Adds++
	if s.digests[digest] {
		return false, nil
	}
	s.digests[digest] = true
	k.Start = k.Start.UTC()
	cur := s.counters[k]
	cur.Add(c)
	s.counters[k] = cur
	return true, nil
}

// Usage implements usage.Store.
func (s *Store) Usage(_ context.Context, period string, start time.Time, subject string) (map[string]usage.Counters, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return nil, s.Fail
	}
	out := map[string]usage.Counters{}
	for k, c := range s.counters {
		if k.Period == period && k.Start.Equal(start) && k.Subject == subject {
			out[k.Model] = c
		}
	}
	return out, nil
}

// List implements usage.Store.
func (s *Store) List(_ context.Context, period string, start time.Time) ([]usage.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return nil, s.Fail
	}
	var out []usage.Entry
	for k, c := range s.counters {
		if k.Period == period && k.Start.Equal(start) {
			out = append(out, usage.Entry{Subject: k.Subject, Model: k.Model, Counters: c})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return strings.Compare(out[i].Model, out[j].Model) < 0
	})
	return out, nil
}

// Begin implements usage.Marks.
func (s *Store) Begin(_ context.Context, m usage.Mark, now time.Time, lease time.Duration, _ time.Time) (usage.MarkState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return 0, s.Fail
	}
	m.Start = m.Start.UTC()
	cur, ok := s.marks[m]
	switch {
	case ok && cur.sent:
		return usage.MarkDone, nil
	case ok && now.Sub(cur.at) < lease:
		return usage.MarkBusy, nil
	}
	s.marks[m] = mark{at: now}
	return usage.MarkAcquired, nil
}

// Sent implements usage.Marks.
func (s *Store) Sent(_ context.Context, m usage.Mark) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return s.Fail
	}
	m.Start = m.Start.UTC()
	cur := s.marks[m]
	cur.sent = true
	s.marks[m] = cur
	return nil
}

// Abandon implements usage.Marks.
func (s *Store) Abandon(_ context.Context, m usage.Mark) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return s.Fail
	}
	m.Start = m.Start.UTC()
	delete(s.marks, m)
	return nil
}
