package export

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/bedrock-warden/warden/pkg/glob"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// Condition keys the documents use.
const (
	keyRequestedRegion     = "aws:RequestedRegion"
	keySourceIP            = "aws:SourceIp"
	keyVpcSourceIP         = "aws:VpcSourceIp"
	keySourceVpce          = "aws:SourceVpce"
	keyViaAWSService       = "aws:ViaAWSService"
	keyPrincipalARN        = "aws:PrincipalArn"
	keyInferenceProfileARN = "bedrock:InferenceProfileArn"
	// regionUnspecified is aws:RequestedRegion for the second request of a
	// global profile (on the region-less foundation-model ARN).
	regionUnspecified = "unspecified"
)

// geographies maps a calling-region prefix to the system inference-profile
// geographies callable from it. Only regions of the commercial partition
// ("aws") are listed; see docs/export.md.
var geographies = []struct {
	prefix string
	geos   []string
}{
	{"us-gov-", nil}, // GovCloud is another partition: not exported
	{"us-", []string{"us"}},
	{"ca-", []string{"ca", "us"}},
	{"eu-", []string{"eu"}},
	{"ap-northeast-1", []string{"apac", "jp"}},
	{"ap-northeast-3", []string{"apac", "jp"}},
	{"ap-southeast-2", []string{"apac", "au"}},
	{"ap-southeast-4", []string{"apac", "au"}},
	{"ap-", []string{"apac"}},
}

// Geographies returns the system inference-profile geographies ("us",
// "eu", "apac", …) a call from region may use, in a fixed order.
func Geographies(region string) []string {
	for _, g := range geographies {
		if strings.HasPrefix(region, g.prefix) {
			return g.geos
		}
	}
	return nil
}

// plan is what every document is built from.
type plan struct {
	acct       string
	models     []string // models.allow patterns ("*" when the list is empty)
	deny       []string
	allow      []string // calling regions; nil: any
	hop        []string // regions a profile may route to besides allow; nil with hopAny
	hopAny     bool     // profiles may route anywhere
	global     bool     // global profiles allowed
	geos       []string // profile prefixes with their dot ("us.") or "*."
	cidrs      []string
	vpces      []string
	services   bool // AWS service callers allowed
	principals []string
	exempt     []string
}

func newPlan(p *policy.Policy, acct string) plan {
	pl := plan{
		acct:       acct,
		models:     reduce(allowPatterns(p)),
		deny:       reduce(dedupe(p.Models.Deny)),
		allow:      dedupe(p.Regions.Allow),
		global:     p.Regions.AllowGlobalProfiles,
		cidrs:      dedupe(p.Network.AllowCidrs),
		vpces:      dedupe(p.Network.AllowVpcEndpoints),
		services:   p.ServiceCallersAllowed(),
		principals: dedupe(p.Principals.Allow),
		exempt:     dedupe(p.Principals.Exempt),
	}
	// regions.inference: nil means "same as regions.allow", [] means any.
	switch {
	case p.Regions.Inference != nil && len(p.Regions.Inference) == 0:
		pl.hopAny = true
	case p.Regions.Inference == nil && len(pl.allow) == 0:
		pl.hopAny = true
	case p.Regions.Inference != nil:
		pl.hop = minus(dedupe(p.Regions.Inference), pl.allow)
	}
	if len(pl.allow) == 0 {
		pl.geos = []string{"*."}
	} else {
		var geos []string
		for _, r := range pl.allow {
			for _, g := range Geographies(r) {
				geos = append(geos, g+".")
			}
		}
		if pl.global {
			geos = append(geos, "global.")
		}
		pl.geos = dedupe(geos)
	}
	return pl
}

func fmARN(region, model string) string {
	return "arn:aws:bedrock:" + region + "::foundation-model/" + model
}

func profileARN(region, acct, id string) string {
	return "arn:aws:bedrock:" + region + ":" + acct + ":inference-profile/" + id
}

// modelResources are the ARNs of the allowed models: the foundation-model
// ARN in any region (the region is judged by aws:RequestedRegion) and the
// system inference-profile ARN of each allowed geography.
func (pl plan) modelResources() []string {
	var out []string
	for _, m := range pl.models {
		out = append(out, fmARN("*", m))
	}
	for _, m := range pl.models {
		for _, g := range pl.geos {
			out = append(out, profileARN("*", pl.acct, g+m))
		}
	}
	return out
}

