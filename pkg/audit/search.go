package audit

import (
	"strconv"
	"strings"

	"github.com/bedrock-warden/warden/pkg/export"
	"github.com/bedrock-warden/warden/pkg/iameval"
)

// view is a set of policies the principal's candidate calls are decided
// under — its own, or the same with a fix applied — with what was decided.
type view struct {
	set   iameval.Set
	memo  map[string]iameval.Result
	reach map[string]bool
}

func newView(s iameval.Set) *view {
	return &view{set: s, memo: map[string]iameval.Result{}, reach: map[string]bool{}}
}

func (v *view) decide(key string, r iameval.Request) iameval.Result {
	if res, ok := v.memo[key]; ok {
		return res
	}
	res := v.set.Decide(r)
	v.memo[key] = res
	return res
}

// tri decides every request of c: the call is allowed when all are.
func (v *view) tri(c *call) iameval.Tri {
	dec := iameval.True
	for i, r := range c.reqs {
		dec = iameval.And(dec, v.decide(c.keys[i], r).Decision)
		if dec == iameval.False {
			break
		}
	}
	return dec
}

// cell is a candidate invocation without its source: an operation on a
// model, directly (geo "") or through a profile, called in region and
// (for a geographic profile) run in inference.
type cell struct {
	op                     string
	m                      model
	region, inference, geo string
}

// resources returns the ARNs the cell's requests are authorised on.
func (j *judgement) resources(c cell) []string {
	switch c.geo {
	case "":
		return []string{fmARN(c.region, c.m.id)}
	case "global":
		return []string{profileARN(c.region, j.account(), "global."+c.m.id), fmARN("", c.m.id)}
	}
	return []string{profileARN(c.region, j.account(), c.geo+"."+c.m.id), fmARN(c.inference, c.m.id)}
}

// reachable reports whether IAM could allow the cell's calls under v at
// all (conditions aside).
func (j *judgement) reachable(v *view, c cell) bool {
	action := export.InvokeAction(c.op)
	for _, r := range j.resources(c) {
		key := action + "|" + r
		ok, seen := v.reach[key]
		if !seen {
			ok = v.set.Reachable(action, r)
			v.reach[key] = ok
		}
		if !ok {
			return false
		}
	}
	return true
}

// invocation builds and classifies one candidate invocation; evaluate
// decides it.
func (j *judgement) invocation(c cell, src source) *call {
	inference := c.inference
	if c.geo == "" {
		inference = c.region
	}
	out := &call{ev: j.invocationEvent(c.op, c.region, inference, c.m, c.geo, src), family: c.m.family}
	sk := sourceKey(src)
	out.violates = j.classify(&out.ev, classKey{op: c.op, model: c.m.id, geo: c.geo, region: c.region, inference: c.inference, source: sk})
	for _, r := range export.Requests(&out.ev) {
		region := r.Context["aws:requestedregion"]
		profile := r.Context["bedrock:inferenceprofilearn"]
		key := r.Action + "|" + r.Resource + "|" + strings.Join(region, ",") + "|" + sk + "|" + strings.Join(profile, ",")
		out.reqs = append(out.reqs, j.withPrincipal(r, src))
		out.keys = append(out.keys, key)
	}
	return out
}

// space is the candidate invocations judged for one dimension. The
// detector judges each aspect of a call by itself — the model rule the
// model, the region rule the regions, the network rule the source, the
// principal rule the principal — so the dimension's own axis is split by
// the policy and the documents, and the other axes by the documents alone:
// for them only "is some such call allowed?" matters.
type space struct {
	ops     []string
	models  []model
	regions []string
	dests   map[string][]string // geography → destination classes
	sources []source
}

type spaceKey struct{ models, regions, sources bool }

// modelsBy returns the model classes, with or without the policy's
// families, computed once per principal. Their signatures use the region
// classes the documents tell apart: the policy's region lists change no
// Resource pattern's answer.
func (j *judgement) modelsBy(byPolicy bool) []model {
	if ms, ok := j.modelSets[byPolicy]; ok {
		return ms
	}
	if j.docRegions == nil {
		j.docRegions = j.regionClasses(j.plan.regions, false, true)
	}
	ms := j.modelClasses(j.docRegions, byPolicy)
	j.modelSets[byPolicy] = ms
	return ms
}

