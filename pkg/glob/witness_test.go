package glob

import (
	"testing"

	"pgregory.net/rapid"
)

func TestWitness(t *testing.T) {
	cases := []struct {
		a, b string
		want string // "" with ok false means no overlap
		ok   bool
	}{
		{"*", "*", "", true},
		{"*opus*", "arn:aws:bedrock:*::foundation-model/anthropic.*", "", true}, // shape checked below
		{"anthropic.claude-3-*", "*opus*", "anthropic.claude-3-opus", true},
		{"*x", "*y", "", false},
		{"*x*", "*y*", "", true},
		{"a?c", "abc", "abc", true},
		{"a?c", "a??c", "", false},
		{"amazon.*", "anthropic.*", "", false},
		{"us-*", "us-east-1", "us-east-1", true},
		{"", "", "", true},
		{"", "*", "", true},
		{"", "a", "", false},
	}
	for _, c := range cases {
		got, ok := Witness(c.a, c.b, 'x')
		if ok != c.ok {
			t.Errorf("Witness(%q, %q) ok = %v, want %v (got %q)", c.a, c.b, ok, c.ok, got)
			continue
		}
		if !ok {
			continue
		}
		if !Match(c.a, got) || !Match(c.b, got) {
			t.Errorf("Witness(%q, %q) = %q matches not both", c.a, c.b, got)
		}
		if c.want != "" && got != c.want {
			t.Errorf("Witness(%q, %q) = %q, want %q", c.a, c.b, got, c.want)
		}
	}
	// Fill shows where the patterns left a character free.
	if got, _ := Witness("a?c", "*", 'z'); got != "azc" {
		t.Errorf("fill not used: %q", got)
	}
}

// TestWitnessAgainstBruteForce compares with an exhaustive search over short
// strings: a witness exists exactly when some string matches both
// patterns, and it is never longer than the shortest such string.
func TestWitnessAgainstBruteForce(t *testing.T) {
	alphabet := []byte("ab*?")
	strAlphabet := []byte("abx")
	var all []string
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		all = append(all, prefix)
		if n == 0 {
			return
		}
		for _, c := range strAlphabet {
			gen(prefix+string(c), n-1)
		}
	}
	gen("", 7)
	rapid.Check(t, func(rt *rapid.T) {
		pat := func(label string) string {
			b := rapid.SliceOfN(rapid.SampledFrom(alphabet), 0, 4).Draw(rt, label)
			return string(b)
		}
		a, b := pat("a"), pat("b")
		shortest := -1
		for _, s := range all {
			if Match(a, s) && Match(b, s) && (shortest < 0 || len(s) < shortest) {
				shortest = len(s)
			}
		}
		got, ok := Witness(a, b, 'x')
		if ok != (shortest >= 0) {
			rt.Fatalf("Witness(%q, %q) ok=%v (%q), brute force shortest %d", a, b, ok, got, shortest)
		}
		if ok && len(got) != shortest {
			rt.Fatalf("Witness(%q, %q) = %q, want length %d", a, b, got, shortest)
		}
	})
}
