package normalize

import (
	"net/url"
	"strings"
)

// geographies are the system inference-profile prefixes, each with its dot.
// "us-gov." must come before "us." (HasPrefix would not confuse them, since
// "us-gov." does not start with "us.", but keeping the longer first makes the
// intent plain).
var geographies = []struct{ name, prefix string }{
	{"us-gov", "us-gov."},
	{"us", "us."},
	{"eu", "eu."},
	{"apac", "apac."},
	{"au", "au."},
	{"jp", "jp."},
	{"ca", "ca."},
	{"global", "global."},
}

// isGeography reports whether s (without a dot) is an inference-profile
// geography.
func isGeography(s string) bool {
	for _, g := range geographies {
		if g.name == s {
			return true
		}
	}
	return false
}

// splitGeography strips a geography prefix from id when what follows is a
// model id (provider "." model). It returns the geography ("" when none)
// and the rest.
func splitGeography(id string) (geo, rest string) {
	for _, g := range geographies {
		if strings.HasPrefix(id, g.prefix) {
			if r := id[len(g.prefix):]; isModelID(r) {
				return g.name, r
			}
			return "", id
		}
	}
	return "", id
}

// isModelID reports whether s has the shape of a Bedrock foundation-model
// id: a provider ([a-z0-9-]+, not a geography), a dot, and a model name of
// letters, digits and "._:-" (e.g. "anthropic.claude-3-5-sonnet-20240620-v1:0",
// "openai.gpt-oss-120b", "stability.stable-diffusion-xl-v0").
func isModelID(s string) bool {
	provider, name, ok := strings.Cut(s, ".")
	if !ok || provider == "" || name == "" || isGeography(provider) {
		return false
	}
	for i := 0; i < len(provider); i++ {
		c := provider[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '-' || c == '_' || c == ':') {
			return false
		}
	}
	return true
}

// arnParts is an ARN split into its fields; resource is everything after
// the fifth colon.
type arnParts struct {
	partition, service, region, account, resource string
}

// splitARN parses "arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE" without
// allocating. ok is false when s is not an ARN of that shape (too few
// fields, or empty partition, service or resource).
func splitARN(s string) (a arnParts, ok bool) {
	rest, found := strings.CutPrefix(s, "arn:")
	if !found {
		return a, false
	}
	fields := [4]string{}
	for i := range fields {
		var f string
		f, rest, found = strings.Cut(rest, ":")
		if !found {
			return arnParts{}, false
		}
		fields[i] = f
	}
	a = arnParts{partition: fields[0], service: fields[1], region: fields[2], account: fields[3], resource: rest}
	if a.partition == "" || a.service == "" || a.resource == "" {
		return arnParts{}, false
	}
	return a, true
}

// arnKinds maps a Bedrock ARN resource type to the model kind it names.
var arnKinds = []struct {
	typ  string
	kind ModelKind
}{
	{"foundation-model", ModelFoundation},
	{"inference-profile", ModelSystemProfile},
	{"application-inference-profile", ModelApplicationProfile},
	{"provisioned-model", ModelProvisioned},
	{"custom-model-deployment", ModelCustomModelDeployment},
	{"custom-model", ModelCustom},
	{"imported-model", ModelImported},
	{"prompt", ModelPrompt},
	{"endpoint", ModelMarketplace},
}

// ParseModelID interprets a model identifier as a Bedrock request gives it.
//
// Bare ids: a foundation model ("anthropic.claude-3-5-sonnet-20240620-v1:0",
// "amazon.nova-pro-v1:0") or a system inference profile, i.e. a geography
// prefix ("us.", "us-gov.", "eu.", "apac.", "au.", "jp.", "ca.", "global.")
// followed by a foundation-model id; Base is the id without the prefix.
// A prefix is only stripped when a provider id follows it, and a bare id
// whose provider would be a geography ("us.foo") is ModelUnknown.
//
// ARNs (partitions aws, aws-cn, aws-us-gov, …; service bedrock, or
// sagemaker for marketplace endpoints) of type foundation-model,
// inference-profile, application-inference-profile, provisioned-model,
// custom-model, imported-model, prompt, endpoint and custom-model-deployment
// set Kind, Region, Account and Partition; Base is derived only for
// foundation-model and inference-profile ARNs (the others are opaque).
// A URL-encoded ARN ("arn%3Aaws%3A…") is decoded first; Raw keeps the
// original.
//
// Anything else non-empty, including "[REDACTED]", a malformed ARN and an
// ARN of another service, is ModelUnknown with only Raw (and, for a
// well-formed ARN, its Region, Account and Partition) set. An empty or
// all-space id gives the zero Model.
func ParseModelID(id string) Model {
	s := strings.TrimSpace(id)
	if s == "" {
		return Model{}
	}
	m := Model{Raw: id}
	if len(s) > 6 && strings.EqualFold(s[:6], "arn%3A") {
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
	}
	if strings.HasPrefix(s, "arn:") {
		parseModelARN(&m, s)
		return m
	}
	if geo, rest := splitGeography(s); geo != "" {
		m.Kind, m.Geography, m.Base = ModelSystemProfile, geo, rest
		return m
	}
	if isModelID(s) {
		m.Kind, m.Base = ModelFoundation, s
		return m
	}
	m.Kind = ModelUnknown
	return m
}

// parseModelARN fills m from a model ARN; m.Kind stays ModelUnknown for
// anything it does not recognise.
func parseModelARN(m *Model, s string) {
	m.Kind = ModelUnknown
	a, ok := splitARN(s)
	if !ok || !strings.HasPrefix(a.partition, "aws") {
		return
	}
	m.Partition, m.Region, m.Account = a.partition, a.region, a.account
	typ, rest, ok := strings.Cut(a.resource, "/")
	if !ok || rest == "" {
		return
	}
	var kind ModelKind
	for _, k := range arnKinds {
		if k.typ == typ {
			kind = k.kind
			break
		}
	}
	switch {
	case kind == "":
		return
	case kind == ModelMarketplace:
		if a.service != "sagemaker" && a.service != "bedrock" {
			return
		}
	case a.service != "bedrock":
		return
	}
	m.Kind = kind
	switch kind {
	case ModelFoundation, ModelSystemProfile:
		geo, base := splitGeography(rest)
		if isModelID(base) {
			m.Geography, m.Base = geo, base
		}
	}
}
