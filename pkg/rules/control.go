package rules

import (
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
)

// Control-plane event names each control-plane rule covers. They are the
// one list: the engine's lookup table is built from them and the README's
// rule reference is checked against them (EventsOf, TestReadmeRuleReference).
// Every name is an operation of the Amazon Bedrock or Agents for Amazon
// Bedrock API (checked against the aws-sdk-go-v2 bedrock v1.63.0 and
// bedrockagent v1.54.2 clients).
var (
	LoggingEvents = []string{
		"DeleteModelInvocationLoggingConfiguration",
		"PutModelInvocationLoggingConfiguration",
	}
	// GuardrailEvents include the account's enforced guardrail (applied to
	// every inference call in the region) and automated reasoning policies,
	// which guardrails check answers against.
	GuardrailEvents = []string{
		"DeleteGuardrail",
		"UpdateGuardrail",
		"PutEnforcedGuardrailConfiguration",
		"DeleteEnforcedGuardrailConfiguration",
		"UpdateAutomatedReasoningPolicy",
		"DeleteAutomatedReasoningPolicy",
	}
	ModelAccessEvents = []string{
		"PutFoundationModelEntitlement",
		"CreateFoundationModelAgreement",
		"DeleteFoundationModelAgreement",
		"PutUseCaseForModelAccess",
		"PutResourcePolicy",
		"DeleteResourcePolicy",
	}
	CostlyEvents = []string{
		"CreateProvisionedModelThroughput",
		"UpdateProvisionedModelThroughput",
		"CreateModelCustomizationJob",
		"CreateModelImportJob",
		"CreateCustomModel",
		"CreateCustomModelDeployment",
		"CreateMarketplaceModelEndpoint",
		"RegisterMarketplaceModelEndpoint",
		"CreateModelInvocationJob",
	}
	// ExfiltrationEvents move a custom model out of where it was made.
	// CreateModelCopyJob is called in the destination region with the
	// source model's ARN. Sharing a custom model with another account goes
	// through AWS RAM (ram.amazonaws.com resource shares), which the
	// Bedrock event rule does not receive; Bedrock has no custom-model
	// export call (ExportAutomatedReasoningPolicyVersion exports a policy,
	// not a model).
	ExfiltrationEvents = []string{
		"CreateModelCopyJob",
	}
	// AgentEvents change what an agent or a flow is, does, or can reach:
	// an action group points an agent at a Lambda function or an API, a
	// collaborator hands it work, a knowledge-base association feeds it.
	AgentEvents = []string{
		"CreateAgent",
		"UpdateAgent",
		"DeleteAgent",
		"CreateAgentAlias",
		"UpdateAgentAlias",
		"DeleteAgentAlias",
		"CreateAgentActionGroup",
		"UpdateAgentActionGroup",
		"DeleteAgentActionGroup",
		"AssociateAgentKnowledgeBase",
		"UpdateAgentKnowledgeBase",
		"DisassociateAgentKnowledgeBase",
		"AssociateAgentCollaborator",
		"UpdateAgentCollaborator",
		"DisassociateAgentCollaborator",
		"CreateFlow",
		"UpdateFlow",
		"DeleteFlow",
		"CreateFlowAlias",
		"UpdateFlowAlias",
		"DeleteFlowAlias",
	}
	// KnowledgeBaseEvents change what a RAG application retrieves: the
	// knowledge base, its data sources (an S3 bucket, a web crawler, a
	// third-party connector) and documents ingested directly.
	// IngestKnowledgeBaseDocuments and DeleteKnowledgeBaseDocuments may be
	// recorded as data events, which a trail records only when asked to.
	KnowledgeBaseEvents = []string{
		"CreateKnowledgeBase",
		"UpdateKnowledgeBase",
		"DeleteKnowledgeBase",
		"CreateDataSource",
		"UpdateDataSource",
		"DeleteDataSource",
		"IngestKnowledgeBaseDocuments",
		"DeleteKnowledgeBaseDocuments",
	}
)

// controlRules maps each control-plane rule to its list.
var controlRules = map[string][]string{
	findings.RuleInvocationLoggingDisabled: LoggingEvents,
	findings.RuleGuardrailChanged:          GuardrailEvents,
	findings.RuleModelAccessChanged:        ModelAccessEvents,
	findings.RuleCostlyResourceCreated:     CostlyEvents,
	findings.RuleModelExfiltration:         ExfiltrationEvents,
	findings.RuleAgentChanged:              AgentEvents,
	findings.RuleKnowledgeBaseChanged:      KnowledgeBaseEvents,
}

