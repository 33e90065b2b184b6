package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/bedrock-warden/warden/pkg/statetable"
)

// cfn is template.yaml decoded to plain Go values, with CloudFormation's
// short-form tags (!Ref, !GetAtt, !Sub, !If, …) turned into their long
// forms ({"Ref": …}, {"Fn::GetAtt": …}).
type cfn map[string]any

func loadTemplate(t *testing.T) cfn {
	t.Helper()
	tpl, err := readTemplate()
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func readTemplate() (cfn, error) {
	data, err := os.ReadFile("../template.yaml")
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("template.yaml: %w", err)
	}
	v, err := cfnValue(root.Content[0])
	if err != nil {
		return nil, fmt.Errorf("template.yaml: %w", err)
	}
	return v.(map[string]any), nil
}

func cfnValue(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := cfnValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			val, err := cfnValue(c)
			if err != nil {
				return nil, err
			}
			l = append(l, val)
		}
		v = l
	case yaml.ScalarNode:
		if err := n.Decode(&v); err != nil {
			v = n.Value
		}
		if n.Tag == "!!str" || strings.HasPrefix(n.Tag, "!") {
			v = n.Value
		}
	case yaml.AliasNode:
		return nil, fmt.Errorf("line %d: YAML aliases are not valid CloudFormation", n.Line)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		name := strings.TrimPrefix(n.Tag, "!")
		if name == "GetAtt" {
			if s, ok := v.(string); ok {
				parts := strings.SplitN(s, ".", 2)
				v = []any{parts[0], parts[len(parts)-1]}
			}
		}
		if name != "Ref" && name != "Condition" {
			name = "Fn::" + name
		}
		v = map[string]any{name: v}
	}
	return v, nil
}

func (c cfn) resources() map[string]map[string]any {
	out := map[string]map[string]any{}
	for k, v := range c["Resources"].(map[string]any) {
		out[k] = v.(map[string]any)
	}
	return out
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	if p == nil {
		return map[string]any{}
	}
	return p
}

// templateFunction is one AWS::Serverless::Function with what the tests
// need to know about it.
type templateFunction struct {
	LogicalID string
	Dir       string // functions/<Dir>
	Env       map[string]bool
	Role      string // logical id of its AWS::IAM::Role
}

// functions returns every function of the template; Dir comes from the
// Makefile target SAM runs for it (build-<LogicalId>: lambda-<dir>).
func templateFunctions(t *testing.T, tpl cfn) []templateFunction {
	t.Helper()
	targets := makefileTargets(t)
	globals := map[string]bool{}
	if g, ok := tpl["Globals"].(map[string]any); ok {
		for k := range envVars(g["Function"]) {
			globals[k] = true
		}
	}
	var out []templateFunction
	for id, r := range tpl.resources() {
		if r["Type"] != "AWS::Serverless::Function" {
			continue
		}
		f := templateFunction{LogicalID: id, Env: map[string]bool{}}
		for k := range globals {
			f.Env[k] = true
		}
		for k := range envVars(props(r)) {
			f.Env[k] = true
		}
		meta, _ := r["Metadata"].(map[string]any)
		if meta["BuildMethod"] != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod = %v, want makefile", id, meta["BuildMethod"])
		}
		if props(r)["CodeUri"] != "." {
			t.Errorf("%s: CodeUri = %v, want . (the Makefile is at the root)", id, props(r)["CodeUri"])
		}
		f.Dir = targets["build-"+id]
		if f.Dir == "" {
			t.Errorf("%s: the Makefile has no build-%s: lambda-<dir> target", id, id)
		}
		if role, ok := props(r)["Role"].(map[string]any); ok {
			if ga, ok := role["Fn::GetAtt"].([]any); ok {
				f.Role = fmt.Sprint(ga[0])
			}
		}
		if f.Role == "" {
			t.Errorf("%s: Role must be !GetAtt <its own role>.Arn", id)
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LogicalID < out[j].LogicalID })
	return out
}

