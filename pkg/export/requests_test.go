package export_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/bedrock-warden/warden/pkg/export"
	"github.com/bedrock-warden/warden/pkg/normalize"
)

func TestRequests(t *testing.T) {
	ev := &normalize.Event{
		Name: "ConverseStream", Region: "us-east-1", Account: "111122223333",
		Inference: normalize.Inference{Region: "us-west-2"},
		Principal: normalize.Principal{ARN: "arn:aws:iam::111122223333:role/app"},
		Model:     normalize.Model{Kind: normalize.ModelSystemProfile, Base: "anthropic.claude-3-5-sonnet-20241022-v2:0", Geography: "us"},
		Caller:    normalize.Caller{IP: netip.MustParseAddr("10.1.2.3"), VPCEndpointID: "vpce-1"},
	}
	reqs := export.Requests(ev)
	if len(reqs) != 2 {
		t.Fatalf("requests = %+v", reqs)
	}
	profile := "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0"
	if reqs[0].Action != "bedrock:InvokeModelWithResponseStream" || reqs[0].Resource != profile {
		t.Errorf("profile request = %+v", reqs[0])
	}
	if v, _ := reqs[0].Context.Get("aws:VpcSourceIp"); len(v) != 1 || v[0] != "10.1.2.3" {
		t.Errorf("VPC source IP = %v", v)
	}
	if _, ok := reqs[0].Context.Get("aws:SourceIp"); ok {
		t.Error("a call through a VPC endpoint has no aws:SourceIp")
	}
	if reqs[1].Resource != "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-5-sonnet-20241022-v2:0" {
		t.Errorf("hop = %s", reqs[1].Resource)
	}
	if v, _ := reqs[1].Context.Get("bedrock:InferenceProfileArn"); len(v) != 1 || v[0] != profile {
		t.Errorf("hop profile key = %v", v)
	}
	if v, _ := reqs[1].Context.Get("aws:RequestedRegion"); v[0] != "us-west-2" {
		t.Errorf("hop region = %v", v)
	}
	ev.Model = normalize.Model{Kind: normalize.ModelProvisioned, Raw: "arn:aws:bedrock:us-east-1:1:provisioned-model/x"}
	if export.Requests(ev) != nil {
		t.Error("opaque ARNs give no request")
	}
}

func TestDestinations(t *testing.T) {
	regions := []string{"us-east-1", "us-gov-west-1", "ca-central-1", "eu-west-3", "ap-northeast-1", "ap-southeast-2"}
	for geo, want := range map[string][]string{
		"us":     {"us-east-1"},
		"ca":     {"ca-central-1"},
		"eu":     {"eu-west-3"},
		"apac":   {"ap-northeast-1", "ap-southeast-2"},
		"jp":     {"ap-northeast-1"},
		"au":     {"ap-southeast-2"},
		"global": nil,
	} {
		if got := export.Destinations(geo, regions); !slices.Equal(got, want) {
			t.Errorf("Destinations(%s) = %v, want %v", geo, got, want)
		}
	}
}
