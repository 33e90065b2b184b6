package corpus

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// The wire form of what the generator writes: an EventBridge envelope around
// a CloudTrail record. Field order follows CloudTrail's.
type envelope struct {
	Version    string   `json:"version"`
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"`
	Region     string   `json:"region"`
	Resources  []string `json:"resources"`
	Detail     record   `json:"detail"`
}

type record struct {
	EventVersion         string         `json:"eventVersion"`
	UserIdentity         identity       `json:"userIdentity"`
	EventTime            string         `json:"eventTime"`
	EventSource          string         `json:"eventSource"`
	EventName            string         `json:"eventName"`
	AWSRegion            string         `json:"awsRegion"`
	SourceIPAddress      string         `json:"sourceIPAddress"`
	UserAgent            string         `json:"userAgent"`
	ErrorCode            string         `json:"errorCode,omitempty"`
	ErrorMessage         string         `json:"errorMessage,omitempty"`
	RequestParameters    map[string]any `json:"requestParameters"`
	ResponseElements     map[string]any `json:"responseElements"`
	AdditionalEventData  map[string]any `json:"additionalEventData,omitempty"`
	RequestID            string         `json:"requestID"`
	EventID              string         `json:"eventID"`
	ReadOnly             bool           `json:"readOnly"`
	EventType            string         `json:"eventType"`
	ManagementEvent      bool           `json:"managementEvent"`
	RecipientAccountID   string         `json:"recipientAccountId"`
	EventCategory        string         `json:"eventCategory"`
	VPCEndpointID        string         `json:"vpcEndpointId,omitempty"`
	VPCEndpointAccountID string         `json:"vpcEndpointAccountId,omitempty"`
	TLSDetails           *tlsDetails    `json:"tlsDetails,omitempty"`
}

type identity struct {
	Type           string          `json:"type"`
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	SessionContext *sessionContext `json:"sessionContext,omitempty"`
	InvokedBy      string          `json:"invokedBy,omitempty"`
}

type sessionContext struct {
	SessionIssuer *issuer           `json:"sessionIssuer,omitempty"`
	Attributes    sessionAttributes `json:"attributes"`
}

type issuer struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
	ARN         string `json:"arn"`
	AccountID   string `json:"accountId"`
	UserName    string `json:"userName"`
}

type sessionAttributes struct {
	CreationDate     string `json:"creationDate"`
	MFAAuthenticated string `json:"mfaAuthenticated"`
}

type tlsDetails struct {
	TLSVersion               string `json:"tlsVersion"`
	CipherSuite              string `json:"cipherSuite"`
	ClientProvidedHostHeader string `json:"clientProvidedHostHeader"`
}

// gen is the state of one generation: the seeded source and the clock.
type gen struct {
	rng *rand.Rand
	now time.Time
	gap time.Duration // events follow each other by up to this much
}

func newGen(seed int64) *gen {
	return &gen{rng: rand.New(rand.NewPCG(uint64(seed), 0x57415244454e)), now: baseTime, gap: defaultGap}
}

func pick[T any](g *gen, list []T) T { return list[g.rng.IntN(len(list))] }

// chance reports true with probability p.
func (g *gen) chance(p float64) bool { return g.rng.Float64() < p }

func (g *gen) uuid() string {
	r := g.rng
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x",
		r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, 0x8000|r.Uint32()&0x3fff, r.Uint64()&0xffffffffffff)
}

func (g *gen) hex(n int) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for range n {
		b.WriteByte(digits[g.rng.IntN(16)])
	}
	return b.String()
}

func (g *gen) upper(n int) string {
	const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var b strings.Builder
	for range n {
		b.WriteByte(digits[g.rng.IntN(len(digits))])
	}
	return b.String()
}

// Accounts: the main workload account, a second one in the organisation,
// and a 10-digit id as some public samples carry.
var accounts = []string{"111122223333", "111122223333", "111122223333", "444455556666", "1234567890"}

// roleNames of assumed application roles; the strict sample policy allows
// app-* and PlatformAdmin.
var appRoles = []string{"app-chat", "app-batch", "app-rag", "app-summarise", "PlatformAdmin"}

// otherRoles fall outside the strict policy's principals.allow.
var otherRoles = []string{"data-export", "analytics-etl", "legacy-worker"}

