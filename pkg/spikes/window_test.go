package spikes

import (
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/policy"
	"pgregory.net/rapid"
)

func TestWindowStartProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		sec := rapid.Int64Range(0, 4_000_000_000).Draw(t, "sec")
		nano := rapid.Int64Range(0, 999_999_999).Draw(t, "nano")
		w := time.Duration(rapid.SampledFrom([]int{1, 5, 10, 15, 60, 1440}).Draw(t, "minutes")) * time.Minute
		zone := time.FixedZone("z", rapid.IntRange(-12, 14).Draw(t, "offset")*3600)
		ts := time.Unix(sec, nano).In(zone)

		s := WindowStart(ts, w)
		if s.Location() != time.UTC {
			t.Fatalf("window start %v not in UTC", s)
		}
		if s.After(ts) || !ts.Before(s.Add(w)) {
			t.Fatalf("%v not in window [%v, %v)", ts, s, s.Add(w))
		}
		if s.Unix()%int64(w/time.Second) != 0 {
			t.Fatalf("window start %v not aligned on %v", s, w)
		}
		if got := WindowStart(s, w); !got.Equal(s) {
			t.Fatalf("WindowStart not idempotent: %v → %v", s, got)
		}
		if got := WindowStart(s.Add(w-time.Nanosecond), w); !got.Equal(s) {
			t.Fatalf("last instant of window maps to %v, want %v", got, s)
		}
	})
}

func TestWindowLengthDefault(t *testing.T) {
	if got := WindowLength(policy.SpikeSettings{}); got != 5*time.Minute {
		t.Fatalf("zero window = %v, want 5m", got)
	}
	if got := WindowLength(policy.SpikeSettings{Window: policy.Duration(10 * time.Minute)}); got != 10*time.Minute {
		t.Fatalf("window = %v, want 10m", got)
	}
}

func TestPreviousWindows(t *testing.T) {
	start := time.Date(2026, 1, 2, 0, 5, 0, 0, time.UTC)
	got := PreviousWindows(start, 5*time.Minute, 3)
	want := []time.Time{
		time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 23, 55, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 23, 50, 0, 0, time.UTC),
	}
	if len(got) != len(want) {
		t.Fatalf("got %d windows, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Fatalf("window %d = %v, want %v", i, got[i], want[i])
		}
	}
	if PreviousWindows(start, 5*time.Minute, 0) != nil {
		t.Fatal("n=0 should give no windows")
	}
}

func TestMeanCountsMissingWindowsAsZero(t *testing.T) {
	if got := Mean([]int64{10, 20}, 4); got != 7.5 {
		t.Fatalf("Mean = %v, want 7.5", got)
	}
	if got := Mean([]int64{10, 20, 30}, 2); got != 15 {
		t.Fatalf("Mean uses only n entries: got %v, want 15", got)
	}
	if got := Mean(nil, 0); got != 0 {
		t.Fatalf("Mean(n=0) = %v", got)
	}
}

// Property: a count at or below the floor never trips the baseline test,
// whatever the history, and with no static maximum nothing trips.
func TestNoAlertAtOrBelowFloor(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		floor := rapid.Int64Range(0, 10_000).Draw(t, "floor")
		th := Threshold{
			BaselineFactor:  rapid.Float64Range(0.1, 100).Draw(t, "factor"),
			BaselineWindows: rapid.IntRange(1, 48).Draw(t, "windows"),
			Floor:           floor,
		}
		count := rapid.Int64Range(0, floor).Draw(t, "count")
		history := rapid.SliceOfN(rapid.Int64Range(0, 100_000), 0, 48).Draw(t, "history")
		if th.NeedsBaseline(count) {
			t.Fatalf("count %d ≤ floor %d needs a baseline read", count, floor)
		}
		if v := Evaluate(count, th, history); v.Tripped {
			t.Fatalf("count %d ≤ floor %d tripped: %+v", count, floor, v)
		}
	})
}

// Property: the static maximum trips exactly when count > max.
func TestMaxTripsExactlyAboveMax(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		th := Threshold{Max: rapid.Int64Range(1, 1_000_000).Draw(t, "max")}
		count := rapid.Int64Range(0, 2_000_000).Draw(t, "count")
		v := Evaluate(count, th, nil)
		if v.Tripped != (count > th.Max) {
			t.Fatalf("count %d max %d: tripped=%v", count, th.Max, v.Tripped)
		}
		if v.Tripped && (v.Kind != KindMax || v.Limit != float64(th.Max)) {
			t.Fatalf("verdict %+v, want kind max limit %d", v, th.Max)
		}
	})
}

