package snsalert

import (
	"strings"
	"testing"
)

func TestSubject(t *testing.T) {
	if got := Subject("ok subject"); got != "ok subject" {
		t.Errorf("got %q", got)
	}
	long := Subject(strings.Repeat("x", 150) + "\nnext")
	if len(long) != 100 || !strings.HasSuffix(long, "...") {
		t.Errorf("long subject: %d %q", len(long), long)
	}
	if got := Subject("a\nb—c"); got != "a b   c" {
		t.Errorf("control and non-ASCII characters: %q", got)
	}
}
