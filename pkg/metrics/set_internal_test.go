package metrics

import (
	"fmt"
	"testing"
)

// What a Set keeps across Reset is bounded: past 1,024 metrics (or 256 KiB
// of keys) Reset forgets them all; below, it keeps them.
func TestResetBoundsWhatItKeeps(t *testing.T) {
	var s Set
	for i := range maxRetainedMetrics {
		s.Add(Invocations, 1, Dimension{Name: DimModel, Value: fmt.Sprint(i)})
	}
	s.Reset()
	if len(s.data) != maxRetainedMetrics || len(s.index) != maxRetainedMetrics {
		t.Fatalf("kept %d metrics (%d indexed), want %d", len(s.data), len(s.index), maxRetainedMetrics)
	}
	s.Add(Invocations, 1, Dimension{Name: DimModel, Value: "one more"})
	s.Reset()
	if len(s.data) != 0 || len(s.index) != 0 || s.bytes != 0 {
		t.Fatalf("kept %d metrics (%d indexed, %d bytes) past the bound", len(s.data), len(s.index), s.bytes)
	}
	long := string(make([]byte, 1<<10))
	for i := range maxRetainedBytes>>10 + 1 {
		s.Add(Invocations, 1, Dimension{Name: DimModel, Value: fmt.Sprint(i, long)})
	}
	s.Reset()
	if len(s.data) != 0 {
		t.Fatalf("kept %d metrics of %d bytes past the byte bound", len(s.data), s.bytes)
	}
}
