// Package normalize interprets a decoded CloudTrail record: who called
// (principal), which model, where (calling and inference regions), from where
// (IP, service, VPC endpoint), and with what outcome. The result, Event, is
// what the policy and rules judge.
package normalize

import (
	"net/netip"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/decode"
)

// Event is a normalised Bedrock API call.
type Event struct {
	ID        string    // eventID, trimmed
	Name      string    // eventName, e.g. "InvokeModel"
	Source    string    // eventSource, e.g. "bedrock.amazonaws.com"
	Time      time.Time // zero when the record has no usable time
	Account   string    // recipientAccountId, else the principal's account
	ReadOnly  bool
	Category  Category
	Region    string // awsRegion: where the call was made
	Inference Inference
	Principal Principal
	Model     Model // zero Kind when the call names no model
	Caller    Caller
	Outcome   Outcome
	Origin    decode.Origin
	RequestID string
	EventType string // "AwsApiCall", "AwsServiceEvent", …
	// IAM holds the request parameters of an iam.amazonaws.com call that
	// creates a Bedrock API key (see IsAPIKeyIAMCall); zero otherwise.
	IAM IAMRequest
	// Unsupported: the event is neither from a Bedrock source nor an IAM
	// call that creates a Bedrock API key.
	Unsupported bool
}

// IAMRequest is what the rules need from an IAM call's requestParameters.
type IAMRequest struct {
	UserName    string // userName: the user the key, user or policy is for
	ServiceName string // serviceName (CreateServiceSpecificCredential)
	PolicyARN   string // policyArn (AttachUserPolicy)
}

// Category says which family of rules an event belongs to.
type Category int

// Categories.
const (
	CategoryOther        Category = iota // Bedrock call no rule watches (List*, Get*, …)
	CategoryInvocation                   // InvokeModel, Converse, … (runtime)
	CategoryControlPlane                 // configuration changes (and the IAM calls creating API keys)
	CategoryRecon                        // read-only reconnaissance calls (ReconEvents)
)

// String returns "other", "invocation", "control-plane" or "recon".
func (c Category) String() string {
	switch c {
	case CategoryInvocation:
		return "invocation"
	case CategoryControlPlane:
		return "control-plane"
	case CategoryRecon:
		return "recon"
	}
	return "other"
}

// Inference says where cross-region inference ran.
type Inference struct {
	// Region is additionalEventData.inferenceRegion: where the model ran
	// when the request was rerouted; empty when it ran in Event.Region.
	Region string
	// Global reports that a global.* inference profile was used.
	Global bool
	// Geography is the inference-profile prefix ("us", "eu", "apac",
	// "global", …), empty for a plain model id.
	Geography string
}

// PrincipalType is userIdentity.type, normalised.
type PrincipalType string

// Principal types, as CloudTrail names them.
const (
	PrincipalIAMUser       PrincipalType = "IAMUser"
	PrincipalAssumedRole   PrincipalType = "AssumedRole"
	PrincipalRoot          PrincipalType = "Root"
	PrincipalFederatedUser PrincipalType = "FederatedUser"
	PrincipalAWSService    PrincipalType = "AWSService"
	PrincipalAWSAccount    PrincipalType = "AWSAccount"
	PrincipalIdentityCtr   PrincipalType = "IdentityCenterUser"
	PrincipalWebIdentity   PrincipalType = "WebIdentityUser"
	PrincipalSAMLUser      PrincipalType = "SAMLUser"
	PrincipalUnknown       PrincipalType = "Unknown"
)

// Principal is who made the call.
type Principal struct {
	Type PrincipalType
	// ARN is the identity to judge and to remediate: the IAM user ARN; for
	// an assumed role, the role ARN from sessionContext.sessionIssuer (not
	// the sts assumed-role ARN); the root ARN for Root; the service name
	// for AWSService.
	ARN         string
	RawARN      string // userIdentity.arn as written
	Name        string // user or role name (last path element)
	Path        string // IAM path of the user or role, "/" when none
	SessionName string // for AssumedRole and FederatedUser
	Account     string
	AccessKeyID string
	PrincipalID string
	// IdentityCenter marks roles under aws-reserved/sso.amazonaws.com/.
	IdentityCenter bool
	// ServiceLinked marks roles under aws-service-role/.
	ServiceLinked bool
	// InvokedBy is userIdentity.invokedBy: the AWS service that called on
	// the principal's behalf, e.g. "bedrock.amazonaws.com".
	InvokedBy string
	// BearerToken reports that a Bedrock API key authenticated the call:
	// callWithBearerToken is true in additionalEventData (bedrock) or in
	// requestParameters (bedrock-mantle, which records it on every event).
	BearerToken bool
	// BearerTokenType is bearerTokenType as recorded next to
	// callWithBearerToken ("SHORT_TERM", "LONG_TERM"), "" when absent.
	BearerTokenType string
	// LongTermKey reports a long-term IAM user access key (AKIA…): the
	// credential LLM-jacking steals, unlike the ASIA… keys of sessions.
	LongTermKey bool
	MFA         bool
}

