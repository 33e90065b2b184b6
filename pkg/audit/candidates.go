package audit

import (
	"net/netip"
	"strings"

	"github.com/bedrock-warden/warden/pkg/export"
	"github.com/bedrock-warden/warden/pkg/glob"
	"github.com/bedrock-warden/warden/pkg/iameval"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
)

// Condition keys the audit sets or reads.
const (
	keyRequestedRegion  = "aws:requestedregion"
	keySourceIP         = "aws:sourceip"
	keyVpcSourceIP      = "aws:vpcsourceip"
	keySourceVpce       = "aws:sourcevpce"
	keyInferenceProfile = "bedrock:inferenceprofilearn"
)

// exemplarModels are real model ids tried first for each family, so that a
// verdict names a model a person recognises. Ids the principal's own
// Resource patterns imply are added per principal (see models).
var exemplarModels = []string{
	"anthropic.claude-3-5-sonnet-20241022-v2:0",
	"anthropic.claude-3-opus-20240229-v1:0",
	"anthropic.claude-opus-4-1-20250805-v1:0",
	"anthropic.claude-sonnet-4-20250514-v1:0",
	"anthropic.claude-3-5-haiku-20241022-v1:0",
	"anthropic.claude-3-haiku-20240307-v1:0",
	"anthropic.claude-3-sonnet-20240229-v1:0",
	"anthropic.claude-v2:1",
	"anthropic.claude-instant-v1",
	"amazon.nova-pro-v1:0",
	"amazon.titan-embed-text-v2:0",
	"meta.llama3-1-70b-instruct-v1:0",
	"cohere.embed-english-v3",
	"mistral.mistral-large-2407-v1:0",
	"deepseek.r1-v1:0",
}

// outsideAddresses are documentation and unlikely addresses tried as
// sources outside every range.
var outsideAddresses = []string{"203.0.113.77", "198.51.100.77", "192.0.2.77", "100.64.7.7", "2001:db8:ffff::77", "2600:1f18:ffff::77"}

// networkKeys are the condition keys that tell sources apart.
var networkKeys = map[string]bool{
	"aws:sourceip": true, "aws:vpcsourceip": true, "aws:sourcevpce": true, "aws:sourcevpc": true,
	"aws:viaawsservice": true, "aws:calledvia": true, "aws:calledviafirst": true, "aws:calledvialast": true,
	"aws:sourcearn": true, "aws:sourceaccount": true, "aws:sourceorgid": true, "aws:sourceorgpaths": true,
}

// unknownEndpoint is a VPC endpoint id no policy names.
const unknownEndpoint = "vpce-0a0d17ed0e0d0a0d1"

// patterns are the strings of a principal's documents (and the SCPs and
// boundary) that can tell two candidates apart, grouped as IAM reads them:
// a statement's Resource list applies when any member matches, a
// condition test holds when the value matches any of its values. Two
// candidates every group treats alike are judged once.
type patterns struct {
	// resources holds every Resource and NotResource pattern, for making
	// candidates; resourceGroups and actionGroups hold the lists.
	resources      []glob.Pattern
	resourceGroups [][]pattern
	actionGroups   [][]glob.Pattern
	// values holds each condition test's values per lower-cased key.
	values map[string][][]string
}

func collectPatterns(docs []iampolicy.Document) patterns {
	pt := patterns{values: map[string][][]string{}}
	seenR := map[string]bool{}
	seenRG := map[string]bool{}
	seenAG := map[string]bool{}
	group := func(list []string, seen map[string]bool) []glob.Pattern {
		k := strings.Join(list, "\x00")
		if len(list) == 0 || seen[k] {
			return nil
		}
		seen[k] = true
		out := make([]glob.Pattern, len(list))
		for i, x := range list {
			out[i] = glob.Compile(x)
		}
		return out
	}
	patternGroup := func(g []glob.Pattern) []pattern {
		out := make([]pattern, len(g))
		for i, x := range g {
			out[i] = newPattern(x)
		}
		return out
	}
	for _, d := range docs {
		for _, st := range d.Statement {
			for _, list := range [][]string{st.Resource, st.NotResource} {
				if g := group(list, seenRG); g != nil {
					pt.resourceGroups = append(pt.resourceGroups, patternGroup(g))
				}
				for _, r := range list {
					if !seenR[r] {
						seenR[r] = true
						pt.resources = append(pt.resources, glob.Compile(r))
					}
				}
			}
			for _, list := range [][]string{st.Action, st.NotAction} {
				if g := group(list, seenAG); g != nil {
					pt.actionGroups = append(pt.actionGroups, g)
				}
			}
			cs, err := iameval.ParseConditions(st.Condition)
			if err != nil {
				continue // the document fails to compile and is reported there
			}
			for _, c := range cs {
				k := strings.ToLower(c.Key)
				pt.values[k] = append(pt.values[k], c.Values)
			}
		}
	}
	return pt
}

