package recon

import (
	"context"
	"sync"
	"time"

	"github.com/bedrock-warden/warden/pkg/rules"
)

// MemoryStore is a Store in memory, for tests. It counts the calls made to
// it, so tests can hold the analyzer to its read budget.
type MemoryStore struct {
	mu      sync.Mutex
	marks   map[memKey]rules.Mark
	Reads   int
	Writes  int
	FailErr error // returned by every call when set
}

type memKey struct {
	key    rules.MarkKey
	window time.Duration
}

// Marks returns the marks held among keys.
func (s *MemoryStore) Marks(_ context.Context, keys []rules.MarkKey, window time.Duration) ([]rules.Mark, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Reads++
	if s.FailErr != nil {
		return nil, s.FailErr
	}
	var out []rules.Mark
	for _, k := range keys {
		if m, ok := s.marks[memKey{k, window}]; ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// Record folds m into the held mark.
func (s *MemoryStore) Record(_ context.Context, m rules.Mark, window time.Duration, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Writes++
	if s.FailErr != nil {
		return s.FailErr
	}
	if s.marks == nil {
		s.marks = map[memKey]rules.Mark{}
	}
	k := memKey{m.MarkKey, window}
	cur, ok := s.marks[k]
	if !ok {
		s.marks[k] = m
		return nil
	}
	if m.First.Before(cur.First) {
		cur.First = m.First
	}
	if m.Last.After(cur.Last) {
		cur.Last, cur.EventID = m.Last, m.EventID
	}
	for _, c := range m.Calls {
		found := false
		for _, h := range cur.Calls {
			found = found || h == c
		}
		if !found {
			cur.Calls = append(cur.Calls, c)
		}
	}
	s.marks[k] = cur
	return nil
}