// fmResources are the foundation-model ARNs of the allowed models.
func (pl plan) fmResources() []string {
	var out []string
	for _, m := range pl.models {
		out = append(out, fmARN("*", m))
	}
	return out
}

// profileResources are the inference-profile ARNs of the allowed models.
func (pl plan) profileResources() []string {
	var out []string
	for _, m := range pl.models {
		for _, g := range pl.geos {
			out = append(out, profileARN("*", pl.acct, g+m))
		}
	}
	return out
}

// denyResources match a models.deny pattern as the detector does: against
// the foundation-model id and against the profile id as written.
func (pl plan) denyResources() []string {
	var out []string
	for _, m := range pl.deny {
		out = append(out, fmARN("*", m))
	}
	for _, m := range pl.deny {
		if mayMatchProfileID(m) {
			out = append(out, profileARN("*", "*", m))
		}
	}
	return out
}

// mayMatchProfileID reports whether pattern can match a system profile id
// ("us.anthropic.…"): its literal start is empty or begins a geography
// prefix. Other patterns are enforced on the foundation-model ARN alone,
// which every call through a profile also needs.
func mayMatchProfileID(pattern string) bool {
	lit := pattern
	if i := strings.IndexAny(pattern, "*?"); i >= 0 {
		lit = pattern[:i]
	}
	for _, g := range geoPrefixes {
		if strings.HasPrefix(g, lit) {
			return true
		}
	}
	return false
}

// cond is a Condition element under construction.
type cond map[string]map[string][]string

func (c cond) add(op, key string, values ...string) cond {
	if c[op] == nil {
		c[op] = map[string][]string{}
	}
	c[op][key] = dedupe(append(c[op][key], values...))
	return c
}

