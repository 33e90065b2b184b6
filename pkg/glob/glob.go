// Package glob matches strings against IAM-style wildcard patterns.
//
// The meaning is IAM's (StringLike, ArnLike, Action and Resource elements):
// '*' matches any run of characters, including none and including '/' and
// ':'; '?' matches exactly one character. Every other character matches
// itself. Matching runs in linear time with no allocation, so a compiled
// pattern is safe on a per-event hot path.
package glob

import (
	"strings"
	"sync"
)

// Pattern is a compiled wildcard pattern. The zero value matches only the
// empty string.
type Pattern struct {
	raw     string
	literal bool // no wildcard: compare as a string
}

// Compile returns the pattern for s. It never fails: every string is a
// valid pattern.
func Compile(s string) Pattern {
	return Pattern{raw: s, literal: !strings.ContainsAny(s, "*?")}
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.raw }

// Literal reports whether the pattern has no wildcard.
func (p Pattern) Literal() bool { return p.literal }

// Match reports whether s matches the pattern, case-sensitively (as IAM
// compares ARNs and condition values).
func (p Pattern) Match(s string) bool {
	if p.literal {
		return p.raw == s
	}
	return match(p.raw, s, false)
}

// MatchFold reports whether s matches the pattern ignoring ASCII case (as IAM
// compares action names).
func (p Pattern) MatchFold(s string) bool {
	if p.literal {
		return strings.EqualFold(p.raw, s)
	}
	return match(p.raw, s, true)
}

// Match reports whether s matches pattern; see Pattern.Match.
func Match(pattern, s string) bool { return Compile(pattern).Match(s) }

// match is the classic greedy wildcard algorithm with a single backtrack
// point: linear in len(p)+len(s) for patterns with only '*' and '?'.
func match(p, s string, fold bool) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && (p[pi] == '?' || eq(p[pi], s[si], fold)):
			if p[pi] == '?' {
				// '?' is one character: step over a whole UTF-8 sequence.
				si += runeLen(s[si])
			} else {
				si++
			}
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func eq(a, b byte, fold bool) bool {
	if a == b {
		return true
	}
	if !fold {
		return false
	}
	return lower(a) == lower(b)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func runeLen(b byte) int {
	switch {
	case b < 0x80:
		return 1
	case b>>5 == 0x6:
		return 2
	case b>>4 == 0xe:
		return 3
	case b>>3 == 0x1e:
		return 4
	}
	return 1
}

// Set is a list of compiled patterns; it matches when any member matches.
type Set []Pattern

// CompileSet compiles every pattern in list.
func CompileSet(list []string) Set {
	if len(list) == 0 {
		return nil
	}
	s := make(Set, len(list))
	for i, p := range list {
		s[i] = Compile(p)
	}
	return s
}

// Match reports whether any pattern in the set matches any of the values.
func (s Set) Match(values ...string) bool {
	for _, p := range s {
		for _, v := range values {
			if v != "" && p.Match(v) {
				return true
			}
		}
	}
	return false
}

// memoMax bounds how many distinct values a Memo remembers: a stream of
// ever-new values (attacker-chosen model ids, say) costs a match each,
// never memory.
const memoMax = 4096

// Memo answers "which pattern of the set matches first" from memory for
// values it has seen: the same few model ids and principal ARNs make up
// almost every event, so each is matched against the set once. It is
// safe for concurrent use.
type Memo struct {
	set  Set
	mu   sync.RWMutex
	seen map[string]int32
}

// NewMemo returns a Memo over s.
func NewMemo(s Set) *Memo {
	return &Memo{set: s, seen: make(map[string]int32)}
}

// Len returns the number of patterns.
func (m *Memo) Len() int {
	if m == nil {
		return 0
	}
	return len(m.set)
}

// Pattern returns pattern i.
func (m *Memo) Pattern(i int) Pattern { return m.set[i] }

// First returns the index of the first pattern matching v, or -1 (always
// -1 for an empty v, as Set.Match ignores empty values).
func (m *Memo) First(v string) int {
	if m == nil || v == "" || len(m.set) == 0 {
		return -1
	}
	m.mu.RLock()
	i, ok := m.seen[v]
	m.mu.RUnlock()
	if ok {
		return int(i)
	}
	i = -1
	for k, p := range m.set {
		if p.Match(v) {
			i = int32(k)
			break
		}
	}
	m.mu.Lock()
	if len(m.seen) < memoMax {
		// v may point into a record's buffer: keep a copy.
		m.seen[strings.Clone(v)] = i
	}
	m.mu.Unlock()
	return int(i)
}

// Match reports whether any pattern matches any of the values, as
// Set.Match.
func (m *Memo) Match(values ...string) bool {
	for _, v := range values {
		if m.First(v) >= 0 {
			return true
		}
	}
	return false
}
