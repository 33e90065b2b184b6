package export_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/export"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/iameval"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
	"pgregory.net/rapid"
)

// subset draws a sub-list of pool (possibly empty), in pool order.
func subset(t *rapid.T, pool []string, label string) []string {
	var out []string
	for _, s := range pool {
		if rapid.Bool().Draw(t, label+" "+s) {
			out = append(out, s)
		}
	}
	return out
}

func yamlList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// TestAgreementForRandomPolicies draws policies from the building blocks
// every section offers (empty and non-empty lists, inference nil / [] /
// listed, global on or off, networks, service callers, principal and
// exempt lists in ARN and non-ARN form) and checks the agreement property
// of TestDetectionAndPreventionAgree on a fixed corpus.
func TestAgreementForRandomPolicies(t *testing.T) {
	var events []normalize.Event
	for _, src := range []source{{"generated(seed 21)", generate(t, 21, 500)}} {
		for it := range decode.Bytes(src.name, src.data) {
			if it.Err != nil {
				t.Fatal(it.Err)
			}
			ev := normalize.Normalize(&it.Record, it.Origin)
			if ev.Category == normalize.CategoryInvocation {
				events = append(events, ev)
			}
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		var y strings.Builder
		y.WriteString("models:\n")
		fmt.Fprintf(&y, "  allow: %s\n", yamlList(subset(t, []string{"anthropic.claude-3-5-*", "anthropic.claude-sonnet-4*", "amazon.nova-*", "meta.*", "*embed*"}, "allow")))
		fmt.Fprintf(&y, "  deny: %s\n", yamlList(subset(t, []string{"*opus*", "anthropic.claude-v2*", "amazon.nova-micro*"}, "deny")))
		y.WriteString("regions:\n")
		fmt.Fprintf(&y, "  allow: %s\n", yamlList(subset(t, []string{"us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"}, "region")))
		switch rapid.IntRange(0, 2).Draw(t, "inference form") {
		case 1:
			y.WriteString("  inference: []\n")
		case 2:
			fmt.Fprintf(&y, "  inference: %s\n", yamlList(subset(t, []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-3", "eu-central-1", "ap-northeast-1", "ap-northeast-3"}, "inference")))
		}
		fmt.Fprintf(&y, "  allowGlobalProfiles: %v\n", rapid.Bool().Draw(t, "global"))
		y.WriteString("network:\n")
		fmt.Fprintf(&y, "  allowCidrs: %s\n", yamlList(subset(t, []string{"198.51.100.0/24", "10.0.0.0/8", "2001:db8::/32"}, "cidr")))
		fmt.Fprintf(&y, "  allowVpcEndpoints: %s\n", yamlList(subset(t, []string{"vpce-0a1b2c3d4e5f60718", "vpce-11112222333344445"}, "vpce")))
		fmt.Fprintf(&y, "  allowAwsServiceCallers: %v\n", rapid.Bool().Draw(t, "services"))
		y.WriteString("principals:\n")
		fmt.Fprintf(&y, "  allow: %s\n", yamlList(subset(t, []string{"arn:aws:iam::*:role/app-*", "arn:aws:iam::*:user/alice", "*PlatformAdmin"}, "principal")))
		fmt.Fprintf(&y, "  exempt: %s\n", yamlList(subset(t, []string{"arn:aws:iam::*:role/BreakGlass*", "*data-science"}, "exempt")))
		p, err := policy.Load("random.yaml", []byte(y.String()))
		if err != nil {
			t.Fatalf("policy:\n%s\n%v", y.String(), err)
		}
		eng := rules.New(p)
		for _, kind := range export.Kinds {
			doc, err := export.Export(p, kind, export.Options{})
			var le *export.LimitError
			if errors.As(err, &le) {
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v\npolicy:\n%s", kind, err, y.String())
			}
			var pols iameval.Policies
			switch kind {
			case export.IAMPolicy:
				pols.Identity = []iampolicy.Document{doc}
			case export.Boundary:
				pols.Identity, pols.Boundary = []iampolicy.Document{fullAccess}, []iampolicy.Document{doc}
			case export.SCP:
				pols.Identity, pols.SCPs = []iampolicy.Document{fullAccess}, [][]iampolicy.Document{{fullAccess, doc}}
			}
			var fs []findings.Finding
			for i := range events {
				ev := &events[i]
				if exclusion(ev, p, kind) != "" {
					continue
				}
				fs = eng.Evaluate(ev, fs[:0])
				flagged := false
				for _, f := range fs {
					flagged = flagged || allowListRules[f.Rule]
				}
				ok := true
				for _, req := range export.Requests(ev) {
					d, err := iameval.Authorize(req, pols)
					if err != nil {
						t.Fatal(err)
					}
					ok = ok && d.Allowed
				}
				if ok == flagged {
					b, _ := export.Marshal(doc, true)
					t.Fatalf("%s disagrees on %s (%s %s in %s, inference %q, principal %s, source %q vpce %q): allowed=%v flagged=%v %v\npolicy:\n%s\ndocument:\n%s",
						kind, ev.ID, ev.Name, ev.Model.Raw, ev.Region, ev.Inference.Region, ev.Principal.ARN, ev.Caller.Raw, ev.Caller.VPCEndpointID, ok, flagged, fs, y.String(), b)
				}
			}
		}
	})
}
