package export_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/internal/corpus"
	"github.com/bedrock-warden/warden/internal/samples"
	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/export"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/iameval"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
)

// allowListRules are the rules the exported documents prevent.
var allowListRules = map[string]bool{
	findings.RuleUnauthorizedModel:     true,
	findings.RuleUnauthorizedRegion:    true,
	findings.RuleUnauthorizedSourceIP:  true,
	findings.RuleUnauthorizedPrincipal: true,
}

type namedPolicy struct {
	name string
	p    *policy.Policy
}

func agreementPolicies(t *testing.T) []namedPolicy {
	t.Helper()
	out := []namedPolicy{{"default", policy.Default()}}
	paths := []string{"../../events/strict-policy.yaml"}
	more, err := filepath.Glob("testdata/policies/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range append(paths, more...) {
		p, err := policy.LoadFile(path)
		if err != nil {
			t.Fatalf("load %s: %v", path, err)
		}
		out = append(out, namedPolicy{filepath.Base(path), p})
	}
	return out
}

type source struct {
	name string
	data []byte
}

// corpus returns the sample events of events/ and a seeded generated corpus.
func sources(t *testing.T) []source {
	t.Helper()
	var out []source
	files, err := filepath.Glob("../../events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, source{filepath.Base(f), b})
	}
	if len(out) < 10 {
		t.Fatalf("only %d sample events found in events/", len(out))
	}
	// Real public CloudTrail records (partial, redacted).
	public := samples.Files(t)
	for _, f := range public {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, source{filepath.Base(f), b})
	}
	t.Logf("%d public CloudTrail samples included", len(public))
	out = append(out, source{"generated(seed 9)", generate(t, 9, 1500)})
	// The project's shared corpus generator (internal/corpus): realistic
	// envelopes with a share of every violation.
	evs, err := corpus.Generate(7, 1500, corpus.Mix{Violations: 0.3, ControlPlane: 0.02})
	if err != nil {
		t.Fatalf("internal/corpus: %v", err)
	}
	var buf bytes.Buffer
	if err := corpus.WriteJSONL(&buf, evs); err != nil {
		t.Fatal(err)
	}
	out = append(out, source{"internal/corpus(seed 7)", buf.Bytes()})
	return out
}

// fullAccess is an identity policy (or SCP) allowing every action.
var fullAccess = iampolicy.Document{Version: iampolicy.Version2012, Statement: iampolicy.Statements{{
	Effect: iampolicy.Allow, Action: iampolicy.StringList{"*"}, Resource: iampolicy.StringList{"*"},
}}}

// TestDetectionAndPreventionAgree is the issue's §3: for every policy and
// every invocation event, the exported documents allow the call exactly
// when the detector reports no allow-list finding for it. Events whose
// semantics legitimately differ are excluded with a stated reason, and the
// test fails if an exclusion swallows too much.
func TestDetectionAndPreventionAgree(t *testing.T) {
	srcs := sources(t)
	for _, np := range agreementPolicies(t) {
		for _, kind := range export.Kinds {
			t.Run(np.name+"/"+string(kind), func(t *testing.T) {
				doc, err := export.Export(np.p, kind, export.Options{})
				if err != nil {
					t.Fatalf("Export: %v", err)
				}
				var pols iameval.Policies
				switch kind {
				case export.IAMPolicy:
					pols.Identity = []iampolicy.Document{doc}
				case export.Boundary:
					pols.Identity = []iampolicy.Document{fullAccess}
					pols.Boundary = []iampolicy.Document{doc}
				case export.SCP:
					pols.Identity = []iampolicy.Document{fullAccess}
					pols.SCPs = [][]iampolicy.Document{{fullAccess, doc}}
				}
				core := detector.Core{Rules: rules.New(np.p)}
				excluded := map[string]int{}
				var judged, allowed, denied int
				for _, src := range srcs {
					core.Each(decode.Bytes(src.name, src.data), func(r *detector.Result, err error) {
						if err != nil {
							return // not a Bedrock record (events/non-bedrock) or undecodable
						}
						ev := &r.Event
						if ev.Category != normalize.CategoryInvocation {
							return
						}
						if why := exclusion(ev, np.p, kind); why != "" {
							excluded[why]++
							return
						}
						var flagged []string
						for _, f := range r.Findings {
							if allowListRules[f.Rule] {
								flagged = append(flagged, f.Rule+": "+f.Reason)
							}
						}
						reqs := export.Requests(ev)
						ok, reason := true, ""
						for _, req := range reqs {
							d, err := iameval.Authorize(req, pols)
							if err != nil {
								t.Fatalf("%s %s: Authorize: %v", src.name, ev.ID, err)
							}
							if !d.Allowed {
								ok, reason = false, req.Resource+" in "+first(req.Context.Get("aws:RequestedRegion"))+": "+d.Reason
								break
							}
						}
						judged++
						if ok {
							allowed++
						} else {
							denied++
						}
						if ok != (len(flagged) == 0) {
							t.Errorf("%s event %s (%s %s in %s, inference %q, principal %s, source %q vpce %q):\n  exported %s allows=%v (%s)\n  detector findings=%q",
								src.name, ev.ID, ev.Name, ev.Model.Raw, ev.Region, ev.Inference.Region, ev.Principal.ARN, ev.Caller.Raw, ev.Caller.VPCEndpointID,
								kind, ok, reason, flagged)
						}
					})
				}
				reasons := make([]string, 0, len(excluded))
				total := 0
				for r, n := range excluded {
					reasons = append(reasons, fmt.Sprintf("%d× %s", n, r))
					total += n
				}
				sort.Strings(reasons)
				t.Logf("judged %d invocations (%d allowed, %d denied); excluded %d: %s", judged, allowed, denied, total, strings.Join(reasons, "; "))
				if allowed < 20 || denied < 20 {
					t.Errorf("too few decided events to mean anything: %d allowed, %d denied", allowed, denied)
				}
				if total*3 > judged {
					t.Errorf("exclusions (%d) exceed a third of the judged events (%d)", total, judged)
				}
			})
		}
	}
}