// ModelKind is what a model identifier points at.
type ModelKind string

// Model kinds.
const (
	ModelNone                  ModelKind = ""
	ModelFoundation            ModelKind = "foundation-model"
	ModelSystemProfile         ModelKind = "system-inference-profile"
	ModelApplicationProfile    ModelKind = "application-inference-profile"
	ModelProvisioned           ModelKind = "provisioned-model"
	ModelCustom                ModelKind = "custom-model"
	ModelImported              ModelKind = "imported-model"
	ModelPrompt                ModelKind = "prompt"
	ModelMarketplace           ModelKind = "marketplace-endpoint"
	ModelCustomModelDeployment ModelKind = "custom-model-deployment"
	ModelUnknown               ModelKind = "unknown"
)

// Model is the model a call named.
type Model struct {
	Kind ModelKind
	// Raw is the identifier exactly as the request gave it.
	Raw string
	// Base is the foundation-model id when it can be derived (geography
	// prefix stripped, ARN parsed), e.g. "anthropic.claude-3-5-sonnet-20240620-v1:0";
	// empty for opaque ARNs (application profile, provisioned, custom,
	// imported).
	Base string
	// Region and Account come from an ARN; empty for bare ids.
	Region    string
	Account   string
	Partition string // "aws", "aws-cn", "aws-us-gov" when from an ARN
	// Geography is the inference-profile prefix without the dot
	// ("us", "eu", "apac", "au", "jp", "ca", "us-gov", "global").
	Geography string
}

// ID returns the best identifier to judge: Base when known, else Raw.
func (m Model) ID() string {
	if m.Base != "" {
		return m.Base
	}
	return m.Raw
}

// Caller is where the call came from.
type Caller struct {
	// IP is the source address when sourceIPAddress is an IPv4 or IPv6
	// address; invalid otherwise.
	IP netip.Addr
	// Service is set when sourceIPAddress is an AWS service name
	// ("bedrock.amazonaws.com").
	Service string
	// Internal is set for sourceIPAddress "AWS Internal".
	Internal bool
	// Raw is sourceIPAddress as written.
	Raw           string
	VPCEndpointID string
	UserAgent     string
	// Host is tlsDetails.clientProvidedHostHeader.
	Host string
	// Runtime reports a runtime endpoint host (bedrock-runtime.*,
	// bedrock-mantle.*) rather than the control plane (bedrock.*).
	Runtime bool
}

// Outcome is how the call ended.
type Outcome struct {
	ErrorCode    string
	ErrorMessage string
	// Denied reports an authorisation refusal: AccessDenied,
	// AccessDeniedException, UnauthorizedOperation, or a
	// ResourceNotFoundException whose message says "Access denied". The
	// call did not happen.
	Denied bool
	// AccessDeniedMessage reports an error message saying "access denied",
	// whatever the code (Bedrock answers legacy or unsubscribed models with
	// ResourceNotFoundException and such a message).
	AccessDeniedMessage bool
}

// Success reports that the call raised no error.
func (o Outcome) Success() bool { return o.ErrorCode == "" }

// Detach returns a copy of e whose strings share no memory with the
// record it was normalised from: the decoder's strings point into buffers
// it reuses, so an event kept beyond its batch (the CLI's sequence
// judgement) must be detached first.
func (e *Event) Detach() Event {
	c := strings.Clone
	d := *e
	d.ID, d.Name, d.Source, d.Account, d.Region = c(e.ID), c(e.Name), c(e.Source), c(e.Account), c(e.Region)
	d.RequestID, d.EventType = c(e.RequestID), c(e.EventType)
	d.Inference.Region, d.Inference.Geography = c(e.Inference.Region), c(e.Inference.Geography)
	p := &d.Principal
	p.ARN, p.RawARN, p.Name, p.Path, p.SessionName = c(p.ARN), c(p.RawARN), c(p.Name), c(p.Path), c(p.SessionName)
	p.Account, p.AccessKeyID, p.PrincipalID, p.InvokedBy, p.BearerTokenType = c(p.Account), c(p.AccessKeyID), c(p.PrincipalID), c(p.InvokedBy), c(p.BearerTokenType)
	m := &d.Model
	m.Raw, m.Base, m.Region, m.Account, m.Partition, m.Geography = c(m.Raw), c(m.Base), c(m.Region), c(m.Account), c(m.Partition), c(m.Geography)
	k := &d.Caller
	k.Service, k.Raw, k.VPCEndpointID, k.UserAgent, k.Host = c(k.Service), c(k.Raw), c(k.VPCEndpointID), c(k.UserAgent), c(k.Host)
	d.Outcome.ErrorCode, d.Outcome.ErrorMessage = c(e.Outcome.ErrorCode), c(e.Outcome.ErrorMessage)
	d.Origin.Source, d.Origin.MessageID = c(e.Origin.Source), c(e.Origin.MessageID)
	d.IAM.UserName, d.IAM.ServiceName, d.IAM.PolicyARN = c(e.IAM.UserName), c(e.IAM.ServiceName), c(e.IAM.PolicyARN)
	return d
}
