package audit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

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
	// main decides the calls under the principal's own policies.
	main *view
	// spaces holds the candidate classes per dimension kind; modelSets
	// and docRegions what they share.
	spaces     map[spaceKey]*space
	modelSets  map[bool][]model
	docRegions []string

	// sources are the source classes the documents tell apart (the
	// control plane and API keys).
	sources []source
	// undecidedFns holds the Undecided predicates per source kind.
	undecidedFns map[[2]bool]func(string) bool
	contexts     map[string]iameval.Context
	// controlRegions are the region classes of control-plane calls.
	controlRegions []string
	concretes      map[string][]string
	// allowed: the principal is in principals.allow; exempt: in
	// principals.exempt.
	allowed, exempt bool
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
	j := pl.shell(pr)
	if err := j.compile(); err != nil {
		return nil, err
	}
	return j, nil
}

// shell is a judgement with what rendering needs (the principal and the
// names of its documents) and nothing compiled: principals that share
// verdicts are only rendered.
func (pl *plan) shell(pr Principal) *judgement {
	j := &judgement{plan: pl, pr: pr, docs: map[string]docInfo{}, spaces: map[spaceKey]*space{}, modelSets: map[bool][]model{}}
	for i, d := range pr.Identity {
		j.docs[marker("identity#"+strconv.Itoa(i))] = docInfo{doc: d, layer: "identity"}
	}
	if pr.Boundary != nil {
		j.docs[marker("boundary")] = docInfo{doc: *pr.Boundary, layer: "boundary"}
	}
	// SCPs do not apply to service-linked roles.
	if !pr.ServiceLinked() {
		for name, d := range pl.scpDocs {
			j.docs[name] = d
		}
	}
	j.allowed = pl.policy.PrincipalAllowed(pr.ARN)
	j.exempt = pl.policy.PrincipalExempt(pr.ARN)
	return j
}

// compile compiles the principal's policies and prepares its candidates.
// An invalid document is an error naming it.
func (j *judgement) compile() error {
	pl, pr := j.plan, j.pr
	var raw []iampolicy.Document
	for i, d := range pr.Identity {
		name := marker("identity#" + strconv.Itoa(i))
		c, err := iameval.Compile(name, d.Policy)
		if err != nil {
			return fmt.Errorf("policy %s: %s", d.Name, strings.ReplaceAll(err.Error(), name, d.Name))
		}
		j.set.Identity = append(j.set.Identity, c)
		raw = append(raw, d.Policy)
	}
	if pr.Boundary != nil {
		c, err := iameval.Compile(marker("boundary"), pr.Boundary.Policy)
		if err != nil {
			return fmt.Errorf("permissions boundary %s: %s", pr.Boundary.Name, strings.ReplaceAll(err.Error(), marker("boundary"), pr.Boundary.Name))
		}
		j.set.Boundary = []*iameval.Policy{c}
		raw = append(raw, pr.Boundary.Policy)
	}
	if !pr.ServiceLinked() {
		j.set.SCPs = pl.scpSet
		for _, lvl := range pl.scps.Levels {
			for _, d := range lvl {
				raw = append(raw, d.Policy)
			}
		}
	}
	j.pt = collectPatterns(raw)
	j.base = j.principalContext()
	j.main = newView(j.set)
	j.sources = j.sourceClasses(false)
	j.undecidedFns = map[[2]bool]func(string) bool{}
	j.contexts = map[string]iameval.Context{}
	j.concretes = map[string][]string{}
	return nil
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

// results returns the decision of each request of c.
func (j *judgement) results(c *call) []iameval.Result {
	out := make([]iameval.Result, len(c.reqs))
	for i, r := range c.reqs {
		out[i] = j.main.decide(c.keys[i], r)
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
	reason := c.violates[d.Rule]
	if d.ID == DimPrincipals {
		// The detector's reason names the principal; classifications are
		// shared between principals.
		reason = "principal " + markerARN + " matches no principals.allow pattern"
	}
	if reason != "" {
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
			c.dec = j.main.tri(c)
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
