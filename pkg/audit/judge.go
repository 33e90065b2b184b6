package audit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bedrock-warden/warden/pkg/export"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/iameval"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
	"github.com/bedrock-warden/warden/pkg/normalize"
)

// judgement is one principal being judged.
type judgement struct {
	plan *plan
	pr   Principal
	set  iameval.Set
	docs map[string]docInfo
	pt   patterns
	base iameval.Context // the principal's own condition keys
	memo map[string]iameval.Result

	// Candidate classes, computed once per principal.
	regions []string
	dests   map[string][]string // geography → destination classes
	sources []source
	models  []model
	ops     []string
	// undecidedFns holds the Undecided predicates per source kind.
	undecidedFns map[[2]bool]func(string) bool
	contexts     map[string]iameval.Context
	// controlRegions are the region classes of control-plane calls.
	controlRegions []string
	concretes      map[string][]string
	// reach caches Set.Reachable; pruned holds the cells it ruled out.
	reach  map[string]bool
	pruned []cell
	// allowed: the principal is in principals.allow.
	allowed bool
}

// call is one candidate call and what the audit found about it.
type call struct {
	ev       normalize.Event
	family   string            // models: the family of its model
	violates map[string]string // rule id → the detector's reason
	reqs     []iameval.Request
	keys     []string // memo keys of reqs
	dec      iameval.Tri
	dim      string // control-plane and API-key calls: their dimension
}

func (j *judgement) account() string {
	if j.pr.Account != "" {
		return j.pr.Account
	}
	return j.plan.account
}

// newJudgement compiles the principal's policies. An invalid document is an
// error naming it.
func (pl *plan) newJudgement(pr Principal) (*judgement, error) {
	j := &judgement{plan: pl, pr: pr, docs: map[string]docInfo{}, memo: map[string]iameval.Result{}}
	var raw []iampolicy.Document
	for i, d := range pr.Identity {
		name := "identity#" + strconv.Itoa(i)
		c, err := iameval.Compile(name, d.Policy)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", d.Name, err)
		}
		j.docs[name] = docInfo{doc: d, layer: "identity"}
		j.set.Identity = append(j.set.Identity, c)
		raw = append(raw, d.Policy)
	}
	if pr.Boundary != nil {
		c, err := iameval.Compile("boundary", pr.Boundary.Policy)
		if err != nil {
			return nil, fmt.Errorf("permissions boundary %s: %w", pr.Boundary.Name, err)
		}
		j.docs["boundary"] = docInfo{doc: *pr.Boundary, layer: "boundary"}
		j.set.Boundary = []*iameval.Policy{c}
		raw = append(raw, pr.Boundary.Policy)
	}
	// SCPs do not apply to service-linked roles.
	if !pr.ServiceLinked() {
		j.set.SCPs = pl.scpSet
		for name, d := range pl.scpDocs {
			j.docs[name] = d
		}
		for _, lvl := range pl.scps.Levels {
			for _, d := range lvl {
				raw = append(raw, d.Policy)
			}
		}
	}
	j.pt = collectPatterns(raw)
	j.base = j.principalContext()
	j.regions = j.regionReps(pl.regions)
	j.dests = map[string][]string{}
	j.sources = j.sourceReps()
	j.undecidedFns = map[[2]bool]func(string) bool{}
	j.contexts = map[string]iameval.Context{}
	j.concretes = map[string][]string{}
	j.reach = map[string]bool{}
	j.allowed = pl.policy.PrincipalAllowed(pr.ARN)
	return j, nil
}

// destinations returns the destination classes of a geography's profiles.
func (j *judgement) destinations(geo string) []string {
	d, ok := j.dests[geo]
	if !ok {
		d = j.regionReps(export.Destinations(geo, j.plan.regions))
		j.dests[geo] = d
	}
	return d
}