// raw marshals c; single values are written as a string, as people write
// them (and two characters shorter).
func (c cond) raw() json.RawMessage {
	if len(c) == 0 {
		return nil
	}
	out := map[string]map[string]any{}
	for op, keys := range c {
		out[op] = map[string]any{}
		for k, v := range keys {
			if len(v) == 1 {
				out[op][k] = v[0]
			} else {
				out[op][k] = v
			}
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil // maps of strings always marshal
	}
	return b
}

// principalOp returns the operator pair to compare aws:PrincipalArn with
// patterns: ArnLike/ArnNotLike when every pattern is an ARN pattern,
// StringLike/StringNotLike otherwise (ArnLike needs six fields).
func principalOp(patterns []string, negated bool) string {
	arn := true
	for _, p := range patterns {
		if !strings.HasPrefix(p, "arn:") || strings.Count(p, ":") < 5 {
			arn = false
		}
	}
	switch {
	case arn && negated:
		return "ArnNotLike"
	case arn:
		return "ArnLike"
	case negated:
		return "StringNotLike"
	}
	return "StringLike"
}

func stmt(sid, effect string, resources []string, c cond) iampolicy.Statement {
	return iampolicy.Statement{
		Sid:       sid,
		Effect:    effect,
		Action:    slices.Clone(InvokeActions),
		Resource:  resources,
		Condition: c.raw(),
	}
}

// build returns the document of kind for p, statements merged.
func build(p *policy.Policy, kind Kind, acct string) iampolicy.Document {
	pl := newPlan(p, acct)
	var st []iampolicy.Statement
	switch kind {
	case SCP:
		st = pl.scp()
	case Boundary:
		st = append([]iampolicy.Statement{{
			Sid:       "AllowAllActionsExceptModelInvocation",
			Effect:    iampolicy.Allow,
			NotAction: slices.Clone(InvokeActions),
			Resource:  []string{"*"},
		}}, pl.identity()...)
	default:
		st = pl.identity()
	}
	return iampolicy.Document{Version: iampolicy.Version2012, Statement: merge(st)}
}

// identity returns the statements of the identity policy (and of the
// boundary after its first statement).
func (pl plan) identity() []iampolicy.Statement {
	var out []iampolicy.Statement
	who := func(c cond) cond {
		if len(pl.principals) > 0 {
			c.add(principalOp(pl.principals, false), keyPrincipalARN, pl.principals...)
		}
		return c
	}
	switch {
	case len(pl.allow) > 0:
		// Calls in an allowed region: profile requests, direct calls, and
		// profile hops that land in an allowed region.
		out = append(out, stmt("AllowModelsCalledInAllowedRegions", iampolicy.Allow, pl.modelResources(),
			who(cond{}.add("StringEquals", keyRequestedRegion, pl.allow...))))
	case pl.hopAny:
		out = append(out, stmt("AllowModelsInAnyRegion", iampolicy.Allow, pl.modelResources(), who(cond{})))
	default:
		// Any calling region, but profiles may only route to
		// regions.inference: direct calls lack bedrock:InferenceProfileArn.
		out = append(out, stmt("AllowProfilesInAnyRegion", iampolicy.Allow, pl.profileResources(), who(cond{})))
		out = append(out, stmt("AllowDirectModelCallsInAnyRegion", iampolicy.Allow, pl.fmResources(),
			who(cond{}.add("Null", keyInferenceProfileARN, "true"))))
	}
	// Cross-region hops: the foundation model in each destination region
	// (and, for global profiles, the region-less ARN with
	// aws:RequestedRegion "unspecified"), only through a profile.
	if len(pl.allow) > 0 || !pl.hopAny {
		hop := slices.Clone(pl.hop)
		if pl.global {
			hop = append(hop, regionUnspecified)
		}
		c := cond{}.add("Null", keyInferenceProfileARN, "false")
		sid := "AllowProfileHopsToInferenceRegions"
		if pl.global {
			sid = "AllowProfileHopsToInferenceRegionsAndGlobalUnspecified"
		}
		switch {
		case pl.hopAny && len(pl.allow) > 0:
			out = append(out, stmt("AllowProfileHopsToAnyRegion", iampolicy.Allow, pl.fmResources(), who(c)))
		case len(hop) > 0:
			out = append(out, stmt(sid, iampolicy.Allow, pl.fmResources(),
				who(c.add("StringEquals", keyRequestedRegion, hop...))))
		}
	}
	if !pl.global && len(pl.allow) == 0 {
		out = append(out, pl.denyGlobal(cond{}))
	}
	if len(pl.deny) > 0 {
		out = append(out, stmt("DenyModelsDenyList", iampolicy.Deny, pl.denyResources(), nil))
	}
	out = append(out, pl.network(cond{})...)
	return out
}

// denyGlobal denies global profiles (the profile ARN and the region-less
// foundation-model ARN their second request uses).
func (pl plan) denyGlobal(c cond) iampolicy.Statement {
	return stmt("DenyGlobalProfilesRegionUnspecified", iampolicy.Deny, []string{
		profileARN("*", "*", "global.*"),
		fmARN("", "*"),
	}, c)
}

// network returns the deny statements of the network section. base is
// copied into each (the SCP's exempt principals).
func (pl plan) network(base cond) []iampolicy.Statement {
	var out []iampolicy.Statement
	if len(pl.cidrs) > 0 || len(pl.vpces) > 0 {
		// Denied unless from an allowed range (aws:SourceIp on the public
		// endpoint, aws:VpcSourceIp through a VPC endpoint) or through an
		// allowed VPC endpoint: every negated test must hold to deny, and
		// a key missing from the request makes a negated test true.
		c := clone(base)
		if len(pl.cidrs) > 0 {
			c.add("NotIpAddress", keySourceIP, pl.cidrs...)
			c.add("NotIpAddress", keyVpcSourceIP, pl.cidrs...)
		}
		if len(pl.vpces) > 0 {
			c.add("StringNotEquals", keySourceVpce, pl.vpces...)
		}
		sid := "DenyOutsideAllowedNetworks"
		if pl.services {
			// Calls an AWS service makes for the principal carry no
			// client address: network.allowAwsServiceCallers lets them by.
			c.add("Bool", keyViaAWSService, "false")
			sid = "DenyOutsideAllowedNetworksExceptAWSServiceCalls"
		}
		out = append(out, stmt(sid, iampolicy.Deny, []string{"*"}, c))
	} else if !pl.services {
		out = append(out, stmt("DenyAWSServiceCallers", iampolicy.Deny, []string{"*"},
			clone(base).add("Bool", keyViaAWSService, "true")))
	}
	return out
}

// scp returns the statements of the service control policy: denies only,
// to work with the organisation's FullAWSAccess SCP. Exempt principals
// are excluded from every deny by aws:PrincipalArn.
func (pl plan) scp() []iampolicy.Statement {
	base := cond{}
	if len(pl.exempt) > 0 {
		base.add(principalOp(pl.exempt, true), keyPrincipalARN, pl.exempt...)
	}
	var out []iampolicy.Statement
	notAllowed := stmt("DenyModelsNotAllowed", iampolicy.Deny, nil, clone(base))
	notAllowed.NotResource = pl.modelResources()
	out = append(out, notAllowed)
	if len(pl.deny) > 0 {
		out = append(out, stmt("DenyModelsDenyList", iampolicy.Deny, pl.denyResources(), clone(base)))
	}
	if len(pl.allow) > 0 {
		out = append(out, stmt("DenyProfileCallsOutsideAllowedRegions", iampolicy.Deny,
			[]string{profileARN("*", "*", "*")},
			clone(base).add("StringNotEquals", keyRequestedRegion, pl.allow...)))
		out = append(out, stmt("DenyDirectModelCallsOutsideAllowedRegions", iampolicy.Deny,
			[]string{fmARN("*", "*")},
			clone(base).add("StringNotEquals", keyRequestedRegion, pl.allow...).add("Null", keyInferenceProfileARN, "true")))
	}
	if !pl.hopAny {
		hop := union(pl.allow, pl.hop)
		if pl.global {
			hop = append(hop, regionUnspecified)
		}
		out = append(out, stmt("DenyProfileHopsOutsideInferenceRegions", iampolicy.Deny,
			[]string{fmARN("*", "*")},
			clone(base).add("StringNotEquals", keyRequestedRegion, hop...).add("Null", keyInferenceProfileARN, "false")))
	}
	if !pl.global && len(pl.allow) == 0 {
		out = append(out, pl.denyGlobal(clone(base)))
	}
	if len(pl.principals) > 0 {
		who := union(pl.principals, pl.exempt)
		out = append(out, stmt("DenyPrincipalsNotAllowed", iampolicy.Deny, []string{"*"},
			cond{}.add(principalOp(who, true), keyPrincipalARN, who...)))
	}
	out = append(out, pl.network(base)...)
	return out
}

func clone(c cond) cond {
	out := cond{}
	for op, keys := range c {
		for k, v := range keys {
			out.add(op, k, v...)
		}
	}
	return out
}

// merge joins statements that differ only in their Resource lists (same
// effect, actions, NotResource and condition), keeping the first Sid, and
// drops resources another resource of the same statement already covers.
func merge(in []iampolicy.Statement) []iampolicy.Statement {
	var out []iampolicy.Statement
	for _, s := range in {
		joined := false
		for i := range out {
			o := &out[i]
			if o.Effect == s.Effect && slices.Equal(o.Action, s.Action) && slices.Equal(o.NotAction, s.NotAction) &&
				len(o.NotResource) == 0 && len(s.NotResource) == 0 && string(o.Condition) == string(s.Condition) &&
				len(o.Resource) > 0 && len(s.Resource) > 0 {
				o.Resource = append(o.Resource, s.Resource...)
				joined = true
				break
			}
		}
		if !joined {
			out = append(out, s)
		}
	}
	for i := range out {
		out[i].Resource = reduce(out[i].Resource)
		out[i].NotResource = reduce(out[i].NotResource)
	}
	return out
}

func covers(b, a string) bool { return !strings.Contains(b, "?") && glob.Match(b, a) }

// reduce removes duplicates and the patterns another member covers. A
// pattern a is covered by b when b has no '?' and matches a's text: b's
// literal characters then meet a's literal characters, and b's '*' absorb
// whatever a's wildcards can produce.
func reduce(list []string) []string {
	list = dedupe(list)
	var out []string
	for i, a := range list {
		covered := false
		for j, b := range list {
			if i != j && covers(b, a) && (!covers(a, b) || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, a)
		}
	}
	return out
}
