package findings

// Rule ids. They are the contract between the policy (rules.<id>), findings,
// alerts, metrics and remediation (remediation.actions.<id>).
const (
	RuleUnauthorizedModel         = "unauthorized-model"
	RuleUnauthorizedRegion        = "unauthorized-region"
	RuleUnauthorizedSourceIP      = "unauthorized-source-ip"
	RuleUnauthorizedPrincipal     = "unauthorized-principal"
	RuleAPIKeyUsed                = "api-key-used"
	RuleDeniedInvocation          = "denied-invocation"
	RuleModelRecon                = "model-recon"
	RuleReconThenInvoke           = "recon-then-invoke"
	RuleAPIKeyCreated             = "api-key-created"
	RuleInvocationLoggingDisabled = "invocation-logging-disabled"
	RuleGuardrailChanged          = "guardrail-changed"
	RuleModelAccessChanged        = "model-access-changed"
	RuleCostlyResourceCreated     = "costly-resource-created"
	RuleModelExfiltration         = "model-exfiltration"
	RuleAgentChanged              = "agent-changed"
	RuleKnowledgeBaseChanged      = "knowledge-base-changed"
	RuleDeniedChange              = "denied-change"
	RuleInvocationSpike           = "invocation-spike"
	RuleBudgetWarning             = "budget-warning"
	RuleBudgetExceeded            = "budget-exceeded"
	RuleLimitWarning              = "limit-warning"
	RuleLimitExceeded             = "limit-exceeded"
	RulePipelineSilent            = "pipeline-silent"
	RuleMonitorTampered           = "monitor-tampered"
	RuleRemediationBreakerOpen    = "remediation-breaker-open"
	RuleFindingRejected           = "finding-rejected"
	RuleOverPermissioned          = "over-permissioned"
	RulePolicyRejected            = "policy-rejected"
	RuleSelfTest                  = "selftest"
)

// SelfTestEventType is the eventType of the synthetic event `warden
// selftest` sends to the detector. CloudTrail sets eventType itself
// (AwsApiCall, AwsServiceEvent, …) and never writes this value, so no real
// API call can pass for a self-test.
const SelfTestEventType = "BedrockWardenSelfTest"

// DetailSynthetic is the Details key ("true") of a finding no real API
// call caused (the self-test's): alerts show it, nothing acts on it.
const DetailSynthetic = "synthetic"

// RuleInfo describes a rule: its id, the severity it has unless the policy
// says otherwise, and one line saying what it catches.
type RuleInfo struct {
	ID       string
	Severity Severity
	Summary  string
}

// Catalogue lists every rule Bedrock Warden knows, in documentation order.
var Catalogue = []RuleInfo{
	{RuleUnauthorizedModel, High, "an invocation used a model outside models.allow, or inside models.deny"},
	{RuleUnauthorizedRegion, High, "an invocation was made, or inference ran, in a region the policy does not allow, or used a global profile when allowGlobalProfiles is false"},
	{RuleUnauthorizedSourceIP, Medium, "an invocation came from an address, VPC endpoint or AWS service caller the policy does not allow"},
	{RuleUnauthorizedPrincipal, Medium, "an invocation was made by a principal outside principals.allow"},
	{RuleAPIKeyUsed, Medium, "an invocation or a control-plane change was authenticated with a Bedrock API key while apiKeys.allow is false"},
	{RuleDeniedInvocation, Medium, "an invocation was refused or probing (an error code in rules.denied-invocation.errorCodes): the testing that precedes LLM-jacking"},
	{RuleModelRecon, Medium, "the reconnaissance calls of LLM-jacking (model availability, agreements, logging) by a principal outside principals.allow, or with a long-term access key or an API key"},
	{RuleReconThenInvoke, Critical, "the same access key made reconnaissance calls and then, within rules.recon-then-invoke.window, a model invocation: the LLM-jacking sequence"},
	{RuleAPIKeyCreated, High, "a Bedrock API key was created (IAM service-specific credential), or the console's API-key user and policy"},
	{RuleInvocationLoggingDisabled, Critical, "model invocation logging was deleted or changed"},
	{RuleGuardrailChanged, High, "a guardrail, the enforced guardrail configuration or an automated reasoning policy was deleted or changed"},
	{RuleModelAccessChanged, Medium, "model access, an agreement, an entitlement or a resource policy was changed"},
	{RuleCostlyResourceCreated, Medium, "provisioned throughput, a customisation or import job, a custom model deployment or a marketplace endpoint was created or registered"},
	{RuleModelExfiltration, High, "a model copy job took a custom model to another region or account"},
	{RuleAgentChanged, Medium, "a Bedrock agent, alias, action group, knowledge-base association or collaborator, or a flow or its alias, was created, changed or deleted"},
	{RuleKnowledgeBaseChanged, Medium, "a knowledge base or one of its data sources or documents was created, changed or deleted"},
	{RuleDeniedChange, Medium, "a watched control-plane change was refused for lack of access: the attempt is the signal"},
	{RuleInvocationSpike, High, "a principal or a model made more invocations in a window than its threshold or baseline allows"},
	{RuleBudgetWarning, Medium, "a model's usage reached 80 % of its budget for the period"},
	{RuleBudgetExceeded, High, "a model's usage reached 100 % of its budget for the period"},
	{RuleLimitWarning, Medium, "a principal's token or dollar usage of a limit's models, read from the model invocation logs, reached the limit's warnAt share for the period"},
	{RuleLimitExceeded, High, "a principal's token or dollar usage of a limit's models, read from the model invocation logs, reached 100 % of the limit for the period; a limit with action block has it blocked until the period ends"},
	{RulePipelineSilent, High, "no Bedrock event reached the detector for longer than the heartbeat allows"},
	{RuleMonitorTampered, Critical, "a part of the Bedrock Warden stack itself was changed or disabled"},
	{RuleRemediationBreakerOpen, Critical, "remediation hit maxActionsPerHour and fell back to dry-run"},
	{RuleFindingRejected, Critical, "the remediator, the sweeper or undo refused a message or ledger record that the stack did not seal (forged, altered or replayed): someone tried to make Bedrock Warden change IAM"},
	{RuleOverPermissioned, High, "the weekly audit found a principal newly able to do what the policy forbids (a dimension changed to allowed since the last run)"},
	{RulePolicyRejected, Critical, "the policy parameter holds a document that is not a valid policy (written by hand, not by warden policy push): the functions ignore it and keep the last good policy"},
	{RuleSelfTest, Info, "the synthetic event of warden selftest reached the detector: proof that detection, alerts, metrics and state work; never remediated"},
}

// Lookup returns the catalogue entry for id.
func Lookup(id string) (RuleInfo, bool) {
	for _, r := range Catalogue {
		if r.ID == id {
			return r, true
		}
	}
	return RuleInfo{}, false
}
