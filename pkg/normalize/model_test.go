package normalize

import (
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestParseModelID(t *testing.T) {
	const sonnet = "anthropic.claude-3-5-sonnet-20240620-v1:0"
	tests := []struct {
		name string
		in   string
		want Model
	}{
		{"empty", "", Model{}},
		{"spaces", "   ", Model{}},
		{"bare anthropic", sonnet, Model{Kind: ModelFoundation, Raw: sonnet, Base: sonnet}},
		{"bare nova", "amazon.nova-pro-v1:0", Model{Kind: ModelFoundation, Raw: "amazon.nova-pro-v1:0", Base: "amazon.nova-pro-v1:0"}},
		{"bare stability", "stability.stable-diffusion-xl-v0", Model{Kind: ModelFoundation, Raw: "stability.stable-diffusion-xl-v0", Base: "stability.stable-diffusion-xl-v0"}},
		{"bare claude-v2", "anthropic.claude-v2", Model{Kind: ModelFoundation, Raw: "anthropic.claude-v2", Base: "anthropic.claude-v2"}},
		{"bare mantle model", "openai.gpt-oss-120b", Model{Kind: ModelFoundation, Raw: "openai.gpt-oss-120b", Base: "openai.gpt-oss-120b"}},
		{"bare surrounded by spaces", " " + sonnet + " ", Model{Kind: ModelFoundation, Raw: " " + sonnet + " ", Base: sonnet}},
		{"profile us", "us." + sonnet, Model{Kind: ModelSystemProfile, Raw: "us." + sonnet, Base: sonnet, Geography: "us"}},
		{"profile us-gov", "us-gov." + sonnet, Model{Kind: ModelSystemProfile, Raw: "us-gov." + sonnet, Base: sonnet, Geography: "us-gov"}},
		{"profile eu", "eu." + sonnet, Model{Kind: ModelSystemProfile, Raw: "eu." + sonnet, Base: sonnet, Geography: "eu"}},
		{"profile apac", "apac.amazon.nova-lite-v1:0", Model{Kind: ModelSystemProfile, Raw: "apac.amazon.nova-lite-v1:0", Base: "amazon.nova-lite-v1:0", Geography: "apac"}},
		{"profile au", "au." + sonnet, Model{Kind: ModelSystemProfile, Raw: "au." + sonnet, Base: sonnet, Geography: "au"}},
		{"profile jp", "jp." + sonnet, Model{Kind: ModelSystemProfile, Raw: "jp." + sonnet, Base: sonnet, Geography: "jp"}},
		{"profile ca", "ca." + sonnet, Model{Kind: ModelSystemProfile, Raw: "ca." + sonnet, Base: sonnet, Geography: "ca"}},
		{"profile global", "global.anthropic.claude-sonnet-4-20250514-v1:0", Model{Kind: ModelSystemProfile, Raw: "global.anthropic.claude-sonnet-4-20250514-v1:0", Base: "anthropic.claude-sonnet-4-20250514-v1:0", Geography: "global"}},
		{"geography without provider", "us.claude", Model{Kind: ModelUnknown, Raw: "us.claude"}},
		{"geography twice", "us.us." + sonnet, Model{Kind: ModelUnknown, Raw: "us.us." + sonnet}},
		{"geography upper case is not a prefix", "US." + sonnet, Model{Kind: ModelUnknown, Raw: "US." + sonnet}},
		{"non-geography prefix is not stripped", "usa." + sonnet, Model{Kind: ModelFoundation, Raw: "usa." + sonnet, Base: "usa." + sonnet}},
		{"foundation ARN", "arn:aws:bedrock:us-east-1::foundation-model/" + sonnet,
			Model{Kind: ModelFoundation, Raw: "arn:aws:bedrock:us-east-1::foundation-model/" + sonnet, Base: sonnet, Region: "us-east-1", Partition: "aws"}},
		{"foundation ARN aws-cn", "arn:aws-cn:bedrock:cn-north-1::foundation-model/amazon.titan-text-express-v1",
			Model{Kind: ModelFoundation, Raw: "arn:aws-cn:bedrock:cn-north-1::foundation-model/amazon.titan-text-express-v1", Base: "amazon.titan-text-express-v1", Region: "cn-north-1", Partition: "aws-cn"}},
		{"foundation ARN aws-us-gov", "arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/" + sonnet,
			Model{Kind: ModelFoundation, Raw: "arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/" + sonnet, Base: sonnet, Region: "us-gov-west-1", Partition: "aws-us-gov"}},
		{"system profile ARN", "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us." + sonnet,
			Model{Kind: ModelSystemProfile, Raw: "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us." + sonnet, Base: sonnet, Region: "us-east-1", Account: "111122223333", Partition: "aws", Geography: "us"}},
		{"system profile ARN us-gov", "arn:aws-us-gov:bedrock:us-gov-west-1:111122223333:inference-profile/us-gov." + sonnet,
			Model{Kind: ModelSystemProfile, Raw: "arn:aws-us-gov:bedrock:us-gov-west-1:111122223333:inference-profile/us-gov." + sonnet, Base: sonnet, Region: "us-gov-west-1", Account: "111122223333", Partition: "aws-us-gov", Geography: "us-gov"}},
		{"system profile ARN global", "arn:aws:bedrock:eu-west-1:111122223333:inference-profile/global." + sonnet,
			Model{Kind: ModelSystemProfile, Raw: "arn:aws:bedrock:eu-west-1:111122223333:inference-profile/global." + sonnet, Base: sonnet, Region: "eu-west-1", Account: "111122223333", Partition: "aws", Geography: "global"}},
		{"application profile ARN", "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123xyz",
			Model{Kind: ModelApplicationProfile, Raw: "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123xyz", Region: "us-east-1", Account: "111122223333", Partition: "aws"}},
		{"provisioned ARN", "arn:aws:bedrock:us-east-1:111122223333:provisioned-model/a1b2c3d4e5",
			Model{Kind: ModelProvisioned, Raw: "arn:aws:bedrock:us-east-1:111122223333:provisioned-model/a1b2c3d4e5", Region: "us-east-1", Account: "111122223333", Partition: "aws"}},
		{"custom ARN", "arn:aws:bedrock:us-east-1:111122223333:custom-model/amazon.titan-text-express-v1:0:8k/abcdefgh1234",
			Model{Kind: ModelCustom, Raw: "arn:aws:bedrock:us-east-1:111122223333:custom-model/amazon.titan-text-express-v1:0:8k/abcdefgh1234", Region: "us-east-1", Account: "111122223333", Partition: "aws"}},
		{"imported ARN", "arn:aws:bedrock:us-west-2:111122223333:imported-model/k2m3n4p5q6r7",
			Model{Kind: ModelImported, Raw: "arn:aws:bedrock:us-west-2:111122223333:imported-model/k2m3n4p5q6r7", Region: "us-west-2", Account: "111122223333", Partition: "aws"}},
		{"prompt ARN", "arn:aws:bedrock:us-east-1:111122223333:prompt/PROMPT12345",
			Model{Kind: ModelPrompt, Raw: "arn:aws:bedrock:us-east-1:111122223333:prompt/PROMPT12345", Region: "us-east-1", Account: "111122223333", Partition: "aws"}},
		{"prompt ARN with version", "arn:aws:bedrock:us-east-1:111122223333:prompt/PROMPT12345:2",
			Model{Kind: ModelPrompt, Raw: "arn:aws:bedrock:us-east-1:111122223333:prompt/PROMPT12345:2", Region: "us-east-1", Account: "111122223333", Partition: "aws"}},
		{"marketplace endpoint ARN", "arn:aws:sagemaker:us-east-1:111122223333:endpoint/my-marketplace-endpoint",
			Model{Kind: ModelMarketplace, Raw: "arn:aws:sagemaker:us-east-1:111122223333:endpoint/my-marketplace-endpoint", Region: "us-east-1", Account: "111122223333", Partition: "aws"}},
		{"custom model deployment ARN", "arn:aws:bedrock:us-east-1:111122223333:custom-model-deployment/dep123",
			Model{Kind: ModelCustomModelDeployment, Raw: "arn:aws:bedrock:us-east-1:111122223333:custom-model-deployment/dep123", Region: "us-east-1", Account: "111122223333", Partition: "aws"}},
		{"url-encoded ARN", "arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2F" + strings.ReplaceAll(sonnet, ":", "%3A"),
			Model{Kind: ModelFoundation, Raw: "arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2F" + strings.ReplaceAll(sonnet, ":", "%3A"), Base: sonnet, Region: "us-east-1", Partition: "aws"}},
		{"unknown resource type keeps ARN facts", "arn:aws:bedrock:us-east-1:111122223333:agent/AGENT1",
			Model{Kind: ModelUnknown, Raw: "arn:aws:bedrock:us-east-1:111122223333:agent/AGENT1", Region: "us-east-1", Account: "111122223333", Partition: "aws"}},
		{"other service ARN", "arn:aws:s3:::bucket/foundation-model/x",
			Model{Kind: ModelUnknown, Raw: "arn:aws:s3:::bucket/foundation-model/x", Partition: "aws"}},
		{"foundation ARN with empty id", "arn:aws:bedrock:us-east-1::foundation-model/",
			Model{Kind: ModelUnknown, Raw: "arn:aws:bedrock:us-east-1::foundation-model/", Region: "us-east-1", Partition: "aws"}},
		{"foundation ARN with garbage id", "arn:aws:bedrock:us-east-1::foundation-model/[REDACTED]",
			Model{Kind: ModelFoundation, Raw: "arn:aws:bedrock:us-east-1::foundation-model/[REDACTED]", Region: "us-east-1", Partition: "aws"}},
		{"truncated ARN", "arn:aws:bedrock", Model{Kind: ModelUnknown, Raw: "arn:aws:bedrock"}},
		{"ARN with bad partition", "arn:xyz:bedrock:us-east-1::foundation-model/" + sonnet, Model{Kind: ModelUnknown, Raw: "arn:xyz:bedrock:us-east-1::foundation-model/" + sonnet}},
		{"redacted", "[REDACTED]", Model{Kind: ModelUnknown, Raw: "[REDACTED]"}},
		{"plain word", "claude", Model{Kind: ModelUnknown, Raw: "claude"}},
		{"spaces inside", "anthropic.claude v2", Model{Kind: ModelUnknown, Raw: "anthropic.claude v2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseModelID(tt.in); got != tt.want {
				t.Errorf("ParseModelID(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestModelIDPrefersBase(t *testing.T) {
	if got := ParseModelID("eu.amazon.nova-pro-v1:0").ID(); got != "amazon.nova-pro-v1:0" {
		t.Errorf("ID() = %q, want the base id", got)
	}
	arn := "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc"
	if got := ParseModelID(arn).ID(); got != arn {
		t.Errorf("ID() = %q, want the raw ARN", got)
	}
}

// TestParseModelIDProperties: ParseModelID never panics, keeps Raw, gives a
// Kind to every non-blank input, and Base never starts with a geography.
func TestParseModelIDProperties(t *testing.T) {
	pieces := []string{
		"arn:", "aws", "aws-cn", ":", "bedrock", "sagemaker", "us-east-1", "111122223333",
		"foundation-model/", "inference-profile/", "application-inference-profile/",
		"endpoint/", "prompt/", "/", ".", "us.", "us-gov.", "eu.", "global.", "apac.",
		"anthropic", "claude-3", "-v1:0", "%3A", "[REDACTED]", " ", "", "é",
	}
	rapid.Check(t, func(t *rapid.T) {
		var id string
		if rapid.Bool().Draw(t, "structured") {
			parts := rapid.SliceOfN(rapid.SampledFrom(pieces), 0, 12).Draw(t, "parts")
			id = strings.Join(parts, "")
		} else {
			id = rapid.String().Draw(t, "id")
		}
		m := ParseModelID(id)
		if strings.TrimSpace(id) == "" {
			if m != (Model{}) {
				t.Fatalf("blank %q gave %+v", id, m)
			}
			return
		}
		if m.Raw != id {
			t.Fatalf("Raw = %q, want %q", m.Raw, id)
		}
		if m.Kind == ModelNone {
			t.Fatalf("non-blank %q has no Kind", id)
		}
		if m.Base != "" {
			provider, _, _ := strings.Cut(m.Base, ".")
			if isGeography(provider) {
				t.Fatalf("Base %q of %q starts with a geography", m.Base, id)
			}
			if !isModelID(m.Base) {
				t.Fatalf("Base %q of %q is not a model id", m.Base, id)
			}
		}
		if m.Geography != "" && !isGeography(m.Geography) {
			t.Fatalf("Geography %q is not a geography", m.Geography)
		}
	})
}
