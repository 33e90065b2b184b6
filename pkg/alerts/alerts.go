// Package alerts turns a finding into the SNS message security teams read:
// a subject under 100 characters, a body that explains what happened, who,
// which model, where, from where, when and what to do next, and message
// attributes subscribers filter on. It is pure: publishing lives in
// package snspub.
//
// Two body formats: plain text (a readable summary, then a line exactly
// findings.AlertMarker, then the finding as JSON) and an AWS Chatbot
// (Amazon Q Developer in chat applications) custom notification whose
// metadata.additionalContext["finding"] holds the finding JSON. Both parse
// back with findings.ParseAlert.
package alerts

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/safetext"
	"github.com/bedrock-warden/warden/pkg/seal"
)

// Format is the body format.
type Format string

// Formats.
const (
	// FormatText is the plain-text body for e-mail and generic subscribers.
	FormatText Format = "text"
	// FormatChat is the AWS Chatbot custom-notification JSON for Slack,
	// Microsoft Teams and Amazon Chime channels.
	FormatChat Format = "chat"
)

// ParseFormat reads a format name; "" means FormatText.
func ParseFormat(s string) (Format, error) {
	switch Format(strings.ToLower(strings.TrimSpace(s))) {
	case "", FormatText:
		return FormatText, nil
	case FormatChat:
		return FormatChat, nil
	}
	return "", fmt.Errorf("alert format %q: want %q or %q", s, FormatText, FormatChat)
}

// Message attribute names (all of SNS data type String).
const (
	AttrSeverity = "severity"
	AttrRule     = "rule"
	AttrAccount  = "account"
	AttrRegion   = "region"
)

// Finding.Details keys the dedup layer sets before formatting.
const (
	// DetailSuppressed is how many similar events (same fingerprint) were
	// suppressed since the previous alert, as a decimal string.
	DetailSuppressed = "suppressedSince"
	// DetailWindow is the suppression window, e.g. "1h0m0s".
	DetailWindow = "suppressWindow"
)

// Limits.
const (
	// MaxMessageBytes is SNS's limit for a message, attributes included.
	MaxMessageBytes = 262144
	// MaxSubjectLen: SNS subjects must be under 100 ASCII characters.
	MaxSubjectLen = 99
	// maxChatTitle and maxChatDescription keep chat notifications within
	// what chat clients render well.
	maxChatTitle       = 250
	maxChatDescription = 8000
)

// Message is one SNS message, ready to publish.
type Message struct {
	Subject string
	Body    string
	// Attributes are String message attributes; no value is empty.
	Attributes map[string]string
	// Fingerprint is the finding's fingerprint, for logs and batch entry
	// bookkeeping; it is not sent.
	Fingerprint string
	// FindingJSON is the exact finding JSON the body carries (after any
	// shortening): what a seal covers (package seal). It is not sent
	// separately.
	FindingJSON []byte
}

// Size is the message's size as SNS counts it: body, subject, and each
// attribute's name, type and value.
func (m *Message) Size() int {
	n := len(m.Body) + len(m.Subject)
	for k, v := range m.Attributes {
		n += len(k) + len("String") + len(v)
	}
	return n
}

// Options shape a message.
type Options struct {
	Format Format
	// Remediable sets the findings.AttrRemediable attribute: the policy's
	// remediation.actions lists the finding's rule.
	Remediable bool
	// Stack names the Bedrock Warden deployment in the body, when set.
	Stack string
}

// UnknownPrincipal stands in the alert for a finding whose record named no
// principal; such an alert is never remediable.
const UnknownPrincipal = "unknown"

// ErrTooLarge reports a finding that cannot be shrunk under
// MaxMessageBytes.
var ErrTooLarge = errors.New("alert message exceeds the SNS size limit")

