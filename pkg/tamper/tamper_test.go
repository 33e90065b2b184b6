package tamper_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/internal/samples"
	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/tamper"
)

const acct = "111122223333"

var stack = tamper.Stack{
	Name:          "bedrock-warden",
	RuleNames:     []string{"warden-bedrock-events"},
	FunctionNames: []string{"warden-detector", "warden-reconciler"},
	TopicARN:      "arn:aws:sns:us-east-1:111122223333:warden-alerts",
	Table:         "warden-state",
	ParameterPath: "/bedrock-warden",
	TableARN:      "arn:aws:dynamodb:us-east-1:111122223333:table/warden-state",
	KeyARNs: []string{"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"},
	RoleNames: []string{"warden-remediator-role"},
	LogGroups: []string{"/aws/bedrock/modelinvocations"},
}

// kmsRecord is a KMS event as CloudTrail writes it: the key named in
// resources by ARN whatever requestParameters.keyId holds.
func kmsRecord(name, keyID, keyARN string) *decode.Record {
	r := record(tamper.SourceKMS, name, `{"keyId":"`+keyID+`"}`)
	r.Resources = []decode.Resource{{ARN: keyARN, AccountID: acct, Type: "AWS::KMS::Key"}}
	return r
}

func testPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Load("test", []byte("monitor:\n  onCall: [\"arn:aws:iam::111122223333:role/oncall-*\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func record(source, name, params string) *decode.Record {
	return &decode.Record{
		EventSource: source, EventName: name, EventID: "e-" + name, EventTime: "2026-11-24T10:00:00Z",
		Time:      time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		AWSRegion: "us-east-1", SourceIPAddress: "198.51.100.7", UserAgent: "aws-cli/2.17",
		RecipientAccountID: acct,
		UserIdentity: decode.UserIdentity{Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/dev-admin/mallory",
			AccountID: acct, PrincipalID: "AROAEXAMPLE:mallory",
			SessionContext: &decode.SessionContext{SessionIssuer: &decode.SessionIssuer{Type: "Role",
				ARN: "arn:aws:iam::111122223333:role/dev-admin", AccountID: acct, UserName: "dev-admin"}}},
		RequestParameters: json.RawMessage(params),
	}
}

func TestCheckReportsChangesToTheStack(t *testing.T) {
	p := testPolicy(t)
	cases := []struct {
		source, name, params string
		kind                 tamper.Kind
		resource             string
	}{
		{tamper.SourceEvents, "DisableRule", `{"name":"warden-bedrock-events"}`, tamper.KindRule, "warden-bedrock-events"},
		{tamper.SourceEvents, "DeleteRule", `{"name":"bedrock-warden-TamperRule-1X2Y3Z","force":true}`, tamper.KindRule, "bedrock-warden-TamperRule-1X2Y3Z"},
		{tamper.SourceEvents, "RemoveTargets", `{"rule":"warden-bedrock-events","ids":["detector"]}`, tamper.KindRule, "warden-bedrock-events"},
		{tamper.SourceEvents, "PutRule", `{"name":"warden-bedrock-events","eventPattern":"{\"source\":[\"aws.s3\"]}"}`, tamper.KindRule, "warden-bedrock-events"},
		{tamper.SourceEvents, "PutTargets", `{"rule":"arn:aws:events:us-east-1:111122223333:rule/warden-bedrock-events","targets":[]}`, tamper.KindRule, "warden-bedrock-events"},
		{tamper.SourceLambda, "UpdateFunctionConfiguration20150331v2", `{"functionName":"warden-detector","environment":{}}`, tamper.KindFunction, "warden-detector"},
		{tamper.SourceLambda, "UpdateFunctionCode20150331v2", `{"functionName":"arn:aws:lambda:us-east-1:111122223333:function:warden-reconciler:live"}`, tamper.KindFunction, "warden-reconciler"},
		{tamper.SourceLambda, "DeleteFunction20150331", `{"functionName":"111122223333:function:warden-detector"}`, tamper.KindFunction, "warden-detector"},
		{tamper.SourceLambda, "PutFunctionConcurrency20171031", `{"functionName":"warden-detector","reservedConcurrentExecutions":0}`, tamper.KindFunction, "warden-detector"},
		{tamper.SourceLambda, "DeleteFunctionConcurrency20171031", `{"functionName":"warden-detector"}`, tamper.KindFunction, "warden-detector"},
		{tamper.SourceLambda, "RemovePermission20150331v2", `{"functionName":"warden-detector","statementId":"events"}`, tamper.KindFunction, "warden-detector"},
		{tamper.SourceSNS, "DeleteTopic", `{"topicArn":"arn:aws:sns:us-east-1:111122223333:warden-alerts"}`, tamper.KindTopic, stack.TopicARN},
		{tamper.SourceSNS, "Unsubscribe", `{"subscriptionArn":"arn:aws:sns:us-east-1:111122223333:warden-alerts:0b6941c3-f04d-4d3e-a70e-dc8c3c1d8cf1"}`, tamper.KindTopic, stack.TopicARN},
		{tamper.SourceSNS, "SetTopicAttributes", `{"topicArn":"arn:aws:sns:us-east-1:111122223333:warden-alerts","attributeName":"Policy"}`, tamper.KindTopic, stack.TopicARN},
		{tamper.SourceDynamoDB, "DeleteTable", `{"tableName":"warden-state"}`, tamper.KindTable, "warden-state"},
		{tamper.SourceDynamoDB, "UpdateTimeToLive", `{"tableName":"arn:aws:dynamodb:us-east-1:111122223333:table/warden-state","timeToLiveSpecification":{"enabled":false}}`, tamper.KindTable, "warden-state"},
		{tamper.SourceSSM, "PutParameter", `{"name":"/bedrock-warden/remediation/enabled","type":"String","overwrite":true}`, tamper.KindParameter, "/bedrock-warden/remediation/enabled"},
		{tamper.SourceSSM, "DeleteParameters", `{"names":["/other/x","/bedrock-warden/dry-run"]}`, tamper.KindParameter, "/bedrock-warden/dry-run"},
		{tamper.SourceSSM, "LabelParameterVersion", `{"name":"arn:aws:ssm:us-east-1:111122223333:parameter/bedrock-warden/mode","labels":["x"]}`, tamper.KindParameter, "/bedrock-warden/mode"},
		{tamper.SourceSNS, "AddPermission", `{"topicArn":"arn:aws:sns:us-east-1:111122223333:warden-alerts","label":"x","aWSAccountId":["999988887777"],"actionName":["Publish"]}`, tamper.KindTopic, stack.TopicARN},
		{tamper.SourceDynamoDB, "PutResourcePolicy", `{"resourceArn":"arn:aws:dynamodb:us-east-1:111122223333:table/warden-state","policy":"{}"}`, tamper.KindTable, stack.TableARN},
		{tamper.SourceDynamoDB, "DeleteResourcePolicy", `{"resourceArn":"arn:aws:dynamodb:us-east-1:111122223333:table/warden-state"}`, tamper.KindTable, stack.TableARN},
		{tamper.SourceKMS, "PutKeyPolicy", `{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab","policyName":"default","policy":"{}"}`, tamper.KindKey, stack.KeyARNs[0]},
		{tamper.SourceKMS, "CreateGrant", `{"keyId":"arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321","granteePrincipal":"arn:aws:iam::111122223333:role/x","operations":["GenerateMac"]}`, tamper.KindKey, stack.KeyARNs[1]},
		{tamper.SourceIAM, "PutRolePolicy", `{"roleName":"bedrock-warden-RemediatorRole-1AB2CD3EF4","policyName":"x","policyDocument":"{}"}`, tamper.KindRole, "bedrock-warden-RemediatorRole-1AB2CD3EF4"},
		{tamper.SourceIAM, "UntagRole", `{"roleName":"warden-remediator-role","tagKeys":["bedrock-warden:protected"]}`, tamper.KindRole, "warden-remediator-role"},
		{tamper.SourceIAM, "AttachRolePolicy", `{"roleName":"bedrock-warden-SweeperRole-9ZZ","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}`, tamper.KindRole, "bedrock-warden-SweeperRole-9ZZ"},
		{tamper.SourceLogs, "DeleteSubscriptionFilter", `{"logGroupName":"/aws/bedrock/modelinvocations","filterName":"bedrock-warden-usage"}`, tamper.KindLogGroup, "/aws/bedrock/modelinvocations"},
		{tamper.SourceLogs, "PutSubscriptionFilter", `{"logGroupName":"/aws/bedrock/modelinvocations","filterName":"bedrock-warden-usage","filterPattern":"nothing"}`, tamper.KindLogGroup, "/aws/bedrock/modelinvocations"},
		{tamper.SourceLogs, "DeleteLogGroup", `{"logGroupName":"/aws/bedrock/modelinvocations"}`, tamper.KindLogGroup, "/aws/bedrock/modelinvocations"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, ok := tamper.Check(p, stack, record(c.source, c.name, c.params), decode.Origin{Source: "test"})
			if !ok {
				t.Fatal("no finding")
			}
			if f.Rule != findings.RuleMonitorTampered || f.Severity != findings.Critical {
				t.Fatalf("rule %s severity %s", f.Rule, f.Severity)
			}
			if f.Details["resourceType"] != string(c.kind) || f.Details["resource"] != c.resource {
				t.Fatalf("details %v, want %s %s", f.Details, c.kind, c.resource)
			}
			if f.Principal != "arn:aws:iam::111122223333:role/dev-admin" || f.SessionName != "mallory" || f.EventName != c.name ||
				f.Account != acct || f.Region != "us-east-1" || f.SourceIP != "198.51.100.7" || f.Fingerprint == "" ||
				f.EventTime.IsZero() || !strings.Contains(f.Title, c.resource) {
				t.Fatalf("finding %+v", f)
			}
		})
	}
}

