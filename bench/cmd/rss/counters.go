package main

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/bedrock-warden/warden/pkg/spikes"
)

// counters is an in-memory spikes.Store: the local stand-in for the
// DynamoDB counter table (pkg/spikes/counterdb), so that the spike
// analyzer runs in the handler as it does in the Lambda.
type counters struct {
	mu sync.Mutex
	m  map[counterKey]*spikeCounter
}

type counterKey struct {
	key   spikes.Key
	start int64 // window start, Unix seconds
}

type spikeCounter struct {
	count   int64
	alerted time.Time
	tokens  map[int]string
	models  map[string]int64
	ips     map[string]int64
}

func newCounters() *counters { return &counters{m: map[counterKey]*spikeCounter{}} }

func (c *counters) get(k spikes.Key, start time.Time) *spikeCounter {
	ck := counterKey{k, start.Unix()}
	e := c.m[ck]
	if e == nil {
		e = &spikeCounter{tokens: map[int]string{}, models: map[string]int64{}, ips: map[string]int64{}}
		c.m[ck] = e
	}
	return e
}

func (e *spikeCounter) view(replayed bool) spikes.Counter {
	return spikes.Counter{Count: e.count, Alerted: !e.alerted.IsZero(), Replayed: replayed,
		Models: maps.Clone(e.models), IPs: maps.Clone(e.ips)}
}

// Add implements spikes.Store.
func (c *counters) Add(_ context.Context, inc spikes.Increment) (spikes.Counter, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.get(inc.Key, inc.WindowStart)
	if inc.Token != "" && e.tokens[inc.TokenSlot] == inc.Token {
		return e.view(true), nil
	}
	if inc.Token != "" {
		e.tokens[inc.TokenSlot] = inc.Token
	}
	e.count += inc.Count
	for k, v := range inc.Models {
		e.models[k] += v
	}
	for k, v := range inc.IPs {
		e.ips[k] += v
	}
	return e.view(false), nil
}

// Counts implements spikes.Store.
func (c *counters) Counts(_ context.Context, key spikes.Key, starts []time.Time) ([]int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]int64, len(starts))
	for i, s := range starts {
		if e := c.m[counterKey{key, s.Unix()}]; e != nil {
			out[i] = e.count
		}
	}
	return out, nil
}

// MarkAlerted implements spikes.Store.
func (c *counters) MarkAlerted(_ context.Context, key spikes.Key, start, at time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.get(key, start)
	if !e.alerted.IsZero() {
		return false, nil
	}
	e.alerted = at
	return true, nil
}

// UnmarkAlerted implements spikes.Store.
func (c *counters) UnmarkAlerted(_ context.Context, key spikes.Key, start, at time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[counterKey{key, start.Unix()}]; e != nil && e.alerted.Equal(at) {
		e.alerted = time.Time{}
	}
	return nil
}
