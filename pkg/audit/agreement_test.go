package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/internal/corpus"
	"github.com/bedrock-warden/warden/pkg/audit"
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

// dimensionOf maps the invocation allow-list rules to their dimension.
var dimensionOf = map[string]string{
	findings.RuleUnauthorizedModel:     audit.DimModels,
	findings.RuleUnauthorizedRegion:    audit.DimRegions,
	findings.RuleUnauthorizedSourceIP:  audit.DimNetwork,
	findings.RuleUnauthorizedPrincipal: audit.DimPrincipals,
}

// identities are the IAM set-ups the corpus principals are given, one each
// (by a hash of the ARN): the grants real accounts hold, from the AWS
// managed policy to hand-written guards with their usual gaps.
func identities(t *testing.T, p *policy.Policy, account string) []func(arn, name string) (ident []audit.Document, boundary *audit.Document) {
	t.Helper()
	parse := func(text string) iampolicy.Document {
		d, err := iampolicy.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	managed := func(name, text string) audit.Document {
		return audit.Document{Name: name, ARN: "arn:aws:iam::aws:policy/" + name, Source: audit.SourceAWSManaged, Policy: parse(text)}
	}
	inline := func(name, text string) audit.Document {
		return audit.Document{Name: name, Source: audit.SourceInline, Policy: parse(text)}
	}
	full := managed("AmazonBedrockFullAccess", `{"Version":"2012-10-17","Statement":[{"Sid":"BedrockAll","Effect":"Allow","Action":["bedrock:*"],"Resource":"*"}]}`)
	exp := func(kind export.Kind) *audit.Document {
		d, err := export.Export(p, kind, export.Options{Account: account})
		if err != nil {
			t.Fatalf("export %s: %v", kind, err)
		}
		return &audit.Document{Name: "warden-" + string(kind), Source: audit.SourceManaged, Policy: d}
	}
	return []func(string, string) ([]audit.Document, *audit.Document){
		func(string, string) ([]audit.Document, *audit.Document) { return []audit.Document{full}, nil },
		func(string, string) ([]audit.Document, *audit.Document) {
			return []audit.Document{*exp(export.IAMPolicy)}, nil
		},
		func(string, string) ([]audit.Document, *audit.Document) {
			return []audit.Document{full}, exp(export.Boundary)
		},
		func(_, n string) ([]audit.Document, *audit.Document) {
			return []audit.Document{inline(n+"/anthropic-us", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel*","Resource":["arn:aws:bedrock:*::foundation-model/anthropic.*","arn:aws:bedrock:*:*:inference-profile/us.anthropic.*"],"Condition":{"StringEquals":{"aws:RequestedRegion":["us-east-1","us-east-2","us-west-2"]}}}]}`)}, nil
		},
		func(_, n string) ([]audit.Document, *audit.Document) {
			return []audit.Document{inline(n+"/office", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream"],"Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}},{"Effect":"Allow","Action":"bedrock:Invoke*","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-0a1b2c3d4e5f60718"}}}]}`)}, nil
		},
		func(_, n string) ([]audit.Document, *audit.Document) {
			return []audit.Document{inline(n+"/profiles-only", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel*","Resource":"arn:aws:bedrock:*:*:inference-profile/*"},{"Effect":"Allow","Action":"bedrock:InvokeModel*","Resource":"arn:aws:bedrock:*::foundation-model/*","Condition":{"Null":{"bedrock:InferenceProfileArn":"false"}}}]}`)}, nil
		},
		func(_, n string) ([]audit.Document, *audit.Document) {
			return []audit.Document{full, inline(n+"/no-opus", `{"Version":"2012-10-17","Statement":[{"Sid":"NoOpus","Effect":"Deny","Action":"bedrock:Invoke*","Resource":["arn:aws:bedrock:*::foundation-model/*opus*","arn:aws:bedrock:*:*:inference-profile/*opus*"]}]}`)}, nil
		},
		func(_, n string) ([]audit.Document, *audit.Document) {
			return []audit.Document{inline(n+"/not-iam", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"},{"Effect":"Deny","Action":"bedrock:*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":["us-east-1","eu-west-1"]}}}]}`)}, nil
		},
		func(_, n string) ([]audit.Document, *audit.Document) {
			// Profiles called from the allowed regions only: a region
			// finding needs a global profile or a far destination.
			return []audit.Document{inline(n+"/profiles-from-allowed", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"arn:aws:bedrock:*:*:inference-profile/*","Condition":{"StringEquals":{"aws:RequestedRegion":["us-east-1","us-east-2","us-west-2","eu-west-1","eu-central-1"]}}},{"Effect":"Allow","Action":"bedrock:*","Resource":"arn:aws:bedrock:*::foundation-model/*","Condition":{"Null":{"bedrock:InferenceProfileArn":"false"}}}]}`)}, nil
		},
		func(string, string) ([]audit.Document, *audit.Document) { return nil, nil },
	}
}

type agreementSource struct {
	name string
	data []byte
}

func agreementSources(t *testing.T) []agreementSource {
	t.Helper()
	var out []agreementSource
	files, err := filepath.Glob("../../events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, agreementSource{filepath.Base(f), b})
	}
	for _, seed := range []uint64{3, 11, 23} {
		evs, err := corpus.Generate(int64(seed), 1500, corpus.Mix{Violations: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := corpus.WriteJSONL(&buf, evs); err != nil {
			t.Fatal(err)
		}
		out = append(out, agreementSource{fmt.Sprintf("internal/corpus(seed %d)", seed), buf.Bytes()})
	}
	return out
}

// TestAuditAgreesWithDetection is the audit's counterpart of the export
// agreement test: for every event of the sample events and a seeded corpus,
// given each principal an IAM set-up, a call IAM allows and the detector
// flags for unauthorized-model, -region, -source-ip or -principal came
// from a principal the audit reports as allowed (or undecided) in that
// dimension — never restricted or denied. The IAM decision here is made
// independently of the audit's candidate calls, on the event's own
// requests.
func TestAuditAgreesWithDetection(t *testing.T) {
	srcs := agreementSources(t)
	strict, err := policy.LoadFile("../../events/strict-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, np := range []struct {
		name string
		p    *policy.Policy
	}{{"default", policy.Default()}, {"strict-policy.yaml", strict}} {
		t.Run(np.name, func(t *testing.T) {
			core := detector.Core{Rules: rules.New(np.p)}
			// The principals of the corpus, and their events.
			type judged struct {
				ev      normalize.Event
				flagged []string
			}
			var events []judged
			principals := map[string]normalize.Principal{}
			for _, src := range srcs {
				core.Each(decode.Bytes(src.name, src.data), func(r *detector.Result, err error) {
					if err != nil || r.Event.Category != normalize.CategoryInvocation {
						return
					}
					ev := r.Event
					if ev.Principal.Type != normalize.PrincipalIAMUser && ev.Principal.Type != normalize.PrincipalAssumedRole {
						return
					}
					if ev.Outcome.Denied || ev.Source != normalize.SourceBedrock || ev.Name == "CountTokens" || len(export.Requests(&ev)) == 0 {
						return
					}
					if !strings.HasPrefix(ev.Principal.ARN, "arn:aws:iam::") {
						return
					}
					var flagged []string
					for _, f := range r.Findings {
						if _, ok := dimensionOf[f.Rule]; ok {
							flagged = append(flagged, f.Rule)
						}
					}
					events = append(events, judged{ev: ev, flagged: flagged})
					principals[ev.Principal.ARN] = ev.Principal
				})
			}
			// Give every principal an IAM set-up and audit them all.
			sets := identities(t, np.p, "111122223333")
			var ps []audit.Principal
			setOf := map[string]iameval.Set{}
			for arn, np := range principals {
				h := fnv.New32a()
				h.Write([]byte(arn))
				kind := audit.KindRole
				if np.Type == normalize.PrincipalIAMUser {
					kind = audit.KindUser
				}
				parts := strings.SplitN(arn, ":", 6)
				ident, boundary := sets[int(h.Sum32())%len(sets)](arn, np.Name)
				pr := audit.Principal{ARN: arn, Name: np.Name, Path: "/", Kind: kind, Account: parts[4], Identity: ident, Boundary: boundary, Tags: map[string]string{}}
				ps = append(ps, pr)
				var s iameval.Set
				for i, d := range ident {
					c, err := iameval.Compile(fmt.Sprint("identity", i), d.Policy)
					if err != nil {
						t.Fatal(err)
					}
					s.Identity = append(s.Identity, c)
				}
				if boundary != nil {
					c, err := iameval.Compile("boundary", boundary.Policy)
					if err != nil {
						t.Fatal(err)
					}
					s.Boundary = []*iameval.Policy{c}
				}
				setOf[arn] = s
			}
			sort.Slice(ps, func(i, j int) bool { return ps[i].ARN < ps[j].ARN })
			rep, err := (&audit.Auditor{Policy: np.p, Directory: &memDirectory{ps}, Workers: 2}).Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			verdicts := map[string]map[string]audit.VerdictReport{}
			for _, pr := range append(append([]audit.PrincipalReport{}, rep.Principals...), rep.Apart...) {
				verdicts[pr.ARN] = map[string]audit.VerdictReport{}
				for _, v := range pr.Verdicts {
					verdicts[pr.ARN][v.Dimension] = v
				}
			}
			judgedDims := map[string]bool{}
			for _, d := range rep.Dimensions {
				judgedDims[d.ID] = d.Judged
			}

			var refused, allowedCalls, checked int
			byVerdict := map[audit.Verdict]int{}
			for _, e := range events {
				ev := e.ev
				ok := iameval.True
				for _, r := range export.Requests(&ev) {
					ok = iameval.And(ok, setOf[ev.Principal.ARN].Decide(r).Decision)
				}
				if ok != iameval.True {
					refused++ // IAM would have refused it: CloudTrail would say AccessDenied
					continue
				}
				allowedCalls++
				for _, rule := range e.flagged {
					dim := dimensionOf[rule]
					if !judgedDims[dim] {
						t.Errorf("%s flagged under a policy whose %s dimension the audit does not judge", rule, dim)
						continue
					}
					v := verdicts[ev.Principal.ARN][dim]
					checked++
					byVerdict[v.Verdict]++
					if v.Verdict != audit.Allowed && v.Verdict != audit.Unknown {
						t.Errorf("event %s (%s %s in %s, inference %q, from %q vpce %q) by %s is allowed by IAM and flagged %s, but the audit says %s: %s",
							ev.ID, ev.Name, ev.Model.Raw, ev.Region, ev.Inference.Region, ev.Caller.Raw, ev.Caller.VPCEndpointID,
							ev.Principal.ARN, rule, v.Verdict, v.Summary)
					}
				}
			}
			t.Logf("%d principals, %d invocations: %d refused by IAM, %d allowed; %d flagged (event, rule) pairs checked: %v",
				len(ps), len(events), refused, allowedCalls, checked, byVerdict)
			if checked < 100 || refused < 100 {
				t.Errorf("too few events to mean anything: %d checked, %d refused", checked, refused)
			}
		})
	}
}

type memDirectory struct{ ps []audit.Principal }

func (m *memDirectory) Principals(context.Context) ([]audit.Ref, error) {
	var out []audit.Ref
	for _, p := range m.ps {
		out = append(out, audit.Ref{ARN: p.ARN, Name: p.Name, Path: p.Path, Kind: p.Kind})
	}
	return out, nil
}

func (m *memDirectory) Principal(_ context.Context, r audit.Ref) (audit.Principal, error) {
	for _, p := range m.ps {
		if p.ARN == r.ARN {
			return p, nil
		}
	}
	return audit.Principal{}, audit.ErrGone
}