func TestCheckIgnoresOtherResourcesAndReads(t *testing.T) {
	p := testPolicy(t)
	cases := []struct{ source, name, params string }{
		{tamper.SourceEvents, "DisableRule", `{"name":"someone-elses-rule"}`},
		{tamper.SourceEvents, "EnableRule", `{"name":"warden-bedrock-events"}`},
		{tamper.SourceEvents, "DescribeRule", `{"name":"warden-bedrock-events"}`},
		{tamper.SourceLambda, "UpdateFunctionCode20150331v2", `{"functionName":"payments-api"}`},
		{tamper.SourceLambda, "GetFunction20150331v2", `{"functionName":"warden-detector"}`},
		{tamper.SourceLambda, "DeleteFunctionUrlConfig", `{"functionName":"warden-detector"}`},
		{tamper.SourceSNS, "DeleteTopic", `{"topicArn":"arn:aws:sns:us-east-1:111122223333:warden-alerts-other"}`},
		{tamper.SourceSNS, "Unsubscribe", `{"subscriptionArn":"arn:aws:sns:us-east-1:111122223333:warden-alertsX:0b69"}`},
		{tamper.SourceSNS, "Publish", `{"topicArn":"arn:aws:sns:us-east-1:111122223333:warden-alerts"}`},
		{tamper.SourceDynamoDB, "DeleteTable", `{"tableName":"orders"}`},
		{tamper.SourceDynamoDB, "DeleteItem", `{"tableName":"warden-state"}`},
		{tamper.SourceSSM, "PutParameter", `{"name":"/bedrock-warden-other/x"}`},
		{tamper.SourceSSM, "GetParameter", `{"name":"/bedrock-warden/x"}`},
		{"s3.amazonaws.com", "DeleteBucket", `{"bucketName":"bedrock-warden-logs"}`},
		{tamper.SourceDynamoDB, "PutResourcePolicy", `{"resourceArn":"arn:aws:dynamodb:us-east-1:111122223333:table/orders"}`},
		{tamper.SourceKMS, "PutKeyPolicy", `{"keyId":"ffffffff-12ab-34cd-56ef-1234567890ab"}`},
		{tamper.SourceKMS, "GenerateMac", `{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}`},
		{tamper.SourceIAM, "PutRolePolicy", `{"roleName":"payments-api","policyName":"x"}`},
		{tamper.SourceIAM, "GetRole", `{"roleName":"bedrock-warden-RemediatorRole-1AB2CD3EF4"}`},
		{tamper.SourceLogs, "DeleteSubscriptionFilter", `{"logGroupName":"/aws/lambda/payments","filterName":"x"}`},
		{tamper.SourceLogs, "DeleteSubscriptionFilter", `{"logGroupName":"/aws/bedrock/modelinvocations-old","filterName":"x"}`},
		{tamper.SourceLogs, "FilterLogEvents", `{"logGroupName":"/aws/bedrock/modelinvocations"}`},
		{tamper.SourceEvents, "DisableRule", `not json`},
		{tamper.SourceEvents, "DisableRule", ``},
	}
	for _, c := range cases {
		if f, ok := tamper.Check(p, stack, record(c.source, c.name, c.params), decode.Origin{}); ok {
			t.Errorf("%s %s %s: unexpected finding %q", c.source, c.name, c.params, f.Title)
		}
	}
	if _, ok := tamper.Check(p, stack, nil, decode.Origin{}); ok {
		t.Error("nil record gave a finding")
	}
}

