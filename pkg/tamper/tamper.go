// Package tamper implements rule monitor-tampered: a pure judgement of one
// CloudTrail record that reports changes to Bedrock Warden's own parts —
// its EventBridge rules, its Lambda functions, its SNS topic and the
// topic's policy, its DynamoDB table and the table's resource policy, its
// KMS keys (the seal keys that guard every IAM write, and the topic key),
// its IAM roles, the log group the usage function reads (its subscription
// filter), and (when the caller is not on call) its toggle parameters.
//
// The records come from a second EventBridge rule on the services' sources
// (see docs/history.md for the pattern); functions/sentinel runs Check on
// each. Resource names come from the environment (StackFromEnv).
package tamper

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// Environment variables naming the stack's parts. Plural ones are comma
// lists.
const (
	EnvStack         = "WARDEN_STACK"          // stack name; "<stack>-" prefixes resource names CloudFormation generated
	EnvRuleNames     = "WARDEN_RULE_NAMES"     // EventBridge rule names
	EnvFunctionNames = "WARDEN_FUNCTION_NAMES" // Lambda function names
	EnvTopicARN      = "WARDEN_TOPIC_ARN"      // SNS alert topic ARN
	EnvTable         = "WARDEN_TABLE"          // DynamoDB state table name
	EnvParameterPath = "WARDEN_PARAMETER_PATH" // SSM path of the toggle parameters, e.g. /bedrock-warden
	EnvTableARN      = "WARDEN_TABLE_ARN"      // DynamoDB state table ARN (resource-policy events name it)
	EnvKeyARNs       = "WARDEN_KEY_ARNS"       // the stack's KMS key ARNs
	EnvRoleNames     = "WARDEN_ROLE_NAMES"     // the stack's IAM role names (besides "<stack>-" names)
	EnvLogGroups     = "WARDEN_LOG_GROUPS"     // CloudWatch Logs groups the stack subscribes to (the invocation log)
)

// Stack names the parts of the deployed Bedrock Warden stack.
type Stack struct {
	// Name is the CloudFormation stack name. When set, rule, function and
	// table names beginning with Name+"-" count as the stack's too
	// (CloudFormation names generated resources "<stack>-<LogicalId>-<suffix>").
	Name          string
	RuleNames     []string
	FunctionNames []string
	TopicARN      string
	Table         string
	// ParameterPath is the toggle parameters' path; the parameter at the
	// path itself and every one below it are watched.
	ParameterPath string
	// TableARN is the state table's ARN.
	TableARN string
	// KeyARNs are the stack's KMS keys.
	KeyARNs []string
	// RoleNames are the stack's IAM roles; names beginning with Name+"-"
	// count too (CloudFormation generates role names that way).
	RoleNames []string
	// LogGroups are the CloudWatch Logs groups the stack reads through a
	// subscription filter (the model invocation log of usage limits):
	// removing the filter or the group stops the counting.
	LogGroups []string
}

// StackFromEnv reads the stack's parts from the environment. It fails when
// nothing at all is named (the rule would watch nothing) or a value is
// malformed.
func StackFromEnv(getenv func(string) string) (Stack, error) {
	s := Stack{
		Name:          strings.TrimSpace(getenv(EnvStack)),
		RuleNames:     list(getenv(EnvRuleNames)),
		FunctionNames: list(getenv(EnvFunctionNames)),
		TopicARN:      strings.TrimSpace(getenv(EnvTopicARN)),
		Table:         strings.TrimSpace(getenv(EnvTable)),
		ParameterPath: strings.TrimRight(strings.TrimSpace(getenv(EnvParameterPath)), "/"),
		TableARN:      strings.TrimSpace(getenv(EnvTableARN)),
		KeyARNs:       list(getenv(EnvKeyARNs)),
		RoleNames:     list(getenv(EnvRoleNames)),
		LogGroups:     list(getenv(EnvLogGroups)),
	}
	for _, k := range s.KeyARNs {
		if !strings.HasPrefix(k, "arn:") || !strings.Contains(k, ":key/") {
			return s, fmt.Errorf("%s: %q is not a KMS key ARN", EnvKeyARNs, k)
		}
	}
	if s.TopicARN != "" && !strings.HasPrefix(s.TopicARN, "arn:") {
		return s, fmt.Errorf("%s %q is not an ARN", EnvTopicARN, s.TopicARN)
	}
	if p := getenv(EnvParameterPath); strings.TrimSpace(p) != "" && !strings.HasPrefix(strings.TrimSpace(p), "/") {
		return s, fmt.Errorf("%s %q must start with /", EnvParameterPath, p)
	}
	if strings.TrimSpace(getenv(EnvParameterPath)) == "/" {
		return s, fmt.Errorf("%s \"/\" would watch every parameter in the account", EnvParameterPath)
	}
	if s.Name == "" && len(s.RuleNames) == 0 && len(s.FunctionNames) == 0 && s.TopicARN == "" && s.Table == "" && s.ParameterPath == "" &&
		len(s.KeyARNs) == 0 && s.TableARN == "" {
		return s, errors.New("tamper: no stack resources named: set " + EnvStack + " or the resource variables")
	}
	return s, nil
}

