package glob

import (
	"strconv"
	"testing"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "arn:aws:iam::1:role/a/b", true},
		{"anthropic.claude-3-5-sonnet-*", "anthropic.claude-3-5-sonnet-20240620-v1:0", true},
		{"anthropic.claude-3-5-sonnet-*", "anthropic.claude-3-opus-20240229-v1:0", false},
		{"*opus*", "anthropic.claude-3-opus-20240229-v1:0", true},
		{"*opus*", "anthropic.claude-3-haiku", false},
		{"arn:aws:iam::*:role/app-*", "arn:aws:iam::123456789012:role/app-batch", true},
		{"arn:aws:iam::*:role/app-*", "arn:aws:iam::123456789012:role/path/app-batch", false},
		{"arn:aws:iam::*:role/*app-*", "arn:aws:iam::123456789012:role/path/app-batch", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a?c", "aéc", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"exact", "exact", true},
		{"exact", "Exact", false},
	}
	for _, c := range cases {
		if got := Match(c.pattern, c.s); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func TestMatchFold(t *testing.T) {
	if !Compile("bedrock:Invoke*").MatchFold("BEDROCK:invokemodel") {
		t.Error("fold match failed")
	}
	if Compile("bedrock:Invoke*").Match("bedrock:invokemodel") {
		t.Error("case-sensitive match should fail")
	}
	if !Compile("Bedrock:InvokeModel").MatchFold("bedrock:invokemodel") {
		t.Error("literal fold match failed")
	}
}

func TestSet(t *testing.T) {
	s := CompileSet([]string{"amazon.nova-*", "meta.*"})
	if !s.Match("", "amazon.nova-pro-v1:0") {
		t.Error("set should match second value")
	}
	if s.Match("anthropic.claude") {
		t.Error("set should not match")
	}
	if CompileSet(nil).Match("x") {
		t.Error("empty set matches nothing")
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("a*b?c", "aXXbYc")
	f.Fuzz(func(t *testing.T, p, s string) {
		_ = Match(p, s)
		if !Match("*", s) {
			t.Fatal("* must match everything")
		}
		if !Match(s, s) && !containsWild(s) {
			t.Fatal("a literal must match itself")
		}
	})
}

func containsWild(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '*' || s[i] == '?' {
			return true
		}
	}
	return false
}

func TestMemo(t *testing.T) {
	s := CompileSet([]string{"a*", "*b", "c"})
	m := NewMemo(s)
	for range 2 { // the second round answers from memory
		for _, tc := range []struct {
			v    string
			want int
		}{{"ab", 0}, {"xb", 1}, {"c", 2}, {"x", -1}, {"", -1}, {"axb", 0}} {
			if got := m.First(tc.v); got != tc.want {
				t.Errorf("First(%q) = %d, want %d", tc.v, got, tc.want)
			}
			if m.Match(tc.v) != s.Match(tc.v) {
				t.Errorf("Match(%q) differs from the set's", tc.v)
			}
		}
	}
	if NewMemo(nil).First("a") != -1 || (*Memo)(nil).Len() != 0 {
		t.Error("an empty memo matched")
	}
	// Bounded: new values beyond memoMax are matched, not kept.
	for i := range memoMax + 10 {
		m.First("a" + strconv.Itoa(i))
	}
	if len(m.seen) > memoMax {
		t.Errorf("memo holds %d values", len(m.seen))
	}
	if m.First("zzz-new") != -1 || m.First("a-new") != 0 {
		t.Error("a full memo answers wrongly")
	}
}

func BenchmarkMemo(b *testing.B) {
	s := CompileSet([]string{"anthropic.claude-3-5-sonnet-*", "anthropic.claude-3-7-sonnet-*", "anthropic.claude-sonnet-4*",
		"anthropic.claude-3-5-haiku-*", "anthropic.claude-3-haiku-*", "amazon.nova-*", "amazon.titan-embed-*", "meta.llama3-*", "cohere.embed-*"})
	v := "meta.llama3-70b-instruct-v1:0"
	b.Run("set", func(b *testing.B) {
		for b.Loop() {
			s.Match(v)
		}
	})
	m := NewMemo(s)
	b.Run("memo", func(b *testing.B) {
		for b.Loop() {
			m.First(v)
		}
	})
}