// Build formats f as a Message. Overlong fields are shortened (in the
// readable part and in the JSON alike) until the message, with room for
// the seal attributes (seal.AttrReserve), fits in MaxMessageBytes; the
// JSON stays valid. A finding without a principal is sent with principal
// UnknownPrincipal and remediable "false".
//
// Every value in the subject and the readable part passes through
// safetext.Line; the JSON is pure ASCII (non-ASCII characters escaped),
// so no value can forge a line, a mention or a terminal sequence.
func Build(f findings.Finding, o Options) (Message, error) {
	if f.Rule == "" || f.Fingerprint == "" {
		return Message{}, fmt.Errorf("alert for finding %q: rule and fingerprint are required", f.Title)
	}
	if strings.TrimSpace(f.Principal) == "" {
		// Partial records (redacted samples) name no principal; the body
		// must still parse (findings.ParseAlert requires one), and there
		// is nobody to remediate.
		f.Principal = UnknownPrincipal
		o.Remediable = false
	}
	m := Message{
		Subject:     Subject(&f),
		Attributes:  Attributes(&f, o.Remediable),
		Fingerprint: f.Fingerprint,
	}
	// Shrink progressively: first as is, then with every string capped.
	for _, limit := range []int{0, 4096, 1024, 256, 64} {
		g := f
		if limit > 0 {
			g = shorten(f, limit)
		}
		body, raw, err := render(&g, o)
		if err != nil {
			return Message{}, err
		}
		m.Body, m.FindingJSON = body, raw
		if m.Size()+seal.AttrReserve <= MaxMessageBytes {
			return m, nil
		}
	}
	return Message{}, fmt.Errorf("alert for %s %s: %w", f.Rule, f.Fingerprint, ErrTooLarge)
}

func render(f *findings.Finding, o Options) (body string, findingJSON []byte, err error) {
	raw, err := json.Marshal(f)
	if err != nil {
		return "", nil, fmt.Errorf("alert: encode finding: %w", err)
	}
	raw = ASCIIJSON(raw)
	if o.Format == FormatChat {
		body, err := chatBody(f, string(raw), o)
		return body, raw, err
	}
	var b strings.Builder
	writeText(&b, f, o)
	b.WriteString("\n")
	b.WriteString(findings.AlertMarker)
	b.WriteString("\n")
	b.Write(raw)
	b.WriteString("\n")
	return b.String(), raw, nil
}

