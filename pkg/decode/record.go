// Package decode turns bytes in any shape a Bedrock Warden user has —
// EventBridge envelopes, bare CloudTrail records, CloudTrail log files (plain
// or gzip), bare JSON arrays of records, SQS messages and JSON lines — into
// CloudTrail records.
//
// It has one parser, which validates while it decodes: each byte is looked
// at once, whatever encoding/json.Valid rejects is an error naming the
// record, and streams of any size are decoded one record at a time (see
// Reader). The differential fuzz tests hold it to encoding/json.
//
// It is the first step of the data path: bytes → decode → normalize →
// policy/rules → findings → sinks → remediation. Types here are plain
// mirrors of the CloudTrail record format; interpretation belongs to
// package normalize.
package decode

import (
	"encoding/json"
	"time"
)

// Record is one CloudTrail record as CloudTrail writes it. Only the fields
// Bedrock Warden reads are typed; the free-form parts (requestParameters,
// responseElements, additionalEventData) stay raw JSON for the normaliser.
// Any field may be missing: public samples are often partial.
type Record struct {
	EventVersion        string          `json:"eventVersion,omitempty"`
	UserIdentity        UserIdentity    `json:"userIdentity"`
	EventTime           string          `json:"eventTime,omitempty"` // as written; see Time
	EventSource         string          `json:"eventSource,omitempty"`
	EventName           string          `json:"eventName,omitempty"`
	AWSRegion           string          `json:"awsRegion,omitempty"`
	SourceIPAddress     string          `json:"sourceIPAddress,omitempty"`
	UserAgent           string          `json:"userAgent,omitempty"`
	ErrorCode           string          `json:"errorCode,omitempty"`
	ErrorMessage        string          `json:"errorMessage,omitempty"`
	RequestParameters   json.RawMessage `json:"requestParameters,omitempty"`
	ResponseElements    json.RawMessage `json:"responseElements,omitempty"`
	AdditionalEventData json.RawMessage `json:"additionalEventData,omitempty"`
	RequestID           string          `json:"requestID,omitempty"`
	EventID             string          `json:"eventID,omitempty"`
	ReadOnly            *bool           `json:"readOnly,omitempty"`
	EventType           string          `json:"eventType,omitempty"`
	ManagementEvent     *bool           `json:"managementEvent,omitempty"`
	RecipientAccountID  string          `json:"recipientAccountId,omitempty"`
	EventCategory       string          `json:"eventCategory,omitempty"`
	VPCEndpointID       string          `json:"vpcEndpointId,omitempty"`
	VPCEndpointAccount  string          `json:"vpcEndpointAccountId,omitempty"`
	SharedEventID       string          `json:"sharedEventID,omitempty"`
	TLSDetails          *TLSDetails     `json:"tlsDetails,omitempty"`
	Resources           []Resource      `json:"resources,omitempty"`

	// Time is EventTime parsed (RFC 3339 with any number of fractional
	// digits, or the SIEM form "2006-01-02 15:04:05.000000000"), in UTC.
	// It is the zero time when EventTime is missing or unparseable
	// (redacted samples say "[REDACTED]").
	Time time.Time `json:"-"`
}

// UserIdentity is the record's userIdentity element.
type UserIdentity struct {
	Type             string          `json:"type,omitempty"`
	PrincipalID      string          `json:"principalId,omitempty"`
	ARN              string          `json:"arn,omitempty"`
	AccountID        string          `json:"accountId,omitempty"`
	AccessKeyID      string          `json:"accessKeyId,omitempty"`
	UserName         string          `json:"userName,omitempty"`
	InvokedBy        string          `json:"invokedBy,omitempty"`
	IdentityProvider string          `json:"identityProvider,omitempty"`
	CredentialID     string          `json:"credentialId,omitempty"`
	SessionContext   *SessionContext `json:"sessionContext,omitempty"`
}

// SessionContext describes temporary credentials.
type SessionContext struct {
	Attributes          SessionAttributes    `json:"attributes"`
	SessionIssuer       *SessionIssuer       `json:"sessionIssuer,omitempty"`
	SourceIdentity      string               `json:"sourceIdentity,omitempty"`
	WebIDFederationData *WebIDFederationData `json:"webIdFederationData,omitempty"`
}

// SessionAttributes are the creation date and MFA flag of a session.
// mfaAuthenticated is a string in CloudTrail ("true"/"false").
type SessionAttributes struct {
	CreationDate     string `json:"creationDate,omitempty"`
	MFAAuthenticated string `json:"mfaAuthenticated,omitempty"`
}

// SessionIssuer is the role (or user) whose credentials began the session.
type SessionIssuer struct {
	Type        string `json:"type,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	UserName    string `json:"userName,omitempty"`
}

// WebIDFederationData names the identity provider of a web identity session.
type WebIDFederationData struct {
	FederatedProvider string `json:"federatedProvider,omitempty"`
}

// TLSDetails is the record's tlsDetails element.
type TLSDetails struct {
	TLSVersion               string `json:"tlsVersion,omitempty"`
	CipherSuite              string `json:"cipherSuite,omitempty"`
	ClientProvidedHostHeader string `json:"clientProvidedHostHeader,omitempty"`
}

// Resource is one member of the record's resources list.
type Resource struct {
	ARN       string `json:"ARN,omitempty"`
	AccountID string `json:"accountId,omitempty"`
	Type      string `json:"type,omitempty"`
}

// Shape names the outer form a record arrived in.
type Shape string

// The shapes the decoder recognises.
const (
	ShapeEventBridge Shape = "eventbridge" // EventBridge envelope, detail = record
	ShapeRecord      Shape = "record"      // a bare CloudTrail record
	ShapeLogFile     Shape = "logfile"     // {"Records":[...]} as delivered to S3
	ShapeSQS         Shape = "sqs"         // SQS message whose body is an envelope or record
	ShapeJSONLines   Shape = "jsonl"       // one record or envelope a line
)

// Origin says where a record came from, for error messages, logs and
// partial-batch failures.
type Origin struct {
	Source    string `json:"source"`              // file name, "stdin", "sqs", "eventbridge", …
	Index     int    `json:"index"`               // 0-based position within Source
	Shape     Shape  `json:"shape"`               // outer form
	MessageID string `json:"messageId,omitempty"` // SQS messageId or EventBridge id, when known
}
