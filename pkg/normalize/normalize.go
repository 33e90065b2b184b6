package normalize

import (
	"encoding/json"
	"net/netip"
	"strings"

	"github.com/bedrock-warden/warden/pkg/decode"
)

// Normalize interprets one decoded CloudTrail record. It is total: it never
// panics and never fails. A partial record gives a partial Event (empty
// fields, zero Model, PrincipalUnknown); malformed requestParameters or
// additionalEventData are ignored field by field. A nil rec gives an Event
// carrying only origin, marked Unsupported.
//
// Placeholder values such as "[REDACTED]" (public samples are redacted)
// count as absent in accounts, ARNs, regions, names, access keys and
// endpoint ids; the Raw fields keep what the record said. A placeholder
// model id is kept instead, as a ModelUnknown, so that allow-list rules
// fail closed on it.
//
// The hot path costs two allocations for a typical invocation (the model
// id and inference region are copied out of the record's JSON); it uses
// no regexp and no maps, and encoding/json only to unescape a string that
// contains backslash escapes.
func Normalize(rec *decode.Record, origin decode.Origin) Event {
	ev := Event{Origin: origin}
	if rec == nil {
		ev.Unsupported = true
		ev.Principal.Type = PrincipalUnknown
		return ev
	}
	ev.ID = strings.TrimSpace(rec.EventID)
	ev.Name = strings.TrimSpace(rec.EventName)
	ev.Source = strings.TrimSpace(rec.EventSource)
	ev.Time = rec.Time
	ev.ReadOnly = rec.ReadOnly != nil && *rec.ReadOnly
	ev.Category = Classify(ev.Source, ev.Name)
	ev.Region = present(rec.AWSRegion)
	ev.RequestID = strings.TrimSpace(rec.RequestID)
	ev.EventType = strings.TrimSpace(rec.EventType)
	ev.Unsupported = !IsBedrockSource(ev.Source)

	ev.Principal = principal(&rec.UserIdentity)
	ev.Account = present(rec.RecipientAccountID)
	if ev.Account == "" {
		ev.Account = ev.Principal.Account
	}

	var req, extra fields
	req.decode(rec.RequestParameters)
	extra.decode(rec.AdditionalEventData)
	if ev.Source == SourceIAM {
		iam := IAMRequest{UserName: present(req.UserName), ServiceName: present(req.ServiceName), PolicyARN: present(req.PolicyARN)}
		if IsAPIKeyIAMCall(ev.Name, iam) {
			ev.IAM = iam
			ev.Category = CategoryControlPlane
			ev.Unsupported = false
		}
	}
	// The API-key flag sits in additionalEventData for bedrock and in
	// requestParameters for bedrock-mantle; either place counts, and so
	// does the token type wherever it is.
	ev.Principal.BearerToken = req.CallWithBearerToken || extra.CallWithBearerToken
	ev.Principal.BearerTokenType = present(extra.BearerTokenType)
	if ev.Principal.BearerTokenType == "" {
		ev.Principal.BearerTokenType = present(req.BearerTokenType)
	}
	ev.Principal.LongTermKey = strings.HasPrefix(ev.Principal.AccessKeyID, "AKIA")

	ev.Model = modelFor(ev.Source, ev.Name, &req)
	if r := present(extra.InferenceRegion); r != ev.Region {
		ev.Inference.Region = r
	}
	ev.Inference.Geography = ev.Model.Geography
	ev.Inference.Global = ev.Model.Geography == "global"

	ev.Caller = caller(rec, ev.Category == CategoryInvocation || isInvocationName(ev.Name))
	ev.Outcome = outcome(rec.ErrorCode, rec.ErrorMessage)
	return ev
}

