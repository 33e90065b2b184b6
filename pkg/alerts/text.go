package alerts

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/safetext"
)

// maxReadable caps each free-text value in the readable part; the JSON
// keeps the full value (within the message limit).
const maxReadable = 512

// line is one "Label: value" row of the readable summary.
type line struct{ label, value string }

// summary returns the readable rows shared by both formats.
func summary(f *findings.Finding) []line {
	r := func(s string) string { return Truncate(safetext.Line(s), maxReadable) }
	var rows []line
	add := func(label, value string) {
		if value != "" {
			rows = append(rows, line{label, value})
		}
	}
	add("What", r(f.Title))
	add("Why", r(f.Reason))
	who := r(orUnknown(f.Principal))
	var extra []string
	if f.PrincipalType != "" {
		extra = append(extra, "type "+r(f.PrincipalType))
	}
	if f.SessionName != "" {
		extra = append(extra, "session "+r(f.SessionName))
	}
	if f.AccessKeyID != "" {
		extra = append(extra, "access key "+r(f.AccessKeyID))
	}
	if len(extra) > 0 {
		who += " (" + strings.Join(extra, ", ") + ")"
	}
	add("Who", who)
	add("Account", r(orUnknown(f.Account)))
	if f.Model != "" || f.BaseModel != "" {
		model := r(orUnknown(f.Model))
		var parts []string
		if f.BaseModel != "" && f.BaseModel != f.Model {
			parts = append(parts, "base "+r(f.BaseModel))
		}
		if f.ModelKind != "" {
			parts = append(parts, r(f.ModelKind))
		}
		if len(parts) > 0 {
			model += " (" + strings.Join(parts, ", ") + ")"
		}
		add("Model", model)
	}
	where := r(orUnknown(f.Region))
	if f.InferenceRegion != "" && f.InferenceRegion != f.Region {
		where += " (inference ran in " + r(f.InferenceRegion) + ")"
	}
	add("Where", where)
	from := r(orUnknown(f.SourceIP))
	if f.SourceService != "" && f.SourceService != f.SourceIP {
		from += " (AWS service " + r(f.SourceService) + ")"
	}
	if f.VPCEndpointID != "" {
		from += " via " + r(f.VPCEndpointID)
	}
	add("From", from)
	add("User agent", r(f.UserAgent))
	add("When", formatTime(f.EventTime))
	if f.EventName != "" || f.EventID != "" {
		ev := r(f.EventName)
		if f.EventID != "" {
			ev = strings.TrimSpace(ev + " " + r(f.EventID))
		}
		add("Event", ev)
	}
	add("Error", r(f.ErrorCode))
	add("CloudTrail", ConsoleURL(f.Region, f.EventID))
	add("Suppressed", suppressedPhrase(f))
	add("Fingerprint", r(f.Fingerprint))
	return rows
}

func suppressedPhrase(f *findings.Finding) string {
	n, window := Suppressed(f)
	if window == "" {
		window = "the suppression window"
	}
	switch n {
	case 0:
		return "none: first alert for this incident (suppression window " + window + ")"
	case 1:
		return "1 similar event since the last alert (same rule, principal, model and region; window " + window + ")"
	}
	return strconv.FormatInt(n, 10) + " similar events since the last alert (same rule, principal, model and region; window " + window + ")"
}

func writeText(b *strings.Builder, f *findings.Finding, o Options) {
	fmt.Fprintf(b, "Bedrock Warden alert: %s severity, rule %s", safetext.Line(strings.ToUpper(string(orUnknownSev(f.Severity)))), safetext.Line(f.Rule))
	if o.Stack != "" {
		fmt.Fprintf(b, " (stack %s)", safetext.Line(o.Stack))
	}
	b.WriteString("\n\n")
	rows := summary(f)
	width := 0
	for _, l := range rows {
		width = max(width, len(l.label))
	}
	for _, l := range rows {
		fmt.Fprintf(b, "%-*s  %s\n", width+1, l.label+":", l.value)
	}
	b.WriteString("\nNext steps:\n")
	for i, s := range NextSteps(f.Rule) {
		fmt.Fprintf(b, "%d. %s\n", i+1, s)
	}
	if info, ok := findings.Lookup(f.Rule); ok {
		fmt.Fprintf(b, "\nRule %s: %s.\n", info.ID, info.Summary)
	}
}

