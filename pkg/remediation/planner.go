package remediation

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
)

// InvocationActions are the IAM actions that authorise inference. Converse
// is authorised as bedrock:InvokeModel and ConverseStream as
// bedrock:InvokeModelWithResponseStream; InvokeModelWithBidirectionalStream
// is authorised as bedrock:InvokeModel. StartAsyncInvoke is listed
// explicitly as well. CountTokens runs no inference and is not listed.
var InvocationActions = []string{
	"bedrock:InvokeModel",
	"bedrock:InvokeModelWithResponseStream",
	"bedrock:StartAsyncInvoke",
}

// modelRules are the rules whose finding is about one model: their
// quarantine denies that model; every other rule's denies all models.
var modelRules = map[string]bool{
	findings.RuleUnauthorizedModel: true,
	findings.RuleBudgetWarning:     true,
	findings.RuleBudgetExceeded:    true,
}

// QuarantineSid is the statement id a finding's quarantine uses: "BWQ" and
// the first 16 hex characters of its fingerprint (of a SHA-256 of it when
// the fingerprint is not hex).
func QuarantineSid(fingerprint string) string {
	fp := strings.ToLower(fingerprint)
	if len(fp) < 16 || strings.Trim(fp, "0123456789abcdef") != "" {
		sum := sha256.Sum256([]byte(fingerprint))
		fp = hex.EncodeToString(sum[:])
	}
	return "BWQ" + fp[:16]
}

// offendingActions maps the finding's event to the IAM actions that
// authorised it; unknown or missing events count as every invocation
// action.
func offendingActions(eventName string) []string {
	switch eventName {
	case "InvokeModel", "Converse", "InvokeModelWithBidirectionalStream", "StartAsyncInvoke":
		return []string{"bedrock:InvokeModel"}
	case "InvokeModelWithResponseStream", "ConverseStream":
		return []string{"bedrock:InvokeModelWithResponseStream"}
	case "":
		return InvocationActions
	}
	if apiName.MatchString(eventName) {
		return []string{"bedrock:" + eventName}
	}
	return InvocationActions
}

var apiName = regexp.MustCompile(`^[A-Za-z]+$`)

// profilePrefix matches the geography prefix of a system inference
// profile id (us.anthropic…, global.anthropic…).
var profilePrefix = regexp.MustCompile(`^(us|eu|apac|us-gov|ca|jp|au|global)\.`)

// modelScoped reports whether the finding's quarantine and detach are about
// its model (a model rule with a model named).
func modelScoped(f findings.Finding) bool {
	return modelRules[f.Rule] && (f.BaseModel != "" || f.Model != "")
}

// quarantineResources returns the Resource element of the finding's
// quarantine statement: the model's foundation-model ARNs in every region
// and its system inference profiles, the model's own ARN when the finding
// names an ARN, or "*" when the rule is not about a model.
func quarantineResources(f findings.Finding, p Principal) []string {
	if !modelScoped(f) {
		return []string{"*"}
	}
	part := p.Partition
	if part == "" {
		part = "aws"
	}
	var out []string
	base := f.BaseModel
	if base == "" && !strings.HasPrefix(f.Model, "arn:") {
		base = profilePrefix.ReplaceAllString(f.Model, "")
	}
	if base != "" {
		out = append(out,
			"arn:"+part+":bedrock:*::foundation-model/"+base,
			"arn:"+part+":bedrock:*:"+p.Account+":inference-profile/*."+base)
	}
	if strings.HasPrefix(f.Model, "arn:") {
		out = append(out, f.Model)
	}
	return out
}

// evaluationResources returns concrete ARNs for the finding's model in its
// region, to test grants against; nil means any resource.
func evaluationResources(f findings.Finding, p Principal) []string {
	if !modelScoped(f) {
		return nil
	}
	part := p.Partition
	if part == "" {
		part = "aws"
	}
	region := f.Region
	if region == "" {
		region = "us-east-1"
	}
	var out []string
	base := f.BaseModel
	if base == "" && !strings.HasPrefix(f.Model, "arn:") {
		base = profilePrefix.ReplaceAllString(f.Model, "")
	}
	if base != "" {
		out = append(out, "arn:"+part+":bedrock:"+region+"::foundation-model/"+base)
	}
	switch {
	case strings.HasPrefix(f.Model, "arn:"):
		out = append(out, f.Model)
	case profilePrefix.MatchString(f.Model):
		out = append(out, "arn:"+part+":bedrock:"+region+":"+p.Account+":inference-profile/"+f.Model)
	}
	return out
}

