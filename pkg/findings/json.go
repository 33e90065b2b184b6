package findings

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// SchemaVersion is the version of the finding JSON contract documented in
// docs/findings.md: the shape `warden check --format json` prints, alerts
// carry after findings.AlertMarker, the detector logs, and the Security
// Hub sink maps. A change that removes or renames a key, or changes a
// value's type or meaning, raises it; adding a key does not.
const SchemaVersion = 1

// wireFinding is the JSON form of a Finding. Every key is always present,
// so consumers never have to tell a missing key from an empty one: an
// unknown or not-applicable string is "", details is {} and eventTime is
// "" when the finding has no event time. Nothing is ever null.
type wireFinding struct {
	SchemaVersion   int               `json:"schemaVersion"`
	Rule            string            `json:"rule"`
	Severity        Severity          `json:"severity"`
	Title           string            `json:"title"`
	EventID         string            `json:"eventId"`
	EventName       string            `json:"eventName"`
	EventSource     string            `json:"eventSource"`
	EventTime       string            `json:"eventTime"`
	Account         string            `json:"account"`
	Region          string            `json:"region"`
	InferenceRegion string            `json:"inferenceRegion"`
	Principal       string            `json:"principal"`
	PrincipalType   string            `json:"principalType"`
	SessionName     string            `json:"sessionName"`
	AccessKeyID     string            `json:"accessKeyId"`
	Model           string            `json:"model"`
	BaseModel       string            `json:"baseModel"`
	ModelKind       string            `json:"modelKind"`
	SourceIP        string            `json:"sourceIp"`
	SourceService   string            `json:"sourceService"`
	VPCEndpointID   string            `json:"vpcEndpointId"`
	UserAgent       string            `json:"userAgent"`
	ErrorCode       string            `json:"errorCode"`
	Reason          string            `json:"reason"`
	Details         map[string]string `json:"details"`
	Fingerprint     string            `json:"fingerprint"`
}

// MarshalJSON writes the finding in the documented contract (schema
// version SchemaVersion, every key present, no nulls).
func (f Finding) MarshalJSON() ([]byte, error) {
	w := wireFinding{
		SchemaVersion: SchemaVersion, Rule: f.Rule, Severity: f.Severity, Title: f.Title,
		EventID: f.EventID, EventName: f.EventName, EventSource: f.EventSource,
		Account: f.Account, Region: f.Region, InferenceRegion: f.InferenceRegion,
		Principal: f.Principal, PrincipalType: f.PrincipalType, SessionName: f.SessionName, AccessKeyID: f.AccessKeyID,
		Model: f.Model, BaseModel: f.BaseModel, ModelKind: f.ModelKind,
		SourceIP: f.SourceIP, SourceService: f.SourceService, VPCEndpointID: f.VPCEndpointID, UserAgent: f.UserAgent,
		ErrorCode: f.ErrorCode, Reason: f.Reason, Details: f.Details, Fingerprint: f.Fingerprint,
	}
	if !f.EventTime.IsZero() {
		w.EventTime = f.EventTime.UTC().Format(time.RFC3339Nano)
	}
	if w.Details == nil {
		w.Details = map[string]string{}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads a finding written by MarshalJSON, or by a version of
// Bedrock Warden before the contract had a schemaVersion (keys left out
// when empty). A schemaVersion newer than SchemaVersion is an error: this
// reader cannot know what the newer keys mean.
func (f *Finding) UnmarshalJSON(data []byte) error {
	var w wireFinding
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	if w.SchemaVersion > SchemaVersion {
		return fmt.Errorf("finding schemaVersion %d is newer than this reader's (%d): upgrade Bedrock Warden", w.SchemaVersion, SchemaVersion)
	}
	if w.SchemaVersion < 0 {
		return fmt.Errorf("finding schemaVersion %d is not a version", w.SchemaVersion)
	}
	var at time.Time
	if w.EventTime != "" {
		t, err := time.Parse(time.RFC3339Nano, w.EventTime)
		if err != nil {
			return fmt.Errorf("finding eventTime %q: %w", w.EventTime, err)
		}
		at = t
	}
	details := w.Details
	if len(details) == 0 {
		details = nil
	}
	*f = Finding{
		Rule: w.Rule, Severity: w.Severity, Title: w.Title,
		EventID: w.EventID, EventName: w.EventName, EventSource: w.EventSource, EventTime: at,
		Account: w.Account, Region: w.Region, InferenceRegion: w.InferenceRegion,
		Principal: w.Principal, PrincipalType: w.PrincipalType, SessionName: w.SessionName, AccessKeyID: w.AccessKeyID,
		Model: w.Model, BaseModel: w.BaseModel, ModelKind: w.ModelKind,
		SourceIP: w.SourceIP, SourceService: w.SourceService, VPCEndpointID: w.VPCEndpointID, UserAgent: w.UserAgent,
		ErrorCode: w.ErrorCode, Reason: w.Reason, Details: details, Fingerprint: w.Fingerprint,
	}
	return nil
}

// JSONKeys lists the finding JSON's keys in the order MarshalJSON writes
// them: the contract docs/findings.md documents, one row per key (a test
// holds the two together).
func JSONKeys() []string {
	t := reflect.TypeFor[wireFinding]()
	keys := make([]string, t.NumField())
	for i := range keys {
		keys[i] = t.Field(i).Tag.Get("json")
	}
	return keys
}