// TestCheckFindsKeysByTheResourceARN: KMS records name the key in
// resources by ARN, whether the caller passed an id, an ARN or an alias.
func TestCheckFindsKeysByTheResourceARN(t *testing.T) {
	p := testPolicy(t)
	for _, keyID := range []string{"alias/bedrock-warden-findings", "1234abcd-12ab-34cd-56ef-1234567890ab"} {
		f, ok := tamper.Check(p, stack, kmsRecord("ScheduleKeyDeletion", keyID, stack.KeyARNs[0]), decode.Origin{})
		if !ok || f.Details["resource"] != stack.KeyARNs[0] || f.Severity != findings.Critical {
			t.Errorf("keyId %s: %v %+v", keyID, ok, f.Details)
		}
	}
	if _, ok := tamper.Check(p, stack, kmsRecord("DisableKey", "alias/other", "arn:aws:kms:us-east-1:111122223333:key/ffff"), decode.Origin{}); ok {
		t.Error("another key's change reported")
	}
}

func TestCheckOnCallMayChangeParametersOnly(t *testing.T) {
	p := testPolicy(t)
	r := record(tamper.SourceSSM, "PutParameter", `{"name":"/bedrock-warden/remediation/enabled"}`)
	r.UserIdentity.SessionContext.SessionIssuer.ARN = "arn:aws:iam::111122223333:role/oncall-primary"
	r.UserIdentity.ARN = "arn:aws:sts::111122223333:assumed-role/oncall-primary/alice"
	if f, ok := tamper.Check(p, stack, r, decode.Origin{}); ok {
		t.Fatalf("on-call parameter change reported: %s", f.Title)
	}
	// The same principal disabling the rule is still reported.
	r2 := record(tamper.SourceEvents, "DisableRule", `{"name":"warden-bedrock-events"}`)
	r2.UserIdentity = r.UserIdentity
	if _, ok := tamper.Check(p, stack, r2, decode.Origin{}); !ok {
		t.Fatal("on-call principal disabling the rule not reported")
	}
}

