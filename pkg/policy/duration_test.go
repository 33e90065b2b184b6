package policy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"0":     0,
		"0s":    0,
		"90s":   90 * time.Second,
		"5m":    5 * time.Minute,
		"24h":   24 * time.Hour,
		"1h30m": 90 * time.Minute,
		"7d":    7 * 24 * time.Hour,
		"1.5d":  36 * time.Hour,
		"250ms": 250 * time.Millisecond,
	}
	for in, want := range good {
		got, err := ParseDuration(in)
		if err != nil || got.D() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got.D(), err, want)
		}
	}
	bad := []string{"", "-1h", "-0s", "5", "1.5", "d", "xd", "1e3d", "infd", "nand", "0x10d", "5 minutes", "1y", "99999999999999d"}
	for _, in := range bad {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got.D())
		}
	}
}

func TestDurationString(t *testing.T) {
	tests := map[time.Duration]string{
		0:                              "0s",
		time.Hour:                      "1h",
		90 * time.Second:               "1m30s",
		90 * time.Minute:               "1h30m",
		7 * 24 * time.Hour:             "7d",
		25 * time.Hour:                 "25h",
		24*time.Hour + time.Second:     "24h1s",
		1500 * time.Millisecond:        "1.5s",
		3*time.Hour + 5*time.Second:    "3h5s",
		48*time.Hour + 30*time.Minute:  "48h30m",
		-time.Minute:                   "-1m0s",
		2*24*time.Hour + 0*time.Minute: "2d",
	}
	for d, want := range tests {
		if got := Duration(d).String(); got != want {
			t.Errorf("Duration(%v).String() = %q, want %q", d, got, want)
		}
		if d < 0 {
			continue
		}
		back, err := ParseDuration(Duration(d).String())
		if err != nil || back.D() != d {
			t.Errorf("ParseDuration(String(%v)) = %v, %v", d, back.D(), err)
		}
	}
}

func TestDurationYAML(t *testing.T) {
	var v struct {
		D Duration `yaml:"d"`
	}
	for in, want := range map[string]time.Duration{"d: 7d": 7 * 24 * time.Hour, "d: 0": 0, "d: 90s": 90 * time.Second, `d: "5m"`: 5 * time.Minute} {
		if err := yaml.Unmarshal([]byte(in), &v); err != nil || v.D.D() != want {
			t.Errorf("yaml %q: %v, %v; want %v", in, v.D.D(), err, want)
		}
	}
	for _, in := range []string{"d: -5m", "d: 10", "d: [1]", "d: soon"} {
		if err := yaml.Unmarshal([]byte(in), &v); err == nil {
			t.Errorf("yaml %q accepted as %v", in, v.D.D())
		}
	}
	v.D = Duration(time.Hour)
	out, err := yaml.Marshal(v)
	if err != nil || strings.TrimSpace(string(out)) != "d: 1h" {
		t.Errorf("yaml.Marshal = %q, %v; want \"d: 1h\"", out, err)
	}
}

func TestDurationJSON(t *testing.T) {
	b, err := json.Marshal(Duration(time.Hour))
	if err != nil || string(b) != `"1h"` {
		t.Errorf("MarshalJSON = %s, %v; want \"1h\"", b, err)
	}
	for in, want := range map[string]time.Duration{`"1h0m0s"`: time.Hour, `"7d"`: 7 * 24 * time.Hour, `0`: 0, `"0s"`: 0} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || d.D() != want {
			t.Errorf("UnmarshalJSON(%s) = %v, %v; want %v", in, d.D(), err, want)
		}
	}
	for _, in := range []string{`"-1h"`, `3600`, `true`, `"x"`} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("UnmarshalJSON(%s) accepted as %v", in, d.D())
		}
	}
}