func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Event sources of the watched services.
const (
	SourceEvents   = "events.amazonaws.com"
	SourceLambda   = "lambda.amazonaws.com"
	SourceSNS      = "sns.amazonaws.com"
	SourceDynamoDB = "dynamodb.amazonaws.com"
	SourceSSM      = "ssm.amazonaws.com"
	SourceKMS      = "kms.amazonaws.com"
	SourceIAM      = "iam.amazonaws.com"
	SourceLogs     = "logs.amazonaws.com"
)

// Watched lists, per event source, the eventNames that change a watched
// resource. Lambda's CloudTrail eventNames carry an API version suffix
// (UpdateFunctionConfiguration20150331v2, DeleteFunction20150331): they are
// matched by these base names plus any version suffix.
var Watched = map[string][]string{
	SourceEvents: {"DisableRule", "DeleteRule", "PutRule", "RemoveTargets", "PutTargets"},
	SourceLambda: {"UpdateFunctionConfiguration", "UpdateFunctionCode", "DeleteFunction",
		"PutFunctionConcurrency", "DeleteFunctionConcurrency", "RemovePermission",
		"UpdateEventSourceMapping", "DeleteEventSourceMapping",
		"PutFunctionEventInvokeConfig", "UpdateFunctionEventInvokeConfig", "DeleteFunctionEventInvokeConfig",
		"UpdateAlias", "DeleteAlias"},
	SourceSNS:      {"DeleteTopic", "Unsubscribe", "SetTopicAttributes", "AddPermission", "RemovePermission", "SetSubscriptionAttributes"},
	SourceDynamoDB: {"DeleteTable", "UpdateTable", "UpdateTimeToLive", "PutResourcePolicy", "DeleteResourcePolicy"},
	SourceSSM:      {"PutParameter", "DeleteParameter", "DeleteParameters", "LabelParameterVersion"},
	// The seal keys: disabling or deleting one stops remediation (fail
	// safe) and alerts arrive unsealed; a new key policy or a grant could
	// let someone else seal.
	SourceKMS: {"DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy", "CreateGrant", "DeleteAlias", "UpdateAlias"},
	// The stack's own roles (IAM events reach EventBridge in us-east-1).
	SourceIAM: {"PutRolePolicy", "DeleteRolePolicy", "AttachRolePolicy", "DetachRolePolicy", "UpdateAssumeRolePolicy",
		"PutRolePermissionsBoundary", "DeleteRolePermissionsBoundary", "DeleteRole", "UpdateRole", "TagRole", "UntagRole"},
	// The invocation log the usage function is subscribed to.
	SourceLogs: {"DeleteSubscriptionFilter", "PutSubscriptionFilter", "DeleteLogGroup"},
}

