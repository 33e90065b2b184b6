package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/normalize"
)

// TestApiKeyRulePattern: the IAM rule exists only in us-east-1 (where IAM
// events reach EventBridge), delivers every sample of events/iam and
// nothing else, and selects exactly the IAM calls the detector accepts
// (normalize.IsAPIKeyIAMCall): an IAM event it delivers but the detector
// rejected would end in the dead-letter queue, one it accepted but never
// received would be a blind spot.
func TestApiKeyRulePattern(t *testing.T) {
	tpl := loadTemplate(t)
	res := tpl.resources()
	rule := res["BedrockApiKeyEventsRule"]
	if rule == nil {
		t.Fatal("template has no BedrockApiKeyEventsRule")
	}
	// In us-east-1, unless the stack reads an organisation trail's log
	// files instead (Intake=s3), which hold the IAM events too.
	if rule["Condition"] != "EventBridgeIntakeInUsEast1" {
		t.Fatalf("BedrockApiKeyEventsRule condition = %v, want EventBridgeIntakeInUsEast1", rule["Condition"])
	}
	conds := tpl["Conditions"].(map[string]any)
	if c := fmt.Sprint(conds["EventBridgeIntakeInUsEast1"]); c != "map[Fn::And:[map[Condition:UseEventBridgeIntake] map[Condition:InUsEast1]]]" {
		t.Fatalf("EventBridgeIntakeInUsEast1 = %s", c)
	}
	cond := fmt.Sprint(conds["InUsEast1"])
	if cond != "map[Fn::Equals:[map[Ref:AWS::Region] us-east-1]]" {
		t.Fatalf("InUsEast1 = %s", cond)
	}
	pattern := props(rule)["EventPattern"].(map[string]any)
	bedrock := props(res["BedrockEventsRule"])["EventPattern"].(map[string]any)
	for glob, want := range map[string]bool{
		"../events/iam/*.json":         true,
		"../events/*.json":             false,
		"../events/non-bedrock/*.json": false,
		"../events/monitor/*.json":     false,
	} {
		files, _ := filepath.Glob(glob)
		if len(files) == 0 {
			t.Fatalf("no files match %s", glob)
		}
		for _, f := range files {
			data, _ := os.ReadFile(f)
			var ev any
			if err := json.Unmarshal(data, &ev); err != nil {
				t.Fatal(err)
			}
			got, err := matchPattern(pattern, ev)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s: API-key rule match = %v, want %v", f, got, want)
			}
			if want {
				if b, _ := matchPattern(bedrock, ev); b {
					t.Errorf("%s: the Bedrock rule matches an IAM event", f)
				}
			}
		}
	}

	// Pattern and normaliser agree call by call.
	for _, c := range []struct{ name, params string }{
		{"CreateServiceSpecificCredential", `{"userName":"ci","serviceName":"bedrock.amazonaws.com"}`},
		{"CreateServiceSpecificCredential", `{"userName":"ci","serviceName":"Bedrock.AmazonAWS.com"}`},
		{"CreateServiceSpecificCredential", `{"userName":"ci","serviceName":"codecommit.amazonaws.com"}`},
		{"CreateServiceSpecificCredential", `{"userName":"BedrockAPIKey-1","serviceName":"cassandra.amazonaws.com"}`},
		{"CreateUser", `{"userName":"BedrockAPIKey-9a1c"}`},
		{"CreateUser", `{"userName":"bedrockapikey-9a1c"}`},
		{"CreateUser", `{"userName":"alice"}`},
		{"CreateAccessKey", `{"userName":"BedrockAPIKey-9a1c"}`},
		{"CreateAccessKey", `{"userName":"alice"}`},
		{"AttachUserPolicy", `{"userName":"x","policyArn":"arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess"}`},
		{"AttachUserPolicy", `{"userName":"x","policyArn":"arn:aws:iam::aws:policy/AmazonBedrockFullAccess"}`},
		{"AttachRolePolicy", `{"roleName":"x","policyArn":"arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess"}`},
		{"DeleteServiceSpecificCredential", `{"userName":"ci","serviceSpecificCredentialId":"ACCA1"}`},
	} {
		detail := fmt.Sprintf(`{"eventSource":"iam.amazonaws.com","eventName":%q,"awsRegion":"us-east-1","requestParameters":%s}`, c.name, c.params)
		var ev any
		if err := json.Unmarshal([]byte(fmt.Sprintf(`{"source":"aws.iam","detail-type":"AWS API Call via CloudTrail","detail":%s}`, detail)), &ev); err != nil {
			t.Fatal(err)
		}
		delivered, err := matchPattern(pattern, ev)
		if err != nil {
			t.Fatal(err)
		}
		var rec decode.Record
		if err := json.Unmarshal([]byte(detail), &rec); err != nil {
			t.Fatal(err)
		}
		accepted := !normalize.Normalize(&rec, decode.Origin{}).Unsupported
		if delivered != accepted {
			t.Errorf("%s %s: rule delivers %v, detector accepts %v", c.name, c.params, delivered, accepted)
		}
	}
}
