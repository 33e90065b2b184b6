package outputs

import (
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/pkg/normalize"
)

func TestModelDimensionIsBounded(t *testing.T) {
	ok := normalize.Event{Model: normalize.Model{Raw: "us.anthropic.claude-3-5-sonnet-20240620-v1:0", Base: "anthropic.claude-3-5-sonnet-20240620-v1:0"}}
	if got := ModelDimension(&ok); got != "anthropic.claude-3-5-sonnet-20240620-v1:0" {
		t.Fatalf("successful call: %q", got)
	}
	// A refused call's id is the caller's choice: not a dimension value.
	denied := normalize.Event{Model: normalize.Model{Raw: "random-" + strings.Repeat("x", 3000)},
		Outcome: normalize.Outcome{ErrorCode: "AccessDeniedException", Denied: true}}
	if got := ModelDimension(&denied); got != "unresolved" {
		t.Fatalf("denied call: %q", got)
	}
	odd := normalize.Event{Model: normalize.Model{Raw: "m\x1b[31m" + strings.Repeat("y", 500) + "é"}}
	got := ModelDimension(&odd)
	if len(got) > 256 || strings.ContainsAny(got, "\x1b") {
		t.Fatalf("unsanitised dimension %q", got)
	}
}