// BaseName strips a Lambda API version suffix from eventName:
// "UpdateFunctionConfiguration20150331v2" → "UpdateFunctionConfiguration".
// Names without such a suffix come back unchanged.
func BaseName(eventName string) string {
	i := len(eventName)
	// optional "v<digits>"
	j := i
	for j > 0 && isDigit(eventName[j-1]) {
		j--
	}
	if j < i && j > 0 && eventName[j-1] == 'v' {
		i = j - 1
	}
	// eight-digit date
	k := i
	for k > 0 && isDigit(eventName[k-1]) {
		k--
	}
	if i-k == 8 && k > 0 {
		return eventName[:k]
	}
	return eventName
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// cloudFormation is the service principal of CloudFormation deployments.
const cloudFormation = "cloudformation.amazonaws.com"

// Check judges one record. It returns a monitor-tampered finding when the
// record changes one of s's parts, and nothing for anything else, for a
// toggle-parameter change by an on-call principal, or when the rule is
// disabled in p. Failed calls are reported too (an attempt is news), with
// the error code in the finding. Changes CloudFormation made (invokedBy or
// userAgent cloudformation.amazonaws.com, i.e. a stack deploy) are
// reported at low severity: visible, but not paging.
func Check(p *policy.Policy, s Stack, rec *decode.Record, origin decode.Origin) (findings.Finding, bool) {
	if rec == nil {
		return findings.Finding{}, false
	}
	enabled, severity := p.Rule(findings.RuleMonitorTampered)
	if !enabled {
		return findings.Finding{}, false
	}
	source := strings.TrimSpace(rec.EventSource)
	name := BaseName(strings.TrimSpace(rec.EventName))
	if !watched(source, name) {
		return findings.Finding{}, false
	}
	var req params
	_ = json.Unmarshal(rec.RequestParameters, &req) // malformed parameters: no resource, no match
	var resp params
	_ = json.Unmarshal(rec.ResponseElements, &resp)
	kind, resource, ok := s.match(source, name, &req, &resp, rec.Resources)
	if !ok {
		return findings.Finding{}, false
	}
	ev := normalize.Normalize(rec, origin)
	if kind == KindParameter && ev.Principal.ARN != "" && p.OnCall(ev.Principal.ARN) {
		return findings.Finding{}, false
	}
	viaCFN := strings.EqualFold(ev.Principal.InvokedBy, cloudFormation) || strings.EqualFold(strings.TrimSpace(rec.UserAgent), cloudFormation)
	if viaCFN && severity.Rank() > findings.Low.Rank() {
		severity = findings.Low
	}
	principal := ev.Principal.ARN
	if principal == "" {
		principal = ev.Principal.RawARN
	}
	if principal == "" {
		principal = "unknown"
	}
	f := findings.Finding{
		Rule:          findings.RuleMonitorTampered,
		Severity:      severity,
		EventID:       ev.ID,
		EventName:     ev.Name,
		EventSource:   ev.Source,
		EventTime:     ev.Time,
		Account:       ev.Account,
		Region:        ev.Region,
		Principal:     principal,
		PrincipalType: string(ev.Principal.Type),
		SessionName:   ev.Principal.SessionName,
		AccessKeyID:   ev.Principal.AccessKeyID,
		SourceIP:      ev.Caller.Raw,
		SourceService: ev.Caller.Service,
		VPCEndpointID: ev.Caller.VPCEndpointID,
		UserAgent:     ev.Caller.UserAgent,
		ErrorCode:     ev.Outcome.ErrorCode,
		Details:       map[string]string{"resourceType": string(kind), "resource": resource},
		Fingerprint:   findings.Fingerprint(findings.RuleMonitorTampered, principal, string(kind)+":"+resource, ev.Region),
	}
	verb := "changed"
	if !ev.Outcome.Success() {
		verb = "change attempted (" + ev.Outcome.ErrorCode + ")"
	}
	f.Title = fmt.Sprintf("Bedrock Warden %s %q %s: %s by %s", kind, resource, verb, ev.Name, shortPrincipal(principal))
	f.Reason = fmt.Sprintf("%s on %s %q, part of the Bedrock Warden stack", name, kind, resource)
	if kind == KindParameter {
		f.Reason += "; the principal is not in monitor.onCall"
	}
	if viaCFN {
		f.Details["via"] = cloudFormation
		f.Reason += "; made by CloudFormation (a stack deploy), so reported at low severity"
	}
	return f, true
}

func shortPrincipal(arn string) string {
	if i := strings.LastIndex(arn, ":"); i >= 0 && strings.HasPrefix(arn, "arn:") {
		return arn[i+1:]
	}
	return arn
}

func watched(source, name string) bool {
	for _, n := range Watched[source] {
		if n == name {
			return true
		}
	}
	return false
}

// Kind names a watched resource type.
type Kind string

// Resource kinds.
const (
	KindRule      Kind = "EventBridge rule"
	KindFunction  Kind = "Lambda function"
	KindTopic     Kind = "SNS topic"
	KindTable     Kind = "DynamoDB table"
	KindParameter Kind = "SSM parameter"
	KindKey       Kind = "KMS key"
	KindRole      Kind = "IAM role"
	KindLogGroup  Kind = "CloudWatch Logs log group"
)

// params holds the requestParameters and responseElements members that
// name a watched resource.
type params struct {
	Name            string   `json:"name"`         // events: rule; ssm: parameter
	Names           []string `json:"names"`        // ssm DeleteParameters
	Rule            string   `json:"rule"`         // events PutTargets/RemoveTargets
	FunctionName    string   `json:"functionName"` // lambda
	FunctionArn     string   `json:"functionArn"`  // lambda event source mapping responses
	TopicArn        string   `json:"topicArn"`     // sns
	SubscriptionArn string   `json:"subscriptionArn"`
	TableName       string   `json:"tableName"`   // dynamodb
	ResourceArn     string   `json:"resourceArn"` // dynamodb resource policies
	KeyID           string   `json:"keyId"`       // kms
	TargetKeyID     string   `json:"targetKeyId"` // kms UpdateAlias
	RoleName        string   `json:"roleName"`    // iam
	TableDesc       *struct {
		TableName string `json:"tableName"`
	} `json:"tableDescription"`
	LogGroupName string `json:"logGroupName"` // logs
}

func (s *Stack) match(source, name string, req, resp *params, resources []decode.Resource) (Kind, string, bool) {
	switch source {
	case SourceKMS:
		// CloudTrail names the key in resources (its ARN) whichever form
		// the caller used; requestParameters.keyId may be an id or alias.
		cands := []string{req.KeyID, req.TargetKeyID}
		for _, r := range resources {
			cands = append(cands, r.ARN)
		}
		for _, c := range cands {
			for _, k := range s.KeyARNs {
				if c != "" && (c == k || strings.HasSuffix(k, ":key/"+c)) {
					return KindKey, k, true
				}
			}
		}
		return KindKey, "", false
	case SourceIAM:
		r := strings.TrimSpace(req.RoleName)
		return KindRole, r, s.stackName(r, s.RoleNames)
	case SourceLogs:
		g := strings.TrimSpace(req.LogGroupName)
		for _, x := range s.LogGroups {
			if g != "" && g == x {
				return KindLogGroup, g, true
			}
		}
		return KindLogGroup, g, false
	case SourceEvents:
		rule := req.Name
		if name == "PutTargets" || name == "RemoveTargets" {
			rule = req.Rule
		}
		rule = lastSegment(rule, "/") // ARN form: arn:aws:events:r:a:rule/[bus/]name
		return KindRule, rule, s.stackName(rule, s.RuleNames)
	case SourceLambda:
		for _, fn := range []string{req.FunctionName, resp.FunctionName, resp.FunctionArn} {
			if n := functionName(fn); n != "" && s.stackName(n, s.FunctionNames) {
				return KindFunction, n, true
			}
		}
		return KindFunction, "", false
	case SourceSNS:
		if s.TopicARN == "" {
			return KindTopic, "", false
		}
		if req.TopicArn == s.TopicARN {
			return KindTopic, s.TopicARN, true
		}
		if strings.HasPrefix(req.SubscriptionArn, s.TopicARN+":") {
			return KindTopic, s.TopicARN, true
		}
		return KindTopic, "", false
	case SourceDynamoDB:
		if name == "PutResourcePolicy" || name == "DeleteResourcePolicy" {
			if s.TableARN != "" && req.ResourceArn == s.TableARN {
				return KindTable, s.TableARN, true
			}
			if req.ResourceArn == "" {
				return KindTable, "", false
			}
		}
		t := req.TableName
		if t == "" && req.ResourceArn != "" {
			t = req.ResourceArn
		}
		if t == "" && req.TableDesc != nil {
			t = req.TableDesc.TableName
		}
		if t == "" && resp.TableDesc != nil {
			t = resp.TableDesc.TableName
		}
		t = lastSegment(t, "/") // ARN form: arn:aws:dynamodb:r:a:table/name
		if t == "" {
			return KindTable, "", false
		}
		if s.Table != "" && t == s.Table {
			return KindTable, t, true
		}
		return KindTable, t, s.Name != "" && strings.HasPrefix(t, s.Name+"-")
	case SourceSSM:
		if s.ParameterPath == "" {
			return KindParameter, "", false
		}
		for _, n := range append([]string{req.Name}, req.Names...) {
			n = parameterName(n)
			if n == s.ParameterPath || strings.HasPrefix(n, s.ParameterPath+"/") {
				return KindParameter, n, true
			}
		}
	}
	return "", "", false
}

// stackName reports whether n is listed, or carries the stack's prefix.
func (s *Stack) stackName(n string, names []string) bool {
	if n == "" {
		return false
	}
	for _, x := range names {
		if x == n {
			return true
		}
	}
	return s.Name != "" && strings.HasPrefix(n, s.Name+"-")
}

func lastSegment(s, sep string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[i+1:]
	}
	return s
}

// functionName extracts the function name from any form Lambda accepts:
// "name", "name:qualifier", "123456789012:function:name[:qualifier]",
// "arn:aws:lambda:region:account:function:name[:qualifier]".
func functionName(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	parts := strings.Split(s, ":")
	for i, p := range parts {
		if p == "function" && i+1 < len(parts) {
			return parts[i+1]
		}
	}
	return parts[0]
}

// parameterName turns the ARN form "arn:aws:ssm:r:a:parameter/x/y" into
// the name "/x/y"; names come back as given.
func parameterName(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "arn:") {
		if i := strings.Index(s, ":parameter"); i >= 0 {
			s = s[i+len(":parameter"):]
		}
	}
	return s
}