var users = []struct{ name, path string }{
	{"alice", "/"}, {"bob", "/"}, {"svc-reporting", "/service/"}, {"ci-deployer", "/"},
}

var ssoPermissionSets = []string{"DataScientist", "Developer", "ReadOnlyAnalyst"}

var sessionNames = []string{"chat-7f3a", "batch-20261120", "botocore-session-1795701791", "i-0a1b2c3d4e5f67890", "lambda-handler"}

var ssoUsers = []string{"jane.doe@example.com", "raj.patel@example.com", "li.wei@example.com"}

func (g *gen) sessionAttrs() sessionAttributes {
	return sessionAttributes{
		CreationDate:     g.now.Add(-time.Duration(g.rng.IntN(3600)) * time.Second).Format(time.RFC3339),
		MFAAuthenticated: "false",
	}
}

// assumedRole returns an AssumedRole identity for role at path ("/" or
// "/aws-reserved/…/").
func (g *gen) assumedRole(account, path, role, session string) identity {
	roleID := "AROA" + g.upper(17)
	return identity{
		Type:        "AssumedRole",
		PrincipalID: roleID + ":" + session,
		ARN:         "arn:aws:sts::" + account + ":assumed-role/" + role + "/" + session,
		AccountID:   account,
		AccessKeyID: "ASIA" + g.upper(16),
		SessionContext: &sessionContext{
			SessionIssuer: &issuer{
				Type: "Role", PrincipalID: roleID, ARN: "arn:aws:iam::" + account + ":role" + path + role,
				AccountID: account, UserName: role,
			},
			Attributes: g.sessionAttrs(),
		},
	}
}

func (g *gen) iamUser(account, path, name string) identity {
	return identity{
		Type:        "IAMUser",
		PrincipalID: "AIDA" + g.upper(17),
		ARN:         "arn:aws:iam::" + account + ":user" + path + name,
		AccountID:   account,
		AccessKeyID: "AKIA" + g.upper(16),
		UserName:    name,
	}
}

// benignPrincipal draws an ordinary caller: application roles most of the
// time, then Identity Center users, IAM users and the break-glass role.
func (g *gen) benignPrincipal(account string) identity {
	switch r := g.rng.IntN(100); {
	case r < 55:
		return g.assumedRole(account, "/", pick(g, appRoles), pick(g, sessionNames))
	case r < 75:
		set := pick(g, ssoPermissionSets)
		role := "AWSReservedSSO_" + set + "_" + g.hex(16)
		return g.assumedRole(account, "/aws-reserved/sso.amazonaws.com/"+pick(g, []string{"us-east-1", "eu-west-1"})+"/", role, pick(g, ssoUsers))
	case r < 85:
		return g.assumedRole(account, "/", pick(g, otherRoles), pick(g, sessionNames))
	case r < 98:
		u := pick(g, users)
		return g.iamUser(account, u.path, u.name)
	default:
		return g.assumedRole(account, "/", "BreakGlassAdmin", pick(g, ssoUsers))
	}
}

// Models the default policy allows, as bare foundation-model ids.
var allowedModels = []string{
	"anthropic.claude-3-5-sonnet-20240620-v1:0",
	"anthropic.claude-3-5-sonnet-20241022-v2:0",
	"anthropic.claude-3-7-sonnet-20250219-v1:0",
	"anthropic.claude-sonnet-4-20250514-v1:0",
	"anthropic.claude-sonnet-4-5-20250929-v1:0",
	"anthropic.claude-3-5-haiku-20241022-v1:0",
	"anthropic.claude-3-haiku-20240307-v1:0",
	"amazon.nova-pro-v1:0",
	"amazon.nova-lite-v1:0",
	"amazon.nova-micro-v1:0",
	"meta.llama3-1-70b-instruct-v1:0",
	"meta.llama3-3-70b-instruct-v1:0",
}

// Embedding models: InvokeModel only.
var embeddingModels = []string{
	"amazon.titan-embed-text-v2:0",
	"cohere.embed-english-v3",
	"cohere.embed-multilingual-v3",
}

