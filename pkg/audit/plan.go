package audit

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bedrock-warden/warden/pkg/export"
	"github.com/bedrock-warden/warden/pkg/glob"
	"github.com/bedrock-warden/warden/pkg/history"
	"github.com/bedrock-warden/warden/pkg/iameval"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
)

// plan is what every principal of one audit is judged with: the policy,
// the rules engine that classifies candidate calls, the SCPs, the exported
// documents fixes are built from, and caches shared by the workers.
type plan struct {
	policy *policy.Policy
	// engine classifies calls. It judges a copy of the policy without
	// principals.exempt, so that exempt principals get verdicts too (they
	// are listed apart).
	engine  *rules.Engine
	account string
	orgID   string
	now     time.Time
	scps    SCPs
	scpSet  [][]*iameval.Policy
	scpDocs map[string]docInfo
	dims    []Dimension // the judged dimensions, in order
	// networkJudged: the network dimension is judged, so sources the
	// policy treats differently are different candidates.
	networkJudged bool
	regions       []string // candidate regions: the policy's, then Bedrock's
	// exported holds the documents `warden policy export` writes for the
	// account; a kind the policy cannot be exported as is missing, with
	// its reason in exportErr.
	exported  map[export.Kind]*iameval.Policy
	exportDoc map[export.Kind]iampolicy.Document
	exportErr map[export.Kind]string

	witnesses sync.Map // [2]string → witnessResult

	// shared holds verdicts computed once for principals with the same
	// Bedrock-relevant policies (see render.go).
	sharedMu sync.Mutex
	shared   map[string]*shared
	computed atomic.Int64 // verdict computations (principals judged, not shared)

	// closing caches exportedCloses.
	closingMu sync.Mutex
	closing   map[closingKey]*closingEntry

	classMu sync.RWMutex
	classes map[classKey]classification
}

func (pl *plan) class(k classKey) (classification, bool) {
	pl.classMu.RLock()
	defer pl.classMu.RUnlock()
	c, ok := pl.classes[k]
	return c, ok
}

func (pl *plan) storeClass(k classKey, c classification) {
	pl.classMu.Lock()
	defer pl.classMu.Unlock()
	pl.classes[k] = c
}

type witnessResult struct {
	s  string
	ok bool
}

// docInfo is what the audit knows about a compiled document.
type docInfo struct {
	doc   Document
	layer string // "identity", "boundary" or "scp"
}

// newPlan prepares an audit of account against p with scps.
func newPlan(p *policy.Policy, account, orgID string, scps SCPs, now time.Time) (*plan, error) {
	pl := &plan{policy: p, account: account, orgID: orgID, now: now.UTC(), scps: scps,
		scpDocs:   map[string]docInfo{},
		exported:  map[export.Kind]*iameval.Policy{},
		exportDoc: map[export.Kind]iampolicy.Document{},
		exportErr: map[export.Kind]string{},
		classes:   map[classKey]classification{},
		closing:   map[closingKey]*closingEntry{},
		shared:    map[string]*shared{},
	}
	judging, err := withoutExemptions(p)
	if err != nil {
		return nil, err
	}
	pl.engine = rules.New(judging)
	for _, d := range Dimensions {
		if ok, _ := d.judged(p); ok {
			pl.dims = append(pl.dims, d)
			pl.networkJudged = pl.networkJudged || d.ID == DimNetwork
		}
	}
	if scps.Applied {
		for li, lvl := range scps.Levels {
			var compiled []*iameval.Policy
			for di, d := range lvl {
				name := marker(fmt.Sprintf("scp#%d.%d", li, di))
				c, err := iameval.Compile(name, d.Policy)
				if err != nil {
					return nil, fmt.Errorf("SCP %s: %s", d.Name, strings.ReplaceAll(err.Error(), name, d.Name))
				}
				pl.scpDocs[name] = docInfo{doc: d, layer: "scp"}
				compiled = append(compiled, c)
			}
			pl.scpSet = append(pl.scpSet, compiled)
		}
	}
	var regions []string
	add := func(list []string) {
		for _, r := range list {
			if r != "" && !slices.Contains(regions, r) {
				regions = append(regions, r)
			}
		}
	}
	add(p.Regions.Allow)
	add(p.Regions.Inference)
	add(history.Regions)
	pl.regions = regions
	for _, kind := range export.Kinds {
		acct := account
		if kind == export.SCP {
			acct = "" // an SCP is written for every account of the OU
		}
		doc, err := export.Export(p, kind, export.Options{Account: acct})
		if err != nil {
			pl.exportErr[kind] = err.Error()
			continue
		}
		c, err := iameval.Compile("exported "+string(kind), doc)
		if err != nil {
			pl.exportErr[kind] = err.Error()
			continue
		}
		pl.exported[kind], pl.exportDoc[kind] = c, doc
	}
	return pl, nil
}