func envVars(fn any) map[string]any {
	m, _ := fn.(map[string]any)
	env, _ := m["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	return vars
}

var targetLine = regexp.MustCompile(`^(build-[A-Za-z0-9]+):\s*lambda-([a-z0-9-]+)\s*$`)

func makefileTargets(t *testing.T) map[string]string {
	t.Helper()
	out, err := readMakefileTargets()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readMakefileTargets() (map[string]string, error) {
	f, err := os.Open("../Makefile")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := targetLine.FindStringSubmatch(sc.Text()); m != nil {
			out[m[1]] = m[2]
		}
	}
	return out, sc.Err()
}

// TestTemplateFunctionsBuild cross-compiles every function the template
// names for linux/arm64 with CGO disabled, as sam build does, and checks
// that no directory under functions/ is left out of the template.
func TestTemplateFunctionsBuild(t *testing.T) {
	tpl := loadTemplate(t)
	fns := templateFunctions(t, tpl)
	inTemplate := map[string]bool{}
	var pkgs []string
	for _, f := range fns {
		inTemplate[f.Dir] = true
		pkgs = append(pkgs, "./functions/"+f.Dir)
	}
	dirs, _ := filepath.Glob("../functions/*")
	for _, d := range dirs {
		if !inTemplate[filepath.Base(d)] {
			t.Errorf("functions/%s is not deployed by template.yaml", filepath.Base(d))
		}
	}
	if testing.Short() {
		t.Skip("cross-compilation skipped in -short mode")
	}
	out := t.TempDir()
	cmd := exec.Command("go", append([]string{"build", "-trimpath", "-tags", "lambda.norpc", "-o", out + "/"}, pkgs...)...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("linux/arm64 build failed: %v\n%s", err, b)
	}
	for _, f := range fns {
		if _, err := os.Stat(filepath.Join(out, f.Dir)); err != nil {
			t.Errorf("%s: no binary built: %v", f.LogicalID, err)
		}
	}
}

var envLiteral = regexp.MustCompile(`"(WARDEN_[A-Z0-9_]+)"`)

// TestTemplateSetsEveryEnvVar finds every WARDEN_* variable name in the
// source of each function and the project packages it imports, and checks
// that the template sets it for that function.
func TestTemplateSetsEveryEnvVar(t *testing.T) {
	tpl := loadTemplate(t)
	for _, f := range templateFunctions(t, tpl) {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./functions/"+f.Dir)
		cmd.Dir = ".."
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", f.Dir, err)
		}
		root, _ := filepath.Abs("..")
		read := map[string]bool{}
		for _, dir := range strings.Fields(string(b)) {
			if !strings.HasPrefix(dir, root) || strings.Contains(dir, "/internal/motoserver") {
				continue
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
			for _, file := range files {
				if strings.HasSuffix(file, "_test.go") {
					continue
				}
				src, _ := os.ReadFile(file)
				for _, m := range envLiteral.FindAllStringSubmatch(string(src), -1) {
					read[m[1]] = true
				}
			}
		}
		for v := range read {
			if !f.Env[v] {
				t.Errorf("%s (functions/%s) can read %s but template.yaml does not set it", f.LogicalID, f.Dir, v)
			}
		}
	}
}

// TestRulePatternMatchesEvents applies the Bedrock rule's event pattern to
// every sample: every Bedrock sample matches, no non-Bedrock one does.
func TestRulePatternMatchesEvents(t *testing.T) {
	tpl := loadTemplate(t)
	rule := tpl.resources()["BedrockEventsRule"]
	if rule == nil {
		t.Fatal("template has no BedrockEventsRule")
	}
	p := props(rule)
	if p["State"] != "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" {
		t.Errorf("BedrockEventsRule State = %v: read-only InvokeModel/Converse events need ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS", p["State"])
	}
	pattern := p["EventPattern"].(map[string]any)
	check := func(glob string, want bool) int {
		files, _ := filepath.Glob(glob)
		for _, f := range files {
			if filepath.Base(f) == "env.json" {
				continue // sam local invoke's environment, not an event
			}
			data, _ := os.ReadFile(f)
			var ev any
			if err := json.Unmarshal(data, &ev); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			got, err := matchPattern(pattern, ev)
			if err != nil {
				t.Fatalf("pattern: %v", err)
			}
			if got != want {
				t.Errorf("%s: pattern match = %v, want %v", f, got, want)
			}
		}
		return len(files)
	}
	if n := check("../events/*.json", true); n < 10 {
		t.Errorf("only %d Bedrock samples", n)
	}
	if n := check("../events/non-bedrock/*.json", false); n == 0 {
		t.Error("no non-Bedrock samples")
	}
}

func TestPatternMatcher(t *testing.T) {
	pattern := map[string]any{
		"source": []any{"aws.bedrock"},
		"detail": map[string]any{
			"eventSource":       []any{"bedrock.amazonaws.com"},
			"eventName":         []any{map[string]any{"prefix": "Invoke"}},
			"requestParameters": map[string]any{"name": []any{map[string]any{"anything-but": "x"}}},
		},
	}
	ev := func(src, name, param string) any {
		return map[string]any{"source": src, "detail": map[string]any{"eventSource": "bedrock.amazonaws.com", "eventName": name,
			"requestParameters": map[string]any{"name": param}}}
	}
	for _, c := range []struct {
		ev   any
		want bool
	}{
		{ev("aws.bedrock", "InvokeModel", "y"), true},
		{ev("aws.s3", "InvokeModel", "y"), false},
		{ev("aws.bedrock", "Converse", "y"), false},
		{ev("aws.bedrock", "InvokeModel", "x"), false},
		{map[string]any{"source": "aws.bedrock"}, false},
	} {
		if got, err := matchPattern(pattern, c.ev); err != nil || got != c.want {
			t.Errorf("match(%v) = %v, %v; want %v", c.ev, got, err, c.want)
		}
	}
	if _, err := matchPattern(map[string]any{"a": []any{map[string]any{"numeric": []any{">", 1}}}}, map[string]any{"a": 2}); err == nil {
		t.Error("unsupported filter accepted")
	}
	// An array of objects matches when one of its objects does.
	res := map[string]any{"resources": map[string]any{"ARN": []any{"k1"}}}
	for _, c := range []struct {
		ev   any
		want bool
	}{
		{map[string]any{"resources": []any{map[string]any{"ARN": "k0"}, map[string]any{"ARN": "k1"}}}, true},
		{map[string]any{"resources": []any{map[string]any{"ARN": "k0"}}}, false},
		{map[string]any{"resources": []any{}}, false},
	} {
		if got, err := matchPattern(res, c.ev); err != nil || got != c.want {
			t.Errorf("array of objects %v = %v, %v; want %v", c.ev, got, err, c.want)
		}
	}
}

// TestCfnLint runs cfn-lint over template.yaml when it is installed (CI
// installs it; .ci/run also runs it directly).
func TestCfnLint(t *testing.T) {
	if _, err := exec.LookPath("cfn-lint"); err != nil {
		t.Skip("cfn-lint not on PATH")
	}
	cmd := exec.Command("cfn-lint", "template.yaml")
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cfn-lint template.yaml: %v\n%s", err, b)
	}
}