func (j *judgement) spaceFor(d Dimension) *space {
	k := spaceKey{models: d.ID == DimModels, regions: d.ID == DimRegions, sources: d.ID == DimNetwork}
	if sp, ok := j.spaces[k]; ok {
		return sp
	}
	sp := &space{ops: j.operationReps(), dests: map[string][]string{}}
	sp.regions = j.regionClasses(j.plan.regions, k.regions, true)
	sp.models = j.modelsBy(k.models)
	sp.sources = j.sourceClasses(k.sources)
	for _, r := range sp.regions {
		for _, geo := range export.Geographies(r) {
			if _, ok := sp.dests[geo]; !ok {
				sp.dests[geo] = j.regionClasses(export.Destinations(geo, j.plan.regions), k.regions, true)
			}
		}
	}
	j.spaces[k] = sp
	return sp
}

// each yields the calls of sp in order — every operation class × model
// class, called directly in each region class, through each geographic
// profile callable there (to each destination class), and through a global
// profile, from each source class — those reachable under v (or, with
// reachable false, those that are not), until yield returns false.
//
// want, when set, skips the cells it rejects before anything is built.
func (j *judgement) each(sp *space, v *view, reachable bool, want func(cell) bool, yield func(*call) bool) {
	visit := func(c cell) bool {
		if want != nil && !want(c) {
			return true
		}
		if j.reachable(v, c) != reachable {
			return true
		}
		for _, src := range sp.sources {
			if !yield(j.invocation(c, src)) {
				return false
			}
		}
		return true
	}
	for _, op := range sp.ops {
		for _, m := range sp.models {
			for _, r := range sp.regions {
				if !visit(cell{op: op, m: m, region: r}) {
					return
				}
			}
			for _, r := range sp.regions {
				for _, geo := range export.Geographies(r) {
					for _, d := range sp.dests[geo] {
						if !visit(cell{op: op, m: m, region: r, inference: d, geo: geo}) {
							return
						}
					}
				}
				if !visit(cell{op: op, m: m, region: r, geo: "global"}) {
					return
				}
			}
		}
	}
}

// flaggable returns the cells whose calls detection may flag for d, told
// from the cell alone: the model rule looks at the model, the region rule
// at the regions and the principal rule at the principal, so one source
// serves for all (the network rule looks at the source: every cell).
func (j *judgement) flaggable(d Dimension) func(cell) bool {
	switch d.ID {
	case DimNetwork:
		return nil
	case DimModels:
		return func(c cell) bool { return c.m.family != "" }
	}
	sp := j.spaceFor(d)
	return func(c cell) bool {
		inference := c.inference
		if c.geo == "" {
			inference = c.region
		}
		src := sp.sources[0]
		ev := j.invocationEvent(c.op, c.region, inference, c.m, c.geo, src)
		_, flagged := j.classify(&ev, classKey{op: c.op, model: c.m.id, geo: c.geo, region: c.region, inference: c.inference, source: sourceKey(src)})[d.Rule]
		return flagged
	}
}

// invokable reports whether any invocation action could be allowed under
// v: when none can, every candidate invocation is refused and no search is
// needed.
func (j *judgement) invokable(v *view) bool {
	for _, op := range invokeOperations {
		if v.set.AllowsAction(export.InvokeAction(op)) {
			return true
		}
	}
	return false
}

// found is what a search of one dimension's calls found.
type found struct {
	allowed   *call   // a forbidden call IAM allows
	unknown   *call   // else one it may allow
	refused   []*call // forbidden calls it refuses (the first maxRefused)
	compliant *call   // with canComply: an accepted call it allows
}

// maxRefused bounds the refused calls kept for choosing an example.
const maxRefused = 256

// cleaner is how many further allowed calls a search looks at for an
// example that breaks only the dimension's own rule.
const cleaner = 64

// search looks through the dimension's calls for a forbidden call IAM
// allows (stopping at the first that breaks no other rule), else one it
// may allow; and, with canComply and neither found, for an accepted call
// it allows.
func (j *judgement) search(d Dimension, v *view, forbidden func(*call) bool, canComply bool) found {
	sp := j.spaceFor(d)
	var f found
	if !j.invokable(v) {
		return f
	}
	extra := 0
	j.each(sp, v, true, j.flaggable(d), func(c *call) bool {
		if !forbidden(c) {
			return true
		}
		c.dec = v.tri(c)
		switch c.dec {
		case iameval.True:
			if f.allowed == nil || len(c.violates) < len(f.allowed.violates) {
				f.allowed = c
			}
			extra++
			return len(f.allowed.violates) > 1 && extra < cleaner
		case iameval.Unknown:
			if f.unknown == nil {
				f.unknown = c
			}
		default:
			if len(f.refused) < maxRefused {
				f.refused = append(f.refused, c)
			}
		}
		return true
	})
	if f.allowed != nil || f.unknown != nil || !canComply {
		return f
	}
	j.each(sp, v, true, nil, func(c *call) bool {
		if forbidden(c) {
			return true
		}
		if c.dec = v.tri(c); c.dec != iameval.False {
			f.compliant = c
			return false
		}
		return true
	})
	return f
}

