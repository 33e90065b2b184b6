package normalize

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
)

// The normaliser reads four or five members out of requestParameters and
// additionalEventData on every event. encoding/json costs about five
// allocations a call for that; this small scanner walks the top level of
// an object without allocating and copies out only the strings it keeps.
// It is lenient: members read before a syntax error are kept, the rest are
// ignored, and it never fails or panics.

// members iterates over the top-level members of a JSON object.
type members struct {
	data  []byte
	pos   int
	first bool
	ok    bool
}

// newMembers starts iterating raw; next reports nothing when raw is not an
// object.
func newMembers(raw []byte) members {
	m := members{data: raw, first: true}
	m.pos = skipSpace(raw, 0)
	m.ok = m.pos < len(raw) && raw[m.pos] == '{'
	m.pos++
	return m
}

// next returns the next member: its key (between the quotes, escapes left
// as written) and its raw value. ok is false at the end or at the first
// syntax error.
func (m *members) next() (key, val []byte, ok bool) {
	if !m.ok {
		return nil, nil, false
	}
	d := m.data
	i := skipSpace(d, m.pos)
	if i < len(d) && d[i] == '}' {
		m.ok = false
		return nil, nil, false
	}
	if !m.first {
		if i >= len(d) || d[i] != ',' {
			m.ok = false
			return nil, nil, false
		}
		i = skipSpace(d, i+1)
	}
	m.first = false
	if i >= len(d) || d[i] != '"' {
		m.ok = false
		return nil, nil, false
	}
	end := skipString(d, i)
	if end < 0 {
		m.ok = false
		return nil, nil, false
	}
	key = d[i+1 : end-1]
	i = skipSpace(d, end)
	if i >= len(d) || d[i] != ':' {
		m.ok = false
		return nil, nil, false
	}
	i = skipSpace(d, i+1)
	end = skipValue(d, i)
	if end < 0 {
		m.ok = false
		return nil, nil, false
	}
	m.pos = end
	return key, d[i:end], true
}

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string starting at d[i]
// (which is '"'), or -1 when it is unterminated.
func skipString(d []byte, i int) int {
	for i++; i < len(d); i++ {
		switch d[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index just past the value starting at d[i], or -1
// when it is malformed or truncated. Scalars are not validated: anything up
// to the next delimiter counts.
func skipValue(d []byte, i int) int {
	if i >= len(d) {
		return -1
	}
	switch d[i] {
	case '"':
		return skipString(d, i)
	case '{', '[':
		depth := 0
		for ; i < len(d); i++ {
			switch d[i] {
			case '"':
				e := skipString(d, i)
				if e < 0 {
					return -1
				}
				i = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	case ',', '}', ']', ':':
		return -1
	}
	for ; i < len(d); i++ {
		switch d[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
	}
	return i
}

// jsonString returns the value of a JSON string, "" for anything else.
// A string without escapes is interned: the few model ids and regions of
// an account's traffic are copied once, not once per event.
func jsonString(val []byte) string {
	if len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' {
		return ""
	}
	inner := val[1 : len(val)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return intern(inner)
	}
	var s string
	if err := json.Unmarshal(val, &s); err != nil {
		return ""
	}
	return s
}

// internMax bounds the intern table: ever-new values (caller-chosen model
// ids) are then copied as before, never kept.
const internMax = 4096

var interned struct {
	sync.RWMutex
	m map[string]string
}

// intern returns b as a string, sharing one copy per distinct value while
// the table has room. Safe for concurrent use.
func intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > 256 {
		return string(b)
	}
	interned.RLock()
	s, ok := interned.m[string(b)]
	interned.RUnlock()
	if ok {
		return s
	}
	s = string(b)
	interned.Lock()
	if interned.m == nil {
		interned.m = make(map[string]string)
	}
	if len(interned.m) < internMax {
		interned.m[s] = s
	}
	interned.Unlock()
	return s
}

// jsonTrue reports whether val is true or the string "true" (any case).
func jsonTrue(val []byte) bool {
	if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
		val = val[1 : len(val)-1]
	}
	return strings.EqualFold(string(val), "true")
}
