package counterdb

import (
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/pkg/spikes"
)

func TestSKBoundsLongIDs(t *testing.T) {
	short := spikes.Key{Kind: spikes.KindModel, ID: "anthropic.claude-3-5-sonnet-20240620-v1:0"}
	if SK(short) != "model#anthropic.claude-3-5-sonnet-20240620-v1:0" {
		t.Fatalf("short id changed: %s", SK(short))
	}
	a := spikes.Key{Kind: spikes.KindModel, ID: strings.Repeat("x", 2048)}
	b := spikes.Key{Kind: spikes.KindModel, ID: strings.Repeat("x", 2047) + "y"}
	if len(SK(a)) > 1024 || SK(a) == SK(b) || SK(a) != SK(a) {
		t.Fatalf("long ids: %d bytes, distinct %v", len(SK(a)), SK(a) != SK(b))
	}
}