// BlockSid is the statement id a limit-exceeded finding's block uses:
// "BWB" and the first 16 hex characters of its fingerprint (which names
// the limit, the principal and the period).
func BlockSid(fingerprint string) string { return "BWB" + QuarantineSid(fingerprint)[3:] }

// Planner turns a finding and a principal's IAM state into a Plan. It is
// pure: the same inputs always give the same plan.
type Planner struct {
	Guard Guard
	// Block is what a block-until plan blocks (from the finding's limit);
	// other actions ignore it.
	Block *Block
}

// Plan decides what action (one of the five names) means for this finding
// and this principal's state, at time now (used by revoke-sessions and
// block-until).
func (pl Planner) Plan(f findings.Finding, action string, st State, now time.Time) Plan {
	plan := Plan{Action: action, Principal: st.Principal}
	if r, a := pl.Guard.ScreenState(st); r != "" {
		plan.Refused, plan.Advice = r, a
		return plan
	}
	switch action {
	case ActionQuarantine:
		pl.quarantine(&plan, f, st, "quarantine requested by remediation.actions")
	case ActionDetach:
		pl.detach(&plan, f, st)
	case ActionRevokeSessions:
		pl.revoke(&plan, st, now)
	case ActionDisableCredentials:
		pl.disable(&plan, f, st)
	case ActionBlockUntil:
		pl.block(&plan, f, st, now)
	default:
		plan.Refused = fmt.Sprintf("unknown action %q in remediation.actions", action)
	}
	return plan
}

func (pl Planner) quarantine(plan *Plan, f findings.Finding, st State, reason string) {
	stmt := iampolicy.Statement{
		Sid:      QuarantineSid(f.Fingerprint),
		Effect:   iampolicy.Deny,
		Action:   append(iampolicy.StringList(nil), InvocationActions...),
		Resource: quarantineResources(f, st.Principal),
	}
	what := "all Bedrock models"
	if modelScoped(f) {
		what = "model " + firstNonEmpty(f.BaseModel, f.Model)
	}
	putStatement(plan, st, Step{Kind: StepPutQuarantine, PolicyName: QuarantinePolicyName, Reason: reason + ": deny invocation of " + what}, stmt, "quarantine")
}

// block plans the block-until of a usage limit: one Deny statement in the
// principal's BedrockWardenUsageBlock policy on the limit's models, with
// the condition aws:CurrentTime < the period's end, so IAM itself stops
// applying it at that instant; the sweeper removes it then, undo earlier.
func (pl Planner) block(plan *Plan, f findings.Finding, st State, now time.Time) {
	b := pl.Block
	switch {
	case b == nil:
		plan.Refused = "the finding resolved to no limit to block"
		return
	case !now.Before(b.Until):
		plan.Refused = "the period of limit " + b.Limit + " ended at " + b.Until.UTC().Format(time.RFC3339) + ": there is nothing left to block"
		return
	}
	until := b.Until.UTC()
	cond, err := json.Marshal(map[string]map[string]string{"DateLessThan": {"aws:CurrentTime": until.Format(time.RFC3339)}})
	if err != nil {
		plan.Refused = err.Error()
		return
	}
	stmt := iampolicy.Statement{
		Sid:       BlockSid(f.Fingerprint),
		Effect:    iampolicy.Deny,
		Action:    append(iampolicy.StringList(nil), InvocationActions...),
		Resource:  blockResources(b.Models, st.Principal),
		Condition: cond,
	}
	models := strings.Join(b.Models, ", ")
	if len(b.Models) == 0 {
		models = "*"
	}
	putStatement(plan, st, Step{Kind: StepPutBlock, PolicyName: BlockPolicyName, Until: &until,
		Reason: "usage limit " + b.Limit + " exceeded: deny invocation of " + models + " until " + until.Format(time.RFC3339)}, stmt, "block")
}

// blockResources returns the Resource element of a block: for each model
// glob, its foundation-model ARNs in every region and its system inference
// profiles in the account (IAM matches '*' and '?' as the policy does);
// "*" when a glob is "*".
func blockResources(models []string, p Principal) []string {
	part := p.Partition
	if part == "" {
		part = "aws"
	}
	var out []string
	for _, m := range models {
		if m == "*" {
			return []string{"*"}
		}
		out = append(out,
			"arn:"+part+":bedrock:*::foundation-model/"+m,
			"arn:"+part+":bedrock:*:"+p.Account+":inference-profile/*."+m)
	}
	if len(out) == 0 {
		return []string{"*"}
	}
	return out
}