func first(v []string, _ bool) string {
	if len(v) == 0 {
		return "(none)"
	}
	return v[0]
}

// exclusion returns why the exported documents cannot be held to the
// detector's verdict on ev, or "" when they can.
func exclusion(ev *normalize.Event, p *policy.Policy, kind export.Kind) string {
	m := &ev.Model
	switch {
	case ev.Outcome.Denied:
		return "refused call: the detector reports denied-invocation and judges no allow-list rule"
	case ev.Source != normalize.SourceBedrock:
		return "bedrock-mantle endpoint: authorised by bedrock-mantle actions, which this export does not cover"
	case ev.Name == "CountTokens":
		return "CountTokens runs no inference; its action is not exported"
	case m.Kind == normalize.ModelNone:
		return "no model id in the record (partial record): no resource to authorise"
	case m.Kind != normalize.ModelFoundation && m.Kind != normalize.ModelSystemProfile:
		return "model is not a foundation model or system profile (" + string(m.Kind) + "): IAM judges the opaque ARN itself, the detector its id"
	case m.Partition != "" && m.Partition != "aws":
		return "non-commercial partition: the export writes arn:aws ARNs"
	case ev.Region == "":
		return "no calling region in the record"
	case m.Kind == normalize.ModelFoundation && m.Region != "" && m.Region != ev.Region:
		return "foundation-model ARN names another region than the call's"
	case ev.Principal.Type == normalize.PrincipalAWSService:
		return "an AWS service principal: the detector does not judge its principal"
	}
	if kind != export.SCP && p.PrincipalExempt(ev.Principal.ARN) {
		return "exempt principal: break-glass roles do not carry the identity policy or boundary (the SCP exempts them)"
	}
	if m.Kind == normalize.ModelSystemProfile && m.Geography != "global" {
		if !slices.Contains(export.Geographies(ev.Region), m.Geography) && len(p.Regions.Allow) > 0 {
			return "profile geography not callable from the calling region"
		}
		// The export lets a profile route to regions.allow ∪
		// regions.inference; the detector accepts any region for an
		// in-region call and only regions.inference for a rerouted one.
		dest := ev.Inference.Region
		rerouted := dest != ""
		if !rerouted {
			dest = ev.Region
		}
		exported := hopAllowed(p, dest)
		detected := !rerouted || p.InferenceRegionAllowed(dest)
		if p.RegionAllowed(ev.Region) && exported != detected {
			return "profile destination judged differently: IAM cannot tell an in-region profile call from a rerouted one"
		}
	}
	return ""
}

func hopAllowed(p *policy.Policy, region string) bool {
	inf := p.Regions.Inference
	if inf == nil {
		inf = p.Regions.Allow
	}
	if len(inf) == 0 {
		return true
	}
	return slices.Contains(inf, region) || slices.Contains(p.Regions.Allow, region)
}

// Generator of a seeded corpus of invocation records, spread over the
// dimensions the policies judge. Profile calls are routed only within
// their geography, as Bedrock routes them.

