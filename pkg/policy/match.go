package policy

import (
	"net/netip"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/glob"
)

// compiled holds matchers built once by compile, so judging an event never
// parses a pattern or a CIDR.
type compiled struct {
	ready           bool
	modelAllow      *glob.Memo
	modelDeny       *glob.Memo
	regionAllow     map[string]bool
	inferenceAllow  map[string]bool
	cidrs           []netip.Prefix
	vpces           map[string]bool
	principalAllow  *glob.Memo
	principalExempt *glob.Memo
	onCall          *glob.Memo
}

// compile builds the matchers. Values are assumed validated.
func (p *Policy) compile() {
	c := compiled{ready: true}
	// Every event is judged against these sets with one of a few model
	// ids and principals: the memos match each distinct value once.
	c.modelAllow = glob.NewMemo(glob.CompileSet(p.Models.Allow))
	c.modelDeny = glob.NewMemo(glob.CompileSet(p.Models.Deny))
	c.regionAllow = set(p.Regions.Allow)
	if p.Regions.Inference != nil {
		c.inferenceAllow = set(p.Regions.Inference)
	} else {
		c.inferenceAllow = c.regionAllow
	}
	for _, s := range p.Network.AllowCidrs {
		if pfx, err := parseCIDR(s); err == nil {
			c.cidrs = append(c.cidrs, pfx)
		}
	}
	c.vpces = set(p.Network.AllowVpcEndpoints)
	c.principalAllow = glob.NewMemo(glob.CompileSet(p.Principals.Allow))
	c.principalExempt = glob.NewMemo(glob.CompileSet(p.Principals.Exempt))
	c.onCall = glob.NewMemo(glob.CompileSet(p.Monitor.OnCall))
	p.compiled = c
}

func (p *Policy) c() *compiled {
	if !p.compiled.ready {
		p.compile()
	}
	return &p.compiled
}

func set(list []string) map[string]bool {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

// parseCIDR accepts "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32
// or /128).
func parseCIDR(s string) (netip.Prefix, error) {
	if pfx, err := netip.ParsePrefix(s); err == nil {
		return pfx.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ModelDenied returns the first models.deny pattern matching any of ids.
func (p *Policy) ModelDenied(ids ...string) (pattern string, denied bool) {
	deny := p.c().modelDeny
	first := -1
	for _, id := range ids {
		if i := deny.First(id); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	if first < 0 {
		return "", false
	}
	return deny.Pattern(first).String(), true
}

// ModelAllowed reports whether any of ids matches models.allow (true when
// the list is empty). It ignores models.deny; see ModelDenied.
func (p *Policy) ModelAllowed(ids ...string) bool {
	c := p.c()
	return c.modelAllow.Len() == 0 || c.modelAllow.Match(ids...)
}

// RegionAllowed reports whether calls may be made in region (true when
// regions.allow is empty).
func (p *Policy) RegionAllowed(region string) bool {
	c := p.c()
	return c.regionAllow == nil || c.regionAllow[region]
}

// InferenceRegionAllowed reports whether cross-region inference may run in
// region: regions.inference, or regions.allow when inference is not set.
func (p *Policy) InferenceRegionAllowed(region string) bool {
	c := p.c()
	return c.inferenceAllow == nil || c.inferenceAllow[region]
}

// NetworkRestricted reports whether the policy restricts sources at all.
func (p *Policy) NetworkRestricted() bool {
	c := p.c()
	return len(c.cidrs) > 0 || len(c.vpces) > 0
}

// SourceIPAllowed reports whether ip is inside network.allowCidrs (true when
// the policy does not restrict the network).
func (p *Policy) SourceIPAllowed(ip netip.Addr) bool {
	if !p.NetworkRestricted() {
		return true
	}
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, pfx := range p.c().cidrs {
		if pfx.Contains(ip) {
			return true
		}
	}
	return false
}

// VPCEndpointAllowed reports whether id is in network.allowVpcEndpoints.
func (p *Policy) VPCEndpointAllowed(id string) bool {
	return id != "" && p.c().vpces[id]
}

// ServiceCallersAllowed reports network.allowAwsServiceCallers (default true).
func (p *Policy) ServiceCallersAllowed() bool {
	return p.Network.AllowAwsServiceCallers == nil || *p.Network.AllowAwsServiceCallers
}

// PrincipalAllowed reports whether arn matches principals.allow (true when
// the list is empty).
func (p *Policy) PrincipalAllowed(arn string) bool {
	c := p.c()
	return c.principalAllow.Len() == 0 || c.principalAllow.Match(arn)
}

// PrincipalExempt reports whether arn matches principals.exempt.
func (p *Policy) PrincipalExempt(arn string) bool {
	return p.c().principalExempt.Match(arn)
}

// OnCall reports whether arn matches monitor.onCall.
func (p *Policy) OnCall(arn string) bool {
	return p.c().onCall.Match(arn)
}

// Rule returns whether rule id is enabled and the severity its findings
// carry: the policy's setting, else the catalogue's default.
func (p *Policy) Rule(id string) (enabled bool, severity findings.Severity) {
	info, _ := findings.Lookup(id)
	enabled, severity = true, info.Severity
	if s, ok := p.Rules[id]; ok {
		if s.Enabled != nil {
			enabled = *s.Enabled
		}
		if s.Severity != "" {
			severity = findings.Severity(s.Severity)
		}
	}
	return enabled, severity
}

// SuppressWindow returns the alert suppression window for rule: the
// alerts.suppress entry, else alerts.window, else one hour.
func (p *Policy) SuppressWindow(rule string) time.Duration {
	if d, ok := p.Alerts.Suppress[rule]; ok {
		return d.D()
	}
	if p.Alerts.Window > 0 {
		return p.Alerts.Window.D()
	}
	return time.Hour
}
