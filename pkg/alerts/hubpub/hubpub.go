// Package hubpub mirrors Bedrock Warden's alerts into AWS Security Hub, as
// findings in the AWS Security Finding Format (ASFF) imported with
// BatchImportFindings under the account's default product
// (arn:…:securityhub:REGION:ACCOUNT:product/ACCOUNT/default).
//
// One Security Hub finding per incident: its Id is derived from the stack
// and the incident fingerprint, so the next alert of the same incident
// updates it (UpdatedAt, the suppressed count, the latest event) rather
// than adding a second one, and it keeps the CreatedAt of the first. Undo
// of a remediation archives the finding (RecordState ARCHIVED). The
// self-test's synthetic finding is imported already archived, so it
// proves the path without showing up among active findings.
package hubpub

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/bedrock-warden/warden/pkg/alerts"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/safetext"
)

// API is the part of the Security Hub client the Publisher calls;
// *securityhub.Client satisfies it.
type API interface {
	BatchImportFindings(ctx context.Context, in *securityhub.BatchImportFindingsInput, opts ...func(*securityhub.Options)) (*securityhub.BatchImportFindingsOutput, error)
	GetFindings(ctx context.Context, in *securityhub.GetFindingsInput, opts ...func(*securityhub.Options)) (*securityhub.GetFindingsOutput, error)
}

