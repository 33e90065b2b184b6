package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

const day = 24 * time.Hour

// ParseDuration parses a policy duration: a Go duration ("90s", "5m",
// "1h30m"), a number of days ("7d", "1.5d") or the bare number 0. Negative
// durations and bare numbers other than 0 are errors.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if s == "0" {
		return 0, nil
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		f, err := strconv.ParseFloat(n, 64)
		if err != nil || n == "" || strings.ContainsAny(n, "eEnNxXpP_+") {
			return 0, fmt.Errorf("duration %q: want a number of days like \"7d\"", s)
		}
		if f*float64(day) > math.MaxInt64 {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		return Duration(time.Duration(f * float64(day))), nil
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return 0, fmt.Errorf("duration %q has no unit (write e.g. \"90s\", \"5m\", \"24h\" or \"7d\")", s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want e.g. \"90s\", \"5m\", \"24h\" or \"7d\"", s)
	}
	return Duration(d), nil
}

// String formats d compactly: "7d", "1h", "1h30m", "90ms"; zero is "0s".
func (d Duration) String() string {
	t := time.Duration(d)
	switch {
	case t == 0:
		return "0s"
	case t < 0 || t%time.Second != 0:
		return t.String()
	}
	var b strings.Builder
	if days := t / day; days > 0 && t%day == 0 {
		return strconv.FormatInt(int64(days), 10) + "d"
	}
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := t / u.unit; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.name)
			t -= n * u.unit
		}
	}
	return b.String()
}

// UnmarshalYAML reads "90s", "5m", "24h", "7d" or 0; a negative duration is
// an error.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return fmt.Errorf("line %d: want a duration like \"5m\" or \"7d\"", n.Line)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML writes d in the compact form String returns.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON writes d as a compact string such as "1h" or "7d".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string ("1h", "1h0m0s", "7d") or the number 0.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "0" {
		*d = 0
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"5m\": %w", err)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