// strictModels are allowed by both the default and the strict sample policy.
var strictModels = []string{
	"anthropic.claude-3-5-sonnet-20240620-v1:0",
	"anthropic.claude-3-5-haiku-20241022-v1:0",
	"anthropic.claude-sonnet-4-20250514-v1:0",
	"amazon.nova-pro-v1:0",
	"amazon.nova-lite-v1:0",
}

// Models the default policy reports: denied (opus, legacy) or not allowed.
var unauthorizedModels = []string{
	"anthropic.claude-3-opus-20240229-v1:0",
	"us.anthropic.claude-opus-4-1-20250805-v1:0",
	"anthropic.claude-v2:1",
	"anthropic.claude-instant-v1",
	"anthropic.claude-3-sonnet-20240229-v1:0",
	"mistral.mistral-large-2402-v1:0",
	"us.deepseek.r1-v1:0",
	"ai21.jamba-1-5-large-v1:0",
}

// Calling regions the default policy allows, weighted towards us-east-1,
// with the inference-profile geography each belongs to and where that
// geography's profiles may reroute.
var allowedRegions = []string{"us-east-1", "us-east-1", "us-east-1", "us-east-2", "us-west-2", "us-west-2", "eu-west-1", "eu-central-1"}

var geoDestinations = map[string][]string{
	"us": {"us-east-1", "us-east-2", "us-west-2"},
	"eu": {"eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1"},
}

func geographyOf(region string) string {
	if strings.HasPrefix(region, "eu-") {
		return "eu"
	}
	return "us"
}

var invocationNames = []string{
	"InvokeModel", "InvokeModel", "InvokeModel", "InvokeModel",
	"Converse", "Converse", "Converse",
	"InvokeModelWithResponseStream", "InvokeModelWithResponseStream",
	"ConverseStream", "CountTokens",
}

var userAgents = []string{
	"Boto3/1.35.44 md/Botocore#1.35.44 ua/2.1 os/linux#6.1.109 md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard Botocore/1.35.44",
	"aws-sdk-go-v2/1.32.4 ua/2.1 os/linux lang/go#1.23.2 md/GOOS#linux md/GOARCH#arm64 api/bedrockruntime#1.20.3",
	"aws-sdk-js/3.687.0 ua/2.1 os/linux#5.10.227-239.884.amzn2.x86_64 lang/js md/nodejs#20.18.0 api/bedrock-runtime#3.687.0",
	"aws-cli/2.18.14 md/awscrt#0.22.0 ua/2.0 os/macos#24.1.0 md/arch#arm64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off md/command#bedrock-runtime.invoke-model",
	"langchain-aws/0.2.7 Boto3/1.35.54 md/Botocore#1.35.54 ua/2.0 os/linux#6.8.0 md/arch#x86_64 lang/python#3.11.10",
}

const consoleAgent = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// VPC endpoints in the workload account; the first is the strict policy's.
var vpcEndpoints = []string{"vpce-0a1b2c3d4e5f60718", "vpce-0a1b2c3d4e5f60718", "vpce-09f8e7d6c5b4a3921"}

// caller is where a call came from.
type caller struct {
	ip, vpce, invokedBy, agent string
}

func (g *gen) privateIP() string {
	return fmt.Sprintf("10.%d.%d.%d", g.rng.IntN(64), g.rng.IntN(256), 1+g.rng.IntN(254))
}

// benignCaller draws a source: VPC endpoint with a private address, a
// public IPv4 or IPv6 egress address, or an AWS service acting for the
// principal.
func (g *gen) benignCaller() caller {
	switch r := g.rng.IntN(100); {
	case r < 45:
		return caller{ip: g.privateIP(), vpce: pick(g, vpcEndpoints), agent: pick(g, userAgents)}
	case r < 70:
		return caller{ip: fmt.Sprintf("203.0.113.%d", 1+g.rng.IntN(254)), agent: pick(g, userAgents)}
	case r < 85:
		return caller{ip: fmt.Sprintf("2001:db8:4f1e:%x::%x", g.rng.IntN(0xffff), 1+g.rng.IntN(0xfff)), agent: pick(g, userAgents)}
	case r < 95:
		return caller{ip: "bedrock.amazonaws.com", invokedBy: "bedrock.amazonaws.com", agent: "bedrock.amazonaws.com"}
	default:
		return caller{ip: "AWS Internal", agent: "AWS Internal"}
	}
}