// flat returns every value of key's tests.
func (pt patterns) flat(key string) []string {
	var out []string
	for _, g := range pt.values[key] {
		out = append(out, g...)
	}
	return out
}

// pattern is a Resource pattern with its longest literal run: a string
// without that run cannot match, which strings.Contains tells fast.
type pattern struct {
	g      glob.Pattern
	needle string
}

func newPattern(g glob.Pattern) pattern {
	p := pattern{g: g}
	for _, run := range strings.FieldsFunc(g.String(), func(r rune) bool { return r == '*' || r == '?' }) {
		if len(run) > len(p.needle) {
			p.needle = run
		}
	}
	return p
}

func (p pattern) match(s string) bool {
	if len(p.needle) > 3 && !strings.Contains(s, p.needle) {
		return false
	}
	return p.g.Match(s)
}

func anyMatch(g []pattern, s string) bool {
	for _, p := range g {
		if p.match(s) {
			return true
		}
	}
	return false
}

func anyMatchFold(g []glob.Pattern, s string) bool {
	for _, p := range g {
		if p.MatchFold(s) {
			return true
		}
	}
	return false
}

func anyGlob(values []string, s string) bool {
	for _, v := range values {
		if glob.Match(v, s) {
			return true
		}
	}
	return false
}

// signature is a string of bits; candidates with equal signatures are
// judged alike.
type signature []byte

func (s *signature) bit(b bool) {
	if b {
		*s = append(*s, '1')
	} else {
		*s = append(*s, '0')
	}
}

func (s *signature) text(t string) { *s = append(append(*s, t...), '|') }

// regionClasses returns one region per class of candidates: regions the
// policy and the documents treat alike (allow-list, inference list,
// geographies, every Resource list on the region's ARNs, every
// aws:RequestedRegion test) are one class. The policy's own regions come
// first, so that a representative is one a person expects.
//
// Without byPolicy the policy's lists are left out (a dimension other than
// regions, or the control plane, which the policy does not restrict by
// region); without byGeography the geographies are too (calls made
// without profiles).
func (j *judgement) regionClasses(candidates []string, byPolicy, byGeography bool) []string {
	p := j.plan.policy
	tests := j.pt.values[keyRequestedRegion]
	seen := map[string]bool{}
	var out []string
	for _, r := range candidates {
		var s signature
		if byPolicy {
			s.bit(p.RegionAllowed(r))
			s.bit(p.InferenceRegionAllowed(r))
		}
		if byGeography {
			s.text(strings.Join(export.Geographies(r), ","))
		}
		fm := fmARN(r, "x")
		pr := profileARN(r, j.account(), "x")
		other := "arn:aws:bedrock:" + r + ":" + j.account() + ":x/x"
		for _, g := range j.pt.resourceGroups {
			s.bit(anyMatch(g, fm))
			s.bit(anyMatch(g, pr))
			s.bit(anyMatch(g, other))
		}
		for _, t := range tests {
			s.bit(anyGlob(t, r))
		}
		if !seen[string(s)] {
			seen[string(s)] = true
			out = append(out, r)
		}
	}
	return out
}

// source is where a call comes from.
type source struct {
	ip      netip.Addr // public or VPC-private address; invalid for a service
	vpce    string
	service string // an AWS service calling on the principal's behalf
}

