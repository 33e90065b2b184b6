//go:build !race

package spikes

const raceEnabled = false
