package policy

import (
	"fmt"
	"strings"

	"github.com/bedrock-warden/warden/pkg/glob"
)

// Environment variables the policy is located with (see Locate).
const (
	// EnvPolicy names where the policy is: a file path, file://PATH or
	// ssm://PARAMETER — for the CLI and the functions alike. It never
	// holds a document (EnvPolicyDocument does).
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

// FromEnv loads the document EnvDocument returns: the policy when neither
// a file nor a parameter is named. It is validated exactly as a policy file
// is.
func FromEnv(getenv func(string) string) (*Policy, error) {
	if strings.TrimSpace(getenv(EnvPolicyDocument)) == "" && !hasOverrides(getenv) {
		return Default(), nil
	}
	name, doc, err := EnvDocument(getenv)
	if err != nil {
		return nil, err
	}
	return Load(name, doc)
}

func hasOverrides(getenv func(string) string) bool {
	return commaList(getenv(EnvAllowedModels)) != nil || commaList(getenv(EnvAllowedRegions)) != nil || commaList(getenv(EnvAllowedCidrs)) != nil
}

// EnvDocument returns the policy document the environment gives when no
// file or parameter is named, and the name its errors cite: the document in
// WARDEN_POLICY_DOCUMENT, else the embedded default with the
// WARDEN_ALLOWED_* list overrides applied (the stack's AllowedModels,
// AllowedRegions and AllowedCidrs parameters).
func EnvDocument(getenv func(string) string) (name string, doc []byte, err error) {
	if d := getenv(EnvPolicyDocument); strings.TrimSpace(d) != "" {
		return EnvPolicyDocument, []byte(d), nil
	}
	if !hasOverrides(getenv) {
		return "embedded default", DefaultYAML(), nil
	}
	models, regions, cidrs := commaList(getenv(EnvAllowedModels)), commaList(getenv(EnvAllowedRegions)), commaList(getenv(EnvAllowedCidrs))
	// Re-load the default with the overrides so they pass the same
	// validation (and get line-free but key-named errors).
	p, err := Load("embedded default", DefaultYAML())
	if err != nil {
		return "", nil, fmt.Errorf("embedded default policy: %w", err)
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
		return "", nil, fmt.Errorf("policy from environment: %w", err)
	}
	return "environment (" + EnvAllowedModels + ", " + EnvAllowedRegions + ", " + EnvAllowedCidrs + ")", out, nil
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