// stackValues stands in for what CloudFormation resolves at deploy time, for
// a stack named bedrock-warden (samconfig.toml's default).
var stackValues = map[string]string{
	"AWS::StackName": "bedrock-warden",
	"AWS::Region":    "us-east-1",
	"AWS::AccountId": "111122223333",
	"AWS::Partition": "aws",
	"AlertTopic":     "arn:aws:sns:us-east-1:111122223333:bedrock-warden-AlertTopic-7HJK2L3M4N5P",
	"StateTable":     "bedrock-warden-StateTable-9ZYXWVUTSR",
	"StateTable.Arn": "arn:aws:dynamodb:us-east-1:111122223333:table/bedrock-warden-StateTable-9ZYXWVUTSR",
	"FindingKey.Arn": "arn:aws:kms:us-east-1:111122223333:key/5f1c3a2b-7d4e-4f6a-9b8c-0d1e2f3a4b5c",
	"LedgerKey.Arn":  "arn:aws:kms:us-east-1:111122223333:key/6a2d4b3c-8e5f-4a7b-0c9d-1e2f3a4b5c6d",
	"AlertKey.Arn":   "arn:aws:kms:us-east-1:111122223333:key/7b3e5c4d-9f6a-4b8c-1d0e-2f3a4b5c6d7e",
	// InvocationLogGroupName, as a deployer with usage limits sets it.
	"InvocationLogGroupName": "/aws/bedrock/modelinvocations",
}

// stackConditions are the template's conditions for the resolved stack:
// the defaults (remediator on, no on-call role) in us-east-1.
var stackConditions = map[string]bool{"MakeRemediator": true, "HasOnCallRole": false, "HasFindingVerifier": true, "InUsEast1": true, "MakePosture": false, "HasInvocationLog": true}