// putStatement plans step (a put-quarantine or put-block) adding stmt to
// the inline policy step.PolicyName, merged with what the policy holds,
// within IAM's size limit. what names the action in messages.
func putStatement(plan *Plan, st State, step Step, stmt iampolicy.Statement, what string) {
	name := step.PolicyName
	doc := iampolicy.Document{Version: iampolicy.Version2012}
	var prev *string
	if cur, ok := st.InlineNamed(name); ok {
		d, err := iampolicy.Parse(cur.Document)
		if err != nil {
			plan.Refused = "the existing " + name + " policy cannot be parsed, so it cannot be merged: " + err.Error()
			plan.Steps = nil
			return
		}
		if d.StatementBySid(stmt.Sid) >= 0 {
			plan.Notes = append(plan.Notes, what+" statement "+stmt.Sid+" is already in place")
			return
		}
		doc = d
		text := cur.Document
		prev = &text
	}
	doc.Statement = append(doc.Statement, stmt)
	text, err := doc.Marshal()
	if err != nil {
		plan.Refused = err.Error()
		return
	}
	if limit, used := inlineLimit(st, name); used+policySize(text) > limit {
		plan.Refused = fmt.Sprintf("the %s would bring the principal's inline policies to %d characters, over IAM's limit of %d for a %s: "+
			"undo older remediations (warden remediation list) or detach the grant by hand", what, used+policySize(text), limit, st.Principal.Kind)
		return
	}
	step.Document, step.Previous, step.Sid = text, prev, stmt.Sid
	plan.Steps = append(plan.Steps, step)
}

func (pl Planner) detach(plan *Plan, f findings.Finding, st State) {
	actions := offendingActions(f.EventName)
	resources := evaluationResources(f, st.Principal)
	what := strings.Join(actions, ",")
	if len(resources) > 0 {
		what += " on " + firstNonEmpty(f.BaseModel, f.Model)
	}
	var steps []Step
	needQuarantine := false
	granted := false
	judge := func(kind, name, text string) (grants, only bool) {
		d, err := iampolicy.Parse(text)
		if err != nil {
			plan.Notes = append(plan.Notes, fmt.Sprintf("%s %s could not be parsed (%v): left in place", kind, name, err))
			return false, false
		}
		return d.Allows(actions, resources...), d.AllowsOnly("bedrock")
	}
	for _, mp := range st.Managed {
		grants, only := judge("managed policy", mp.ARN, mp.Document)
		only = only || awsBedrockManaged(mp.ARN)
		if !grants {
			continue
		}
		granted = true
		if !only {
			needQuarantine = true
			plan.Notes = append(plan.Notes, "managed policy "+mp.ARN+" grants "+what+" but also grants non-Bedrock actions: left attached, quarantining instead")
			continue
		}
		steps = append(steps, Step{Kind: StepDetachManaged, PolicyARN: mp.ARN, Reason: "Bedrock-only policy grants " + what})
	}
	for _, ip := range st.Inline {
		if ip.Name == QuarantinePolicyName || ip.Name == RevokePolicyName || ip.Name == BlockPolicyName {
			continue
		}
		grants, only := judge("inline policy", ip.Name, ip.Document)
		if !grants {
			continue
		}
		granted = true
		if !only {
			needQuarantine = true
			plan.Notes = append(plan.Notes, "inline policy "+ip.Name+" grants "+what+" but also grants non-Bedrock actions: left in place, quarantining instead")
			continue
		}
		steps = append(steps, Step{Kind: StepDeleteInline, PolicyName: ip.Name, Document: ip.Document, Reason: "Bedrock-only inline policy grants " + what})
	}
	if !granted {
		needQuarantine = true
		plan.Notes = append(plan.Notes, "no attached or inline policy of the principal grants "+what+" (it may come from a group or a resource policy): quarantining instead")
	}
	if needQuarantine {
		pl.quarantine(plan, f, st, "detach could not remove every grant")
		if plan.Refused != "" {
			return
		}
	}
	plan.Steps = append(plan.Steps, steps...)
}

func (pl Planner) revoke(plan *Plan, st State, now time.Time) {
	if st.Principal.Kind != KindRole {
		plan.Refused = "revoke-sessions applies to roles; use disable-credentials for IAM users"
		return
	}
	doc := map[string]any{
		"Version": iampolicy.Version2012,
		"Statement": []any{map[string]any{
			"Sid":       "BedrockWardenRevokeOlderSessions",
			"Effect":    "Deny",
			"Action":    []string{"*"},
			"Resource":  []string{"*"},
			"Condition": map[string]any{"DateLessThan": map[string]string{"aws:TokenIssueTime": now.UTC().Format(time.RFC3339)}},
		}},
	}
	b, _ := json.Marshal(doc)
	var prev *string
	if cur, ok := st.InlineNamed(RevokePolicyName); ok {
		text := cur.Document
		prev = &text
	}
	plan.Steps = append(plan.Steps, Step{
		Kind: StepPutRevoke, PolicyName: RevokePolicyName, Document: string(b), Previous: prev,
		Reason: "deny every action to sessions issued before " + now.UTC().Format(time.RFC3339),
	})
}

