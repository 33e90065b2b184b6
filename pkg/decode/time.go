package decode

import "time"

// Layouts ParseTime tries. When parsing, Go accepts a fractional second
// after the seconds field even when the layout has none.
const (
	layoutT       = "2006-01-02T15:04:05Z07:00"
	layoutSpace   = "2006-01-02 15:04:05Z07:00"
	layoutTNoZone = "2006-01-02T15:04:05"
	layoutSpaceNZ = "2006-01-02 15:04:05"
)

// ParseTime parses a CloudTrail eventTime: RFC 3339 with 0–9 fractional
// digits ("2024-07-08T17:06:49.0000000Z"), or with a space for the "T" as
// SIEM exports write it ("2025-01-21 17:49:47.000000000"), with or without a
// zone (none means UTC). The result is in UTC. It reports false for
// anything else, such as "" or "[REDACTED]".
func ParseTime(s string) (time.Time, bool) {
	// "2006-01-02T15:04:05" is 19 bytes; a zone or fraction follows it.
	if len(s) < 19 || len(s) > 40 {
		return time.Time{}, false
	}
	var layout string
	switch s[10] {
	case 'T', 't':
		layout = layoutT
		if !hasZone(s) {
			layout = layoutTNoZone
		}
	case ' ':
		layout = layoutSpace
		if !hasZone(s) {
			layout = layoutSpaceNZ
		}
	default:
		return time.Time{}, false
	}
	if s[10] == 't' || s[len(s)-1] == 'z' {
		// RFC 3339 allows lower-case t and z; Go's parser does not.
		b := []byte(s)
		b[10] = 'T'
		if b[len(b)-1] == 'z' {
			b[len(b)-1] = 'Z'
		}
		s = string(b)
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// hasZone reports whether s (at least 19 bytes) ends with a zone: "Z" or
// "±hh:mm" after the seconds.
func hasZone(s string) bool {
	last := s[len(s)-1]
	if last == 'Z' || last == 'z' {
		return true
	}
	if len(s) >= 25 {
		c := s[len(s)-6]
		return (c == '+' || c == '-') && s[len(s)-3] == ':'
	}
	return false
}
