//go:build race

package spikes

// raceEnabled: the race detector drops sync.Pool items at random, so
// allocation counts that rely on the pool do not hold under it.
const raceEnabled = true
