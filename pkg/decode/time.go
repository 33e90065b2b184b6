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
	if t, ok := parseZulu(s); ok {
		return t, true
	}
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

// parseZulu parses the form CloudTrail writes, "2006-01-02T15:04:05Z"
// (with an optional fraction of up to 9 digits), without time.Parse: it is
// on the path of every record. Anything else (or an impossible date)
// reports false, for ParseTime's general path.
func parseZulu(s string) (time.Time, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for k := i; k < i+n; k++ {
			c := s[k]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if rest := s[19 : len(s)-1]; rest != "" {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
			return time.Time{}, false
		}
		frac, ok := num(20, len(rest)-1)
		if !ok {
			return time.Time{}, false
		}
		for k := len(rest) - 1; k < 9; k++ {
			frac *= 10
		}
		nsec = frac
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // 2025-02-30 and the like: as time.Parse, no
		return time.Time{}, false
	}
	return t, true
}