// withoutExemptions returns p without principals.exempt, loaded afresh so
// that its matchers are built for the change.
func withoutExemptions(p *policy.Policy) (*policy.Policy, error) {
	if len(p.Principals.Exempt) == 0 {
		return p, nil
	}
	q := *p
	q.Principals.Exempt = nil
	b, err := q.YAML()
	if err != nil {
		return nil, fmt.Errorf("audit: policy without exemptions: %w", err)
	}
	out, err := policy.Load("audit (exemptions lifted)", b)
	if err != nil {
		return nil, fmt.Errorf("audit: policy without exemptions: %w", err)
	}
	return out, nil
}

// witness is glob.Witness memoised across principals: the same managed
// policies meet the same policy patterns again and again.
func (pl *plan) witness(a, b string) (string, bool) {
	key := [2]string{a, b}
	if v, ok := pl.witnesses.Load(key); ok {
		r := v.(witnessResult)
		return r.s, r.ok
	}
	s, ok := glob.Witness(a, b, 'x')
	pl.witnesses.Store(key, witnessResult{s, ok})
	return s, ok
}

type closingKey struct {
	kind            export.Kind
	dim             string
	allowed, exempt bool
}

type closingEntry struct {
	once   sync.Once
	closes bool
}

// exportedCloses reports whether the exported boundary (or SCP) refuses
// every forbidden call of dimension d, whatever the principal's identity
// policies: it is checked once, on a principal allowed everything, which
// no identity policy can exceed (its Allow covers all and a Deny only
// takes away). The principal's place in principals.allow and
// principals.exempt is the only thing of it the exported documents read.
func (pl *plan) exportedCloses(kind export.Kind, d Dimension, allowed, exempt bool) bool {
	exp := pl.exported[kind]
	if exp == nil {
		return false
	}
	k := closingKey{kind: kind, dim: d.ID, allowed: allowed, exempt: exempt}
	pl.closingMu.Lock()
	e, ok := pl.closing[k]
	if !ok {
		e = &closingEntry{}
		pl.closing[k] = e
	}
	pl.closingMu.Unlock()
	e.once.Do(func() { e.closes = pl.checkExported(kind, d, allowed, exempt) })
	return e.closes
}

// checkExported judges a principal allowed everything under the exported
// document.
func (pl *plan) checkExported(kind export.Kind, d Dimension, allowed, exempt bool) bool {
	name := "warden-audit-probe"
	if !allowed {
		name = "warden-audit-probe-outside-principals-allow"
	}
	arn := "arn:aws:iam::" + pl.account + ":role/" + name
	if exempt || !allowed {
		// A representative ARN of the class: one of the policy's own
		// patterns, where it is a concrete ARN.
		for _, list := range [][]string{pl.policy.Principals.Exempt, pl.policy.Principals.Allow} {
			for _, pat := range list {
				if w, ok := pl.witness(pat, "arn:aws:iam::*:role/?*"); ok && pl.policy.PrincipalExempt(w) == exempt && pl.policy.PrincipalAllowed(w) == allowed {
					arn = w
				}
			}
		}
		if pl.policy.PrincipalExempt(arn) != exempt || pl.policy.PrincipalAllowed(arn) != allowed {
			return false // no representative: not verified
		}
	}
	all := Document{Name: "allow everything", Source: SourceInline, Policy: iampolicy.Document{Version: iampolicy.Version2012,
		Statement: iampolicy.Statements{{Effect: iampolicy.Allow, Action: iampolicy.StringList{"*"}, Resource: iampolicy.StringList{"*"}}}}}
	probe := Principal{ARN: arn, Name: name, Path: "/", Kind: KindRole, Account: pl.account, Tags: map[string]string{}, Identity: []Document{all}}
	doc := Document{Name: "exported " + string(kind), Source: SourceExported, Policy: pl.exportDoc[kind]}
	scps := pl.scps
	if kind == export.Boundary {
		probe.Boundary = &doc
	}
	j, err := pl.newJudgement(probe)
	if err != nil {
		return false
	}
	if kind == export.SCP {
		j.set.SCPs = append(append([][]*iameval.Policy{}, j.set.SCPs...), []*iameval.Policy{pl.exported[export.SCP], fullAccess})
		j.main = newView(j.set)
		j.pt = collectPatterns(append(rawDocs(probe, scps), doc.Policy))
	}
	return !j.opens(d, j.main, forbiddenBy(d))
}

// rawDocs returns the documents a principal is judged with.
func rawDocs(p Principal, scps SCPs) []iampolicy.Document {
	var out []iampolicy.Document
	for _, d := range p.Identity {
		out = append(out, d.Policy)
	}
	if p.Boundary != nil {
		out = append(out, p.Boundary.Policy)
	}
	for _, lvl := range scps.Levels {
		for _, d := range lvl {
			out = append(out, d.Policy)
		}
	}
	return out
}
