package motoserver

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/bedrock-warden/warden/pkg/stack"
	"github.com/bedrock-warden/warden/pkg/statetable"
)

// StackOptions shape the stand-in stack CreateStack deploys.
type StackOptions struct {
	// NoModeParameter leaves out the remediation mode parameter (a stack
	// whose toggle was deleted by hand).
	NoModeParameter bool
	// Policy is the policy parameter's first value ("" for the blank
	// placeholder the template writes).
	Policy string
	// FindingKey and LedgerKey are HMAC key ARNs the stack outputs (see
	// CreateHMACKey); empty leaves the output out.
	FindingKey, LedgerKey string
	// Parameters are template parameter values (MetricsMode,
	// EnableSecurityHub, …) the stack reports.
	Parameters map[string]string
	// DetectorFunction is the DetectorFunctionName output.
	DetectorFunction string
}

// Stack is a deployed stand-in stack: its outputs by key.
type Stack struct {
	Name    string
	Outputs map[string]string
}

// CreateStack deploys, through moto's CloudFormation, a stand-in for a
// Bedrock Warden stack named name: the alert topic, the state table (the
// statetable layout), the toggle and policy parameters under
// /bedrock-warden/<name>/, and the outputs template.yaml gives them (the
// names of package stack). moto cannot run the SAM template itself; this
// is the part of it the CLI reads.
func (s *Server) CreateStack(t testing.TB, name string, o StackOptions) Stack {
	t.Helper()
	policyValue := o.Policy
	if policyValue == "" {
		policyValue = "# Bedrock Warden policy: blank means the embedded default\n"
	}
	res := map[string]any{
		"AlertTopic": map[string]any{"Type": "AWS::SNS::Topic"},
		"StateTable": map[string]any{"Type": "AWS::DynamoDB::Table", "Properties": map[string]any{
			"BillingMode": "PAY_PER_REQUEST",
			"AttributeDefinitions": []any{
				map[string]any{"AttributeName": statetable.PK, "AttributeType": "S"},
				map[string]any{"AttributeName": statetable.SK, "AttributeType": "S"},
			},
			"KeySchema": []any{
				map[string]any{"AttributeName": statetable.PK, "KeyType": "HASH"},
				map[string]any{"AttributeName": statetable.SK, "KeyType": "RANGE"},
			},
		}},
		"PolicyParameter": map[string]any{"Type": "AWS::SSM::Parameter", "Properties": map[string]any{
			"Name": map[string]any{"Fn::Sub": "/bedrock-warden/${AWS::StackName}/policy"}, "Type": "String", "Value": policyValue,
		}},
	}
	outputs := map[string]any{
		stack.OutputAlertTopic:      map[string]any{"Value": map[string]any{"Ref": "AlertTopic"}},
		stack.OutputStateTable:      map[string]any{"Value": map[string]any{"Ref": "StateTable"}},
		stack.OutputPolicyParameter: map[string]any{"Value": map[string]any{"Ref": "PolicyParameter"}},
	}
	if o.NoModeParameter {
		outputs[stack.OutputModeParameter] = map[string]any{"Value": map[string]any{"Fn::Sub": "/bedrock-warden/${AWS::StackName}/remediation/mode"}}
	} else {
		res["ModeParameter"] = map[string]any{"Type": "AWS::SSM::Parameter", "Properties": map[string]any{
			"Name": map[string]any{"Fn::Sub": "/bedrock-warden/${AWS::StackName}/remediation/mode"}, "Type": "String", "Value": "dry-run",
		}}
		outputs[stack.OutputModeParameter] = map[string]any{"Value": map[string]any{"Ref": "ModeParameter"}}
	}
	for key, v := range map[string]string{stack.OutputFindingKey: o.FindingKey, stack.OutputLedgerKey: o.LedgerKey, stack.OutputDetectorFunction: o.DetectorFunction} {
		if v != "" {
			outputs[key] = map[string]any{"Value": v}
		}
	}
	params := map[string]any{}
	var values []cfntypes.Parameter
	for k, v := range o.Parameters {
		params[k] = map[string]any{"Type": "String"}
		values = append(values, cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)})
	}
	tpl := map[string]any{"AWSTemplateFormatVersion": "2010-09-09", "Resources": res, "Outputs": outputs}
	if len(params) > 0 {
		tpl["Parameters"] = params
	}
	body, err := json.Marshal(tpl)
	if err != nil {
		t.Fatal(err)
	}
	client := cloudformation.NewFromConfig(s.Config(t))
	ctx := context.Background()
	if _, err := client.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(string(body)), Parameters: values}); err != nil {
		t.Fatalf("create stack %s: %v", name, err)
	}
	out, err := client.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil || len(out.Stacks) != 1 {
		t.Fatalf("describe stack %s: %v", name, err)
	}
	st := Stack{Name: name, Outputs: map[string]string{}}
	for _, o := range out.Stacks[0].Outputs {
		st.Outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return st
}