// Options say where findings go and how they are named.
type Options struct {
	// Stack names the deployment: part of every finding's Id.
	Stack string
	// Account and Region are the account and Region the findings are
	// imported into: the caller's own (Security Hub accepts a finding only
	// for the account that imports it).
	Account string
	Region  string
	// Partition defaults to "aws".
	Partition string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// ASFF limits (AWS Security Hub API reference, AwsSecurityFinding).
const (
	// MaxBatch is how many findings one BatchImportFindings call takes.
	MaxBatch = 100
	// maxIDFilters bounds the Id values of one GetFindings filter.
	maxIDFilters = 20
	maxTitle     = 256
	maxDesc      = 1024
	maxRemedy    = 512
	maxField     = 1024
)

// SchemaVersion is the ASFF version the findings use.
const SchemaVersion = "2018-10-08"

// Publisher imports and archives findings.
type Publisher struct {
	API  API
	Opts Options
}

// New returns a Publisher over the SDK client built from cfg.
func New(cfg aws.Config, o Options, opts ...func(*securityhub.Options)) *Publisher {
	if o.Region == "" {
		o.Region = cfg.Region
	}
	return &Publisher{API: securityhub.NewFromConfig(cfg, opts...), Opts: o}
}

// OptionsFromTopic fills Account, Region and Partition from the alert
// topic's ARN: the functions import into the account and Region the stack
// lives in, which the topic's ARN names.
func OptionsFromTopic(stack, topicARN string) (Options, error) {
	a, err := arn.Parse(topicARN)
	if err != nil {
		return Options{}, fmt.Errorf("security hub: alert topic %q is not an ARN: %w", topicARN, err)
	}
	return Options{Stack: stack, Account: a.AccountID, Region: a.Region, Partition: a.Partition}, nil
}

func (p *Publisher) now() time.Time {
	if p.Opts.Now != nil {
		return p.Opts.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Publisher) partition() string {
	if p.Opts.Partition != "" {
		return p.Opts.Partition
	}
	return "aws"
}

// ProductARN is the account's default product, which custom findings are
// imported under.
func (p *Publisher) ProductARN() string {
	o := p.Opts
	return "arn:" + p.partition() + ":securityhub:" + o.Region + ":" + o.Account + ":product/" + o.Account + "/default"
}

// FindingID is the Security Hub Id of the incident fingerprint.
func (p *Publisher) FindingID(fingerprint string) string {
	return "bedrock-warden/" + p.Opts.Stack + "/" + fingerprint
}

// Import creates or updates one Security Hub finding per finding (per
// incident: findings with the same fingerprint update the same one). It
// reads the existing ones first, so an update keeps the first CreatedAt.
func (p *Publisher) Import(ctx context.Context, fs []findings.Finding) error {
	if len(fs) == 0 {
		return nil
	}
	if p.Opts.Account == "" || p.Opts.Region == "" {
		return errors.New("security hub: no account or Region to import into")
	}
	ids := make([]string, 0, len(fs))
	for _, f := range fs {
		ids = append(ids, p.FindingID(f.Fingerprint))
	}
	existing, err := p.get(ctx, ids)
	if err != nil {
		return err
	}
	now := p.now()
	out := make([]types.AwsSecurityFinding, 0, len(fs))
	seen := map[string]int{}
	for _, f := range fs {
		a := p.ASFF(f, now)
		if prev, ok := existing[aws.ToString(a.Id)]; ok {
			a.CreatedAt, a.FirstObservedAt = prev.CreatedAt, prev.FirstObservedAt
			if a.FirstObservedAt == nil {
				a.FirstObservedAt = prev.CreatedAt
			}
		}
		if i, dup := seen[aws.ToString(a.Id)]; dup {
			out[i] = a // the later alert of the same incident wins
			continue
		}
		seen[aws.ToString(a.Id)] = len(out)
		out = append(out, a)
	}
	return p.put(ctx, out)
}

// Resolve archives the finding of fingerprint, noting why in its
// product fields: a remediation was undone. A finding that was never
// imported is not an error.
func (p *Publisher) Resolve(ctx context.Context, fingerprint, note string) error {
	id := p.FindingID(fingerprint)
	existing, err := p.get(ctx, []string{id})
	if err != nil {
		return err
	}
	prev, ok := existing[id]
	if !ok {
		return nil
	}
	prev.RecordState = types.RecordStateArchived
	prev.UpdatedAt = aws.String(formatTime(p.now()))
	if prev.ProductFields == nil {
		prev.ProductFields = map[string]string{}
	}
	prev.ProductFields["bedrock-warden/resolution"] = clip(note, maxField)
	// Fields Security Hub adds itself are not for the provider to send.
	prev.ProcessedAt, prev.WorkflowState, prev.Workflow, prev.Note = nil, "", nil, nil
	return p.put(ctx, []types.AwsSecurityFinding{prev})
}

// Imported reports whether the incident fingerprint has a finding (the
// self-test checks its synthetic finding arrived).
func (p *Publisher) Imported(ctx context.Context, fingerprint string) (bool, error) {
	got, err := p.get(ctx, []string{p.FindingID(fingerprint)})
	if err != nil {
		return false, err
	}
	return len(got) > 0, nil
}

// get reads the findings with the given Ids (the ones that exist).
func (p *Publisher) get(ctx context.Context, ids []string) (map[string]types.AwsSecurityFinding, error) {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	uniq := make([]string, 0, len(want))
	for id := range want {
		uniq = append(uniq, id)
	}
	sort.Strings(uniq)
	out := map[string]types.AwsSecurityFinding{}
	for start := 0; start < len(uniq); start += maxIDFilters {
		chunk := uniq[start:min(start+maxIDFilters, len(uniq))]
		var filters []types.StringFilter
		for _, id := range chunk {
			filters = append(filters, types.StringFilter{Comparison: types.StringFilterComparisonEquals, Value: aws.String(id)})
		}
		in := &securityhub.GetFindingsInput{
			Filters: &types.AwsSecurityFindingFilters{
				Id:         filters,
				ProductArn: []types.StringFilter{{Comparison: types.StringFilterComparisonEquals, Value: aws.String(p.ProductARN())}},
			},
			MaxResults: aws.Int32(100),
		}
		for page := 0; page < 10; page++ {
			res, err := p.API.GetFindings(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("security hub GetFindings: %w", err)
			}
			for _, f := range res.Findings {
				// Filter here too: a peer that ignores filters must not
				// make one incident update another.
				if id := aws.ToString(f.Id); want[id] && aws.ToString(f.ProductArn) == p.ProductARN() {
					out[id] = f
				}
			}
			if aws.ToString(res.NextToken) == "" {
				break
			}
			in.NextToken = res.NextToken
		}
	}
	return out, nil
}

// put imports findings, MaxBatch per call; findings Security Hub refuses
// are an error naming them.
func (p *Publisher) put(ctx context.Context, fs []types.AwsSecurityFinding) error {
	var errs []error
	for start := 0; start < len(fs); start += MaxBatch {
		batch := fs[start:min(start+MaxBatch, len(fs))]
		res, err := p.API.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: batch})
		if err != nil {
			errs = append(errs, fmt.Errorf("security hub BatchImportFindings: %w", err))
			continue
		}
		for _, f := range res.FailedFindings {
			errs = append(errs, fmt.Errorf("security hub refused finding %s: %s: %s", aws.ToString(f.Id), aws.ToString(f.ErrorCode), aws.ToString(f.ErrorMessage)))
		}
	}
	return errors.Join(errs...)
}

