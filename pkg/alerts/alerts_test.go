package alerts_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/bedrock-warden/warden/pkg/alerts"
	"github.com/bedrock-warden/warden/pkg/findings"
)

func sampleFinding() findings.Finding {
	return findings.Finding{
		Rule: findings.RuleUnauthorizedModel, Severity: findings.High,
		Title:   "role/app-batch invoked us.anthropic.claude-3-opus-20240229-v1:0 in us-east-1: model denied",
		EventID: "b22f7ece-583d-429c-ae0b-5f2f8b38fcb2", EventName: "InvokeModel",
		EventTime: time.Date(2026, 11, 20, 14, 3, 11, 0, time.UTC),
		Account:   "111122223333", Region: "us-east-1", InferenceRegion: "us-west-2",
		Principal: "arn:aws:iam::111122223333:role/app-batch", PrincipalType: "AssumedRole", SessionName: "batch-1",
		Model: "us.anthropic.claude-3-opus-20240229-v1:0", BaseModel: "anthropic.claude-3-opus-20240229-v1:0",
		ModelKind: "system-inference-profile", SourceIP: "203.0.113.7", VPCEndpointID: "vpce-0a1b2c3d",
		UserAgent: "aws-cli/2.17", Reason: `model matches models.deny "*opus*"`,
		Details:     map[string]string{alerts.DetailSuppressed: "12", alerts.DetailWindow: "1h"},
		Fingerprint: findings.Fingerprint(findings.RuleUnauthorizedModel, "arn:aws:iam::111122223333:role/app-batch", "anthropic.claude-3-opus-20240229-v1:0", "us-east-1"),
	}
}

func TestTextBodyIsReadableAndParsesBack(t *testing.T) {
	f := sampleFinding()
	m, err := alerts.Build(f, alerts.Options{Format: alerts.FormatText, Remediable: true, Stack: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "[HIGH] unauthorized-model: role/app-batch invoked us.anthropic.claude-3-opus in us-east-1" {
		t.Errorf("subject = %q", m.Subject)
	}
	for _, want := range []string{
		"Who:", "arn:aws:iam::111122223333:role/app-batch (type AssumedRole, session batch-1)",
		"us.anthropic.claude-3-opus-20240229-v1:0 (base anthropic.claude-3-opus-20240229-v1:0, system-inference-profile)",
		"us-east-1 (inference ran in us-west-2)", "203.0.113.7 via vpce-0a1b2c3d", "2026-11-20T14:03:11Z",
		"https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/b22f7ece-583d-429c-ae0b-5f2f8b38fcb2",
		"12 similar events since the last alert", "Next steps:", "(stack prod)",
	} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Body)
		}
	}
	if i, j := strings.Index(m.Body, "What:"), strings.Index(m.Body, findings.AlertMarker); i < 0 || j < i {
		t.Error("the readable summary must come before the JSON")
	}
	got, err := findings.ParseAlert(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got.Fingerprint != f.Fingerprint || got.Details[alerts.DetailSuppressed] != "12" || !got.EventTime.Equal(f.EventTime) {
		t.Errorf("round trip = %+v", got)
	}
	want := map[string]string{"severity": "high", "rule": "unauthorized-model", "account": "111122223333", "region": "us-east-1", "remediable": "true"}
	if len(m.Attributes) != len(want) {
		t.Errorf("attributes = %v", m.Attributes)
	}
	for k, v := range want {
		if m.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, m.Attributes[k], v)
		}
	}
}