// noValue stands for Ref AWS::NoValue until resolve drops it.
type noValue struct{}

var subRef = regexp.MustCompile(`\$\{([A-Za-z0-9:.]+)\}`)

// resolve replaces Ref, Fn::GetAtt and Fn::Sub with stackValues; anything
// else it cannot resolve is an error.
func resolve(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				switch k {
				case "Ref":
					if arg == "AWS::NoValue" {
						return noValue{}, nil
					}
					if r, ok := stackValues[fmt.Sprint(arg)]; ok {
						return r, nil
					}
					return nil, fmt.Errorf("cannot resolve Ref %v", arg)
				case "Fn::GetAtt":
					l, _ := arg.([]any)
					key := fmt.Sprint(l...)
					if len(l) == 2 {
						key = fmt.Sprintf("%v.%v", l[0], l[1])
					}
					if r, ok := stackValues[key]; ok {
						return r, nil
					}
					return nil, fmt.Errorf("cannot resolve GetAtt %v", arg)
				case "Fn::If":
					l, ok := arg.([]any)
					if !ok || len(l) != 3 {
						return nil, fmt.Errorf("malformed Fn::If %v", arg)
					}
					on, known := stackConditions[fmt.Sprint(l[0])]
					if !known {
						return nil, fmt.Errorf("unknown condition %v", l[0])
					}
					if on {
						return resolve(l[1])
					}
					return resolve(l[2])
				case "Fn::Sub":
					str, ok := arg.(string)
					if !ok {
						return nil, fmt.Errorf("Fn::Sub with a list is not supported here")
					}
					var err error
					out := subRef.ReplaceAllStringFunc(str, func(m string) string {
						r, ok := stackValues[m[2:len(m)-1]]
						if !ok {
							err = fmt.Errorf("cannot resolve %s", m)
						}
						return r
					})
					return out, err
				}
			}
		}
		out := map[string]any{}
		for k, e := range x {
			r, err := resolve(e)
			if err != nil {
				return nil, err
			}
			if _, drop := r.(noValue); !drop {
				out[k] = r
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			r, err := resolve(e)
			if err != nil {
				return nil, err
			}
			if _, drop := r.(noValue); !drop {
				out = append(out, r)
			}
		}
		return out, nil
	}
	return v, nil
}

// TestMonitorPatternMatchesOwnResources applies the self-protection rule's
// pattern (resolved for a stack named bedrock-warden) to the samples:
// every change to the stack's own resources in events/monitor matches, and
// neither the Bedrock samples nor the non-Bedrock ones do; the Bedrock rule
// matches none of the monitor samples.
func TestMonitorPatternMatchesOwnResources(t *testing.T) {
	tpl := loadTemplate(t)
	raw := props(tpl.resources()["MonitorEventsRule"])["EventPattern"]
	resolved, err := resolve(raw)
	if err != nil {
		t.Fatalf("MonitorEventsRule pattern: %v", err)
	}
	monitor := resolved.(map[string]any)
	bedrock := props(tpl.resources()["BedrockEventsRule"])["EventPattern"].(map[string]any)
	for glob, wantMonitor := range map[string]bool{
		"../events/monitor/*.json":     true,
		"../events/*.json":             false,
		"../events/non-bedrock/*.json": false,
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
			got, err := matchPattern(monitor, ev)
			if err != nil {
				t.Fatal(err)
			}
			if got != wantMonitor {
				t.Errorf("%s: monitor pattern match = %v, want %v", f, got, wantMonitor)
			}
			if wantMonitor {
				if b, _ := matchPattern(bedrock, ev); b {
					t.Errorf("%s: the Bedrock rule matches a monitor event", f)
				}
			}
		}
	}
	// A parameter outside the stack's path does not match.
	other := map[string]any{"source": "aws.ssm", "detail-type": "AWS API Call via CloudTrail",
		"detail": map[string]any{"eventSource": "ssm.amazonaws.com", "eventName": "PutParameter",
			"requestParameters": map[string]any{"name": "/other-app/flag"}}}
	if got, _ := matchPattern(monitor, other); got {
		t.Error("monitor pattern matches another application's parameter")
	}
}