func (s source) String() string {
	switch {
	case s.service != "":
		return s.service
	case s.vpce != "":
		return s.ip.String() + " via " + s.vpce
	}
	return s.ip.String()
}

// sourceClasses returns one source per class: public addresses,
// addresses behind VPC endpoints, and an AWS service, told apart by every
// IpAddress and aws:SourceVpce test of the documents and, with byPolicy,
// by the policy's network section.
func (j *judgement) sourceClasses(byPolicy bool) []source {
	p := j.plan.policy
	var cidrs []string
	cidrs = append(cidrs, p.Network.AllowCidrs...)
	cidrs = append(cidrs, j.pt.flat(keySourceIP)...)
	cidrs = append(cidrs, j.pt.flat(keyVpcSourceIP)...)
	var addrs []netip.Addr
	addAddr := func(a netip.Addr) {
		for _, x := range addrs {
			if x == a {
				return
			}
		}
		addrs = append(addrs, a)
	}
	var ipTests [][]netip.Prefix
	for _, key := range []string{keySourceIP, keyVpcSourceIP} {
		for _, t := range j.pt.values[key] {
			var g []netip.Prefix
			for _, c := range t {
				if pfx, err := parsePrefix(c); err == nil {
					g = append(g, pfx)
				}
			}
			ipTests = append(ipTests, g)
		}
	}
	for _, c := range cidrs {
		pfx, err := parsePrefix(c)
		if err != nil {
			continue
		}
		// A host address of the range first (it reads better than the
		// network address), then the network address itself.
		if next := pfx.Addr().Next(); next.IsValid() && pfx.Contains(next) {
			addAddr(next)
		}
		addAddr(pfx.Addr())
	}
	for _, s := range outsideAddresses {
		addAddr(netip.MustParseAddr(s))
	}
	vpces := append([]string{}, p.Network.AllowVpcEndpoints...)
	vpceTests := j.pt.values[keySourceVpce]
	for _, v := range j.pt.flat(keySourceVpce) {
		if w, ok := glob.Witness(v, "vpce-?*", '0'); ok {
			vpces = append(vpces, w)
		}
	}
	vpces = append(vpces, unknownEndpoint)

	// Kinds of source (public, VPC endpoint, AWS service) differ for IAM
	// only when a document tests a network key, and for the detector only
	// when the policy restricts networks.
	kinds := byPolicy
	for key := range j.pt.values {
		if networkKeys[key] {
			kinds = true
		}
	}
	sig := func(s source) string {
		var b signature
		if !kinds {
			return ""
		}
		switch {
		case s.service != "":
			b.text("service")
		case s.vpce != "":
			b.text("vpce")
			if byPolicy {
				b.bit(p.VPCEndpointAllowed(s.vpce))
			}
			for _, t := range vpceTests {
				b.bit(anyGlob(t, s.vpce))
			}
		default:
			b.text("public")
		}
		if s.ip.IsValid() {
			if byPolicy {
				b.bit(p.SourceIPAllowed(s.ip))
			}
			for _, t := range ipTests {
				b.bit(anyContains(t, s.ip))
			}
		}
		return string(b)
	}
	seen := map[string]bool{}
	var out []source
	add := func(s source) {
		if k := sig(s); !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	for _, a := range addrs {
		add(source{ip: a})
	}
	for _, v := range vpces {
		for _, a := range addrs {
			add(source{ip: a, vpce: v})
		}
	}
	add(source{service: "bedrock.amazonaws.com"})
	return out
}

func anyContains(g []netip.Prefix, a netip.Addr) bool {
	for _, p := range g {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func parsePrefix(s string) (netip.Prefix, error) {
	if pfx, err := netip.ParsePrefix(s); err == nil {
		return pfx.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// model is a candidate model id with its family under the policy.
type model struct {
	id string
	// family is the models.deny pattern it matches, familyUnlisted when it
	// matches no models.allow pattern, "" when the policy allows it.
	family string
}

const familyUnlisted = "unlisted"

func (j *judgement) familyOf(id string) string {
	p := j.plan.policy
	if pat, denied := p.ModelDenied(id); denied {
		return pat
	}
	if !p.ModelAllowed(id) {
		return familyUnlisted
	}
	return ""
}

// modelClasses returns candidate model ids, one per class: the family the
// policy puts it in and how every Resource pattern (and
// bedrock:InferenceProfileArn value) treats its foundation-model and
// profile ARNs in each representative region. Besides the exemplars, each
// Resource pattern of the documents that names models contributes its
// shortest instance: a grant on "anthropic.claude-opus-5*" is tried as
// "anthropic.claude-opus-5", a model no exemplar foresaw. (Where a
// wildcard could only meet a family by inventing a name — "amazon.nova-*"
// and "*opus*" meet in "amazon.nova-opus" — no candidate is made: that is
// a model nobody can call.)
//
// Without byPolicy the family is left out of the class: a dimension other
// than models only asks whether some model is allowed.
func (j *judgement) modelClasses(regions []string, byPolicy bool) []model {
	var ids []string
	ids = append(ids, exemplarModels...)
	for _, r := range j.pt.resources {
		raw := r.String()
		if strings.Contains(raw, "foundation-model") {
			if w, ok := j.plan.witness("arn:aws:bedrock:*::foundation-model/*", raw); ok {
				if _, id, ok := strings.Cut(w, "foundation-model/"); ok && validModelID(id) {
					ids = append(ids, id)
				}
			}
		}
		if strings.Contains(raw, "inference-profile") {
			if w, ok := j.plan.witness("arn:aws:bedrock:*:*:inference-profile/*.*", raw); ok {
				if _, id, ok := strings.Cut(w, "inference-profile/"); ok {
					if _, base, ok := strings.Cut(id, "."); ok && validModelID(base) {
						ids = append(ids, base)
					}
				}
			}
		}
	}
	profileTests := j.pt.values[keyInferenceProfile]
	seen := map[string]bool{}
	var out []model
	for _, id := range ids {
		m := model{id: id, family: j.familyOf(id)}
		var s signature
		if byPolicy {
			s.text(m.family)
		}
		for _, r := range regions {
			fm := fmARN(r, id)
			var profiles []string
			for _, g := range export.Geographies(r) {
				profiles = append(profiles, profileARN(r, j.account(), g+"."+id))
			}
			profiles = append(profiles, profileARN(r, j.account(), "global."+id))
			for _, g := range j.pt.resourceGroups {
				s.bit(anyMatch(g, fm))
				for _, pr := range profiles {
					s.bit(anyMatch(g, pr))
				}
			}
			for _, t := range profileTests {
				for _, pr := range profiles {
					s.bit(anyGlob(t, pr))
				}
			}
		}
		for _, g := range j.pt.resourceGroups {
			s.bit(anyMatch(g, fmARN("", id)))
		}
		if !seen[string(s)] {
			seen[string(s)] = true
			out = append(out, m)
		}
	}
	return out
}

// validModelID reports whether s can be a base model id: it starts with a
// letter or digit and has no '/' (a witness whose wildcard swallowed part
// of another ARN is not one).
func validModelID(s string) bool {
	if s == "" || strings.Contains(s, "/") {
		return false
	}
	c := s[0]
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// invokeOperations are the invocation calls tried, one per IAM action
// (Converse and the bidirectional stream share InvokeModel's).
var invokeOperations = []string{"InvokeModel", "InvokeModelWithResponseStream", "StartAsyncInvoke"}

// operationReps returns the invocation operations whose actions the
// documents' Action and NotAction patterns tell apart.
func (j *judgement) operationReps() []string {
	seen := map[string]bool{}
	var out []string
	for _, op := range invokeOperations {
		action := export.InvokeAction(op)
		var s signature
		for _, g := range j.pt.actionGroups {
			s.bit(anyMatchFold(g, action))
		}
		if !seen[string(s)] {
			seen[string(s)] = true
			out = append(out, op)
		}
	}
	return out
}

func fmARN(region, id string) string { return "arn:aws:bedrock:" + region + "::foundation-model/" + id }

func profileARN(region, account, id string) string {
	return "arn:aws:bedrock:" + region + ":" + account + ":inference-profile/" + id
}