// Property: above the floor and under the maximum, the baseline test trips
// exactly when count > factor × mean(previous N windows).
func TestBaselineTripsAboveFactorTimesMean(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 24).Draw(t, "windows")
		th := Threshold{
			BaselineFactor:  float64(rapid.IntRange(1, 10).Draw(t, "factor")),
			BaselineWindows: n,
			Floor:           rapid.Int64Range(0, 100).Draw(t, "floor"),
		}
		history := rapid.SliceOfN(rapid.Int64Range(0, 1000), 0, n).Draw(t, "history")
		count := rapid.Int64Range(th.Floor+1, 20_000).Draw(t, "count")
		var sum int64
		for _, h := range history {
			sum += h
		}
		// count > factor*sum/n  ⇔  count*n > factor*sum (all integers here).
		want := count*int64(n) > int64(th.BaselineFactor)*sum
		v := Evaluate(count, th, history)
		if v.Tripped != want {
			t.Fatalf("count %d history %v factor %v: tripped=%v want %v (%+v)", count, history, th.BaselineFactor, v.Tripped, want, v)
		}
		if v.Tripped && v.Kind != KindBaseline {
			t.Fatalf("kind = %q, want baseline", v.Kind)
		}
		if wantMean := float64(sum) / float64(n); v.Baseline != wantMean {
			t.Fatalf("baseline = %v, want %v", v.Baseline, wantMean)
		}
	})
}

func TestMaxReportedWhenBothTrip(t *testing.T) {
	th := Threshold{Max: 100, BaselineFactor: 2, BaselineWindows: 3, Floor: 10}
	if th.NeedsBaseline(101) {
		t.Fatal("no baseline read needed once the maximum tripped")
	}
	v := Evaluate(101, th, []int64{1, 1, 1})
	if !v.Tripped || v.Kind != KindMax {
		t.Fatalf("verdict %+v, want max", v)
	}
}

func TestOverridesWin(t *testing.T) {
	s := policy.SpikeSettings{
		PerPrincipal: policy.SpikeThreshold{Max: 500, BaselineFactor: 5, BaselineWindows: 12, Floor: 50},
		Overrides: []policy.SpikeOverride{
			{Principal: "arn:aws:iam::*:role/batch-*", Max: 20000},
			{Principal: "arn:aws:iam::*:role/*", Max: 7},
		},
	}
	got := PrincipalThreshold(s, "arn:aws:iam::123456789012:role/batch-nightly")
	if got.Max != 20000 || got.BaselineFactor != 0 || got.Source != `overrides["arn:aws:iam::*:role/batch-*"]` {
		t.Fatalf("batch role threshold = %+v, want the first override, replacing perPrincipal", got)
	}
	if got := PrincipalThreshold(s, "arn:aws:iam::123456789012:role/app"); got.Max != 7 {
		t.Fatalf("second override not applied: %+v", got)
	}
	if got := PrincipalThreshold(s, "arn:aws:iam::123456789012:user/alice"); got.Max != 500 || got.Floor != 50 || got.Source != "perPrincipal" {
		t.Fatalf("user threshold = %+v, want perPrincipal", got)
	}
}

// Property: for any principal matching an override, the override's maximum
// decides, not perPrincipal's.
func TestOverridesWinProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base := rapid.Int64Range(1, 1000).Draw(t, "perPrincipalMax")
		over := rapid.Int64Range(1, 100_000).Draw(t, "overrideMax")
		name := rapid.StringMatching(`[a-z0-9-]{1,20}`).Draw(t, "name")
		s := policy.SpikeSettings{
			PerPrincipal: policy.SpikeThreshold{Max: base},
			Overrides:    []policy.SpikeOverride{{Principal: "arn:aws:iam::*:role/batch-*", Max: over}},
		}
		arn := "arn:aws:iam::123456789012:role/batch-" + name
		count := rapid.Int64Range(0, 200_000).Draw(t, "count")
		v := Evaluate(count, PrincipalThreshold(s, arn), nil)
		if v.Tripped != (count > over) {
			t.Fatalf("count %d override max %d perPrincipal max %d: tripped=%v", count, over, base, v.Tripped)
		}
	})
}

func TestFormatWindow(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Minute: "5m", time.Hour: "1h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s", 45 * time.Second: "45s", 2*time.Hour + 30*time.Second: "2h0m30s",
	} {
		if got := FormatWindow(d); got != want {
			t.Errorf("FormatWindow(%v) = %q, want %q", d, got, want)
		}
	}
}