// fields are the few members of requestParameters and additionalEventData
// the normaliser reads. Both objects are scanned into the same shape: each
// only has some of these members.
type fields struct {
	// requestParameters (bedrock.amazonaws.com)
	ModelID             string // modelId
	BaseModelIdentifier string // baseModelIdentifier
	ImportedModelName   string // importedModelName
	CopyFrom            string // modelSource.copyFrom
	ModelIdentifier     string // modelIdentifier (GetFoundationModel, GetCustomModel, DeleteCustomModel, …)
	ModelARN            string // modelArn (CreateCustomModelDeployment)
	SourceModelARN      string // sourceModelArn (CreateModelCopyJob)
	ModelSourceID       string // modelSourceIdentifier (CreateMarketplaceModelEndpoint)
	// requestParameters (bedrock-mantle.amazonaws.com, OpenAI-style)
	Model string // model
	// additionalEventData
	InferenceRegion string // inferenceRegion
	// callWithBearerToken: in additionalEventData for bedrock.amazonaws.com,
	// in requestParameters for bedrock-mantle.amazonaws.com; true or "true".
	CallWithBearerToken bool
	BearerTokenType     string // bearerTokenType, beside callWithBearerToken
	// requestParameters (iam.amazonaws.com)
	UserName    string // userName
	ServiceName string // serviceName
	PolicyARN   string // policyArn
}

// decode fills f from a JSON object, best effort: a member of an
// unexpected type reads as empty, anything that is not an object leaves f
// zero, and members after a syntax error are ignored.
func (f *fields) decode(raw json.RawMessage) {
	m := newMembers(raw)
	for {
		key, val, ok := m.next()
		if !ok {
			return
		}
		switch string(key) {
		case "modelId":
			f.ModelID = jsonString(val)
		case "baseModelIdentifier":
			f.BaseModelIdentifier = jsonString(val)
		case "importedModelName":
			f.ImportedModelName = jsonString(val)
		case "modelSource":
			src := newMembers(val)
			for {
				k, v, ok := src.next()
				if !ok {
					break
				}
				if string(k) == "copyFrom" {
					f.CopyFrom = jsonString(v)
				}
			}
		case "modelIdentifier":
			f.ModelIdentifier = jsonString(val)
		case "modelArn":
			f.ModelARN = jsonString(val)
		case "sourceModelArn":
			f.SourceModelARN = jsonString(val)
		case "modelSourceIdentifier":
			f.ModelSourceID = jsonString(val)
		case "model":
			f.Model = jsonString(val)
		case "inferenceRegion":
			f.InferenceRegion = jsonString(val)
		case "callWithBearerToken":
			f.CallWithBearerToken = jsonTrue(val)
		case "bearerTokenType":
			f.BearerTokenType = jsonString(val)
		case "userName":
			f.UserName = jsonString(val)
		case "serviceName":
			f.ServiceName = jsonString(val)
		case "policyArn":
			f.PolicyARN = jsonString(val)
		}
	}
}

// modelFor picks the model identifier the call names, by eventName:
//
//	CreateModelCustomizationJob     baseModelIdentifier
//	CreateModelImportJob            importedModelName (Kind imported-model, Raw only)
//	CreateInferenceProfile          modelSource.copyFrom
//	CreateCustomModelDeployment     modelArn
//	CreateModelCopyJob              sourceModelArn
//	CreateMarketplaceModelEndpoint  modelSourceIdentifier
//	bedrock-mantle calls            model
//	any other call                  modelId, else modelIdentifier, else model
//
// InvokeModel, Converse, StartAsyncInvoke, CountTokens,
// CreateProvisionedModelThroughput, CreateModelInvocationJob,
// PutFoundationModelEntitlement, GetFoundationModelAvailability and
// CreateFoundationModelAgreement all name the model in modelId.
func modelFor(source, name string, f *fields) Model {
	var id string
	switch name {
	case "CreateModelCustomizationJob":
		id = f.BaseModelIdentifier
	case "CreateModelImportJob":
		// The name of the model being imported: not a model id.
		if !blank(f.ImportedModelName) {
			return Model{Kind: ModelImported, Raw: f.ImportedModelName}
		}
	case "CreateInferenceProfile":
		id = f.CopyFrom
	case "CreateCustomModelDeployment":
		id = f.ModelARN
	case "CreateModelCopyJob":
		id = f.SourceModelARN
	case "CreateMarketplaceModelEndpoint":
		id = f.ModelSourceID
	}
	if source == SourceMantle && blank(id) {
		id = f.Model
	}
	for _, alt := range [...]string{f.ModelID, f.ModelIdentifier, f.Model} {
		if !blank(id) {
			break
		}
		id = alt
	}
	return ParseModelID(id)
}