// opens reports whether some forbidden call of the dimension is allowed,
// or may be, under v: a fix is verified when it does not.
func (j *judgement) opens(d Dimension, v *view, forbidden func(*call) bool) bool {
	open := false
	if !j.invokable(v) {
		return false
	}
	j.each(j.spaceFor(d), v, true, j.flaggable(d), func(c *call) bool {
		if forbidden(c) && v.tri(c) != iameval.False {
			open = true
			return false
		}
		return true
	})
	return open
}

// unreachedRefused returns the first forbidden call no Allow statement can
// reach, decided: the example of a denied verdict whose refused calls were
// never built.
func (j *judgement) unreachedRefused(d Dimension, forbidden func(*call) bool) *call {
	var out *call
	j.each(j.spaceFor(d), j.main, false, j.flaggable(d), func(c *call) bool {
		if forbidden(c) {
			c.dec = j.main.tri(c)
			out = c
			return false
		}
		return true
	})
	return out
}

// forbiddenBy returns the predicate of calls detection flags for d.
func forbiddenBy(d Dimension) func(*call) bool {
	return func(c *call) bool { _, ok := c.violates[d.Rule]; return ok }
}

// judge returns the principal's verdict in every judged dimension.
func (j *judgement) judge() []VerdictReport {
	var out []VerdictReport
	lists := map[string][]*call{}
	for _, d := range j.plan.dims {
		var v VerdictReport
		switch {
		case d.ID == DimModels:
			v = j.modelsVerdict(d)
		case d.invocation():
			forbidden := forbiddenBy(d)
			v = j.verdict(d, j.search(d, j.main, forbidden, true), forbidden)
		case d.ID == DimAPIKeys:
			lists[d.ID] = j.apiKeyCalls()
			v = j.verdict(d, j.scan(lists[d.ID], func(*call) bool { return true }), nil)
		default:
			lists[d.ID] = j.controlCalls(d)
			v = j.verdict(d, j.scan(lists[d.ID], forbiddenBy(d)), nil)
		}
		out = append(out, v)
	}
	j.fixes(out, lists)
	return out
}

// scan is search over a list of calls already decided (control plane, API
// keys): they have no compliant form.
func (j *judgement) scan(calls []*call, forbidden func(*call) bool) found {
	var f found
	for _, c := range calls {
		if !forbidden(c) {
			continue
		}
		switch c.dec {
		case iameval.True:
			if f.allowed == nil {
				f.allowed = c
			}
		case iameval.Unknown:
			if f.unknown == nil {
				f.unknown = c
			}
		default:
			if len(f.refused) < maxRefused {
				f.refused = append(f.refused, c)
			}
		}
	}
	return f
}

// modelsVerdict judges each family (models.deny pattern, unlisted) and
// gives the worst as the dimension's verdict, with that family's example.
// A family has no compliant call — every call to an opus model breaks
// "*opus*" — so a family is allowed, unknown or denied, never restricted.
// One pass over the calls serves every family; it stops once each has an
// allowed call.
func (j *judgement) modelsVerdict(d Dimension) VerdictReport {
	var fams []string
	fams = append(fams, j.plan.policy.Models.Deny...)
	if len(j.plan.policy.Models.Allow) > 0 {
		fams = append(fams, familyUnlisted)
	}
	if len(fams) == 0 {
		forbidden := forbiddenBy(d)
		return j.verdict(d, j.search(d, j.main, forbidden, false), forbidden)
	}
	byFamily := map[string]*found{}
	for _, f := range fams {
		byFamily[f] = &found{}
	}
	open := len(fams)
	want := func(c cell) bool { f := byFamily[c.m.family]; return f != nil && f.allowed == nil }
	if !j.invokable(j.main) {
		want = func(cell) bool { return false } // every invocation is refused
	}
	j.each(j.spaceFor(d), j.main, true, want, func(c *call) bool {
		f := byFamily[c.family]
		if _, flagged := c.violates[d.Rule]; !flagged || f == nil || f.allowed != nil {
			return true
		}
		switch c.dec = j.main.tri(c); c.dec {
		case iameval.True:
			f.allowed = c
			open--
		case iameval.Unknown:
			if f.unknown == nil {
				f.unknown = c
			}
		default:
			if len(f.refused) < maxRefused {
				f.refused = append(f.refused, c)
			}
		}
		return open > 0
	})
	var worst *VerdictReport
	var families []FamilyVerdict
	for _, fam := range fams {
		forbidden := func(c *call) bool {
			_, flagged := c.violates[d.Rule]
			return flagged && c.family == fam
		}
		v := j.verdict(d, *byFamily[fam], forbidden)
		fv := FamilyVerdict{Family: fam, Verdict: v.Verdict}
		if (v.Verdict == Allowed || v.Verdict == Unknown) && v.Example != nil {
			fv.Model = v.Example.Model
		}
		families = append(families, fv)
		if worst == nil || v.Verdict.rank() > worst.Verdict.rank() {
			vv := v
			worst = &vv
		}
	}
	worst.Families = families
	if worst.Verdict == Allowed {
		var names []string
		for _, f := range families {
			if f.Verdict == Allowed {
				names = append(names, quoteFamily(f.Family))
			}
		}
		worst.Summary += " (families allowed: " + strings.Join(names, ", ") + ")"
	}
	return *worst
}

