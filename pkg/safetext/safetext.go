// Package safetext makes text that came from an event safe to show to a
// person: in an alert e-mail, a chat notification (Slack or Teams through
// AWS Chatbot, which renders client-markdown), or a terminal. Anything a
// caller controls — a user agent, a session name, a model id, an error
// message — passes through Line before it is printed, so it can neither
// forge a line of the alert, nor move the cursor or recolour a terminal,
// nor reorder what is displayed, nor page a channel, nor hide a link.
//
// Line keeps the text readable: printable characters (any script) stay,
// and only what is dangerous is removed or made inert.
package safetext

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Line returns s as one inert line:
//
//   - ANSI escape sequences (CSI, OSC and two-byte ESC sequences) are
//     removed; other C0 and C1 control characters (tab, newline, U+0085
//     NEXT LINE included), U+2028 LINE SEPARATOR, U+2029 PARAGRAPH
//     SEPARATOR and Unicode spaces become a space, and runs of spaces
//     fold into one;
//   - bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E,
//     U+2066–U+2069) and invisible characters (zero-width spaces and
//     joiners, U+2060, U+FEFF) are removed;
//   - invalid UTF-8 becomes U+FFFD;
//   - "<" and ">" become "‹" and "›", so no chat markup survives
//     (<!channel>, <!here>, <@U123>, <#C123>, <https://x|text>);
//   - "@" that starts a word becomes "＠" (FULLWIDTH COMMERCIAL AT), so
//     @channel, @here, @everyone and @name mention nobody, while an
//     address such as alice@example.com stays as it is;
//   - a Markdown link or image "[text](url)" is shown as "[text] (url)",
//     which no renderer turns into a link.
//
// Leading and trailing spaces are trimmed.
func Line(s string) string {
	if plain(s) {
		return s // the usual case: no copy
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false // the last rune written was a space
	prev := rune(' ')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == 0x1b { // ESC: drop the whole sequence
			i += escapeLen(s[i:])
			continue
		}
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			r = unicode.ReplacementChar
		case invisible(r):
			continue
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\u2028' || r == '\u2029' || unicode.IsSpace(r):
			if !space && b.Len() > 0 {
				b.WriteByte(' ')
				space, prev = true, ' '
			}
			continue
		case r == '<':
			r = '‹'
		case r == '>':
			r = '›'
		case r == '@' && !wordRune(prev):
			r = '＠'
		case r == '(' && prev == ']':
			b.WriteByte(' ')
		}
		b.WriteRune(r)
		space, prev = false, r
	}
	return strings.TrimRight(b.String(), " ")
}

// plain reports whether s is already a safe line: printable ASCII without
// markup characters, no leading or trailing space, no double spaces.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '<', c == '>', c == '@', c == '(' && i > 0 && s[i-1] == ']':
			return false
		case c == ' ' && (i == 0 || i == len(s)-1 || s[i-1] == ' '):
			return false
		}
	}
	return true
}

// escapeLen returns the length of the escape sequence at the start of s
// (s[0] is ESC): CSI "ESC [ params final", OSC "ESC ] ... BEL|ESC \",
// or a two-byte "ESC x". An unterminated sequence runs to the end.
func escapeLen(s string) int {
	if len(s) < 2 {
		return len(s)
	}
	switch s[1] {
	case '[':
		for i := 2; i < len(s); i++ {
			if c := s[i]; c >= 0x40 && c <= 0x7e {
				return i + 1
			}
		}
		return len(s)
	case ']', 'P', '_', '^': // OSC, DCS, APC, PM: end at BEL or ST
		for i := 2; i < len(s); i++ {
			if s[i] == 0x07 {
				return i + 1
			}
			if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
		}
		return len(s)
	}
	_, size := utf8.DecodeRuneInString(s[1:])
	return 1 + size
}

// invisible reports bidirectional controls and zero-width characters.
func invisible(r rune) bool {
	switch {
	case r == '\u061c', r == '\u200b', r == '\u200c', r == '\u200d', r == '\u200e', r == '\u200f',
		r >= '\u202a' && r <= '\u202e', r >= '\u2060' && r <= '\u2064', r >= '\u2066' && r <= '\u2069',
		r == '\ufeff', r == '\u180e':
		return true
	}
	return false
}

func wordRune(r rune) bool {
	return r == '_' || r == '.' || r == '-' || r == '+' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// Markup reports whether s holds a chat mention, chat markup or a
// Markdown link that Line would have neutralised: for tests and
// assertions.
func Markup(s string) bool {
	if strings.Contains(s, "<") || strings.Contains(s, ">") || strings.Contains(s, "](") {
		return true
	}
	rs := []rune(s)
	for i, r := range rs {
		if r == '@' && (i == 0 || !wordRune(rs[i-1])) && i+1 < len(rs) && (unicode.IsLetter(rs[i+1]) || unicode.IsDigit(rs[i+1])) {
			return true
		}
	}
	return false
}

// Unsafe reports whether s holds a character Line never lets through:
// controls, line and paragraph separators, bidi controls, ESC.
func Unsafe(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\u2028' || r == '\u2029' || invisible(r) {
			return true
		}
	}
	return false
}
