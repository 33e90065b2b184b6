package audit

import (
	"fmt"
	"slices"
	"sync"
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
				name := fmt.Sprintf("scp#%d.%d", li, di)
				c, err := iameval.Compile(name, d.Policy)
				if err != nil {
					return nil, fmt.Errorf("SCP %s: %w", d.Name, err)
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
