package suggest

import "testing"

func TestClosest(t *testing.T) {
	keys := []string{"allow", "deny", "inference", "allowGlobalProfiles"}
	for _, c := range []struct{ in, want string }{
		{"alow", "allow"}, {"ALLOW", "allow"}, {"deny", "deny"}, {"infrence", "inference"},
		{"allowGlobal", "allowGlobalProfiles"}, {"zzz", ""}, {"", ""}, {"a", ""},
	} {
		if got := Closest(c.in, keys); got != c.want {
			t.Errorf("Closest(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// Ties go to the candidate that sorts first, whatever the order.
	if a, b := Closest("ab", []string{"ax", "aa"}), Closest("ab", []string{"aa", "ax"}); a != "aa" || b != "aa" {
		t.Errorf("tie: %q %q", a, b)
	}
}

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"kitten", "sitting", 3}, {"abc", "abc", 0}, {"", "abc", 3}} {
		if got := Distance(c.a, c.b); got != c.d {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}
