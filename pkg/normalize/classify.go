package normalize

import (
	"slices"
	"strings"
)

// Event sources that carry Bedrock calls. Runtime calls (InvokeModel,
// Converse, …) are recorded under bedrock.amazonaws.com too, not under a
// bedrock-runtime source; the OpenAI/Anthropic-compatible endpoint
// (bedrock-mantle.REGION.api.aws) records under bedrock-mantle.amazonaws.com.
// Agents for Amazon Bedrock (agents, knowledge bases, flows) is a separate
// API (bedrock-agent) whose management calls are recorded under
// bedrock.amazonaws.com as well; no captured record was at hand to confirm
// it, so a bedrock-agent.amazonaws.com source, should it exist, is not read.
//
// SourceIAM carries the IAM calls that create Bedrock API keys; only those
// (see IAMAPIKeyEvents) are read from it, every other IAM call is left to
// other tools.
const (
	SourceBedrock = "bedrock.amazonaws.com"
	SourceMantle  = "bedrock-mantle.amazonaws.com"
	SourceIAM     = "iam.amazonaws.com"
)

// bedrockInvocations are the eventNames of model invocations recorded under
// bedrock.amazonaws.com. CountTokens is listed because it names a model and
// reaches the runtime endpoint, although it runs no inference.
var bedrockInvocations = []string{
	"InvokeModel",
	"InvokeModelWithResponseStream",
	"InvokeModelWithBidirectionalStream",
	"Converse",
	"ConverseStream",
	"StartAsyncInvoke",
	"CountTokens",
}

// mantleInvocations are the eventNames of inference calls recorded under
// bedrock-mantle.amazonaws.com. The AWS page "Monitor bedrock-mantle API
// calls using CloudTrail" lists the management events (ListModels,
// GetModel, CreateFineTuningJob, projects, …) and records inference as data
// events; public write-ups name the inference event CreateInference (the
// IAM action is bedrock-mantle:CreateInference). The remaining names are the
// per-API operation names (Chat Completions, Responses, Anthropic Messages)
// accepted defensively in case CloudTrail records them individually; they
// could not be confirmed from a captured record.
var mantleInvocations = []string{
	"CreateInference",
	"CreateChatCompletion",
	"CreateResponse",
	"CreateMessage",
	"CreateCompletion",
}

// InvocationEvents lists every eventName Classify treats as a model
// invocation: the bedrock.amazonaws.com runtime calls followed by the
// bedrock-mantle.amazonaws.com inference calls. It is derived from the
// lists Classify reads, so documentation generated from it cannot drift.
var InvocationEvents = slices.Concat(bedrockInvocations, mantleInvocations)

// ReconEvents are the read-only bedrock.amazonaws.com calls of LLM-jacking
// reconnaissance: which models exist, which are enabled for the account,
// what their agreements and use-case forms say, whether invocation logging
// would record the abuse, and what throughput or custom models there are.
// Classify puts them in CategoryRecon. Every name is an operation of the
// Amazon Bedrock API (checked against the aws-sdk-go-v2 bedrock client,
// v1.63.0); GetFoundationModelAvailability and GetUseCaseForModelAccess
// are the ones the console calls and public LLM-jacking write-ups (Permiso,
// Sysdig) quote from real attacks.
var ReconEvents = []string{
	"GetFoundationModelAvailability",
	"ListFoundationModelAgreementOffers",
	"GetUseCaseForModelAccess",
	"GetModelInvocationLoggingConfiguration",
	"ListFoundationModels",
	"GetFoundationModel",
	"ListInferenceProfiles",
	"ListProvisionedModelThroughputs",
	"ListCustomModels",
}

// IAMAPIKeyEvents are the iam.amazonaws.com calls that create a Bedrock API
// key or the user behind one. Each counts only with the request parameter
// that ties it to Bedrock (see IsAPIKeyIAMCall):
//
//	CreateServiceSpecificCredential  serviceName "bedrock.amazonaws.com" (a long-term API key)
//	CreateUser                       userName "BedrockAPIKey-…" (the console's API-key flow)
//	AttachUserPolicy                 policyArn …:policy/AmazonBedrockLimitedAccess (same flow)
//	CreateAccessKey                  userName "BedrockAPIKey-…" (an access key for that user)
var IAMAPIKeyEvents = []string{
	"CreateServiceSpecificCredential",
	"CreateUser",
	"AttachUserPolicy",
	"CreateAccessKey",
}