// principalContext holds the condition keys the principal's requests carry
// whatever the call.
func (j *judgement) principalContext() iameval.Context {
	c := iameval.Context{}
	c.Set("aws:PrincipalArn", j.pr.ARN)
	c.Set("aws:PrincipalAccount", j.account())
	c.Set("aws:SecureTransport", "true")
	c.Set("aws:PrincipalIsAWSService", "false")
	c.Set("aws:CurrentTime", j.plan.now.Format("2006-01-02T15:04:05Z"))
	c.Set("aws:EpochTime", strconv.FormatInt(j.plan.now.Unix(), 10))
	if j.pr.Kind == KindUser {
		c.Set("aws:PrincipalType", "User")
		c.Set("aws:username", j.pr.Name)
		if j.pr.ID != "" {
			c.Set("aws:userid", j.pr.ID)
		}
	} else {
		c.Set("aws:PrincipalType", "AssumedRole")
	}
	for k, v := range j.pr.Tags {
		c.Set("aws:PrincipalTag/"+k, v)
	}
	if j.plan.orgID != "" {
		c.Set("aws:PrincipalOrgID", j.plan.orgID)
	}
	return c
}

// knownKeys are condition keys whose absence from a request the audit
// knows: it sets them whenever the real request would carry them.
var knownKeys = map[string]bool{
	"aws:requestedregion": true, "aws:sourceip": true, "aws:vpcsourceip": true, "aws:sourcevpce": true,
	"aws:viaawsservice": true, "aws:principalarn": true, "aws:principalaccount": true, "aws:principaltype": true,
	"aws:username": true, "aws:securetransport": true, "aws:principalisawsservice": true,
	"aws:principalservicename": true, "aws:principalservicenamelist": true, "aws:currenttime": true,
	"aws:epochtime": true, "bedrock:inferenceprofilearn": true, "iam:servicespecificcredentialservicename": true,
}

// serviceKeys are present only when an AWS service makes the call for the
// principal.
var serviceKeys = map[string]bool{
	"aws:calledvia": true, "aws:calledviafirst": true, "aws:calledvialast": true,
	"aws:sourcearn": true, "aws:sourceaccount": true, "aws:sourceorgid": true, "aws:sourceorgpaths": true,
}

// undecided returns the predicate of keys whose values the audit cannot
// know for a call from src: everything it does not model (MFA, resource
// and request tags, …), and the service keys of a call an AWS service
// makes.
func (j *judgement) undecided(src source) func(string) bool {
	return func(key string) bool {
		switch {
		case knownKeys[key], strings.HasPrefix(key, "aws:principaltag/"):
			return false
		case key == "aws:userid":
			return j.pr.Kind != KindUser || j.pr.ID == ""
		case key == "aws:principalorgid":
			return j.plan.orgID == ""
		case serviceKeys[key]:
			return src.service != ""
		case key == "aws:sourcevpc":
			return src.vpce != ""
		}
		return true
	}
}

// withPrincipal completes a request with the principal's keys and says
// what the audit does not know.
func (j *judgement) withPrincipal(r iameval.Request, src source) iameval.Request {
	r.Defaults = j.base
	kind := [2]bool{src.service != "", src.vpce != ""}
	f, ok := j.undecidedFns[kind]
	if !ok {
		f = j.undecided(src)
		j.undecidedFns[kind] = f
	}
	r.Undecided = f
	return r
}

// decide evaluates a request once per principal.
func (j *judgement) decide(key string, r iameval.Request) iameval.Result {
	if res, ok := j.memo[key]; ok {
		return res
	}
	res := j.set.Decide(r)
	j.memo[key] = res
	return res
}

// evaluate decides every request of c: the call is allowed when all are.
func (j *judgement) evaluate(c *call) {
	c.dec = iameval.True
	for i, r := range c.reqs {
		c.dec = iameval.And(c.dec, j.decide(c.keys[i], r).Decision)
		if c.dec == iameval.False {
			return
		}
	}
}

// results returns the decision of each request of c.
func (j *judgement) results(c *call) []iameval.Result {
	out := make([]iameval.Result, len(c.reqs))
	for i, r := range c.reqs {
		out[i] = j.decide(c.keys[i], r)
	}
	return out
}

// invocationEvent builds the normalised event of a candidate invocation.
func (j *judgement) invocationEvent(op, region, inference string, m model, geo string, src source) normalize.Event {
	ev := normalize.Event{
		Name: op, Source: normalize.SourceBedrock, Category: normalize.CategoryInvocation,
		Region: region, Account: j.account(),
		Principal: j.eventPrincipal(),
		Model:     normalize.Model{Kind: normalize.ModelFoundation, Raw: m.id, Base: m.id},
	}
	if geo != "" {
		ev.Model = normalize.Model{Kind: normalize.ModelSystemProfile, Raw: geo + "." + m.id, Base: m.id, Geography: geo}
		ev.Inference.Geography = geo
		ev.Inference.Global = geo == "global"
		if inference != region {
			ev.Inference.Region = inference
		}
	}
	j.setSource(&ev, src)
	return ev
}