// ASFF maps a finding to the AWS Security Finding Format.
func (p *Publisher) ASFF(f findings.Finding, now time.Time) types.AwsSecurityFinding {
	o := p.Opts
	created := now
	if !f.EventTime.IsZero() && !f.EventTime.After(now) {
		created = f.EventTime.UTC()
	}
	sev := severityLabel(f.Severity)
	kinds := []string{typeOf(f.Rule)}
	title := f.Title
	if title == "" {
		title = f.Rule
	}
	a := types.AwsSecurityFinding{
		SchemaVersion: aws.String(SchemaVersion),
		Id:            aws.String(p.FindingID(f.Fingerprint)),
		ProductArn:    aws.String(p.ProductARN()),
		ProductName:   aws.String("Bedrock Warden"),
		CompanyName:   aws.String("Bedrock Warden"),
		GeneratorId:   aws.String("bedrock-warden/" + f.Rule),
		AwsAccountId:  aws.String(o.Account),
		Region:        aws.String(o.Region),
		Types:         kinds,
		CreatedAt:     aws.String(formatTime(created)),
		UpdatedAt:     aws.String(formatTime(now)),
		Severity:      &types.Severity{Label: sev, Original: aws.String(string(f.Severity))},
		FindingProviderFields: &types.FindingProviderFields{
			Severity: &types.FindingProviderSeverity{Label: sev, Original: aws.String(string(f.Severity))},
			Types:    kinds,
		},
		Title:       aws.String(clip(safetext.Line(title), maxTitle)),
		Description: aws.String(clip(description(f), maxDesc)),
		Remediation: &types.Remediation{Recommendation: &types.Recommendation{
			Text: aws.String(clip(strings.Join(alerts.NextSteps(f.Rule), " "), maxRemedy)),
		}},
		Resources:     p.resources(f),
		ProductFields: productFields(f, o.Stack),
		RecordState:   types.RecordStateActive,
	}
	if !f.EventTime.IsZero() {
		t := aws.String(formatTime(f.EventTime.UTC()))
		a.FirstObservedAt, a.LastObservedAt = t, t
	}
	if f.Details[findings.DetailSynthetic] == "true" || f.Rule == findings.RuleSelfTest {
		a.RecordState = types.RecordStateArchived
	}
	return a
}

// resources are the principal and the model, or the stack when the
// finding names neither (Security Hub requires at least one).
func (p *Publisher) resources(f findings.Finding) []types.Resource {
	var out []types.Resource
	part, region := p.partition(), aws.String(p.Opts.Region)
	if pr := strings.TrimSpace(f.Principal); pr != "" && pr != alerts.UnknownPrincipal {
		kind := "Other"
		if a, err := arn.Parse(pr); err == nil && a.Service == "iam" {
			switch {
			case strings.HasPrefix(a.Resource, "role/"):
				kind = "AwsIamRole"
			case strings.HasPrefix(a.Resource, "user/"):
				kind = "AwsIamUser"
			}
		}
		r := types.Resource{Type: aws.String(kind), Id: aws.String(clip(pr, 512)), Partition: types.Partition(part), Region: region}
		if other := nonEmpty(map[string]string{"principalType": f.PrincipalType, "accessKeyId": f.AccessKeyID, "sessionName": f.SessionName}); other != nil {
			r.Details = &types.ResourceDetails{Other: other}
		}
		out = append(out, r)
	}
	if m := firstNonEmpty(f.BaseModel, f.Model); m != "" && f.Rule != findings.RulePolicyRejected {
		out = append(out, types.Resource{Type: aws.String("Other"), Id: aws.String(clip(m, 512)), Partition: types.Partition(part), Region: region,
			Details: &types.ResourceDetails{Other: nonEmpty(map[string]string{"kind": "bedrock-model", "modelId": f.Model, "modelKind": f.ModelKind})}})
	}
	if len(out) == 0 {
		out = append(out, types.Resource{Type: aws.String("Other"), Id: aws.String("bedrock-warden/" + p.Opts.Stack), Partition: types.Partition(part), Region: region})
	}
	return out
}

// description says what happened, why it broke the policy, who, where and
// when, in Security Hub's 1,024 characters.
func description(f findings.Finding) string {
	var b strings.Builder
	b.WriteString(safetext.Line(f.Title))
	if f.Reason != "" {
		b.WriteString(". Why: " + safetext.Line(f.Reason))
	}
	if f.Principal != "" {
		b.WriteString(". Who: " + safetext.Line(f.Principal))
	}
	if f.Region != "" {
		b.WriteString(". Where: " + safetext.Line(f.Region))
	}
	if f.SourceIP != "" {
		b.WriteString(". From: " + safetext.Line(f.SourceIP))
	}
	if !f.EventTime.IsZero() {
		b.WriteString(". When: " + f.EventTime.UTC().Format(time.RFC3339))
	}
	if f.EventName != "" {
		b.WriteString(". Event: " + safetext.Line(f.EventName) + " " + safetext.Line(f.EventID))
	}
	if n := f.Details[alerts.DetailSuppressed]; n != "" && n != "0" {
		b.WriteString(". " + n + " similar events since the previous alert")
	}
	b.WriteString(".")
	return b.String()
}

