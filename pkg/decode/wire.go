package decode

import (
	"encoding/json"
	"fmt"
	"strings"
)

// recordWire is a CloudTrail record as it appears on the wire. It embeds
// Record and shadows the fields whose wire form varies between producers
// (SIEM exports write booleans as strings).
type recordWire struct {
	Record
	ReadOnly        readOnlyFlag        `json:"readOnly"`
	ManagementEvent managementEventFlag `json:"managementEvent"`
}

// record returns the Record with the shadowed fields copied in, eventID
// trimmed and Time parsed.
func (w *recordWire) record() Record {
	rec := w.Record
	rec.ReadOnly = w.ReadOnly.ptr()
	rec.ManagementEvent = w.ManagementEvent.ptr()
	rec.EventID = strings.TrimSpace(rec.EventID)
	rec.Time, _ = ParseTime(rec.EventTime)
	return rec
}

// looksLikeRecord reports whether any CloudTrail record field was present.
func (w *recordWire) looksLikeRecord() bool {
	r := &w.Record
	return r.EventName != "" || r.EventSource != "" || r.EventID != "" ||
		r.EventVersion != "" || r.EventTime != "" || r.RequestID != "" ||
		r.EventType != "" || r.RecipientAccountID != "" ||
		r.UserIdentity != (UserIdentity{}) || w.ReadOnly.set
}

// elemWire is one member of a Records array: a CloudTrail record (log file)
// or an SQS message (SQS event). Both decode in one pass; the SQS message's
// "eventSource":"aws:sqs" lands in Record.EventSource.
type elemWire struct {
	recordWire
	MessageID string  `json:"messageId"`
	Body      *string `json:"body"`
}

// isSQS reports whether the element is an SQS message.
func (w *elemWire) isSQS() bool {
	return w.EventSource == sqsEventSource || w.Body != nil || w.MessageID != ""
}

// topWire is any top-level JSON object: one struct holds the record fields
// and the envelope, log-file and SQS fields, so a single json.Unmarshal
// classifies every shape; only "Records" members and SQS bodies need a
// second decode.
type topWire struct {
	elemWire
	// Resources shadows Record.Resources: an EventBridge envelope's
	// resources are ARN strings, a record's are objects.
	Resources  flexResources `json:"resources"`
	DetailType string        `json:"detail-type"`
	Source     string        `json:"source"`
	ID         string        `json:"id"`
	Detail     *recordWire   `json:"detail"`
	Records    *[]slot       `json:"Records"`
}

// bigWire is how a value larger than MaxRecordBytes is read: only a log file
// or SQS batch may be that large, so nothing but Records is decoded.
type bigWire struct {
	Records *[]slot `json:"Records"`
}

// slot is one member of a Records array, decoded on its own so that one bad
// member yields one error and the rest still come out.
type slot struct {
	w   elemWire
	err error
}

// UnmarshalJSON decodes the member and keeps any error in the slot; it never
// fails, so the surrounding array always decodes in full.
func (s *slot) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > MaxRecordBytes:
		s.err = fmt.Errorf("%w: record of %d bytes exceeds the %d-byte limit", ErrTooLarge, len(b), MaxRecordBytes)
	case len(b) == 0 || b[0] != '{':
		s.err = fmt.Errorf("%w: %s in Records, want an object", ErrUnknownShape, kindOf(b))
	default:
		if fastPath {
			if w, ok := fastMember(b); ok {
				s.w.recordWire = w
				return nil
			}
		}
		s.err = cleanJSONError(json.Unmarshal(b, &s.w))
	}
	return nil
}

// flexBool is a boolean written as a JSON boolean or as the string "true" or
// "false" (SIEM exports). null and "" leave it unset.
type flexBool struct {
	set, v bool
}

func (f *flexBool) parse(field string, b []byte) error {
	switch string(b) {
	case "null", `""`:
		return nil
	case "true", `"true"`, `"True"`, `"TRUE"`:
		f.set, f.v = true, true
		return nil
	case "false", `"false"`, `"False"`, `"FALSE"`:
		f.set, f.v = true, false
		return nil
	}
	return fmt.Errorf("%s: want true or false, got %s", field, clip(b, 40))
}

// ptr returns nil when unset, else a new *bool.
func (f flexBool) ptr() *bool {
	if !f.set {
		return nil
	}
	v := f.v
	return &v
}

// readOnlyFlag is the record's readOnly flag.
type readOnlyFlag struct{ flexBool }

// UnmarshalJSON accepts a boolean or "true"/"false".
func (f *readOnlyFlag) UnmarshalJSON(b []byte) error { return f.parse("readOnly", b) }

// managementEventFlag is the record's managementEvent flag.
type managementEventFlag struct{ flexBool }

// UnmarshalJSON accepts a boolean or "true"/"false".
func (f *managementEventFlag) UnmarshalJSON(b []byte) error {
	return f.parse("managementEvent", b)
}

// flexResources is a resources list of objects (CloudTrail record) or of ARN
// strings (EventBridge envelope).
type flexResources struct {
	list []Resource
}

// UnmarshalJSON accepts a list of Resource objects or of ARN strings.
func (f *flexResources) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if err := json.Unmarshal(b, &f.list); err == nil {
		return nil
	}
	f.list = nil
	var arns []string
	if err := json.Unmarshal(b, &arns); err != nil {
		return fmt.Errorf("resources: want a list of objects or ARN strings, got %s", clip(b, 40))
	}
	f.list = make([]Resource, len(arns))
	for i, a := range arns {
		f.list[i] = Resource{ARN: a}
	}
	return nil
}

// clip returns at most n bytes of b for an error message.
func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// kindOf names the JSON kind of a value from its first byte.
func kindOf(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "JSON object"
	case '[':
		return "JSON array"
	case '"':
		return "JSON string"
	case 't', 'f':
		return "JSON boolean"
	case 'n':
		return "JSON null"
	}
	return "JSON number"
}
