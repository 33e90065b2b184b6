// Package rules judges a normalised event against the policy and returns
// findings. It is pure: no I/O, no AWS SDK, no allocation for a benign
// event.
package rules

import (
	"strings"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// Engine evaluates events against one policy. It is safe for concurrent use.
type Engine struct {
	p *policy.Policy
}

// New returns an Engine for p.
func New(p *policy.Policy) *Engine { return &Engine{p: p} }

// Policy returns the engine's policy.
func (e *Engine) Policy() *policy.Policy { return e.p }

// Evaluate appends the findings for ev to out and returns it. Events from
// sources other than Bedrock (and the IAM calls creating Bedrock API keys)
// produce nothing. recon-then-invoke, which needs more than one event, is
// not judged here: see Sequences.
func (e *Engine) Evaluate(ev *normalize.Event, out []findings.Finding) []findings.Finding {
	if ev.Unsupported {
		return out
	}
	if ev.EventType == findings.SelfTestEventType {
		return e.selfTest(ev, out)
	}
	switch ev.Category {
	case normalize.CategoryInvocation:
		return e.invocation(ev, out)
	case normalize.CategoryRecon:
		return e.recon(ev, out)
	case normalize.CategoryControlPlane:
		if ev.Source == normalize.SourceIAM {
			return e.apiKeyCreated(ev, out)
		}
		return e.control(ev, out)
	}
	return out
}

func (e *Engine) invocation(ev *normalize.Event, out []findings.Finding) []findings.Finding {
	p := e.p
	if o := &ev.Outcome; p.DeniedErrorCode(o.ErrorCode, o.AccessDeniedMessage) {
		// The refusal, or the probe, is the signal.
		verb := " was refused "
		if !o.Denied {
			// Not an authorisation refusal (a ValidationException): the
			// request reached the model's checks, so access exists.
			verb = " probed "
		}
		out = e.add(out, findings.RuleDeniedInvocation, ev, modelIn(ev, ev.Region),
			who(ev)+verb+ev.Name+modelPhrase(ev)+" in "+orUnknown(ev.Region)+" ("+o.ErrorCode+")",
			"errorCode "+o.ErrorCode+" is in rules.denied-invocation.errorCodes: "+o.ErrorMessage)
	}
	if ev.Outcome.Denied {
		// The call did not happen: the allow-list rules have nothing to
		// judge.
		return out
	}
	if p.PrincipalExempt(ev.Principal.ARN) {
		return out
	}
	m := &ev.Model
	if m.Raw != "" {
		if pat, denied := p.ModelDenied(m.Base, m.Raw); denied {
			out = e.add(out, findings.RuleUnauthorizedModel, ev, modelIn(ev, ev.Region),
				who(ev)+" invoked "+m.ID()+" in "+orUnknown(ev.Region)+": model denied",
				"model "+quote(m.ID())+" matches models.deny "+quote(pat))
		} else if !p.ModelAllowed(m.Base, m.Raw) {
			reason := "model " + quote(m.ID()) + " matches no models.allow pattern"
			if m.Base == "" {
				reason += " (a " + string(m.Kind) + " ARN cannot be resolved to a foundation model; allow the ARN itself)"
			}
			out = e.add(out, findings.RuleUnauthorizedModel, ev, modelIn(ev, ev.Region),
				who(ev)+" invoked "+m.ID()+" in "+orUnknown(ev.Region)+": model not allowed", reason)
		}
	}
	if r, reason, bad := e.regionViolation(ev); bad {
		out = e.add(out, findings.RuleUnauthorizedRegion, ev, modelIn(ev, r),
			who(ev)+" invoked "+orUnknown(m.ID())+" "+reason, reason)
	}
	if reason, bad := e.sourceViolation(ev); bad {
		out = e.add(out, findings.RuleUnauthorizedSourceIP, ev, modelIn(ev, ev.Region),
			who(ev)+" invoked "+orUnknown(m.ID())+" from "+sourcePhrase(ev)+": source not allowed", reason)
	}
	if ev.Principal.Type != normalize.PrincipalAWSService && !p.PrincipalAllowed(ev.Principal.ARN) {
		out = e.add(out, findings.RuleUnauthorizedPrincipal, ev, modelIn(ev, ev.Region),
			who(ev)+" invoked "+orUnknown(m.ID())+": principal not allowed",
			"principal "+quote(ev.Principal.ARN)+" matches no principals.allow pattern")
	}
	if ev.Principal.BearerToken && !p.APIKeys.Allow {
		out = e.add(out, findings.RuleAPIKeyUsed, ev, modelIn(ev, ev.Region),
			who(ev)+" invoked "+orUnknown(m.ID())+" with a Bedrock API key",
			"apiKeys.allow is false")
	}
	return out
}

// regionViolation returns the offending region and a phrase when the call
// broke the region rules: the calling region first, then where inference
// ran, then the global-profile switch.
func (e *Engine) regionViolation(ev *normalize.Event) (region, reason string, bad bool) {
	p := e.p
	if ev.Region != "" && !p.RegionAllowed(ev.Region) {
		return ev.Region, "in " + ev.Region + ": region not in regions.allow", true
	}
	if ev.Inference.Global || ev.Model.Geography == "global" {
		if !p.Regions.AllowGlobalProfiles {
			// One incident whichever region inference landed in.
			return "global", "through a global inference profile (inference may run in any region): regions.allowGlobalProfiles is false", true
		}
		return "", "", false
	}
	if ir := ev.Inference.Region; ir != "" && !p.InferenceRegionAllowed(ir) {
		return ir, "from " + orUnknown(ev.Region) + " with inference in " + ir + ": inference region not allowed", true
	}
	return "", "", false
}

// sourceViolation applies the network section: an allowed VPC endpoint, an
// address inside allowCidrs, or (when allowed) an AWS service caller.
func (e *Engine) sourceViolation(ev *normalize.Event) (reason string, bad bool) {
	p := e.p
	c := &ev.Caller
	service := c.Service != "" || c.Internal
	if service {
		if p.ServiceCallersAllowed() {
			return "", false
		}
		return "AWS service caller " + quote(c.Raw) + " and network.allowAwsServiceCallers is false", true
	}
	if !p.NetworkRestricted() {
		return "", false
	}
	if p.VPCEndpointAllowed(c.VPCEndpointID) || p.SourceIPAllowed(c.IP) {
		return "", false
	}
	if c.VPCEndpointID != "" {
		return "VPC endpoint " + quote(c.VPCEndpointID) + " is not in network.allowVpcEndpoints and source " + quote(c.Raw) + " is in no allowCidrs range", true
	}
	return "source " + quote(c.Raw) + " is in no network.allowCidrs range and came through no allowed VPC endpoint", true
}

// add appends a finding when the rule is enabled.
// incident is what, besides rule and principal, identifies an incident: its
// fingerprint's model and region components.
type incident struct{ what, where string }

// modelIn is the usual incident: the event's model in region (the
// offending region for region findings).
func modelIn(ev *normalize.Event, region string) incident {
	if region == "" {
		region = ev.Region
	}
	return incident{what: ev.Model.ID(), where: region}
}

func (e *Engine) add(out []findings.Finding, rule string, ev *normalize.Event, inc incident, title, reason string) []findings.Finding {
	enabled, sev := e.p.Rule(rule)
	if !enabled {
		return out
	}
	return append(out, newFinding(rule, sev, ev, inc, title, reason))
}

// newFinding builds a finding for ev, fingerprinted on rule, principal and
// inc.
func newFinding(rule string, sev findings.Severity, ev *normalize.Event, inc incident, title, reason string) findings.Finding {
	f := findings.Finding{
		Rule:            rule,
		Severity:        sev,
		Title:           title,
		EventID:         ev.ID,
		EventName:       ev.Name,
		EventSource:     ev.Source,
		EventTime:       ev.Time,
		Account:         ev.Account,
		Region:          ev.Region,
		InferenceRegion: ev.Inference.Region,
		Principal:       ev.Principal.ARN,
		PrincipalType:   string(ev.Principal.Type),
		SessionName:     ev.Principal.SessionName,
		AccessKeyID:     ev.Principal.AccessKeyID,
		Model:           ev.Model.Raw,
		BaseModel:       ev.Model.Base,
		ModelKind:       string(ev.Model.Kind),
		SourceService:   ev.Caller.Service,
		VPCEndpointID:   ev.Caller.VPCEndpointID,
		UserAgent:       ev.Caller.UserAgent,
		ErrorCode:       ev.Outcome.ErrorCode,
		Reason:          reason,
	}
	switch {
	case ev.Caller.IP.IsValid():
		f.SourceIP = ev.Caller.IP.String()
	default:
		f.SourceIP = ev.Caller.Raw
	}
	if ev.Principal.BearerToken {
		f.Details = map[string]string{"bearerToken": "true"}
	}
	f.Fingerprint = findings.Fingerprint(rule, ev.Principal.ARN, inc.what, inc.where)
	return f
}

func controlTitle(rule string, ev *normalize.Event) string {
	var what string
	switch rule {
	case findings.RuleInvocationLoggingDisabled:
		if strings.HasPrefix(ev.Name, "Delete") {
			what = "deleted model invocation logging"
		} else {
			what = "changed model invocation logging"
		}
	case findings.RuleGuardrailChanged:
		what = "called " + ev.Name + " on a guardrail"
	case findings.RuleModelAccessChanged:
		what = "changed model access (" + ev.Name + ")" + modelPhrase(ev)
	case findings.RuleCostlyResourceCreated, findings.RuleModelExfiltration:
		what = "called " + ev.Name + modelPhrase(ev)
	case findings.RuleAgentChanged:
		what = "changed a Bedrock agent or flow (" + ev.Name + ")"
	case findings.RuleKnowledgeBaseChanged:
		what = "changed a knowledge base (" + ev.Name + ")"
	default:
		what = "called " + ev.Name
	}
	return who(ev) + " " + what + " in " + orUnknown(ev.Region)
}

// who names the principal briefly: "role/app-batch", "user/alice", "root".
func who(ev *normalize.Event) string {
	return ShortPrincipal(ev.Principal.ARN)
}

// ShortPrincipal returns the resource part of an IAM ARN ("role/app-batch",
// "user/alice", "root") or the string itself when it is not an ARN.
func ShortPrincipal(arn string) string {
	if arn == "" {
		return "an unknown principal"
	}
	if !strings.HasPrefix(arn, "arn:") {
		return arn
	}
	// arn:partition:service:region:account:resource
	rest := arn
	for i := 0; i < 5; i++ {
		j := strings.IndexByte(rest, ':')
		if j < 0 {
			return arn
		}
		rest = rest[j+1:]
	}
	if rest == "" {
		return arn
	}
	return rest
}

func modelPhrase(ev *normalize.Event) string {
	if ev.Model.Raw == "" {
		return ""
	}
	return " on " + ev.Model.ID()
}

func sourcePhrase(ev *normalize.Event) string {
	c := &ev.Caller
	s := orUnknown(c.Raw)
	if c.VPCEndpointID != "" {
		s += " via " + c.VPCEndpointID
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

func quote(s string) string { return `"` + s + `"` }