// blank reports an empty or all-space identifier. Placeholders such as
// "[REDACTED]" are not blank here: the model they hide is unknown, which
// rules must see (fail closed), rather than absent.
func blank(s string) bool { return strings.TrimSpace(s) == "" }

// caller interprets sourceIPAddress, vpcEndpointId, userAgent and the TLS
// host. IP is zone-free and IPv4-mapped IPv6 addresses are unmapped to IPv4
// so that IPv4 CIDRs match them. invocation says whether a missing host
// means the runtime endpoint.
func caller(rec *decode.Record, invocation bool) Caller {
	c := Caller{
		Raw:           rec.SourceIPAddress,
		VPCEndpointID: present(rec.VPCEndpointID),
		UserAgent:     rec.UserAgent,
	}
	if rec.TLSDetails != nil {
		c.Host = present(rec.TLSDetails.ClientProvidedHostHeader)
	}
	raw := strings.TrimSpace(rec.SourceIPAddress)
	switch {
	case raw == "":
	case strings.EqualFold(raw, "AWS Internal"):
		c.Internal = true
	default:
		if ip, err := netip.ParseAddr(raw); err == nil {
			c.IP = ip.WithZone("").Unmap()
		} else if isDNSName(raw) {
			c.Service = raw
		}
	}
	c.Runtime = isRuntimeHost(c.Host) || (c.Host == "" && invocation)
	return c
}

// isRuntimeHost reports a bedrock-runtime or bedrock-mantle host
// (including their -fips variants).
func isRuntimeHost(host string) bool {
	for _, p := range [...]string{"bedrock-runtime", "bedrock-mantle"} {
		if len(host) > len(p) && strings.EqualFold(host[:len(p)], p) {
			if c := host[len(p)]; c == '.' || c == '-' {
				return true
			}
		}
	}
	return false
}

// isDNSName reports whether s is a dotted host name of letters, digits and
// hyphens whose last label has a letter ("bedrock.amazonaws.com").
func isDNSName(s string) bool {
	if len(s) > 253 || strings.IndexByte(s, '.') < 0 {
		return false
	}
	labelLen, letter := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if labelLen == 0 {
				return false
			}
			labelLen, letter = 0, false
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			labelLen++
			letter = true
		case c >= '0' && c <= '9' || c == '-':
			labelLen++
		default:
			return false
		}
		if labelLen > 63 {
			return false
		}
	}
	return labelLen > 0 && letter
}

// outcome interprets errorCode and errorMessage.
func outcome(code, msg string) Outcome {
	o := Outcome{ErrorCode: strings.TrimSpace(code), ErrorMessage: msg}
	if o.ErrorCode == "" {
		return o
	}
	o.AccessDeniedMessage = containsFold(msg, "access denied")
	switch o.ErrorCode {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Client.UnauthorizedOperation":
		o.Denied = true
	case "ResourceNotFoundException":
		// Bedrock answers legacy or unsubscribed models this way, with
		// "Access denied. This Model is marked by provider as Legacy…".
		o.Denied = o.AccessDeniedMessage
	}
	return o
}

// containsFold reports whether sub is in s, ASCII case-insensitively,
// without allocating.
func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], sub) {
			return true
		}
	}
	return false
}