// invocation is the variable part of an invocation record.
type invocation struct {
	who       identity
	from      caller
	region    string
	name      string
	modelID   string
	inference string // additionalEventData.inferenceRegion, "" for none
	bearer    bool
	errCode   string
	errMsg    string
}

// allowedModelCall draws an allowed model in one of its forms for a call
// from region: a bare id, a geography profile (with where it ran), a
// foundation-model ARN or an inference-profile ARN.
func (g *gen) allowedModelCall(region, account string, models []string) (modelID, inference string) {
	base := pick(g, models)
	geo := geographyOf(region)
	switch r := g.rng.IntN(100); {
	case r < 50:
		return base, ""
	case r < 80:
		ir := pick(g, geoDestinations[geo])
		if g.chance(0.2) {
			ir = "" // profile call served in the calling region: no inferenceRegion
		}
		return geo + "." + base, ir
	case r < 90:
		return "arn:aws:bedrock:" + region + "::foundation-model/" + base, ""
	default:
		return "arn:aws:bedrock:" + region + ":" + account + ":inference-profile/" + geo + "." + base, pick(g, geoDestinations[geo])
	}
}

func (g *gen) benignInvocation(account string) invocation {
	inv := invocation{
		who:    g.benignPrincipal(account),
		from:   g.benignCaller(),
		region: pick(g, allowedRegions),
		name:   pick(g, invocationNames),
	}
	if inv.name == "InvokeModel" && g.chance(0.15) {
		inv.modelID = pick(g, embeddingModels)
		return inv
	}
	inv.modelID, inv.inference = g.allowedModelCall(inv.region, account, allowedModels)
	if inv.who.SessionContext != nil && strings.HasPrefix(inv.who.SessionContext.SessionIssuer.UserName, "BreakGlass") && g.chance(0.5) {
		// The break-glass role is exempt: even a denied model is quiet.
		inv.modelID = "anthropic.claude-3-opus-20240229-v1:0"
		inv.inference = ""
	}
	return inv
}

