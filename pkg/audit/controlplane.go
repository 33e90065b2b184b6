package audit

import (
	"strings"

	"github.com/bedrock-warden/warden/pkg/iameval"
	"github.com/bedrock-warden/warden/pkg/normalize"
)

// controlResources gives, per control-plane event the rules watch, the
// resources its IAM action is authorised on (the Service Authorization
// Reference's required resource types): "*" for actions without resource
// types; otherwise ARN patterns with {region} and {account}, every one of
// which the caller must be allowed. A call is judged on a concrete ARN per
// pattern, chosen where the pattern meets the principal's Resource
// patterns.
var controlResources = map[string][]string{
	"DeleteModelInvocationLoggingConfiguration": {"*"},
	"PutModelInvocationLoggingConfiguration":    {"*"},
	"DeleteGuardrail":                           {"arn:aws:bedrock:{region}:{account}:guardrail/*"},
	"UpdateGuardrail":                           {"arn:aws:bedrock:{region}:{account}:guardrail/*"},
	"PutFoundationModelEntitlement":             {"*"},
	"CreateFoundationModelAgreement":            {"*"},
	"DeleteFoundationModelAgreement":            {"*"},
	"PutUseCaseForModelAccess":                  {"*"},
	"PutResourcePolicy":                         {"*"},
	"DeleteResourcePolicy":                      {"*"},
	"CreateProvisionedModelThroughput":          {"arn:aws:bedrock:{region}::foundation-model/*"},
	"UpdateProvisionedModelThroughput":          {"arn:aws:bedrock:{region}:{account}:provisioned-model/*"},
	"CreateModelCustomizationJob": {"arn:aws:bedrock:{region}::foundation-model/*",
		"arn:aws:bedrock:{region}:{account}:custom-model/*", "arn:aws:bedrock:{region}:{account}:model-customization-job/*"},
	"CreateModelImportJob":           {"arn:aws:bedrock:{region}:{account}:model-import-job/*", "arn:aws:bedrock:{region}:{account}:imported-model/*"},
	"CreateCustomModel":              {"arn:aws:bedrock:{region}:{account}:custom-model/*"},
	"CreateCustomModelDeployment":    {"arn:aws:bedrock:{region}:{account}:custom-model-deployment/*"},
	"CreateMarketplaceModelEndpoint": {"*"},
	"CreateModelInvocationJob":       {"arn:aws:bedrock:{region}:{account}:model-invocation-job/*", "arn:aws:bedrock:{region}::foundation-model/*"},
}

// concrete returns candidate ARNs for a resource pattern, one per class of
// the principal's Resource lists: where the pattern meets each Resource
// pattern, and the pattern with its wildcards filled.
func (j *judgement) concrete(pattern string) []string {
	if pattern == "*" {
		return []string{"*"}
	}
	if c, ok := j.concretes[pattern]; ok {
		return c
	}
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		var sig signature
		for _, g := range j.pt.resourceGroups {
			sig.bit(anyMatch(g, s))
		}
		if !seen[string(sig)] {
			seen[string(sig)] = true
			out = append(out, s)
		}
	}
	if w, ok := j.plan.witness(pattern, "*/?*"); ok {
		add(w)
	}
	// A witness whose id holds '/' or ':' is the pattern's wildcard
	// swallowing another ARN, not a resource of the type.
	typ := pattern[:strings.LastIndexByte(pattern, '/')+1]
	for _, r := range j.pt.resources {
		if w, ok := j.plan.witness(pattern, r.String()); ok && strings.HasPrefix(w, typ) && validID(w[len(typ):]) {
			add(w)
		}
	}
	j.concretes[pattern] = out
	return out
}

// controlCalls are the candidate calls of a control-plane dimension: each
// event name of its rule, in each region class, from each source class, on
// each concrete resource.
func (j *judgement) controlCalls(d Dimension) []*call {
	if j.controlRegions == nil {
		j.controlRegions = j.regionClasses(j.plan.regions, false, false)
	}
	regions, sources := j.controlRegions, j.sources
	var calls []*call
	for _, name := range d.events {
		patterns, ok := controlResources[name]
		if !ok {
			patterns = []string{"*"}
		}
		if !j.set.AllowsAction("bedrock:" + name) {
			// Refused whatever the region, source or resource: one call
			// stands for them (the example of a denied verdict).
			region := regions[0]
			var resources []string
			for _, p := range patterns {
				p = strings.ReplaceAll(strings.ReplaceAll(p, "{region}", region), "{account}", j.account())
				if c := j.concrete(p); len(c) > 0 {
					resources = append(resources, c[0])
				}
			}
			calls = append(calls, j.controlCall(d, name, region, resources, sources[0]))
			continue
		}
		for _, region := range regions {
			// The concrete resources of each required type; a call needs
			// them all, so it is tried with each combination's first
			// alternative and each alternative of one type at a time.
			var sets [][]string
			for _, p := range patterns {
				p = strings.ReplaceAll(strings.ReplaceAll(p, "{region}", region), "{account}", j.account())
				sets = append(sets, j.concrete(p))
			}
			for _, resources := range combinations(sets) {
				for _, src := range sources {
					calls = append(calls, j.controlCall(d, name, region, resources, src))
				}
			}
		}
	}
	return calls
}

// combinations returns the first alternative of every set, then that with
// one set's alternative changed at a time (not the full product).
func combinations(sets [][]string) [][]string {
	base := make([]string, len(sets))
	for i, s := range sets {
		if len(s) == 0 {
			return nil
		}
		base[i] = s[0]
	}
	out := [][]string{base}
	for i, s := range sets {
		for _, alt := range s[1:] {
			c := append([]string(nil), base...)
			c[i] = alt
			out = append(out, c)
		}
	}
	return out
}

func (j *judgement) controlCall(d Dimension, name, region string, resources []string, src source) *call {
	c := &call{dim: d.ID, ev: normalize.Event{
		Name: name, Source: normalize.SourceBedrock, Category: normalize.CategoryControlPlane,
		Region: region, Account: j.account(), Principal: j.eventPrincipal(),
	}}
	j.setSource(&c.ev, src)
	c.violates = j.classify(&c.ev, classKey{op: name, region: region, source: sourceKey(src)})
	ctx := j.callContext(region, src)
	for _, res := range resources {
		r := j.withPrincipal(iameval.Request{Action: "bedrock:" + name, Resource: res, Context: ctx}, src)
		c.reqs = append(c.reqs, r)
		c.keys = append(c.keys, "bedrock:"+name+"|"+res+"|"+region+"|"+sourceKey(src))
	}
	c.dec = j.main.tri(c)
	return c
}

// callContext returns the request context of a call in region from src,
// shared by every call with the same two (requests only read it).
func (j *judgement) callContext(region string, src source) iameval.Context {
	key := region + "|" + sourceKey(src)
	if c, ok := j.contexts[key]; ok {
		return c
	}
	c := iameval.Context{}
	c.Set("aws:RequestedRegion", region)
	setNetwork(c, src)
	j.contexts[key] = c
	return c
}

// validID reports whether s can be a resource id: not empty, no '/' or
// ':'.
func validID(s string) bool { return s != "" && !strings.ContainsAny(s, "/:") }