func (pl Planner) disable(plan *Plan, f findings.Finding, st State) {
	if st.Principal.Kind != KindUser {
		plan.Refused = "disable-credentials applies to IAM users; roles have no long-term credentials (use revoke-sessions)"
		return
	}
	if bearerToken(f) {
		for _, c := range st.Credentials {
			if c.Kind == CredServiceSpecific && c.Service == BedrockServiceName && c.Status == StatusActive {
				plan.Steps = append(plan.Steps, Step{Kind: StepDisableServiceCr, CredentialID: c.ID, PreviousStatus: c.Status,
					Reason: "active Bedrock API key of the user, and the finding was authenticated with a Bedrock API key"})
			}
		}
		if len(plan.Steps) == 0 {
			plan.Notes = append(plan.Notes, "the user has no active Bedrock API key (service-specific credential) to disable")
		}
		return
	}
	if f.AccessKeyID == "" {
		plan.Refused = "the finding names no access key, so no credential can be chosen"
		return
	}
	if strings.HasPrefix(f.AccessKeyID, "ASIA") {
		plan.Refused = "the access key " + f.AccessKeyID + " is temporary (ASIA…) and cannot be disabled; revoke the session or disable the key that issued it"
		return
	}
	c, ok := st.Credential(f.AccessKeyID)
	if !ok || c.Kind != CredAccessKey {
		plan.Refused = "the access key " + f.AccessKeyID + " does not belong to " + st.Principal.ARN
		return
	}
	if c.Status != StatusActive {
		plan.Notes = append(plan.Notes, "access key "+c.ID+" is already "+c.Status)
		return
	}
	plan.Steps = append(plan.Steps, Step{Kind: StepDisableAccessKey, CredentialID: c.ID, PreviousStatus: c.Status,
		Reason: "the access key used in the event"})
}

// bearerToken reports whether the finding's call was authenticated with a
// Bedrock API key.
func bearerToken(f findings.Finding) bool {
	return strings.EqualFold(f.Details["bearerToken"], "true") || strings.HasPrefix(f.AccessKeyID, "ABSK")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// awsBedrockManaged reports whether arn is one of AWS's own managed policies
// for Bedrock (AmazonBedrockFullAccess, AmazonBedrockReadOnly, …). Besides
// bedrock:* they grant a few read actions on other services (kms:DescribeKey,
// ec2:Describe*, iam:ListRoles, …) that exist only to support the Bedrock
// console, so they count as Bedrock-only policies: detaching one takes away
// Bedrock and nothing a workload relies on elsewhere. Customer policies are
// judged statement by statement.
func awsBedrockManaged(arn string) bool {
	for _, prefix := range []string{"arn:aws:iam::aws:policy/", "arn:aws-cn:iam::aws:policy/", "arn:aws-us-gov:iam::aws:policy/"} {
		if rest, ok := strings.CutPrefix(arn, prefix); ok {
			return strings.HasPrefix(rest, "AmazonBedrock") && !strings.Contains(rest, "/")
		}
	}
	return false
}

// inlineLimit returns IAM's limit on the total size of a principal's inline
// policies (2,048 characters for a user, 10,240 for a role, whitespace not
// counted) and the size of the inline policies other than skip.
func inlineLimit(st State, skip string) (limit, used int) {
	limit = 10240
	if st.Principal.Kind == KindUser {
		limit = 2048
	}
	for _, ip := range st.Inline {
		if ip.Name != skip {
			used += policySize(ip.Document)
		}
	}
	return limit, used
}

// policySize counts a policy document's characters as IAM does for its
// size quotas: whitespace outside strings is not counted.
func policySize(doc string) int {
	n, inString, escaped := 0, false, false
	for _, r := range doc {
		switch {
		case inString:
			n++
			switch {
			case escaped:
				escaped = false
			case r == '\\':
				escaped = true
			case r == '"':
				inString = false
			}
		case r == '"':
			inString = true
			n++
		case r == ' ' || r == '\n' || r == '\t' || r == '\r':
		default:
			n++
		}
	}
	return n
}
