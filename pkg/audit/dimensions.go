package audit

import (
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
)

// Verdict is what a principal can do in one dimension.
type Verdict string

// Verdicts, from the most dangerous.
const (
	// Allowed: IAM allows a call the policy forbids.
	Allowed Verdict = "allowed"
	// Unknown: a forbidden call depends on a condition the audit cannot
	// decide.
	Unknown Verdict = "unknown"
	// Restricted: the principal can make the calls, only as the policy
	// allows them.
	Restricted Verdict = "restricted"
	// Denied: the principal cannot make the calls at all.
	Denied Verdict = "denied"
)

// Verdicts lists every verdict, most dangerous first.
var Verdicts = []Verdict{Allowed, Unknown, Restricted, Denied}

// rank orders verdicts by danger: higher is worse.
func (v Verdict) rank() int {
	switch v {
	case Allowed:
		return 3
	case Unknown:
		return 2
	case Restricted:
		return 1
	}
	return 0
}

func worse(a, b Verdict) Verdict {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Dimension is one question the audit asks of every principal, tied to the
// detection rule that reports the same thing when it happens.
type Dimension struct {
	ID    string // "models", "regions", …
	Rule  string // the findings rule id
	Title string // what "allowed" means, as a phrase
	// events are the control-plane event names the dimension covers
	// (rules' lists); empty for invocation and API-key dimensions.
	events []string
}

// Dimension ids.
const (
	DimModels      = "models"
	DimRegions     = "regions"
	DimNetwork     = "network"
	DimPrincipals  = "principals"
	DimAPIKeys     = "api-keys"
	DimLogging     = "logging"
	DimGuardrails  = "guardrails"
	DimModelAccess = "model-access"
	DimCostly      = "costly-resources"
)

// Dimensions lists every dimension in report order: the invocation
// allow-lists, API keys, then the control-plane rules (event lists taken
// from pkg/rules).
var Dimensions = []Dimension{
	{ID: DimModels, Rule: findings.RuleUnauthorizedModel, Title: "invoke models outside models.allow or inside models.deny"},
	{ID: DimRegions, Rule: findings.RuleUnauthorizedRegion, Title: "invoke in regions outside regions.allow, route inference outside regions.inference, or use global profiles"},
	{ID: DimNetwork, Rule: findings.RuleUnauthorizedSourceIP, Title: "invoke from outside network.allowCidrs and network.allowVpcEndpoints"},
	{ID: DimPrincipals, Rule: findings.RuleUnauthorizedPrincipal, Title: "invoke although not in principals.allow"},
	{ID: DimAPIKeys, Rule: findings.RuleAPIKeyUsed, Title: "create Bedrock API keys (iam:CreateServiceSpecificCredential)"},
	{ID: DimLogging, Rule: findings.RuleInvocationLoggingDisabled, Title: "change or delete model invocation logging", events: rules.LoggingEvents},
	{ID: DimGuardrails, Rule: findings.RuleGuardrailChanged, Title: "change or delete guardrails", events: rules.GuardrailEvents},
	{ID: DimModelAccess, Rule: findings.RuleModelAccessChanged, Title: "change model access, agreements, entitlements or resource policies", events: rules.ModelAccessEvents},
	{ID: DimCostly, Rule: findings.RuleCostlyResourceCreated, Title: "create provisioned throughput, customisation, import or batch jobs, custom model deployments or marketplace endpoints", events: rules.CostlyEvents},
}

// LookupDimension returns the dimension with id.
func LookupDimension(id string) (Dimension, bool) {
	for _, d := range Dimensions {
		if d.ID == id {
			return d, true
		}
	}
	return Dimension{}, false
}

// invocation reports whether the dimension is judged on model invocations.
func (d Dimension) invocation() bool {
	switch d.ID {
	case DimModels, DimRegions, DimNetwork, DimPrincipals:
		return true
	}
	return false
}

// judged says whether p restricts the dimension at all, and if not why:
// a dimension the policy leaves open (no network list, API keys allowed, a
// rule switched off) has nothing to exceed.
func (d Dimension) judged(p *policy.Policy) (bool, string) {
	if on, _ := p.Rule(d.Rule); !on {
		return false, "rule " + d.Rule + " is disabled in the policy"
	}
	switch d.ID {
	case DimModels:
		if len(p.Models.Allow) == 0 && len(p.Models.Deny) == 0 {
			return false, "models.allow and models.deny are empty: any model is allowed"
		}
	case DimRegions:
		if len(p.Regions.Allow) == 0 && p.Regions.Inference == nil && p.Regions.AllowGlobalProfiles {
			return false, "regions.allow is empty and global profiles are allowed: any region is allowed"
		}
	case DimNetwork:
		if !p.NetworkRestricted() && p.ServiceCallersAllowed() {
			return false, "network.allowCidrs and network.allowVpcEndpoints are empty: any source is allowed"
		}
	case DimPrincipals:
		if len(p.Principals.Allow) == 0 {
			return false, "principals.allow is empty: any principal may invoke"
		}
	case DimAPIKeys:
		if p.APIKeys.Allow {
			return false, "apiKeys.allow is true"
		}
	}
	return true, ""
}
