package export

import (
	"strings"

	"github.com/bedrock-warden/warden/pkg/iameval"
	"github.com/bedrock-warden/warden/pkg/normalize"
)

// InvokeAction returns the IAM action that authorises an invocation event:
// Converse and InvokeModelWithBidirectionalStream are authorised as
// bedrock:InvokeModel, ConverseStream as
// bedrock:InvokeModelWithResponseStream, StartAsyncInvoke as itself.
func InvokeAction(eventName string) string {
	switch eventName {
	case "InvokeModelWithResponseStream", "ConverseStream":
		return "bedrock:InvokeModelWithResponseStream"
	case "StartAsyncInvoke":
		return "bedrock:StartAsyncInvoke"
	}
	return "bedrock:InvokeModel"
}

// Requests returns the IAM requests Bedrock authorises for an invocation
// of a foundation model or a system inference profile (see the package
// documentation): one on the foundation-model ARN for a bare model id; for
// a profile, one on the profile ARN in the calling region and one on the
// foundation-model ARN of the destination (region-less for a global
// profile) with bedrock:InferenceProfileArn set. Each request's context
// carries aws:RequestedRegion, aws:PrincipalArn, aws:ViaAWSService and the
// network keys (aws:SourceIp on the public endpoint; aws:SourceVpce and
// aws:VpcSourceIp through a VPC endpoint). Other model kinds give nil: IAM
// judges their opaque ARNs, which the event does not resolve.
func Requests(ev *normalize.Event) []iameval.Request {
	m := &ev.Model
	if m.Kind != normalize.ModelFoundation && m.Kind != normalize.ModelSystemProfile {
		return nil
	}
	action := InvokeAction(ev.Name)
	// The context keys are written lower-cased, as Context.Set stores
	// them, without lower-casing each time: the audit builds many requests.
	ip := ""
	if ev.Caller.IP.IsValid() {
		ip = ev.Caller.IP.String()
	}
	ctx := func(region string) iameval.Context {
		c := make(iameval.Context, 6)
		c[lowerRequestedRegion] = []string{region}
		if ev.Principal.ARN != "" {
			c[lowerPrincipalARN] = []string{ev.Principal.ARN}
		}
		cl := &ev.Caller
		switch {
		case cl.Service != "" || cl.Internal:
			c[lowerViaAWSService] = []string{"true"}
		default:
			c[lowerViaAWSService] = []string{"false"}
			if cl.VPCEndpointID != "" {
				c[lowerSourceVpce] = []string{cl.VPCEndpointID}
				if ip != "" {
					c[lowerVpcSourceIP] = []string{ip}
				}
			} else if ip != "" {
				c[lowerSourceIP] = []string{ip}
			}
		}
		return c
	}
	if m.Kind == normalize.ModelFoundation {
		return []iameval.Request{{Action: action, Resource: fmARN(ev.Region, m.Base), Context: ctx(ev.Region)}}
	}
	acct := m.Account
	if acct == "" {
		acct = ev.Account
	}
	profile := profileARN(ev.Region, acct, m.Geography+"."+m.Base)
	first := iameval.Request{Action: action, Resource: profile, Context: ctx(ev.Region)}
	var hop iameval.Request
	if m.Geography == "global" {
		hop = iameval.Request{Action: action, Resource: fmARN("", m.Base), Context: ctx(regionUnspecified)}
	} else {
		dest := ev.Inference.Region
		if dest == "" {
			dest = ev.Region
		}
		hop = iameval.Request{Action: action, Resource: fmARN(dest, m.Base), Context: ctx(dest)}
	}
	hop.Context[lowerInferenceProfileARN] = []string{profile}
	return []iameval.Request{first, hop}
}

// The condition keys in the lower case Context keeps them in.
var (
	lowerRequestedRegion     = strings.ToLower(keyRequestedRegion)
	lowerPrincipalARN        = strings.ToLower(keyPrincipalARN)
	lowerViaAWSService       = strings.ToLower(keyViaAWSService)
	lowerSourceVpce          = strings.ToLower(keySourceVpce)
	lowerVpcSourceIP         = strings.ToLower(keyVpcSourceIP)
	lowerSourceIP            = strings.ToLower(keySourceIP)
	lowerInferenceProfileARN = strings.ToLower(keyInferenceProfileARN)
)

// destinations says which regions a geographic profile routes to: the
// regions of its geography. A Canadian region may call "us" profiles
// (geographies) but is not where they run.
var destinations = map[string]func(region string) bool{
	"us":   func(r string) bool { return strings.HasPrefix(r, "us-") && !strings.HasPrefix(r, "us-gov-") },
	"eu":   func(r string) bool { return strings.HasPrefix(r, "eu-") },
	"apac": func(r string) bool { return strings.HasPrefix(r, "ap-") },
	"jp":   func(r string) bool { return r == "ap-northeast-1" || r == "ap-northeast-3" },
	"au":   func(r string) bool { return r == "ap-southeast-2" || r == "ap-southeast-4" },
	"ca":   func(r string) bool { return strings.HasPrefix(r, "ca-") },
}

// Destinations returns the members of regions that a system inference
// profile of geography geo ("us", "eu", "apac", …) may route to, in order;
// nil for "global" (any region) and for unknown geographies.
func Destinations(geo string, regions []string) []string {
	in, ok := destinations[geo]
	if !ok {
		return nil
	}
	var out []string
	for _, r := range regions {
		if in(r) {
			out = append(out, r)
		}
	}
	return out
}