// Names the Bedrock console's API-key flow uses (public write-ups and the
// AWS Security Blog on Bedrock API keys describe users named
// "BedrockAPIKey-xxxx" with the AWS managed policy
// AmazonBedrockLimitedAccess attached).
const (
	APIKeyUserPrefix    = "BedrockAPIKey-"
	APIKeyServiceName   = "bedrock.amazonaws.com"
	APIKeyManagedPolicy = "AmazonBedrockLimitedAccess"
)

// IsBedrockSource reports whether eventSource is one of the Bedrock event
// sources (bedrock.amazonaws.com, bedrock-mantle.amazonaws.com).
func IsBedrockSource(eventSource string) bool {
	return eventSource == SourceBedrock || eventSource == SourceMantle
}

// IsAPIKeyIAMCall reports whether an iam.amazonaws.com call creates a
// Bedrock API key or prepares the user behind one: eventName is one of
// IAMAPIKeyEvents and the request parameters tie it to Bedrock.
func IsAPIKeyIAMCall(eventName string, iam IAMRequest) bool {
	switch eventName {
	case "CreateServiceSpecificCredential":
		return strings.EqualFold(iam.ServiceName, APIKeyServiceName)
	case "CreateUser", "CreateAccessKey":
		return strings.HasPrefix(iam.UserName, APIKeyUserPrefix)
	case "AttachUserPolicy":
		return strings.HasSuffix(iam.PolicyARN, ":policy/"+APIKeyManagedPolicy)
	}
	return false
}

// controlPrefixes are the verbs of state-changing Bedrock calls. A name is
// control-plane when it starts with one of them followed by an upper-case
// letter (so "Tagging" is not "Tag"+…, "Create" alone is not a call).
var controlPrefixes = []string{
	"Create", "Put", "Update", "Delete", "Start", "Stop", "Tag", "Untag",
	"Associate", "Disassociate", "Register", "Deregister", "Cancel",
	"Archive", "Enable", "Disable", "Modify", "Reset", "Attach", "Detach",
	"Import", "Prepare", "Set", "Batch", "Ingest", "Export",
}

// Classify says which family of rules an event belongs to.
//
// Only Bedrock sources are classified; anything else is CategoryOther
// (Normalize files the IAM calls of IsAPIKeyIAMCall under
// CategoryControlPlane itself, as it needs their request parameters).
// An invocation eventName (InvocationEvents, matched against the list for
// its own source) is CategoryInvocation; a ReconEvents name on
// bedrock.amazonaws.com is CategoryRecon. Any other Bedrock call whose name
// starts with a state-changing verb (Create, Put, Update, Delete, Start,
// Stop, Tag, Untag, Associate, Disassociate, Register, Deregister, Cancel,
// Archive, Enable, Disable, Modify, Reset, Attach, Detach, Import, Prepare,
// Set, Batch, Ingest, Export) is CategoryControlPlane; the other List*,
// Get*, Describe*, Apply* (ApplyGuardrail), Retrieve*, Invoke* agent/flow
// calls and the rest are CategoryOther.
//
// The decision is name-based on purpose: CloudTrail's readOnly flag is not
// reliable for Bedrock (AWS's own InvokeModel example says readOnly=false
// while captured records say true).
func Classify(eventSource, eventName string) Category {
	var invocations []string
	switch eventSource {
	case SourceBedrock:
		invocations = bedrockInvocations
		if slices.Contains(ReconEvents, eventName) {
			return CategoryRecon
		}
	case SourceMantle:
		invocations = mantleInvocations
	default:
		return CategoryOther
	}
	if slices.Contains(invocations, eventName) {
		return CategoryInvocation
	}
	for _, p := range controlPrefixes {
		if len(eventName) > len(p) && eventName[:len(p)] == p {
			if c := eventName[len(p)]; c >= 'A' && c <= 'Z' {
				return CategoryControlPlane
			}
		}
	}
	return CategoryOther
}

// isInvocationName reports whether name is an invocation on any Bedrock
// source.
func isInvocationName(name string) bool {
	return slices.Contains(InvocationEvents, name)
}