// NextSteps returns what a responder should do for a finding of rule.
func NextSteps(rule string) []string {
	common := "If the activity is expected, record the exception in the policy (warden policy) so it stops alerting."
	switch rule {
	case findings.RuleUnauthorizedModel:
		return []string{
			"Confirm with the principal's owner whether this model is needed; if not, deny bedrock:InvokeModel* on it for this principal.",
			"Check the CloudTrail event history for other calls by the same principal and access key.",
			common,
		}
	case findings.RuleUnauthorizedRegion:
		return []string{
			"Check why the call ran in a region outside the policy (inference profile, misconfigured client, stolen credentials).",
			"Consider an SCP that denies Bedrock outside the allowed regions.",
			common,
		}
	case findings.RuleUnauthorizedSourceIP:
		return []string{
			"Verify that the source address or VPC endpoint belongs to your network; an unknown address suggests leaked credentials.",
			"If the credentials are leaked, deactivate the access key or revoke the role's sessions.",
			common,
		}
	case findings.RuleUnauthorizedPrincipal:
		return []string{
			"Find out who owns the principal and why it calls Bedrock; remove its Bedrock permissions if it should not.",
			common,
		}
	case findings.RuleAPIKeyUsed:
		return []string{
			"Find the Bedrock API key's owner (the IAM user in the event) and revoke the key if it is not sanctioned.",
			"Deny bedrock:CallWithBearerToken where API keys are not allowed.",
		}
	case findings.RuleDeniedInvocation:
		return []string{
			"Refused or probing calls (a ValidationException on purpose) often precede LLM-jacking: check whether the credentials are compromised.",
			"Look for other refused calls by the same principal, access key and source address.",
		}
	case findings.RuleModelRecon:
		return []string{
			"Reconnaissance of Bedrock models by this key is how LLM-jacking starts: confirm the key's owner made these calls.",
			"If not, deactivate the access key or API key and look for invocations by it (recon-then-invoke).",
			common,
		}
	case findings.RuleReconThenInvoke:
		return []string{
			"Treat the access key as stolen: deactivate it now and review every call it made (CloudTrail, model invocation logs).",
			"Check Bedrock usage and cost for the models it invoked.",
		}
	case findings.RuleAPIKeyCreated:
		return []string{
			"Confirm with the creator that this Bedrock API key is sanctioned; delete the key (and a BedrockAPIKey- user) if not.",
			"Deny iam:CreateServiceSpecificCredential where Bedrock API keys are not allowed.",
		}
	case findings.RuleModelExfiltration:
		return []string{
			"Confirm the model copy was approved; delete the copy and review who may call CreateModelCopyJob if not.",
		}
	case findings.RuleAgentChanged, findings.RuleKnowledgeBaseChanged:
		return []string{
			"Review the change with the agent's or knowledge base's owner: new action groups, data sources or documents change what it does and says.",
		}
	case findings.RuleDeniedChange:
		return []string{
			"A refused attempt to change Bedrock's controls: check whether the principal's credentials are compromised.",
		}
	case findings.RuleInvocationLoggingDisabled:
		return []string{
			"Restore model invocation logging now (Bedrock console, Settings) and find out who changed it.",
			"Treat this as possible tampering: review the principal's recent activity.",
		}
	case findings.RuleGuardrailChanged:
		return []string{
			"Review the guardrail change with its owner; restore the previous version if it was not approved.",
		}
	case findings.RuleModelAccessChanged:
		return []string{
			"Confirm the model access change was approved; revoke the access or agreement if not.",
		}
	case findings.RuleCostlyResourceCreated:
		return []string{
			"Confirm the resource is approved and budgeted; delete it if not, as it bills while it exists.",
		}
	case findings.RuleInvocationSpike:
		return []string{
			"Check whether the volume is expected (batch job, load test) or a sign of abuse.",
			"If it is abuse, revoke the principal's sessions or deactivate its keys.",
			common,
		}
	case findings.RuleBudgetWarning, findings.RuleBudgetExceeded:
		return []string{
			"Review who drives the usage (warden budget status) and whether to raise the budget or throttle the callers.",
		}
	case findings.RuleLimitWarning:
		return []string{
			"Tell the principal's owner how much of the limit is used (warden usage --by limit) before it is exceeded.",
			"If the usage is expected, raise the limit in the policy (limits[].maxTokens or maxUSD).",
		}
	case findings.RuleLimitExceeded:
		return []string{
			"Check the principal's usage by model (warden usage --by principal) and whether it is expected.",
			"A limit with action block denies its models to the principal until the period ends; warden remediation list shows the block and warden remediation undo lifts it early.",
			"If the usage is legitimate, raise the limit in the policy and lift the block with undo; the limit is not alerted or blocked again for this principal until the next period.",
		}
	case findings.RulePipelineSilent:
		return []string{
			"Check that CloudTrail, the EventBridge rule and the detector function are enabled and healthy.",
		}
	case findings.RuleMonitorTampered:
		return []string{
			"Someone changed Bedrock Warden itself: restore the stack (redeploy) and review the principal's activity.",
		}
	case findings.RuleRemediationBreakerOpen:
		return []string{
			"Remediation fell back to dry-run: review the recent actions and reset the breaker once the cause is understood.",
		}
	}
	return []string{"Review the event in CloudTrail and decide whether it was authorised.", common}
}