var (
	genModels = []string{
		"anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic.claude-sonnet-4-20250514-v1:0",
		"anthropic.claude-3-5-haiku-20241022-v1:0", "anthropic.claude-3-opus-20240229-v1:0",
		"anthropic.claude-opus-4-1-20250805-v1:0", "anthropic.claude-v2:1", "anthropic.claude-3-sonnet-20240229-v1:0",
		"amazon.nova-pro-v1:0", "amazon.nova-micro-v1:0", "amazon.titan-embed-text-v2:0",
		"meta.llama3-1-70b-instruct-v1:0", "mistral.mistral-large-2407-v1:0", "cohere.embed-english-v3",
		"deepseek.r1-v1:0",
	}
	genRegions = []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1",
		"eu-west-3", "ap-northeast-1", "ap-southeast-2", "ca-central-1", "sa-east-1"}
	genDest = map[string][]string{
		"us":   {"us-east-1", "us-east-2", "us-west-1", "us-west-2"},
		"eu":   {"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-west-1", "eu-west-2", "eu-west-3"},
		"apac": {"ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2"},
		"jp":   {"ap-northeast-1", "ap-northeast-3"},
		"au":   {"ap-southeast-2", "ap-southeast-4"},
		"ca":   {"ca-central-1", "ca-west-1"},
	}
	// Break-glass roles are rare, as in a real account.
	genPrincipals = []string{"role/app-chat", "role/app-batch", "role/app-chat", "role/app-batch", "role/PlatformAdmin",
		"role/data-science", "user/alice", "user/mallory", "role/app-rag", "role/app-rag", "role/app-chat", "role/app-batch",
		"role/PlatformAdmin", "role/data-science", "user/alice", "role/app-eval", "role/app-eval", "role/app-eval",
		"role/app-rag", "role/BreakGlassAdmin"}
	genCallers = []struct{ ip, vpce string }{
		{"198.51.100.7", ""}, {"203.0.113.50", ""}, {"10.20.30.40", ""}, {"2001:db8::5", ""}, {"2001:dead::1", ""},
		{"10.1.2.3", "vpce-0a1b2c3d4e5f60718"}, {"10.1.2.3", "vpce-11112222333344445"}, {"172.16.0.9", "vpce-0fffffffffffffff0"},
		{"192.168.1.1", "vpce-0a1b2c3d4e5f60718"}, {"bedrock.amazonaws.com", ""}, {"AWS Internal", ""},
	}
	genNames = []string{"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream", "StartAsyncInvoke"}
)

func generate(t *testing.T, seed uint64, n int) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	pick := func(list []string) string { return list[rng.IntN(len(list))] }
	const acct = "111122223333"
	records := make([]map[string]any, 0, n)
	for i := range n {
		region := pick(genRegions)
		base := pick(genModels)
		var modelID, inference string
		switch form := rng.IntN(6); {
		case form == 0:
			modelID = base
		case form == 1:
			modelID = "arn:aws:bedrock:" + region + "::foundation-model/" + base
		case form == 2:
			modelID = "global." + base
			inference = pick(genRegions)
		default:
			geos := export.Geographies(region)
			if len(geos) == 0 {
				modelID = base
				break
			}
			geo := geos[rng.IntN(len(geos))]
			id := geo + "." + base
			if form == 3 {
				id = "arn:aws:bedrock:" + region + ":" + acct + ":inference-profile/" + id
			}
			modelID = id
			inference = pick(genDest[geo])
		}
		who := pick(genPrincipals)
		kind, name := "role", who[len("role/"):]
		var identity map[string]any
		if strings.HasPrefix(who, "user/") {
			kind, name = "user", who[len("user/"):]
			identity = map[string]any{"type": "IAMUser", "principalId": "AIDAEXAMPLE" + name, "arn": "arn:aws:iam::" + acct + ":user/" + name,
				"accountId": acct, "accessKeyId": "AKIAEXAMPLE", "userName": name}
		} else {
			identity = map[string]any{"type": "AssumedRole", "principalId": "AROAEXAMPLE:" + name,
				"arn": "arn:aws:sts::" + acct + ":assumed-role/" + name + "/s" + fmt.Sprint(i), "accountId": acct, "accessKeyId": "ASIAEXAMPLE",
				"sessionContext": map[string]any{"sessionIssuer": map[string]any{"type": "Role", "principalId": "AROAEXAMPLE",
					"arn": "arn:aws:iam::" + acct + ":role/" + name, "accountId": acct, "userName": name}}}
		}
		_ = kind
		caller := genCallers[rng.IntN(len(genCallers))]
		rec := map[string]any{
			"eventVersion": "1.11", "userIdentity": identity,
			"eventTime":          fmt.Sprintf("2026-11-20T10:%02d:%02dZ", (i/60)%60, i%60),
			"eventSource":        "bedrock.amazonaws.com",
			"eventName":          pick(genNames),
			"awsRegion":          region,
			"sourceIPAddress":    caller.ip,
			"userAgent":          "Boto3/1.35.44",
			"requestParameters":  map[string]any{"modelId": modelID},
			"responseElements":   nil,
			"requestID":          fmt.Sprintf("req-%06d", i),
			"eventID":            fmt.Sprintf("gen-%06d", i),
			"readOnly":           true,
			"eventType":          "AwsApiCall",
			"managementEvent":    true,
			"recipientAccountId": acct,
			"eventCategory":      "Management",
		}
		if inference != "" && inference != region {
			rec["additionalEventData"] = map[string]any{"inferenceRegion": inference}
		}
		if caller.vpce != "" {
			rec["vpcEndpointId"] = caller.vpce
		}
		records = append(records, rec)
	}
	b, err := json.Marshal(map[string]any{"Records": records})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