func TestCheckCloudFormationIsLowSeverity(t *testing.T) {
	p := testPolicy(t)
	r := record(tamper.SourceLambda, "UpdateFunctionCode20150331v2", `{"functionName":"warden-detector"}`)
	r.UserIdentity.InvokedBy = "cloudformation.amazonaws.com"
	f, ok := tamper.Check(p, stack, r, decode.Origin{})
	if !ok || f.Severity != findings.Low || f.Details["via"] != "cloudformation.amazonaws.com" {
		t.Fatalf("ok %v finding %+v", ok, f)
	}
	r = record(tamper.SourceSNS, "DeleteTopic", `{"topicArn":"`+stack.TopicARN+`"}`)
	r.UserAgent = "cloudformation.amazonaws.com"
	if f, ok := tamper.Check(p, stack, r, decode.Origin{}); !ok || f.Severity != findings.Low {
		t.Fatalf("userAgent cloudformation: ok %v severity %s", ok, f.Severity)
	}
}

func TestCheckFailedAttemptAndPolicySettings(t *testing.T) {
	r := record(tamper.SourceEvents, "DeleteRule", `{"name":"warden-bedrock-events"}`)
	r.ErrorCode = "AccessDenied"
	f, ok := tamper.Check(testPolicy(t), stack, r, decode.Origin{})
	if !ok || f.ErrorCode != "AccessDenied" || !strings.Contains(f.Title, "attempted") {
		t.Fatalf("failed attempt: ok %v %+v", ok, f)
	}
	off, err := policy.Load("off", []byte("rules:\n  monitor-tampered:\n    enabled: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tamper.Check(off, stack, r, decode.Origin{}); ok {
		t.Fatal("disabled rule reported")
	}
	med, err := policy.Load("med", []byte("rules:\n  monitor-tampered:\n    severity: medium\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := tamper.Check(med, stack, r, decode.Origin{}); f.Severity != findings.Medium {
		t.Fatalf("severity %s, want the policy's medium", f.Severity)
	}
}

func TestCheckFromEventBridgeEnvelope(t *testing.T) {
	env := `{"version":"0","id":"6f1c","detail-type":"AWS API Call via CloudTrail","source":"aws.events","account":"111122223333","time":"2026-11-24T10:00:00Z","region":"us-east-1","resources":[],
"detail":{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/mallory","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE","userName":"mallory"},
"eventTime":"2026-11-24T10:00:00Z","eventSource":"events.amazonaws.com","eventName":"DisableRule","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","userAgent":"aws-cli/2.17",
"requestParameters":{"name":"warden-bedrock-events"},"responseElements":null,"requestID":"r1","eventID":"ev-disable-1","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}}`
	n := 0
	for it := range decode.Bytes("eventbridge", []byte(env)) {
		if it.Err != nil {
			t.Fatal(it.Err)
		}
		f, ok := tamper.Check(testPolicy(t), stack, &it.Record, it.Origin)
		if !ok || f.EventID != "ev-disable-1" || f.Principal != "arn:aws:iam::111122223333:user/mallory" || f.EventTime.IsZero() {
			t.Fatalf("ok %v finding %+v", ok, f)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d records", n)
	}
}

func TestBaseName(t *testing.T) {
	for in, want := range map[string]string{
		"UpdateFunctionConfiguration20150331v2": "UpdateFunctionConfiguration",
		"DeleteFunction20150331":                "DeleteFunction",
		"PutFunctionConcurrency20171031":        "PutFunctionConcurrency",
		"DeleteRule":                            "DeleteRule",
		"v2":                                    "v2",
		"20150331":                              "20150331",
		"Foo2015033":                            "Foo2015033",
	} {
		if got := tamper.BaseName(in); got != want {
			t.Errorf("BaseName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStackFromEnv(t *testing.T) {
	env := map[string]string{
		tamper.EnvStack: "bedrock-warden", tamper.EnvRuleNames: "a, b,", tamper.EnvFunctionNames: "f1",
		tamper.EnvTopicARN: "arn:aws:sns:us-east-1:111122223333:t", tamper.EnvTable: "tbl", tamper.EnvParameterPath: "/bw/",
		tamper.EnvLogGroups: "/aws/bedrock/modelinvocations",
	}
	s, err := tamper.StackFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "bedrock-warden" || len(s.RuleNames) != 2 || s.RuleNames[1] != "b" || s.ParameterPath != "/bw" || s.Table != "tbl" ||
		len(s.LogGroups) != 1 || s.LogGroups[0] != "/aws/bedrock/modelinvocations" {
		t.Fatalf("stack %+v", s)
	}
	for k, v := range map[string]string{tamper.EnvTopicARN: "warden-alerts", tamper.EnvParameterPath: "bw", "": ""} {
		bad := map[string]string{}
		if k != "" {
			bad = map[string]string{tamper.EnvStack: "x", k: v}
		}
		if _, err := tamper.StackFromEnv(func(key string) string { return bad[key] }); err == nil {
			t.Errorf("%s=%q accepted", k, v)
		}
	}
	root := map[string]string{tamper.EnvParameterPath: "/"}
	if _, err := tamper.StackFromEnv(func(k string) string { return root[k] }); err == nil {
		t.Error("parameter path / accepted")
	}
}

// The public CloudTrail samples (partial, redacted) never panic and, being
// Bedrock or S3 events, never report tampering.
func TestCheckAcceptsPublicSamples(t *testing.T) {
	files := samples.Files(t)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for it := range decode.Bytes(f, data) {
			if it.Err != nil {
				continue
			}
			if fd, ok := tamper.Check(testPolicy(t), stack, &it.Record, it.Origin); ok {
				t.Errorf("%s: unexpected finding %q", f, fd.Title)
			}
		}
	}
}