func quoteFamily(f string) string {
	if f == familyUnlisted {
		return f
	}
	return strconv.Quote(f)
}

// verdict turns what a search found into the dimension's verdict. For an
// invocation dimension (forbidden set) a refused example is looked for
// among the calls no Allow reaches when the search built none.
func (j *judgement) verdict(d Dimension, f found, forbidden func(*call) bool) VerdictReport {
	_, sev := j.plan.policy.Rule(d.Rule)
	v := VerdictReport{Dimension: d.ID, Rule: d.Rule, Severity: string(sev)}
	switch {
	case f.allowed != nil:
		v.Verdict = Allowed
		v.Example = j.describe(f.allowed, d)
		for _, r := range j.results(f.allowed) {
			for _, g := range r.Grants {
				v.Grants = appendStatement(v.Grants, j.statementOf(g))
			}
		}
		v.Summary = "can " + j.phrase(f.allowed, d)
		v.open = f.allowed
	case f.unknown != nil:
		v.Verdict = Unknown
		v.Example = j.describe(f.unknown, d)
		for _, r := range j.results(f.unknown) {
			v.Undecided = append(v.Undecided, r.Undecided...)
			for _, g := range append(append([]iameval.StatementRef{}, r.Grants...), r.GrantsUnknown...) {
				v.Grants = appendStatement(v.Grants, j.statementOf(g))
			}
		}
		v.Undecided = dedupeStrings(v.Undecided)
		v.Summary = "may " + j.phrase(f.unknown, d) + ", depending on " + undecidedKeys(v.Undecided)
	default:
		refused := closestRefused(f.refused, f.compliant)
		if refused == nil && forbidden != nil {
			refused = j.unreachedRefused(d, forbidden)
		}
		v.Verdict = Denied
		if f.compliant != nil {
			v.Verdict = Restricted
		}
		if refused != nil {
			v.Example = j.describe(refused, d)
			for _, r := range j.results(refused) {
				if r.Decision != iameval.False {
					continue
				}
				v.Reason = j.reason(r)
				for _, dn := range r.Denies {
					v.Blocks = appendStatement(v.Blocks, j.statementOf(dn))
				}
				break
			}
		}
		if v.Verdict == Restricted {
			v.Summary = "can " + d.verb() + " only as the policy allows"
			if refused != nil {
				v.Summary += "; " + j.callPhrase(refused) + " is refused (" + v.Reason + ")"
			}
		} else {
			v.Summary = "cannot " + d.verb()
			if v.Reason != "" {
				v.Summary += " (" + v.Reason + ")"
			}
		}
	}
	return v
}

// closestRefused returns the refused call that differs from the compliant
// one as little as possible — the same operation, model, form, region or
// source — so that the restriction shown is the dimension's own; without a
// compliant call, the first.
func closestRefused(refused []*call, compliant *call) *call {
	if len(refused) == 0 {
		return nil
	}
	if compliant == nil {
		return refused[0]
	}
	best, bestScore := refused[0], -1
	for _, c := range refused {
		score := 0
		if c.ev.Name == compliant.ev.Name {
			score++
		}
		if c.ev.Model.Base == compliant.ev.Model.Base {
			score++
		}
		if c.ev.Model.Geography == compliant.ev.Model.Geography {
			score++
		}
		if c.ev.Region == compliant.ev.Region {
			score++
		}
		if sourceKeyOf(c.ev) == sourceKeyOf(compliant.ev) {
			score++
		}
		if score > bestScore {
			best, bestScore = c, score
		}
	}
	return best
}
