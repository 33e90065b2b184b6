package safetext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLine(t *testing.T) {
	cases := []struct{ in, want string }{
		{"Boto3/1.35.44 md/Botocore#1.35.44", "Boto3/1.35.44 md/Botocore#1.35.44"},
		{"a\nFingerprint: forged", "a Fingerprint: forged"},
		{"a\r\n\tb", "a b"},
		{"a\u2028b\u2029c\u0085d", "a b c d"},
		{"red \x1b[31mALERT\x1b[0m done", "red ALERT done"},
		{"title \x1b]0;owned\x07 end", "title end"},
		{"title \x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "title link"},
		{"abc\u202Egnp.exe", "abcgnp.exe"},
		{"x\u2066y\u2069z\u200e", "xyz"},
		{"<!channel> look", "‹!channel› look"},
		{"ping <@U012AB3CD> and <#C1|general>", "ping ‹＠U012AB3CD› and ‹#C1|general›"},
		{"@here @channel @everyone", "＠here ＠channel ＠everyone"},
		{"@\u200bchannel", "＠channel"},
		{"alice@example.com", "alice@example.com"},
		{"[click here](https://evil.example/x)", "[click here] (https://evil.example/x)"},
		{"![img](https://evil.example/x.png)", "![img] (https://evil.example/x.png)"},
		{"<https://evil.example|AWS console>", "‹https://evil.example|AWS console›"},
		{"bad \xff utf8", "bad \ufffd utf8"},
		{"  padded  text  ", "padded text"},
		{"", ""},
	}
	for _, c := range cases {
		if got := Line(c.in); got != c.want {
			t.Errorf("Line(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLinePlainIsNotCopied(t *testing.T) {
	s := "arn:aws:iam::111122223333:role/app-chat"
	if got := Line(s); got != s {
		t.Fatalf("got %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = Line(s) }); n != 0 {
		t.Errorf("plain line allocated %v times", n)
	}
}

func TestMarkupAndUnsafeDetect(t *testing.T) {
	for _, s := range []string{"<!here>", "hi @channel", "[a](b)", "@U123"} {
		if !Markup(s) {
			t.Errorf("Markup(%q) = false", s)
		}
	}
	for _, s := range []string{"alice@example.com", "plain text", "a ‹!here›", "＠here"} {
		if Markup(s) {
			t.Errorf("Markup(%q) = true", s)
		}
	}
	for _, s := range []string{"a\nb", "x\u202ey", "\x1b[1m", "a\u2028"} {
		if !Unsafe(s) {
			t.Errorf("Unsafe(%q) = false", s)
		}
	}
}

// FuzzLine: whatever comes in, the line is valid UTF-8, one line, and
// carries no control, separator, bidi, ESC, mention or Markdown link.
func FuzzLine(f *testing.F) {
	for _, s := range []string{"a\nb", "<!channel>", "@here", "[x](y)", "\x1b[31m", "\u202e", "a@b", "]\u200b(", "@\u2066here", "<\x1b[m!here>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Line(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Line(%q) = %q: invalid UTF-8", s, got)
		}
		if Unsafe(got) || strings.ContainsRune(got, '\n') {
			t.Fatalf("Line(%q) = %q: unsafe character", s, got)
		}
		if Markup(got) {
			t.Fatalf("Line(%q) = %q: markup survived", s, got)
		}
		if again := Line(got); again != got {
			t.Fatalf("Line is not idempotent: %q -> %q -> %q", s, got, again)
		}
	})
}