func orUnknown(s string) string {
	if strings.TrimSpace(s) == "" {
		return "unknown"
	}
	return s
}

func orUnknownSev(s findings.Severity) findings.Severity {
	if s == "" {
		return "unknown"
	}
	return s
}

// chatNotification is the AWS Chatbot custom notification schema.
type chatNotification struct {
	Version  string       `json:"version"`
	Source   string       `json:"source"`
	ID       string       `json:"id,omitempty"`
	Content  chatContent  `json:"content"`
	Metadata chatMetadata `json:"metadata"`
}

type chatContent struct {
	TextType    string   `json:"textType"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	NextSteps   []string `json:"nextSteps,omitempty"`
	Keywords    []string `json:"keywords,omitempty"`
}

type chatMetadata struct {
	ThreadID          string            `json:"threadId,omitempty"`
	Summary           string            `json:"summary,omitempty"`
	EventType         string            `json:"eventType,omitempty"`
	RelatedResources  []string          `json:"relatedResources,omitempty"`
	AdditionalContext map[string]string `json:"additionalContext"`
}

func chatBody(f *findings.Finding, findingJSON string, o Options) (string, error) {
	var d strings.Builder
	for _, l := range summary(f) {
		fmt.Fprintf(&d, "*%s:* %s\n", l.label, l.value)
	}
	if o.Stack != "" {
		fmt.Fprintf(&d, "*Stack:* %s\n", safetext.Line(o.Stack))
	}
	id := f.Fingerprint
	if f.EventID != "" {
		id += "-" + f.EventID
	}
	var related []string
	for _, s := range []string{f.Principal, f.Model} {
		if s != "" {
			related = append(related, Truncate(safetext.Line(s), maxReadable))
		}
	}
	n := chatNotification{
		Version: "1.0",
		Source:  "custom",
		ID:      Truncate(safetext.Line(id), 256),
		Content: chatContent{
			TextType:    "client-markdown",
			Title:       Truncate(":rotating_light: "+Subject(f), maxChatTitle),
			Description: Truncate(d.String(), maxChatDescription),
			NextSteps:   NextSteps(f.Rule),
			Keywords:    nonEmpty(safetext.Line(string(f.Severity)), safetext.Line(f.Rule), safetext.Line(f.Region)),
		},
		Metadata: chatMetadata{
			ThreadID:          safetext.Line(f.Fingerprint),
			Summary:           Subject(f),
			EventType:         safetext.Line(f.Rule),
			RelatedResources:  related,
			AdditionalContext: map[string]string{findings.ChatContextKey: findingJSON},
		},
	}
	if u := ConsoleURL(f.Region, f.EventID); u != "" {
		n.Metadata.AdditionalContext["cloudTrailUrl"] = u
	}
	raw, err := json.Marshal(n)
	if err != nil {
		return "", fmt.Errorf("alert: encode chat notification: %w", err)
	}
	return string(raw), nil
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