// event builds envelope i of kind k.
func (g *gen) event(i int, k Kind) envelope {
	g.now = g.now.Add(time.Duration(g.rng.Int64N(int64(g.gap/time.Millisecond))) * time.Millisecond)
	account := pick(g, accounts)
	var rec record
	switch k {
	case KindBenign:
		rec = g.invocationRecord(account, g.benignInvocation(account))
	case KindModel:
		inv := g.benignInvocation(account)
		inv.who = g.assumedRole(account, "/", pick(g, appRoles), pick(g, sessionNames))
		inv.modelID = pick(g, unauthorizedModels)
		inv.inference = ""
		if strings.HasPrefix(inv.modelID, "us.") {
			inv.region = "us-east-1"
			inv.inference = pick(g, geoDestinations["us"])
		} else if g.chance(0.3) {
			inv.modelID = "arn:aws:bedrock:" + inv.region + ":" + account + ":imported-model/" + g.hex(12)
		}
		rec = g.invocationRecord(account, inv)
	case KindRegion:
		inv := g.benignInvocation(account)
		inv.who = g.assumedRole(account, "/", pick(g, appRoles), pick(g, sessionNames))
		switch g.rng.IntN(3) {
		case 0: // calling region outside regions.allow
			inv.region = pick(g, []string{"ap-southeast-1", "ap-northeast-1", "sa-east-1", "ap-south-1"})
			inv.modelID, inv.inference = pick(g, allowedModels), ""
		case 1: // global profile: inference anywhere
			inv.region = pick(g, []string{"us-east-1", "us-west-2", "eu-west-1"})
			inv.modelID = pick(g, []string{"global.anthropic.claude-sonnet-4-20250514-v1:0", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "global.amazon.nova-2-lite-v1:0"})
			inv.inference = pick(g, []string{"ap-northeast-1", "eu-west-2", "us-east-2", "ap-southeast-2"})
		default: // allowed calling region, rerouted outside regions.inference
			inv.region = "us-east-2"
			inv.modelID = "us." + pick(g, strictModels)
			inv.inference = "ca-central-1"
		}
		rec = g.invocationRecord(account, inv)
	case KindSourceIP:
		inv := g.benignInvocation(account)
		inv.who = g.assumedRole(account, "/", pick(g, appRoles[:4]), pick(g, sessionNames))
		inv.region = pick(g, []string{"us-east-1", "us-west-2"})
		inv.modelID, inv.inference = pick(g, strictModels), ""
		inv.from = caller{ip: pick(g, []string{
			fmt.Sprintf("198.51.100.%d", 1+g.rng.IntN(254)),
			fmt.Sprintf("185.220.101.%d", 1+g.rng.IntN(254)),
			fmt.Sprintf("2a02:6b8:%x::%x", g.rng.IntN(0xffff), 1+g.rng.IntN(0xfff)),
		}), agent: pick(g, userAgents)}
		rec = g.invocationRecord(account, inv)
	case KindPrincipal:
		inv := g.benignInvocation(account)
		inv.who = g.assumedRole(account, "/", pick(g, otherRoles), pick(g, sessionNames))
		inv.region = pick(g, []string{"us-east-1", "us-west-2"})
		inv.modelID, inv.inference = pick(g, strictModels), ""
		inv.from = caller{ip: g.privateIP(), vpce: vpcEndpoints[0], agent: pick(g, userAgents)}
		rec = g.invocationRecord(account, inv)
	case KindAPIKey:
		inv := g.benignInvocation(account)
		suffix := g.hex(4)
		inv.who = g.iamUser(account, "/", "BedrockAPIKey_"+suffix)
		inv.who.AccessKeyID = "ABSK" + g.upper(20)
		inv.region = pick(g, []string{"us-east-1", "us-west-2"})
		inv.modelID, inv.inference = pick(g, strictModels), ""
		inv.bearer = true
		rec = g.invocationRecord(account, inv)
	case KindDenied:
		inv := g.benignInvocation(account)
		inv.who = g.iamUser(account, "/", "ci-deployer")
		inv.from = caller{ip: fmt.Sprintf("198.44.136.%d", 1+g.rng.IntN(254)), agent: pick(g, userAgents)}
		inv.region = pick(g, allowedRegions)
		inv.inference = ""
		switch g.rng.IntN(3) {
		case 0:
			inv.modelID, inv.errCode = pick(g, unauthorizedModels), "AccessDenied"
			inv.errMsg = "You don't have access to the model with the specified model ID."
		case 1:
			inv.modelID, inv.errCode = pick(g, allowedModels), "AccessDeniedException"
			inv.errMsg = "User: " + inv.who.ARN + " is not authorized to perform: bedrock:InvokeModel on resource: arn:aws:bedrock:" + inv.region + "::foundation-model/" + pick(g, allowedModels) + " because no identity-based policy allows the bedrock:InvokeModel action"
		default:
			inv.modelID, inv.errCode = "anthropic.claude-v2:1", "ResourceNotFoundException"
			inv.errMsg = "Access denied. This Model is marked by provider as Legacy and you have not been actively using the model in the last 30 days. Please upgrade to an active model on Amazon Bedrock"
		}
		rec = g.invocationRecord(account, inv)
	default:
		rec = g.controlRecord(account, k)
	}
	return envelope{
		Version:    "0",
		ID:         g.uuid(),
		DetailType: "AWS API Call via CloudTrail",
		Source:     "aws.bedrock",
		Account:    account,
		Time:       rec.EventTime,
		Region:     rec.AWSRegion,
		Resources:  []string{},
		Detail:     rec,
	}
}

func (g *gen) common(account string, who identity, region, name string) record {
	return record{
		EventVersion:       "1.11",
		UserIdentity:       who,
		EventTime:          g.now.Format(time.RFC3339),
		EventSource:        "bedrock.amazonaws.com",
		EventName:          name,
		AWSRegion:          region,
		RequestID:          g.uuid(),
		EventID:            g.uuid(),
		EventType:          "AwsApiCall",
		ManagementEvent:    true,
		RecipientAccountID: account,
		EventCategory:      "Management",
	}
}

