package normalize

// Event sources that carry Bedrock calls. Runtime calls (InvokeModel,
// Converse, …) are recorded under bedrock.amazonaws.com too, not under a
// bedrock-runtime source; the OpenAI/Anthropic-compatible endpoint
// (bedrock-mantle.REGION.api.aws) records under bedrock-mantle.amazonaws.com.
const (
	SourceBedrock = "bedrock.amazonaws.com"
	SourceMantle  = "bedrock-mantle.amazonaws.com"
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
// bedrock-mantle.amazonaws.com inference calls (see Classify for which
// source each belongs to). It is for documentation and rules; Classify
// keeps its own copy, so changing this slice changes nothing.
var InvocationEvents = []string{
	"InvokeModel",
	"InvokeModelWithResponseStream",
	"InvokeModelWithBidirectionalStream",
	"Converse",
	"ConverseStream",
	"StartAsyncInvoke",
	"CountTokens",
	"CreateInference",
	"CreateChatCompletion",
	"CreateResponse",
	"CreateMessage",
	"CreateCompletion",
}

// IsBedrockSource reports whether eventSource is one of the Bedrock event
// sources (bedrock.amazonaws.com, bedrock-mantle.amazonaws.com).
func IsBedrockSource(eventSource string) bool {
	return eventSource == SourceBedrock || eventSource == SourceMantle
}

// controlPrefixes are the verbs of state-changing Bedrock calls. A name is
// control-plane when it starts with one of them followed by an upper-case
// letter (so "Tagging" is not "Tag"+…, "Create" alone is not a call).
var controlPrefixes = []string{
	"Create", "Put", "Update", "Delete", "Start", "Stop", "Tag", "Untag",
	"Associate", "Disassociate", "Register", "Deregister", "Cancel",
	"Archive", "Enable", "Disable", "Modify", "Reset", "Attach", "Detach",
	"Import", "Prepare", "Set", "Batch",
}

// Classify says which family of rules an event belongs to.
//
// Only Bedrock sources are classified; anything else is CategoryOther.
// An invocation eventName (InvocationEvents, matched against the list for
// its own source) is CategoryInvocation. Any other Bedrock call whose name
// starts with a state-changing verb (Create, Put, Update, Delete, Start,
// Stop, Tag, Untag, Associate, Disassociate, Register, Deregister, Cancel,
// Archive, Enable, Disable, Modify, Reset, Attach, Detach, Import, Prepare,
// Set, Batch) is CategoryControlPlane; List*, Get*, Describe*, Apply*
// (ApplyGuardrail), Retrieve*, Invoke* agent/flow calls and the rest are
// CategoryOther.
//
// The decision is name-based on purpose: CloudTrail's readOnly flag is not
// reliable for Bedrock (AWS's own InvokeModel example says readOnly=false
// while captured records say true).
func Classify(eventSource, eventName string) Category {
	var invocations []string
	switch eventSource {
	case SourceBedrock:
		invocations = bedrockInvocations
	case SourceMantle:
		invocations = mantleInvocations
	default:
		return CategoryOther
	}
	for _, n := range invocations {
		if n == eventName {
			return CategoryInvocation
		}
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
	for _, list := range [...][]string{bedrockInvocations, mantleInvocations} {
		for _, n := range list {
			if n == name {
				return true
			}
		}
	}
	return false
}