// productFields carry the finding's keys for search and automation rules.
func productFields(f findings.Finding, stack string) map[string]string {
	m := map[string]string{
		"bedrock-warden/stack":         stack,
		"bedrock-warden/rule":          f.Rule,
		"bedrock-warden/fingerprint":   f.Fingerprint,
		"bedrock-warden/schemaVersion": strconv.Itoa(findings.SchemaVersion),
	}
	add := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			m["bedrock-warden/"+k] = clip(safetext.Line(v), maxField)
		}
	}
	add("eventId", f.EventID)
	add("eventName", f.EventName)
	add("eventSource", f.EventSource)
	add("model", f.Model)
	add("inferenceRegion", f.InferenceRegion)
	add("sourceIp", f.SourceIP)
	add("vpcEndpointId", f.VPCEndpointID)
	add("userAgent", f.UserAgent)
	add("errorCode", f.ErrorCode)
	add("findingAccount", f.Account)
	add("suppressedSince", f.Details[alerts.DetailSuppressed])
	return m
}

// severityLabel maps a severity to Security Hub's labels.
func severityLabel(s findings.Severity) types.SeverityLabel {
	switch s {
	case findings.Critical:
		return types.SeverityLabelCritical
	case findings.High:
		return types.SeverityLabelHigh
	case findings.Medium:
		return types.SeverityLabelMedium
	case findings.Low:
		return types.SeverityLabelLow
	}
	return types.SeverityLabelInformational
}

// ruleTypes classify each rule in the ASFF types taxonomy
// (namespace/category/classifier).
var ruleTypes = map[string]string{
	findings.RuleUnauthorizedModel:         "Unusual Behaviors/User/Bedrock model outside the policy",
	findings.RuleUnauthorizedRegion:        "Unusual Behaviors/User/Bedrock Region outside the policy",
	findings.RuleUnauthorizedSourceIP:      "Unusual Behaviors/IP address/Bedrock call from a source outside the policy",
	findings.RuleUnauthorizedPrincipal:     "Unusual Behaviors/User/Bedrock principal outside the policy",
	findings.RuleAPIKeyUsed:                "Unusual Behaviors/User/Bedrock API key used",
	findings.RuleDeniedInvocation:          "TTPs/Discovery/Bedrock invocation refused or probing",
	findings.RuleModelRecon:                "TTPs/Discovery/Bedrock model reconnaissance",
	findings.RuleReconThenInvoke:           "TTPs/Impact/LLM-jacking",
	findings.RuleAPIKeyCreated:             "TTPs/Persistence/Bedrock API key created",
	findings.RuleInvocationLoggingDisabled: "TTPs/Defense Evasion/Bedrock invocation logging disabled",
	findings.RuleGuardrailChanged:          "TTPs/Defense Evasion/Bedrock guardrail changed",
	findings.RuleModelAccessChanged:        "Software and Configuration Checks/AWS Security Best Practices/Bedrock model access changed",
	findings.RuleCostlyResourceCreated:     "Effects/Resource Consumption/Costly Bedrock resource created",
	findings.RuleModelExfiltration:         "Effects/Data Exfiltration/Bedrock model copied",
	findings.RuleAgentChanged:              "Software and Configuration Checks/AWS Security Best Practices/Bedrock agent changed",
	findings.RuleKnowledgeBaseChanged:      "Software and Configuration Checks/AWS Security Best Practices/Bedrock knowledge base changed",
	findings.RuleDeniedChange:              "TTPs/Discovery/Bedrock change refused",
	findings.RuleInvocationSpike:           "Effects/Resource Consumption/Bedrock invocation spike",
	findings.RuleBudgetWarning:             "Effects/Resource Consumption/Bedrock budget warning",
	findings.RuleBudgetExceeded:            "Effects/Resource Consumption/Bedrock budget exceeded",
	findings.RuleMonitorTampered:           "TTPs/Defense Evasion/Bedrock Warden changed",
	findings.RuleFindingRejected:           "TTPs/Defense Evasion/Forged Bedrock Warden message",
}

// typeOf is the ASFF type of rule; health findings are configuration
// checks.
func typeOf(rule string) string {
	if t, ok := ruleTypes[rule]; ok {
		return t
	}
	return "Software and Configuration Checks/AWS Security Best Practices/Bedrock Warden health"
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// nonEmpty keeps the entries with a value (cut to the field limit); nil
// when none is left.
func nonEmpty(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if v = strings.TrimSpace(v); v != "" {
			out[k] = clip(safetext.Line(v), maxField)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