func (j *judgement) eventPrincipal() normalize.Principal {
	p := normalize.Principal{ARN: j.pr.ARN, Name: j.pr.Name, Path: j.pr.Path, Account: j.account(),
		Type: normalize.PrincipalAssumedRole, ServiceLinked: j.pr.ServiceLinked(), IdentityCenter: j.pr.IdentityCenter()}
	if j.pr.Kind == KindUser {
		p.Type = normalize.PrincipalIAMUser
	}
	return p
}

func (j *judgement) setSource(ev *normalize.Event, src source) {
	switch {
	case src.service != "":
		ev.Caller = normalize.Caller{Service: src.service, Raw: src.service}
	default:
		ev.Caller = normalize.Caller{IP: src.ip, Raw: src.ip.String(), VPCEndpointID: src.vpce}
	}
}

// classification is what the detector's rules say about a call.
type classification map[string]string // rule id → reason

// classKey identifies a call for the detector: the verdict depends on the
// principal only through principals.allow.
type classKey struct {
	op, model, geo, region, inference, source string
	principalAllowed                          bool
}

// classify runs the detector's rules on ev, cached across principals.
func (j *judgement) classify(ev *normalize.Event, k classKey) classification {
	k.principalAllowed = j.allowed
	if v, ok := j.plan.class(k); ok {
		return v
	}
	out := classification{}
	for _, f := range j.plan.engine.Evaluate(ev, nil) {
		out[f.Rule] = f.Reason
	}
	j.plan.storeClass(k, out)
	return out
}