// TestDeadLetterQueuesAdmitTheirRules checks that every EventBridge target's
// dead-letter queue has a queue policy letting that rule send to it, and
// every SNS subscription's redrive queue one letting its topic send:
// otherwise undeliverable events are silently lost.
func TestDeadLetterQueuesAdmitTheirRules(t *testing.T) {
	tpl := loadTemplate(t)
	res := tpl.resources()
	// queue logical id → the SourceArn values its policies allow.
	allowed := map[string][]string{}
	for _, r := range res {
		if r["Type"] != "AWS::SQS::QueuePolicy" {
			continue
		}
		var queues []string
		for _, q := range stringList(anyList(props(r)["Queues"])) {
			queues = append(queues, q)
		}
		doc, _ := props(r)["PolicyDocument"].(map[string]any)
		sts, _ := doc["Statement"].([]any)
		for _, st := range sts {
			cond, _ := st.(map[string]any)["Condition"].(map[string]any)
			eq, _ := cond["ArnEquals"].(map[string]any)
			for _, v := range anyList(eq["aws:SourceArn"]) {
				entry := fmt.Sprint(v)
				// An ARN admitted only under a condition
				// (!If [Cond, ARN, !Ref AWS::NoValue]) admits a rule that
				// exists under that same condition.
				if m, ok := v.(map[string]any); ok {
					if fi, ok := m["Fn::If"].([]any); ok && len(fi) == 3 && fmt.Sprint(fi[2]) == "map[Ref:AWS::NoValue]" {
						entry = fmt.Sprintf("if %v: %v", fi[0], fi[1])
					}
				}
				for _, q := range queues {
					allowed[q] = append(allowed[q], entry)
				}
			}
		}
	}
	check := func(what, queueRef string, source any) {
		want := fmt.Sprint(source)
		cond, _ := res[what]["Condition"].(string)
		for _, a := range allowed[queueRef] {
			if a == want || (cond != "" && a == fmt.Sprintf("if %s: %s", cond, want)) {
				return
			}
		}
		t.Errorf("%s: dead-letter queue %s does not admit %s (allowed: %v)", what, queueRef, want, allowed[queueRef])
	}
	for id, r := range res {
		switch r["Type"] {
		case "AWS::Events::Rule":
			targets := anyList(props(r)["Targets"])
			if m, ok := props(r)["Targets"].(map[string]any); ok {
				fi, _ := m["Fn::If"].([]any)
				if len(fi) != 3 {
					t.Fatalf("%s: Targets is neither a list nor an Fn::If", id)
				}
				targets = append(anyList(fi[1]), anyList(fi[2])...)
			}
			for _, tg := range targets {
				dlc, _ := tg.(map[string]any)["DeadLetterConfig"].(map[string]any)
				ga, _ := dlc["Arn"].(map[string]any)["Fn::GetAtt"].([]any)
				if len(ga) == 0 {
					t.Errorf("%s: a target has no dead-letter queue", id)
					continue
				}
				check(id, fmt.Sprintf("map[Ref:%v]", ga[0]), map[string]any{"Fn::GetAtt": []any{id, "Arn"}})
			}
		case "AWS::SNS::Subscription":
			rp, _ := props(r)["RedrivePolicy"].(map[string]any)
			if rp == nil {
				continue
			}
			ga, _ := rp["deadLetterTargetArn"].(map[string]any)["Fn::GetAtt"].([]any)
			check(id, fmt.Sprintf("map[Ref:%v]", ga[0]), props(r)["TopicArn"])
		}
	}
}

func anyList(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil:
		return nil
	}
	return []any{v}
}

// TestStateTableLayout checks the deployed table has the layout every
// adapter uses (package statetable).
func TestStateTableLayout(t *testing.T) {
	p := props(loadTemplate(t).resources()["StateTable"])
	keys := map[string]string{}
	for _, k := range anyList(p["KeySchema"]) {
		m := k.(map[string]any)
		keys[fmt.Sprint(m["KeyType"])] = fmt.Sprint(m["AttributeName"])
	}
	ttl, _ := p["TimeToLiveSpecification"].(map[string]any)
	if keys["HASH"] != statetable.PK || keys["RANGE"] != statetable.SK || ttl["AttributeName"] != statetable.TTL || fmt.Sprint(ttl["Enabled"]) != "true" {
		t.Fatalf("StateTable keys %v, TTL %v; want %s/%s and TTL on %s", keys, ttl, statetable.PK, statetable.SK, statetable.TTL)
	}
}
