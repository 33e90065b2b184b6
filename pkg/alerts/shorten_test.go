package alerts

import (
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/pkg/findings"
)

// Shortening never cuts what the remediator acts on.
func TestShortenKeepsRemediationFields(t *testing.T) {
	long := strings.Repeat("p", 1500)
	f := findings.Finding{Rule: "r", Fingerprint: "fp", Principal: "arn:aws:iam::1:role/" + long, AccessKeyID: "AKIA" + long,
		Model: "m" + long, BaseModel: "b" + long, EventID: "e" + long, Account: "1", Region: "us-east-1",
		Title: strings.Repeat("t", 5000), UserAgent: strings.Repeat("u", 5000)}
	g := shorten(f, 64)
	if g.Principal != f.Principal || g.AccessKeyID != f.AccessKeyID || g.Model != f.Model || g.BaseModel != f.BaseModel || g.EventID != f.EventID {
		t.Fatal("shorten cut a field the remediator acts on")
	}
	if len(g.Title) > 64 || len(g.UserAgent) > 64 {
		t.Fatalf("free text not cut: %d %d", len(g.Title), len(g.UserAgent))
	}
}