func TestChatBodyIsACustomNotificationAndParsesBack(t *testing.T) {
	f := sampleFinding()
	m, err := alerts.Build(f, alerts.Options{Format: alerts.FormatChat})
	if err != nil {
		t.Fatal(err)
	}
	var n struct {
		Version, Source string
		Content         struct {
			TextType, Title, Description string
			NextSteps                    []string
		}
		Metadata struct {
			ThreadID, Summary, EventType string
			AdditionalContext            map[string]string
		}
	}
	if err := json.Unmarshal([]byte(m.Body), &n); err != nil {
		t.Fatalf("chat body is not JSON: %v", err)
	}
	if n.Version != "1.0" || n.Source != "custom" || n.Content.TextType != "client-markdown" ||
		n.Content.Title == "" || !strings.Contains(n.Content.Description, "*Who:*") || len(n.Content.NextSteps) == 0 {
		t.Errorf("notification = %+v", n)
	}
	if n.Metadata.ThreadID != f.Fingerprint || n.Metadata.EventType != f.Rule || n.Metadata.Summary != m.Subject {
		t.Errorf("metadata = %+v", n.Metadata)
	}
	got, err := findings.ParseAlert(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got.Fingerprint != f.Fingerprint || got.Principal != f.Principal {
		t.Errorf("round trip = %+v", got)
	}
	if m.Attributes["remediable"] != "false" {
		t.Errorf("remediable = %q", m.Attributes["remediable"])
	}
}

func TestEmptyAttributesBecomeUnknown(t *testing.T) {
	f := sampleFinding()
	f.Account, f.Region, f.Severity = "", " ", ""
	a := alerts.Attributes(&f, false)
	for _, k := range []string{"account", "region", "severity"} {
		if a[k] != "unknown" {
			t.Errorf("%s = %q, want unknown", k, a[k])
		}
	}
}

// Oversized findings are shortened until the whole message fits in 256
// KiB, in both formats, and still parse back.
func TestOversizedFindingFitsAndStaysValid(t *testing.T) {
	f := sampleFinding()
	f.UserAgent = strings.Repeat("ä", 200_000)
	f.Reason = strings.Repeat("r", 100_000)
	f.Details = map[string]string{alerts.DetailSuppressed: "3"}
	for i := range 2000 {
		f.Details["k"+strings.Repeat("x", i%50)+string(rune('a'+i%26))+strings.Repeat("y", i/26)] = strings.Repeat("v", 500)
	}
	for _, format := range []alerts.Format{alerts.FormatText, alerts.FormatChat} {
		m, err := alerts.Build(f, alerts.Options{Format: format})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if m.Size() > alerts.MaxMessageBytes {
			t.Errorf("%s: size %d > %d", format, m.Size(), alerts.MaxMessageBytes)
		}
		got, err := findings.ParseAlert(m.Body)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if got.Details[alerts.DetailSuppressed] != "3" || got.Details["truncated"] != "true" {
			t.Errorf("%s: details lost the dedup count or the truncation mark: %d entries", format, len(got.Details))
		}
	}
}

func TestSubjectProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := sampleFinding()
		f.Title = rapid.String().Draw(t, "title")
		f.Rule = rapid.StringMatching(`[a-z-]{0,40}`).Draw(t, "rule")
		f.Severity = findings.Severity(rapid.SampledFrom([]string{"", "info", "critical"}).Draw(t, "sev"))
		s := alerts.Subject(&f)
		if len(s) == 0 || len(s) >= 100 {
			t.Fatalf("subject length %d: %q", len(s), s)
		}
		if s[0] != '[' {
			t.Fatalf("subject must start with a punctuation mark: %q", s)
		}
		for _, c := range []byte(s) {
			if c < 0x20 || c > 0x7e {
				t.Fatalf("subject has a non-printable or non-ASCII byte %#x: %q", c, s)
			}
		}
	})
}

func TestConsoleURL(t *testing.T) {
	if got := alerts.ConsoleURL("eu-west-1", "a b/c#d"); got != "https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events/a%20b%2Fc%23d" {
		t.Errorf("URL = %q", got)
	}
	for _, bad := range [][2]string{{"", "id"}, {"us-east-1", ""}, {"evil.com/x", "id"}, {"[REDACTED]", "id"}} {
		if got := alerts.ConsoleURL(bad[0], bad[1]); got != "" {
			t.Errorf("ConsoleURL(%q, %q) = %q, want empty", bad[0], bad[1], got)
		}
	}
}

func TestBuildRejectsFindingWithoutIdentity(t *testing.T) {
	if _, err := alerts.Build(findings.Finding{Title: "x"}, alerts.Options{}); err == nil {
		t.Error("want an error for a finding without rule and fingerprint")
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]alerts.Format{"": alerts.FormatText, "TEXT": alerts.FormatText, " chat ": alerts.FormatChat} {
		if got, err := alerts.ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := alerts.ParseFormat("slack"); err == nil {
		t.Error("want an error for an unknown format")
	}
}

func TestTruncateKeepsUTF8(t *testing.T) {
	s := alerts.Truncate("ääää", 6)
	if s != "ä..." {
		t.Errorf("Truncate = %q", s)
	}
}

func TestFindingWithoutPrincipalStillParsesAndIsNotRemediable(t *testing.T) {
	f := sampleFinding()
	f.Principal = ""
	for _, format := range []alerts.Format{alerts.FormatText, alerts.FormatChat} {
		m, err := alerts.Build(f, alerts.Options{Format: format, Remediable: true})
		if err != nil {
			t.Fatal(err)
		}
		got, err := findings.ParseAlert(m.Body)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if got.Principal != alerts.UnknownPrincipal || m.Attributes[findings.AttrRemediable] != "false" {
			t.Errorf("%s: principal %q remediable %q", format, got.Principal, m.Attributes[findings.AttrRemediable])
		}
	}
}