// ASCIIJSON rewrites valid JSON so that every non-ASCII character inside
// a string is a \uXXXX escape (a surrogate pair above U+FFFF). The value
// is unchanged; the bytes can no longer carry a bidi override, a line
// separator or a look-alike character into a mail client or a terminal.
// encoding/json already escapes control characters, U+2028 and U+2029.
func ASCIIJSON(raw []byte) []byte {
	i := 0
	for i < len(raw) && raw[i] < utf8.RuneSelf {
		i++
	}
	if i == len(raw) {
		return raw
	}
	out := make([]byte, 0, len(raw)+64)
	out = append(out, raw[:i]...)
	for i < len(raw) {
		c := raw[i]
		if c < utf8.RuneSelf {
			out = append(out, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(raw[i:])
		i += size
		if r > 0xffff {
			r1, r2 := utf16.EncodeRune(r)
			out = appendEscape(appendEscape(out, r1), r2)
			continue
		}
		out = appendEscape(out, r)
	}
	return out
}

func appendEscape(b []byte, r rune) []byte {
	const hexDigits = "0123456789abcdef"
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// shorten caps every free-text field and detail of f at limit bytes and
// keeps at most limit/4 (at least 8) details. The fields the remediator
// acts on — rule, fingerprint, principal, access key, model ids, event id,
// account, region — are never cut (AWS bounds them: an IAM ARN or a model
// id is at most 2,048 characters), so a shortened alert still names
// exactly whom and what to remediate.
func shorten(f findings.Finding, limit int) findings.Finding {
	c := func(s string) string { return Truncate(s, limit) }
	f.Title, f.Reason, f.UserAgent = c(f.Title), c(f.Reason), c(f.UserAgent)
	f.SessionName = c(f.SessionName)
	f.SourceIP, f.SourceService, f.EventName = c(f.SourceIP), c(f.SourceService), c(f.EventName)
	f.InferenceRegion, f.ErrorCode = c(f.InferenceRegion), c(f.ErrorCode)
	f.VPCEndpointID, f.EventSource, f.PrincipalType = c(f.VPCEndpointID), c(f.EventSource), c(f.PrincipalType)
	f.ModelKind = c(f.ModelKind)
	if len(f.Details) > 0 {
		keep := max(limit/4, 8)
		d := make(map[string]string, min(len(f.Details), keep))
		// The dedup figures always survive.
		for _, k := range []string{DetailSuppressed, DetailWindow} {
			if v, ok := f.Details[k]; ok {
				d[k] = c(v)
			}
		}
		for _, k := range sortedKeys(f.Details) {
			if len(d) >= keep {
				d["truncated"] = "true"
				break
			}
			if _, ok := d[k]; !ok {
				d[Truncate(k, 64)] = c(f.Details[k])
			}
		}
		f.Details = d
	}
	return f
}

// Truncate cuts s to at most n bytes on a rune boundary, marking the cut
// with "...".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 3 {
		return s[:0]
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// Subject returns "[SEVERITY] rule: title": printable ASCII only, no line
// breaks, at most MaxSubjectLen characters, starting with "[" as SNS
// requires (a letter, number or punctuation mark). When the title does not
// fit, its trailing ": reason" clause is dropped and model ids lose their
// version suffix before anything is cut.
func Subject(f *findings.Finding) string {
	sev := strings.ToUpper(string(f.Severity))
	if sev == "" {
		sev = "UNKNOWN"
	}
	title := f.Title
	if title == "" {
		title = f.EventName
	}
	prefix := "[" + sev + "] " + safetext.Line(f.Rule) + ": "
	// ASCII first (SNS subjects are ASCII), then neutralise what folding
	// may have exposed ("é@here" → "?@here"), then ASCII again.
	s := asciiLine(safetext.Line(asciiLine(prefix + title)))
	if len(s) <= MaxSubjectLen {
		return s
	}
	// Drop the trailing ": reason" clause, then shorten model ids
	// ("anthropic.claude-3-opus-20240229-v1:0" → "anthropic.claude-3-opus").
	if i := strings.LastIndex(s, ": "); i > len(prefix) {
		s = s[:i]
	}
	if len(s) > MaxSubjectLen {
		for _, m := range []string{f.Model, f.BaseModel} {
			if short := shortModel(m); short != m && m != "" {
				s = strings.ReplaceAll(s, m, short)
			}
		}
	}
	return Truncate(s, MaxSubjectLen)
}

// modelVersion matches the date and version suffix of a model id.
var modelVersion = regexp.MustCompile(`-\d{8}(-v\d+(:\d+)?)?$|-v\d+(:\d+)?$`)

// shortModel strips the date and version suffix of a model id, and any
// ARN prefix up to the last "/".
func shortModel(id string) string {
	if i := strings.LastIndexByte(id, '/'); i >= 0 && strings.HasPrefix(id, "arn:") {
		id = id[i+1:]
	}
	return modelVersion.ReplaceAllString(id, "")
}

// asciiLine folds whitespace and control characters into single spaces and
// replaces non-ASCII characters with "?".
func asciiLine(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == ' ' || r < 0x20 || r == 0x7f:
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		case r > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
		space = false
	}
	return strings.TrimSpace(b.String())
}

// Attributes returns the message attributes: severity, rule, account,
// region and remediable. Empty values become "unknown" (SNS rejects empty
// attribute values).
func Attributes(f *findings.Finding, remediable bool) map[string]string {
	v := func(s string) string {
		if strings.TrimSpace(s) == "" {
			return "unknown"
		}
		return s
	}
	return map[string]string{
		AttrSeverity:            v(string(f.Severity)),
		AttrRule:                v(f.Rule),
		AttrAccount:             v(f.Account),
		AttrRegion:              v(f.Region),
		findings.AttrRemediable: strconv.FormatBool(remediable),
	}
}

// ConsoleURL returns the CloudTrail console's event-history page for one
// event, or "" when region or event id is unknown.
func ConsoleURL(region, eventID string) string {
	if region == "" || eventID == "" || !validRegion(region) {
		return ""
	}
	return "https://" + region + ".console.aws.amazon.com/cloudtrailv2/home?region=" + url.QueryEscape(region) +
		"#/events/" + url.PathEscape(eventID)
}

// validRegion accepts region-like names only, so the host part of the URL
// cannot be steered by a crafted record.
func validRegion(r string) bool {
	if len(r) > 32 {
		return false
	}
	for _, c := range r {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Suppressed returns the follow-up count and window recorded in f.Details
// by the dedup layer.
func Suppressed(f *findings.Finding) (n int64, window string) {
	n, _ = strconv.ParseInt(f.Details[DetailSuppressed], 10, 64)
	return n, f.Details[DetailWindow]
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339)
}
