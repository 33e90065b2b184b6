package findings

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// AlertMarker is the line that separates the readable part of a plain-text
// alert from the finding's JSON, which follows it and ends the message.
const AlertMarker = "--- finding (JSON) ---"

// ChatContextKey is the key under metadata.additionalContext of an AWS
// Chatbot custom notification that holds the finding's JSON as a string.
const ChatContextKey = "finding"

// AttrRemediable is the SNS message attribute ("true"/"false") that marks a
// finding the remediator may act on; the remediator's subscription filters
// on it.
const AttrRemediable = "remediable"

// ParseAlert extracts the finding from an alert message body, in either
// format the alerts package writes: plain text with AlertMarker, or an AWS
// Chatbot custom notification. It never guesses: a body in neither form, or
// a finding without rule, fingerprint or principal, is an error.
func ParseAlert(body string) (Finding, error) {
	f, _, err := ParseAlertJSON(body)
	return f, err
}

// ParseAlertJSON is ParseAlert that also returns the exact bytes of the
// finding JSON the body carries: what the alert's seal covers.
func ParseAlertJSON(body string) (Finding, []byte, error) {
	var f Finding
	raw, err := alertJSON(body)
	if err != nil {
		return f, nil, err
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return f, nil, fmt.Errorf("alert body: finding JSON: %w", err)
	}
	if f.Rule == "" || f.Fingerprint == "" || f.Principal == "" {
		return f, nil, errors.New("alert body: finding lacks rule, fingerprint or principal")
	}
	return f, raw, nil
}

// alertJSON returns the finding JSON of an alert body.
func alertJSON(body string) ([]byte, error) {
	trimmed := strings.TrimSpace(body)
	if strings.HasPrefix(trimmed, "{") {
		var chat struct {
			Metadata struct {
				AdditionalContext map[string]string `json:"additionalContext"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal([]byte(trimmed), &chat); err != nil {
			return nil, fmt.Errorf("alert body: not a chat notification: %w", err)
		}
		raw, ok := chat.Metadata.AdditionalContext[ChatContextKey]
		if !ok {
			return nil, errors.New("alert body: chat notification has no metadata.additionalContext.finding")
		}
		return []byte(raw), nil
	}
	// The body ends with the marker line and then the finding's JSON on
	// one line (JSON has no raw newlines). Only that position counts: the
	// marker text inside a field the caller controls (a user agent, a
	// model id) must not move the split.
	lines := strings.Split(strings.TrimRight(body, "\n"), "\n")
	if len(lines) < 2 || strings.TrimSpace(lines[len(lines)-2]) != AlertMarker {
		return nil, fmt.Errorf("alert body: the line before the last is not %q", AlertMarker)
	}
	return []byte(lines[len(lines)-1]), nil
}
