// Package spikes detects invocation spikes (rule invocation-spike): it counts
// Bedrock invocations per principal and per base model in fixed windows and
// compares each window's count with a static maximum and with a baseline
// built from the previous windows.
//
// The window and threshold maths in this file are pure. The Analyzer (see
// analyzer.go) applies them to batches of normalised events, keeping the
// counters in a Store; package counterdb implements the Store on DynamoDB.
package spikes

import (
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/glob"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// DefaultWindow is the window length used when spikes.window is zero.
const DefaultWindow = 5 * time.Minute

// Threshold kinds reported in a Verdict and in a finding's details.
const (
	KindMax      = "max"
	KindBaseline = "baseline"
)

// WindowLength returns spikes.window, or DefaultWindow when it is zero or
// negative.
func WindowLength(s policy.SpikeSettings) time.Duration {
	if s.Window.D() <= 0 {
		return DefaultWindow
	}
	return s.Window.D()
}

// WindowStart returns the start of the fixed window of length w holding t,
// in UTC. Windows are aligned on the Unix epoch, so for any w that divides a
// day they start at the same wall-clock times every day (00:00, 00:05, …).
// A non-positive w is treated as DefaultWindow.
func WindowStart(t time.Time, w time.Duration) time.Time {
	if w <= 0 {
		w = DefaultWindow
	}
	return t.UTC().Truncate(w)
}

// FormatWindow writes a window length the way the policy does: "5m", "1h",
// "1h30m", "90s" (time.Duration's form without trailing zero units).
func FormatWindow(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// PreviousWindows returns the starts of the n windows before the window
// starting at start, most recent first.
func PreviousWindows(start time.Time, w time.Duration, n int) []time.Time {
	if n <= 0 {
		return nil
	}
	out := make([]time.Time, n)
	for i := range out {
		out[i] = start.Add(-time.Duration(i+1) * w)
	}
	return out
}

// Threshold is a resolved spike threshold. Zero fields are off: Max 0 means
// no static maximum; BaselineFactor 0 or BaselineWindows 0 means no baseline
// test.
type Threshold struct {
	Max             int64   `json:"max,omitempty"`
	BaselineFactor  float64 `json:"baselineFactor,omitempty"`
	BaselineWindows int     `json:"baselineWindows,omitempty"`
	Floor           int64   `json:"floor,omitempty"`
	// Source says where the threshold came from: "perPrincipal",
	// "perModel" or `overrides["<glob>"]`.
	Source string `json:"source"`
}

// Enabled reports whether any test is on.
func (t Threshold) Enabled() bool { return t.Max > 0 || t.baselineOn() }

func (t Threshold) baselineOn() bool { return t.BaselineFactor > 0 && t.BaselineWindows > 0 }

// NeedsBaseline reports whether judging count requires the previous windows'
// counts: the baseline test is on, the count is above the floor, and the
// static maximum has not already tripped. Keys below the floor therefore
// cost no reads.
func (t Threshold) NeedsBaseline(count int64) bool {
	if t.Max > 0 && count > t.Max {
		return false
	}
	return t.baselineOn() && count > t.Floor
}

// PrincipalThreshold returns the threshold for principal arn: the first
// spikes.overrides entry whose principal glob matches (in list order), which
// replaces spikes.perPrincipal entirely, else spikes.perPrincipal.
func PrincipalThreshold(s policy.SpikeSettings, arn string) Threshold {
	for _, o := range s.Overrides {
		if glob.Match(o.Principal, arn) {
			return Threshold{
				Max: o.Max, BaselineFactor: o.BaselineFactor, BaselineWindows: o.BaselineWindows, Floor: o.Floor,
				Source: `overrides["` + o.Principal + `"]`,
			}
		}
	}
	return fromPolicy(s.PerPrincipal, "perPrincipal")
}

// ModelThreshold returns spikes.perModel.
func ModelThreshold(s policy.SpikeSettings) Threshold {
	return fromPolicy(s.PerModel, "perModel")
}

func fromPolicy(t policy.SpikeThreshold, source string) Threshold {
	return Threshold{Max: t.Max, BaselineFactor: t.BaselineFactor, BaselineWindows: t.BaselineWindows, Floor: t.Floor, Source: source}
}

// Verdict is the outcome of judging one window's count.
type Verdict struct {
	Tripped bool
	// Kind is KindMax or KindBaseline when Tripped.
	Kind string
	// Limit is the value the count exceeded: Max, or BaselineFactor ×
	// Baseline (when Kind is baseline).
	Limit float64
	// Baseline is the mean of the previous windows' counts (0 when the
	// baseline test did not run).
	Baseline float64
}

// Mean returns the mean of history over n windows: windows missing from
// history (no item: nothing was counted) count as zero. It returns 0 when
// n <= 0. Only the first n entries of history are used.
func Mean(history []int64, n int) float64 {
	if n <= 0 {
		return 0
	}
	var sum float64
	for i, c := range history {
		if i >= n {
			break
		}
		sum += float64(c)
	}
	return sum / float64(n)
}

// Evaluate judges a window's count against t. history holds the previous
// windows' counts (most recent first; missing windows as zero or absent);
// it is only read when t.NeedsBaseline(count).
//
// The static maximum trips when count > Max. The baseline test trips when
// count > Floor and count > BaselineFactor × Mean(history,
// BaselineWindows). When both would trip, the verdict reports the maximum.
func Evaluate(count int64, t Threshold, history []int64) Verdict {
	if t.Max > 0 && count > t.Max {
		return Verdict{Tripped: true, Kind: KindMax, Limit: float64(t.Max)}
	}
	if !t.NeedsBaseline(count) {
		return Verdict{}
	}
	mean := Mean(history, t.BaselineWindows)
	limit := t.BaselineFactor * mean
	if float64(count) > limit {
		return Verdict{Tripped: true, Kind: KindBaseline, Limit: limit, Baseline: mean}
	}
	return Verdict{Baseline: mean}
}
