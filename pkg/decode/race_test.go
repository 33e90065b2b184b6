//go:build race

package decode

// raceEnabled: the race detector is on. sync.Pool then drops what is put
// back at random, so allocation counts of pooled paths are not asserted.
const raceEnabled = true