func sourceKey(src source) string {
	if src.service != "" {
		return "svc:" + src.service
	}
	return src.ip.String() + "@" + src.vpce
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

// reachable reports whether IAM could allow the cell's calls at all
// (conditions aside), cached per principal.
func (j *judgement) reachable(c cell) bool {
	action := export.InvokeAction(c.op)
	for _, r := range j.resources(c) {
		key := action + "|" + r
		ok, seen := j.reach[key]
		if !seen {
			ok = j.set.Reachable(action, r)
			j.reach[key] = ok
		}
		if !ok {
			return false
		}
	}
	return true
}

// invocation builds, classifies and evaluates one candidate invocation.
func (j *judgement) invocation(c cell, src source) *call {
	inference := c.inference
	if c.geo == "" {
		inference = c.region
	}
	ev := j.invocationEvent(c.op, c.region, inference, c.m, c.geo, src)
	out := &call{ev: ev, family: c.m.family}
	sk := sourceKey(src)
	out.violates = j.classify(&out.ev, classKey{op: c.op, model: c.m.id, geo: c.geo, region: c.region, inference: c.inference, source: sk})
	for _, r := range export.Requests(&out.ev) {
		region := r.Context["aws:requestedregion"]
		profile := r.Context["bedrock:inferenceprofilearn"]
		key := r.Action + "|" + r.Resource + "|" + strings.Join(region, ",") + "|" + sk + "|" + strings.Join(profile, ",")
		out.reqs = append(out.reqs, j.withPrincipal(r, src))
		out.keys = append(out.keys, key)
	}
	j.evaluate(out)
	return out
}

// cells enumerates the candidate invocations without their source: every
// operation class × model class, called directly in each region class,
// through each geographic profile callable there (to each destination
// class), and through a global profile.
func (j *judgement) cells() []cell {
	if j.models == nil {
		j.models = j.modelReps(j.regions)
		j.ops = j.operationReps()
	}
	var out []cell
	for _, op := range j.ops {
		for _, m := range j.models {
			for _, r := range j.regions {
				out = append(out, cell{op: op, m: m, region: r})
			}
			for _, r := range j.regions {
				for _, geo := range export.Geographies(r) {
					for _, d := range j.destinations(geo) {
						out = append(out, cell{op: op, m: m, region: r, inference: d, geo: geo})
					}
				}
				out = append(out, cell{op: op, m: m, region: r, geo: "global"})
			}
		}
	}
	return out
}

// invocations builds every candidate invocation IAM could allow — the
// cells whose requests some Allow matches, from each source class — and
// keeps the others (certainly denied, whatever the source) aside in
// j.pruned, built only if a verdict needs a refused example.
func (j *judgement) invocations() []*call {
	var calls []*call
	for _, c := range j.cells() {
		if !j.reachable(c) {
			j.pruned = append(j.pruned, c)
			continue
		}
		for _, src := range j.sources {
			calls = append(calls, j.invocation(c, src))
		}
	}
	return calls
}

// prunedCall returns the first certainly-denied invocation that forbidden
// selects, built and evaluated, or nil.
func (j *judgement) prunedCall(forbidden func(*call) bool) *call {
	for _, c := range j.pruned {
		for _, src := range j.sources {
			if x := j.invocation(c, src); forbidden(x) {
				return x
			}
		}
	}
	return nil
}

// judge returns the principal's verdict in every judged dimension.
func (j *judgement) judge() []VerdictReport {
	var inv []*call
	needInvocations := false
	for _, d := range j.plan.dims {
		if d.invocation() {
			needInvocations = true
		}
	}
	if needInvocations {
		inv = j.invocations()
	}
	var out []VerdictReport
	calls := map[string][]*call{}
	for _, d := range j.plan.dims {
		var v VerdictReport
		switch {
		case d.ID == DimModels:
			calls[d.ID] = inv
			v = j.modelsVerdict(d, inv)
		case d.invocation():
			calls[d.ID] = inv
			v = j.verdict(d, inv, func(c *call) bool { _, ok := c.violates[d.Rule]; return ok }, true, j.prunedCall)
		case d.ID == DimAPIKeys:
			calls[d.ID] = j.apiKeyCalls()
			v = j.verdict(d, calls[d.ID], func(*call) bool { return true }, false, nil)
		default:
			calls[d.ID] = j.controlCalls(d)
			v = j.verdict(d, calls[d.ID], func(c *call) bool { _, ok := c.violates[d.Rule]; return ok }, false, nil)
		}
		out = append(out, v)
	}
	j.fixes(out, calls)
	return out
}

// modelsVerdict judges each family (models.deny pattern, unlisted) and
// gives the worst as the dimension's verdict, with that family's example.
// A family has no compliant call — every call to an opus model breaks
// "*opus*" — so a family is allowed, unknown or denied, never restricted.
func (j *judgement) modelsVerdict(d Dimension, calls []*call) VerdictReport {
	var fams []string
	fams = append(fams, j.plan.policy.Models.Deny...)
	if len(j.plan.policy.Models.Allow) > 0 {
		fams = append(fams, familyUnlisted)
	}
	var worst *VerdictReport
	var families []FamilyVerdict
	for _, f := range fams {
		v := j.verdict(d, calls, func(c *call) bool {
			_, flagged := c.violates[d.Rule]
			return flagged && c.family == f
		}, false, j.prunedCall)
		fv := FamilyVerdict{Family: f, Verdict: v.Verdict}
		if v.Verdict == Allowed || v.Verdict == Unknown {
			fv.Model = v.Example.Model
		}
		families = append(families, fv)
		if worst == nil || v.Verdict.rank() > worst.Verdict.rank() {
			vv := v
			worst = &vv
		}
	}
	if worst == nil {
		return j.verdict(d, calls, func(c *call) bool { _, ok := c.violates[d.Rule]; return ok }, true, j.prunedCall)
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

// verdict aggregates calls for dimension d: forbidden selects the calls
// detection flags for it; canComply says a principal making only the other
// calls is "restricted" rather than "denied".
//
// fallback, when set, finds a refused forbidden call among those not built
// (the invocations IAM certainly denies), for the example of a restricted
// or denied verdict.
func (j *judgement) verdict(d Dimension, calls []*call, forbidden func(*call) bool, canComply bool, fallback func(func(*call) bool) *call) VerdictReport {
	_, sev := j.plan.policy.Rule(d.Rule)
	v := VerdictReport{Dimension: d.ID, Rule: d.Rule, Severity: string(sev)}
	var firstAllowed, firstUnknown, firstRefused, compliant *call
	for _, c := range calls {
		if !forbidden(c) {
			if canComply && compliant == nil && c.dec != iameval.False {
				compliant = c
			}
			continue
		}
		// The example shown is the call that breaks the fewest other
		// rules: a region finding is shown with an allowed model.
		switch c.dec {
		case iameval.True:
			if firstAllowed == nil || len(c.violates) < len(firstAllowed.violates) {
				firstAllowed = c
			}
		case iameval.Unknown:
			if firstUnknown == nil || len(c.violates) < len(firstUnknown.violates) {
				firstUnknown = c
			}
		default:
			if firstRefused == nil {
				firstRefused = c
			}
		}
	}
	switch {
	case firstAllowed != nil:
		v.Verdict = Allowed
		v.Example = j.describe(firstAllowed, d)
		for _, r := range j.results(firstAllowed) {
			for _, g := range r.Grants {
				v.Grants = appendStatement(v.Grants, j.statementOf(g))
			}
		}
		v.Summary = "can " + j.phrase(firstAllowed, d)
	case firstUnknown != nil:
		v.Verdict = Unknown
		v.Example = j.describe(firstUnknown, d)
		for _, r := range j.results(firstUnknown) {
			v.Undecided = append(v.Undecided, r.Undecided...)
			for _, g := range append(append([]iameval.StatementRef{}, r.Grants...), r.GrantsUnknown...) {
				v.Grants = appendStatement(v.Grants, j.statementOf(g))
			}
		}
		v.Undecided = dedupeStrings(v.Undecided)
		v.Summary = "may " + j.phrase(firstUnknown, d) + ", depending on " + undecidedKeys(v.Undecided)
	default:
		refused := j.closestRefused(calls, forbidden, compliant)
		if refused == nil {
			refused = firstRefused
		}
		if refused == nil && fallback != nil {
			refused = fallback(forbidden)
		}
		v.Verdict = Denied
		if compliant != nil {
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

// closestRefused returns a forbidden, refused call that differs from the
// compliant one as little as possible: the same operation, model and form,
// so that the restriction shown is the dimension's own.
func (j *judgement) closestRefused(calls []*call, forbidden func(*call) bool, compliant *call) *call {
	if compliant == nil {
		return nil
	}
	best, bestScore := (*call)(nil), -1
	for _, c := range calls {
		if !forbidden(c) || c.dec != iameval.False {
			continue
		}
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

func sourceKeyOf(ev normalize.Event) string {
	return ev.Caller.Raw + "@" + ev.Caller.VPCEndpointID
}

// reason phrases IAM's refusal with the statement's names.
func (j *judgement) reason(r iameval.Result) string {
	if len(r.Denies) > 0 {
		return "explicit deny in " + r.Layer + ": " + j.statementOf(r.Denies[0]).String()
	}
	return strings.Replace(r.Reason, "identity policy", "any identity policy", 1)
}

func appendStatement(list []Statement, s Statement) []Statement {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func dedupeStrings(list []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// undecidedKeys names the condition keys of undecided tests.
func undecidedKeys(tests []string) string {
	var keys []string
	for _, t := range tests {
		f := strings.Fields(t)
		if len(f) >= 2 && !slices.Contains(keys, f[1]) {
			keys = append(keys, f[1])
		}
	}
	if len(keys) == 0 {
		return "conditions the audit cannot decide"
	}
	return strings.Join(keys, ", ")
}

// describe turns a call into its report form.
func (j *judgement) describe(c *call, d Dimension) *Call {
	out := &Call{Operation: c.ev.Name, Model: c.ev.Model.Raw, Region: c.ev.Region, InferenceRegion: c.ev.Inference.Region}
	if c.ev.Caller.Service != "" {
		out.Source = c.ev.Caller.Service
	} else if c.ev.Caller.IP.IsValid() {
		out.Source = c.ev.Caller.IP.String()
	}
	out.VPCEndpoint = c.ev.Caller.VPCEndpointID
	for _, r := range c.reqs {
		if !slices.Contains(out.Actions, r.Action) {
			out.Actions = append(out.Actions, r.Action)
		}
		out.Resources = append(out.Resources, r.Resource)
	}
	for rule := range c.violates {
		out.Violates = append(out.Violates, rule)
	}
	slices.Sort(out.Violates)
	if d.ID == DimAPIKeys {
		out.Model = ""
	}
	return out
}

// verb is what the dimension's calls do, for "can …" / "cannot …".
func (d Dimension) verb() string {
	switch d.ID {
	case DimModels, DimRegions, DimNetwork, DimPrincipals:
		return "invoke models"
	case DimAPIKeys:
		return "create Bedrock API keys"
	}
	return d.Title
}

// phrase says what a forbidden call does and why detection flags it.
func (j *judgement) phrase(c *call, d Dimension) string {
	switch {
	case d.ID == DimAPIKeys:
		return "create Bedrock API keys (" + c.reqs[0].Action + " on " + c.reqs[0].Resource + ")"
	case !d.invocation():
		return c.ev.Name + " in " + c.ev.Region + " (" + d.Rule + ")"
	}
	s := j.callPhrase(c)
	if reason := c.violates[d.Rule]; reason != "" {
		s += ": " + reason
	}
	return s
}

// callPhrase describes an invocation: operation, model, region, routing and
// source.
func (j *judgement) callPhrase(c *call) string {
	if c.ev.Category != normalize.CategoryInvocation {
		return c.ev.Name + " in " + c.ev.Region
	}
	s := c.ev.Name + " " + c.ev.Model.Raw + " in " + c.ev.Region
	if c.ev.Inference.Region != "" {
		s += " (inference in " + c.ev.Inference.Region + ")"
	}
	switch {
	case c.ev.Caller.Service != "":
		s += " through " + c.ev.Caller.Service
	case c.ev.Caller.VPCEndpointID != "":
		s += " from " + c.ev.Caller.IP.String() + " via " + c.ev.Caller.VPCEndpointID
	case j.plan.networkJudged || len(j.sources) > 1:
		// The source matters only where the policy or the documents look
		// at it.
		s += " from " + c.ev.Caller.IP.String()
	}
	return s
}

// apiKeyCalls are the candidate Bedrock API key creations: for the
// principal's own user, and for another user of the account.
func (j *judgement) apiKeyCalls() []*call {
	targets := []string{"arn:aws:iam::" + j.account() + ":user/bedrock-api-key-user"}
	if j.pr.Kind == KindUser {
		targets = append([]string{j.pr.ARN}, targets...)
	}
	for _, r := range j.pt.resources {
		if w, ok := j.plan.witness("arn:aws:iam::"+j.account()+":user/?*", r.String()); ok && !slices.Contains(targets, w) {
			targets = append(targets, w)
		}
	}
	var calls []*call
	for _, src := range j.sources {
		for _, t := range targets {
			ctx := iameval.Context{}
			ctx.Set("aws:RequestedRegion", "us-east-1") // IAM is global; its requests name us-east-1
			ctx.Set("iam:ServiceSpecificCredentialServiceName", "bedrock.amazonaws.com")
			setNetwork(ctx, src)
			r := j.withPrincipal(iameval.Request{Action: "iam:CreateServiceSpecificCredential", Resource: t, Context: ctx}, src)
			c := &call{ev: normalize.Event{Name: "CreateServiceSpecificCredential", Region: "us-east-1"}, dim: DimAPIKeys,
				reqs: []iameval.Request{r}, keys: []string{"apikey|" + t + "|" + sourceKey(src)}}
			j.setSource(&c.ev, src)
			j.evaluate(c)
			calls = append(calls, c)
		}
	}
	return calls
}

// setNetwork sets the network keys of a call from src, as export.Requests
// does for invocations.
func setNetwork(ctx iameval.Context, src source) {
	if src.service != "" {
		ctx.Set("aws:ViaAWSService", "true")
		return
	}
	ctx.Set("aws:ViaAWSService", "false")
	if src.vpce != "" {
		ctx.Set("aws:SourceVpce", src.vpce)
		ctx.Set("aws:VpcSourceIp", src.ip.String())
		return
	}
	ctx.Set("aws:SourceIp", src.ip.String())
}

// severityOf is the principal's risk: the worst allowed severity.
func severityOf(vs []VerdictReport) (risk string, exceeds bool) {
	risk = "none"
	best := -1
	unknown := false
	for _, v := range vs {
		switch v.Verdict {
		case Allowed:
			exceeds = true
			if r := findings.Severity(v.Severity).Rank(); r > best {
				best, risk = r, v.Severity
			}
		case Unknown:
			unknown = true
		}
	}
	if !exceeds && unknown {
		risk = "unknown"
	}
	return risk, exceeds
}
