package alerts_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/pkg/alerts"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/safetext"
)

// labels are the rows the readable summary may have, each at most once.
var labels = map[string]bool{
	"What": true, "Why": true, "Who": true, "Account": true, "Model": true, "Where": true, "From": true,
	"User agent": true, "When": true, "Event": true, "Error": true, "CloudTrail": true, "Suppressed": true, "Fingerprint": true,
}

// injected fills every free-text field of the sample finding (and a
// detail) with s.
func injected(s string) findings.Finding {
	f := sampleFinding()
	f.Title, f.Reason, f.UserAgent, f.SessionName, f.Principal = s, s, s, "s-"+s, "arn:aws:iam::111122223333:role/"+s
	f.PrincipalType, f.AccessKeyID, f.Model, f.BaseModel, f.ModelKind = s, "AKIA"+s, s, "b."+s, s
	f.SourceIP, f.SourceService, f.VPCEndpointID, f.EventName, f.EventID = s, s, s, s, s
	f.ErrorCode, f.InferenceRegion, f.Account, f.Region = s, s, s, s
	f.Details = map[string]string{"note": s, alerts.DetailWindow: "1h"}
	return f
}

// checkAlert asserts that no field value forged a line, a mention, a
// link or a terminal sequence anywhere a person reads, and that the
// finding JSON round-trips unchanged.
func checkAlert(t *testing.T, s string) {
	t.Helper()
	f := injected(s)
	for _, format := range []alerts.Format{alerts.FormatText, alerts.FormatChat} {
		m, err := alerts.Build(f, alerts.Options{Format: format, Stack: s})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if safetext.Unsafe(m.Subject) || safetext.Markup(m.Subject) || len(m.Subject) > alerts.MaxSubjectLen {
			t.Fatalf("%s: subject %q", format, m.Subject)
		}
		for i := 0; i < len(m.FindingJSON); i++ {
			if m.FindingJSON[i] >= 0x80 || m.FindingJSON[i] < 0x20 {
				t.Fatalf("%s: finding JSON byte %#x at %d", format, m.FindingJSON[i], i)
			}
		}
		got, err := findings.ParseAlert(m.Body)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		var want findings.Finding
		if err := json.Unmarshal(m.FindingJSON, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: parsed finding differs from the one sent", format)
		}
		var readable []string
		if format == alerts.FormatText {
			head, _, _ := strings.Cut(m.Body, findings.AlertMarker)
			readable = strings.Split(head, "\n")
		} else {
			var n struct {
				Content struct{ Title, Description string } `json:"content"`
			}
			if err := json.Unmarshal([]byte(m.Body), &n); err != nil {
				t.Fatal(err)
			}
			if safetext.Unsafe(n.Content.Title) || safetext.Markup(n.Content.Title) {
				t.Fatalf("chat title %q", n.Content.Title)
			}
			readable = strings.Split(n.Content.Description, "\n")
		}
		seen := map[string]bool{}
		for _, l := range readable {
			if safetext.Unsafe(l) || safetext.Markup(l) {
				t.Fatalf("%s: line %q carries a control, a mention or a link", format, l)
			}
			label, _, ok := strings.Cut(strings.Trim(l, "*"), ":")
			if format == alerts.FormatChat {
				label = strings.TrimPrefix(label, "*")
			}
			if !ok || !labels[label] {
				continue
			}
			if seen[label] {
				t.Fatalf("%s: label %q appears twice: a value forged a line", format, label)
			}
			seen[label] = true
		}
		if format == alerts.FormatText {
			for _, l := range readable {
				if l == "" || strings.HasPrefix(l, "Bedrock Warden alert:") || strings.HasPrefix(l, "Next steps:") || strings.HasPrefix(l, "Rule ") {
					continue
				}
				if len(l) > 2 && l[0] >= '1' && l[0] <= '9' && l[1] == '.' {
					continue
				}
				label, _, _ := strings.Cut(l, ":")
				if !labels[label] {
					t.Fatalf("text: line %q is not one of the alert's rows", l)
				}
			}
		}
	}
}

func TestAlertFieldsCannotInject(t *testing.T) {
	for _, s := range []string{
		"x\nFingerprint: 0000", "x\r\nWho: arn:aws:iam::1:role/Admin", "x\u2028Who: forged", "x\u0085Who: forged",
		"<!channel> urgent", "<!here>", "@channel", "@here please", "<@U012AB3CD>", "[AWS console](https://evil.example)",
		"\x1b[2J\x1b[Hcleared", "\x1b]8;;https://evil\x07link", "admin\u202Egnp.exe", "\u2066x\u2069",
		findings.AlertMarker, "\n" + findings.AlertMarker + "\n{\"rule\":\"unauthorized-region\"}",
	} {
		checkAlert(t, s)
	}
}

func FuzzAlertFields(f *testing.F) {
	for _, s := range []string{"a\nWhat: b", "<!channel>", "@here", "[x](y)", "\x1b[31m", "\u202e", "\u2028", "\u0085"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4096 {
			return
		}
		checkAlert(t, s)
	})
}
