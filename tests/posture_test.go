package tests

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/audit"
	"github.com/bedrock-warden/warden/pkg/audit/iamsrc"
	"github.com/bedrock-warden/warden/pkg/audit/orgsrc"
	"github.com/bedrock-warden/warden/pkg/audit/posturedb"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// TestPostureWeeklyRun composes the posture function as
// functions/posture/main.go does (alerts through outputs.BuildSinks, IAM,
// Organizations and the state table through their adapters), every call
// recorded for the template's least-privilege check. The first run records
// the baseline; a role given AmazonBedrockFullAccess afterwards raises one
// over-permissioned alert, once, however often the run is retried.
func TestPostureWeeklyRun(t *testing.T) {
	srv := motoserver.Start(t, motoserver.Env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true"))
	srv.CreateTable(t, "warden")
	setup := srv.Config(t)
	ctx := context.Background()
	topic, err := sns.NewFromConfig(setup).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("warden-alerts")})
	if err != nil {
		t.Fatal(err)
	}
	admin := iam.NewFromConfig(setup)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	for _, name := range []string{"app-chat", "app-batch"} {
		if _, err := admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("ml")}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String("ml"), UserName: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}

	cfg := srv.ConfigFor(t, "posture")
	env := map[string]string{outputs.EnvTable: "warden", outputs.EnvTopicARN: aws.ToString(topic.TopicArn), outputs.EnvStack: "bedrock-warden"}
	p := policy.Default()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	out, err := outputs.BuildSinks(ctx, cfg, func(k string) string { return env[k] }, p, outputs.Clients{Log: log})
	if err != nil || out.Alerter == nil {
		t.Fatalf("sinks: %v", err)
	}
	posture := &audit.Posture{
		Policy:    p,
		Directory: func() audit.Directory { return iamsrc.NewFromConfig(cfg) },
		SCPs:      orgsrc.NewFromConfig(cfg),
		Baseline:  posturedb.New(dynamodb.NewFromConfig(cfg), "warden"),
		Notifier:  out.Alerter,
		Log:       log,
		Region:    "us-east-1",
	}
	event := func(id string, at time.Time) []byte {
		return []byte(`{"version":"0","id":"` + id + `","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"` +
			at.Format(time.RFC3339) + `","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/bedrock-warden-posture"],"detail":{}}`)
	}
	week0 := time.Date(2026, 11, 16, 6, 0, 0, 0, time.UTC)
	if err := posture.Handle(ctx, event("run-0", week0)); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.SNSMessages(t)); n != 0 {
		t.Fatalf("the baseline run alerted %d times", n)
	}
	// During the week: FullAccess for app-chat, and alice's group may
	// delete guardrails.
	if _, err := admin.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("app-chat"), PolicyArn: aws.String("arn:aws:iam::aws:policy/AmazonBedrockFullAccess")}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutGroupPolicy(ctx, &iam.PutGroupPolicyInput{GroupName: aws.String("ml"), PolicyName: aws.String("guardrails"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:DeleteGuardrail","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	week1 := week0.Add(7 * 24 * time.Hour)
	for range 2 { // the second is a retried delivery of the same event
		if err := posture.Handle(ctx, event("run-1", week1)); err != nil {
			t.Fatal(err)
		}
	}
	msgs := srv.SNSMessages(t)
	if len(msgs) != 2 {
		for _, m := range msgs {
			t.Log(m.Subject)
		}
		t.Fatalf("%d alerts, want 2 (app-chat and alice)", len(msgs))
	}
	var chat, alice *motoserver.SNSMessage
	for i := range msgs {
		switch {
		case strings.Contains(msgs[i].Subject, "role/app-chat"):
			chat = &msgs[i]
		case strings.Contains(msgs[i].Subject, "user/alice"):
			alice = &msgs[i]
		}
	}
	if chat == nil || alice == nil {
		t.Fatalf("subjects: %q, %q", msgs[0].Subject, msgs[1].Subject)
	}
	if chat.Attributes["rule"].StringValue != findings.RuleOverPermissioned || chat.Attributes["severity"].StringValue != "high" ||
		chat.Attributes["remediable"].StringValue != "false" {
		t.Errorf("attributes: %+v", chat.Attributes)
	}
	for _, want := range []string{"AmazonBedrockFullAccess", "BedrockAll", "models:", "boundary"} {
		if !strings.Contains(chat.Message, want) {
			t.Errorf("app-chat alert lacks %q:\n%s", want, chat.Message)
		}
	}
	if !strings.Contains(alice.Message, "guardrails") || !strings.Contains(alice.Message, "group ml") {
		t.Errorf("alice's alert:\n%s", alice.Message)
	}
	// The next week, nothing changed: no alert.
	if err := posture.Handle(ctx, event("run-2", week1.Add(7*24*time.Hour))); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.SNSMessages(t)); n != 2 {
		t.Errorf("an unchanged week alerted: %d messages", n)
	}
}