func (g *gen) invocationRecord(account string, inv invocation) record {
	rec := g.common(account, inv.who, inv.region, inv.name)
	rec.ReadOnly = true
	rec.SourceIPAddress = inv.from.ip
	rec.UserAgent = inv.from.agent
	if inv.from.invokedBy != "" {
		rec.UserIdentity.InvokedBy = inv.from.invokedBy
	}
	rec.RequestParameters = map[string]any{"modelId": inv.modelID}
	if inv.name == "ConverseStream" || inv.name == "InvokeModelWithResponseStream" {
		rec.RequestParameters["performanceConfig"] = map[string]any{"latency": "standard"}
	}
	add := map[string]any{}
	if inv.inference != "" {
		add["inferenceRegion"] = inv.inference
	}
	if inv.bearer {
		add["callWithBearerToken"] = true
	}
	if len(add) > 0 {
		rec.AdditionalEventData = add
	}
	rec.ErrorCode, rec.ErrorMessage = inv.errCode, inv.errMsg
	if inv.from.vpce != "" {
		rec.VPCEndpointID, rec.VPCEndpointAccountID = inv.from.vpce, account
	}
	rec.TLSDetails = &tlsDetails{TLSVersion: "TLSv1.3", CipherSuite: "TLS_AES_128_GCM_SHA256",
		ClientProvidedHostHeader: "bedrock-runtime." + inv.region + ".amazonaws.com"}
	return rec
}

// controlRecord builds a control-plane call (a change a rule watches, or a
// benign read) by an administrator from the console or the CLI.
func (g *gen) controlRecord(account string, k Kind) record {
	var who identity
	if g.chance(0.5) {
		who = g.assumedRole(account, "/", "PlatformAdmin", pick(g, ssoUsers))
	} else {
		role := "AWSReservedSSO_AdministratorAccess_" + g.hex(16)
		who = g.assumedRole(account, "/aws-reserved/sso.amazonaws.com/us-east-1/", role, pick(g, ssoUsers))
	}
	region := pick(g, allowedRegions)
	var name string
	var params map[string]any
	switch k {
	case KindLogging:
		if g.chance(0.5) {
			name = "DeleteModelInvocationLoggingConfiguration"
		} else {
			name = "PutModelInvocationLoggingConfiguration"
			params = map[string]any{"loggingConfig": map[string]any{
				"textDataDeliveryEnabled": false, "imageDataDeliveryEnabled": false, "embeddingDataDeliveryEnabled": false,
			}}
		}
	case KindGuardrail:
		name = pick(g, []string{"DeleteGuardrail", "UpdateGuardrail"})
		params = map[string]any{"guardrailIdentifier": g.hex(12)}
	case KindAccess:
		name = pick(g, []string{"PutFoundationModelEntitlement", "CreateFoundationModelAgreement"})
		params = map[string]any{"modelId": pick(g, append(append([]string{}, allowedModels...), unauthorizedModels[0]))}
	case KindCostly:
		if g.chance(0.5) {
			name = "CreateProvisionedModelThroughput"
			params = map[string]any{"modelUnits": 1, "provisionedModelName": "pt-" + g.hex(6), "modelId": pick(g, allowedModels)}
		} else {
			name = "CreateModelCustomizationJob"
			params = map[string]any{"jobName": "ft-" + g.hex(8), "customModelName": "custom-" + g.hex(6),
				"baseModelIdentifier": pick(g, []string{"amazon.nova-lite-v1:0", "meta.llama3-1-70b-instruct-v1:0"})}
		}
	default: // KindReadOnly
		name = pick(g, []string{"ListFoundationModels", "GetFoundationModel", "GetModelInvocationLoggingConfiguration", "GetGuardrail"})
		switch name {
		case "GetFoundationModel":
			params = map[string]any{"modelIdentifier": pick(g, allowedModels)}
		case "GetGuardrail":
			params = map[string]any{"guardrailIdentifier": g.hex(12)}
		}
	}
	rec := g.common(account, who, region, name)
	rec.ReadOnly = k == KindReadOnly
	rec.RequestParameters = params
	if g.chance(0.6) {
		rec.SourceIPAddress = fmt.Sprintf("203.0.113.%d", 1+g.rng.IntN(254))
		rec.UserAgent = consoleAgent
	} else {
		rec.SourceIPAddress = g.privateIP()
		rec.UserAgent = userAgents[3]
	}
	rec.TLSDetails = &tlsDetails{TLSVersion: "TLSv1.3", CipherSuite: "TLS_AES_128_GCM_SHA256",
		ClientProvidedHostHeader: "bedrock." + region + ".amazonaws.com"}
	return rec
}