// controlPlane maps an event name to the rule that watches it.
var controlPlane = func() map[string]string {
	m := map[string]string{}
	for rule, names := range controlRules {
		for _, n := range names {
			if prev, dup := m[n]; dup {
				panic("rules: " + n + " is watched by both " + prev + " and " + rule)
			}
			m[n] = rule
		}
	}
	return m
}()

// ControlPlaneRule returns the rule watching eventName, if any.
func ControlPlaneRule(eventName string) (string, bool) {
	r, ok := controlPlane[eventName]
	return r, ok
}

// EventsOf returns the eventNames rule fires on, for the rules that have
// such a list (control-plane rules, model-recon, api-key-created); nil for
// the others. It is what the README's rule reference is checked against.
func EventsOf(rule string) []string {
	switch rule {
	case findings.RuleModelRecon:
		return normalize.ReconEvents
	case findings.RuleAPIKeyCreated:
		return normalize.IAMAPIKeyEvents
	}
	return controlRules[rule]
}

// control judges a Bedrock control-plane call: a successful watched change
// raises its rule; a refused one raises denied-change (the attempt is the
// signal); and any change made with a Bedrock API key raises api-key-used.
func (e *Engine) control(ev *normalize.Event, out []findings.Finding) []findings.Finding {
	if rule, ok := controlPlane[ev.Name]; ok {
		switch {
		case ev.Outcome.Success():
			// A change is its own incident: deleting logging after
			// changing it is a second alert, not a suppressed repeat.
			inc := incident{what: ev.Name + " " + ev.Model.ID(), where: ev.Region}
			reason := ""
			if rule == findings.RuleModelExfiltration {
				reason = copyReason(ev)
			}
			out = e.add(out, rule, ev, inc, controlTitle(rule, ev), reason)
		case ev.Outcome.Denied:
			out = e.add(out, findings.RuleDeniedChange, ev, incident{what: ev.Name, where: ev.Region},
				who(ev)+" was refused "+ev.Name+modelPhrase(ev)+" in "+orUnknown(ev.Region)+" ("+ev.Outcome.ErrorCode+")",
				"errorCode "+ev.Outcome.ErrorCode+" on a change "+rule+" watches: "+ev.Outcome.ErrorMessage)
		}
	}
	if ev.Principal.BearerToken && !e.p.APIKeys.Allow && !e.p.PrincipalExempt(ev.Principal.ARN) {
		out = e.add(out, findings.RuleAPIKeyUsed, ev, incident{what: ev.Name, where: ev.Region},
			who(ev)+" called "+ev.Name+" in "+orUnknown(ev.Region)+" with a Bedrock API key",
			"apiKeys.allow is false")
	}
	return out
}

// copyReason says where a model copy job took the model from.
func copyReason(ev *normalize.Event) string {
	m := &ev.Model
	switch {
	case m.Account != "" && ev.Account != "" && m.Account != ev.Account:
		return "source model in account " + m.Account + ", copied into account " + ev.Account
	case m.Region != "" && m.Region != ev.Region:
		return "source model in " + m.Region + ", copied to " + orUnknown(ev.Region)
	}
	return "model copy job from " + quote(orUnknown(m.Raw)) + " to " + orUnknown(ev.Region)
}

// apiKeyCreated judges the IAM calls that create a Bedrock API key (see
// normalize.IsAPIKeyIAMCall). The key's user names the incident, so the
// console flow (CreateUser, AttachUserPolicy, CreateServiceSpecificCredential
// for one BedrockAPIKey- user) is one alert.
func (e *Engine) apiKeyCreated(ev *normalize.Event, out []findings.Finding) []findings.Finding {
	if !ev.Outcome.Success() {
		return out
	}
	user := orUnknown(ev.IAM.UserName)
	var what, reason string
	switch ev.Name {
	case "CreateServiceSpecificCredential":
		what = "created a Bedrock API key for user " + user
		reason = "iam:CreateServiceSpecificCredential with serviceName " + normalize.APIKeyServiceName
	case "CreateUser":
		what = "created the Bedrock API key user " + user
		reason = "user name starts with " + normalize.APIKeyUserPrefix + " (the console's API-key flow)"
	case "AttachUserPolicy":
		what = "attached " + normalize.APIKeyManagedPolicy + " to user " + user
		reason = "the console's API-key flow attaches " + normalize.APIKeyManagedPolicy
	default:
		what = "called " + ev.Name + " for the Bedrock API key user " + user
		reason = "user name starts with " + normalize.APIKeyUserPrefix
	}
	return e.add(out, findings.RuleAPIKeyCreated, ev, incident{what: "user " + ev.IAM.UserName},
		who(ev)+" "+what, reason)
}
