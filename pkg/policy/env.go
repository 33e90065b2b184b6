package policy

import (
	"fmt"
	"strings"

	"github.com/bedrock-warden/warden/pkg/glob"
)

// Environment variables the Lambdas read the policy from.
const (
	// EnvPolicy holds a whole policy document (YAML). When set, it is the
	// policy and the list variables below are ignored.
	EnvPolicy = "WARDEN_POLICY"
	// EnvAllowedModels, EnvAllowedRegions and EnvAllowedCidrs are comma
	// lists that replace models.allow, regions.allow and
	// network.allowCidrs of the embedded default policy (the template's
	// simple parameters). Empty keeps the default's list. Default deny
	// patterns that overlap an allowed model pattern are dropped, so the
	// models listed are really allowed.
	EnvAllowedModels  = "WARDEN_ALLOWED_MODELS"
	EnvAllowedRegions = "WARDEN_ALLOWED_REGIONS"
	EnvAllowedCidrs   = "WARDEN_ALLOWED_CIDRS"
)

// FromEnv returns the policy a Lambda runs with: the YAML in WARDEN_POLICY,
// else the embedded default with the simple list overrides applied. The
// result is validated exactly as a policy file is.
func FromEnv(getenv func(string) string) (*Policy, error) {
	if doc := getenv(EnvPolicy); strings.TrimSpace(doc) != "" {
		return Load(EnvPolicy, []byte(doc))
	}
	models, regions, cidrs := commaList(getenv(EnvAllowedModels)), commaList(getenv(EnvAllowedRegions)), commaList(getenv(EnvAllowedCidrs))
	if models == nil && regions == nil && cidrs == nil {
		return Default(), nil
	}
	// Re-load the default with the overrides so they pass the same
	// validation (and get line-free but key-named errors).
	p, err := Load("embedded default", DefaultYAML())
	if err != nil {
		return nil, fmt.Errorf("embedded default policy: %w", err)
	}
	if models != nil {
		p.Models.Allow = models
		p.Models.Deny = withoutOverlaps(p.Models.Deny, models)
	}
	if regions != nil {
		p.Regions.Allow = regions
		if p.Regions.Inference != nil {
			p.Regions.Inference = mergeUnique(p.Regions.Inference, regions)
		}
	}
	if cidrs != nil {
		p.Network.AllowCidrs = cidrs
	}
	out, err := p.YAML()
	if err != nil {
		return nil, fmt.Errorf("policy from environment: %w", err)
	}
	return Load("environment ("+EnvAllowedModels+", "+EnvAllowedRegions+", "+EnvAllowedCidrs+")", out)
}

// withoutOverlaps drops the deny patterns that would cancel an explicitly
// allowed pattern: a deny pattern matching the allowed pattern's text
// ("*opus*" and "anthropic.claude-opus-4*"), or matched by it. Whoever sets
// WARDEN_ALLOWED_MODELS to an Opus model means to allow it; the default's
// other deny patterns stay.
func withoutOverlaps(deny, allow []string) []string {
	var out []string
	for _, d := range deny {
		overlap := false
		for _, a := range allow {
			if glob.Match(d, a) || glob.Match(a, d) {
				overlap = true
				break
			}
		}
		if !overlap {
			out = append(out, d)
		}
	}
	return out
}

func commaList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func mergeUnique(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(append([]string{}, a...), b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
