package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/bedrock-warden/warden/pkg/metrics"
)

// TestUsageSubscriptionFilterKeepsOnlyRecordsThatCost applies the
// template's subscription filter pattern (CloudWatch Logs JSON filter
// syntax) to invocation log records: records that carry tokens reach the
// function, refused or failed calls (no tokens) do not.
func TestUsageSubscriptionFilterKeepsOnlyRecordsThatCost(t *testing.T) {
	res := loadTemplate(t).resources()
	pattern, _ := props(res["UsageSubscriptionFilter"])["FilterPattern"].(string)
	if len(pattern) == 0 || len(pattern) > 1024 {
		t.Fatalf("FilterPattern %q: CloudWatch Logs takes 1 to 1,024 characters", pattern)
	}
	testdata := func(name string) string {
		b, err := os.ReadFile("../pkg/usage/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	at := time.Date(2026, 11, 24, 9, 59, 0, 0, time.UTC)
	cases := map[string]struct {
		record string
		keep   bool
	}{
		"converse (capture)":       {testdata("converse-assumed-role.json"), true},
		"converse stream (cached)": {testdata("conversestream-user-cache.json"), true},
		"generated record":         {invocation("g", at, "team-a-app", claudeHaiku, 10, 5), true},
		"embedding (input only)":   {invocation("e", at, "app", "amazon.titan-embed-text-v2:0", 12, 0), true},
		"cache read only":          {strings.Replace(invocation("c", at, "app", claudeHaiku, 0, 0), `"cacheReadInputTokenCount":0`, `"cacheReadInputTokenCount":900`, 1), true},
		"refused call": {`{"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"2026-11-24T09:59:00Z","accountId":"123456789012",` +
			`"identity":{"arn":"arn:aws:sts::123456789012:assumed-role/app/s"},"region":"us-east-1","requestId":"x","operation":"InvokeModel",` +
			`"modelId":"anthropic.claude-3-opus-20240229-v1:0","errorCode":"AccessDeniedException","input":{"inputContentType":"application/json"}}`, false},
		"no tokens":     {invocation("z", at, "app", claudeHaiku, 0, 0), false},
		"other schema":  {strings.Replace(invocation("o", at, "app", claudeHaiku, 5, 5), `"ModelInvocationLog"`, `"Other"`, 1), false},
		"not json":      {"START RequestId: 1", false},
		"tokens nested": {`{"schemaType":"ModelInvocationLog","inputTokenCount":5}`, false},
	}
	for name, c := range cases {
		got, err := matchLogsFilter(pattern, c.record)
		if err != nil {
			t.Fatalf("pattern %q: %v", pattern, err)
		}
		if got != c.keep {
			t.Errorf("%s: filter keeps it = %v, want %v", name, got, c.keep)
		}
	}
}

// TestUsageTemplateWiring checks the usage function's deployment: off
// when InvocationLogGroupName is empty, invoked by CloudWatch Logs for
// that log group only, allowed to seal findings by the finding key (both
// the allow and the deny's exception), and shown on the dashboard.
func TestUsageTemplateWiring(t *testing.T) {
	tpl := loadTemplate(t)
	res := tpl.resources()
	for _, id := range []string{"UsageFunction", "UsageRole", "UsageLogGroup", "UsageDeadLetterQueue", "UsageInvokePermission", "UsageSubscriptionFilter",
		"UsageErrorsAlarm", "UsageDeadLetterQueueAlarm"} {
		if res[id]["Condition"] != "HasInvocationLog" {
			t.Errorf("%s: Condition = %v, want HasInvocationLog (empty InvocationLogGroupName = off)", id, res[id]["Condition"])
		}
	}
	stackValues["UsageFunction"] = "bedrock-warden-usage"
	defer delete(stackValues, "UsageFunction")
	perm, err := resolve(props(res["UsageInvokePermission"]))
	if err != nil {
		t.Fatal(err)
	}
	p := perm.(map[string]any)
	if p["Principal"] != "logs.amazonaws.com" || p["SourceArn"] != "arn:aws:logs:us-east-1:111122223333:log-group:/aws/bedrock/modelinvocations:*" ||
		p["SourceAccount"] != "111122223333" {
		t.Errorf("invoke permission = %v", p)
	}
	key := props(res["FindingKey"])["KeyPolicy"].(map[string]any)
	var allows, exempt bool
	for _, s := range key["Statement"].([]any) {
		st, _ := s.(map[string]any)
		switch st["Sid"] {
		case "OriginatorsSeal":
			allows = namesRole(st["Principal"].(map[string]any)["AWS"], "UsageRole")
		case "NobodyElseSeals":
			cond := st["Condition"].(map[string]any)["ArnNotEquals"].(map[string]any)
			exempt = namesRole(cond["aws:PrincipalArn"], "UsageRole")
		}
	}
	if !allows || !exempt {
		t.Errorf("FindingKey: OriginatorsSeal names UsageRole = %v, NobodyElseSeals exempts it = %v; the usage function must seal its findings", allows, exempt)
	}
	body, err := resolve(props(res["Dashboard"])["DashboardBody"])
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Widgets []struct {
			Properties struct {
				Title   string  `json:"title"`
				Metrics [][]any `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(body.(string)), &dash); err != nil {
		t.Fatalf("dashboard body is not JSON: %v", err)
	}
	found := map[string]bool{}
	for _, w := range dash.Widgets {
		text := fmt.Sprint(w.Properties.Metrics)
		for _, m := range []string{metrics.LimitTokens, metrics.LimitUSD} {
			if strings.Contains(text, `MetricName="`+m+`"`) && strings.Contains(text, "{BedrockWarden,"+metrics.DimLimit+"}") {
				found[m] = true
			}
		}
	}
	if !found[metrics.LimitTokens] || !found[metrics.LimitUSD] {
		t.Errorf("dashboard has no usage widget with tokens and USD per limit: %v", found)
	}
}

// matchLogsFilter evaluates a CloudWatch Logs JSON filter pattern — the
// subset the template uses: { … } around selectors $.a.b compared with =
// "string" or > number, combined with && and || and parentheses — on one
// log event. An event that is not a JSON object never matches.
func matchLogsFilter(pattern, event string) (bool, error) {
	p := strings.TrimSpace(pattern)
	if !strings.HasPrefix(p, "{") || !strings.HasSuffix(p, "}") {
		return false, fmt.Errorf("not a JSON filter pattern")
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(event), &doc); err != nil {
		return false, nil
	}
	ps := &filterParser{src: p[1 : len(p)-1]}
	v, err := ps.or(doc)
	if err != nil {
		return false, err
	}
	if ps.skip(); ps.pos != len(ps.src) {
		return false, fmt.Errorf("trailing %q", ps.src[ps.pos:])
	}
	return v, nil
}

type filterParser struct {
	src string
	pos int
}

func (p *filterParser) skip() {
	for p.pos < len(p.src) && unicode.IsSpace(rune(p.src[p.pos])) {
		p.pos++
	}
}

func (p *filterParser) eat(tok string) bool {
	p.skip()
	if strings.HasPrefix(p.src[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

func (p *filterParser) or(doc map[string]any) (bool, error) {
	v, err := p.and(doc)
	for err == nil && p.eat("||") {
		var w bool
		w, err = p.and(doc)
		v = v || w
	}
	return v, err
}

func (p *filterParser) and(doc map[string]any) (bool, error) {
	v, err := p.term(doc)
	for err == nil && p.eat("&&") {
		var w bool
		w, err = p.term(doc)
		v = v && w
	}
	return v, err
}

func (p *filterParser) term(doc map[string]any) (bool, error) {
	if p.eat("(") {
		v, err := p.or(doc)
		if err == nil && !p.eat(")") {
			err = fmt.Errorf("missing ) at %d", p.pos)
		}
		return v, err
	}
	if !p.eat("$.") {
		return false, fmt.Errorf("want a selector at %d", p.pos)
	}
	start := p.pos
	for p.pos < len(p.src) && (unicode.IsLetter(rune(p.src[p.pos])) || unicode.IsDigit(rune(p.src[p.pos])) || p.src[p.pos] == '.' || p.src[p.pos] == '_') {
		p.pos++
	}
	var v any = doc
	for _, k := range strings.Split(p.src[start:p.pos], ".") {
		m, ok := v.(map[string]any)
		if !ok {
			v = nil
			break
		}
		v = m[k]
	}
	switch {
	case p.eat("="):
		p.skip()
		if !p.eat(`"`) {
			return false, fmt.Errorf("want a quoted string at %d", p.pos)
		}
		end := strings.IndexByte(p.src[p.pos:], '"')
		if end < 0 {
			return false, fmt.Errorf("unterminated string")
		}
		want := p.src[p.pos : p.pos+end]
		p.pos += end + 1
		s, ok := v.(string)
		return ok && s == want, nil
	case p.eat(">"):
		p.skip()
		start := p.pos
		for p.pos < len(p.src) && (unicode.IsDigit(rune(p.src[p.pos])) || p.src[p.pos] == '.') {
			p.pos++
		}
		limit, err := strconv.ParseFloat(p.src[start:p.pos], 64)
		if err != nil {
			return false, fmt.Errorf("want a number at %d", start)
		}
		n, ok := v.(float64)
		return ok && n > limit, nil
	}
	return false, fmt.Errorf("want = or > at %d", p.pos)
}

func TestMatchLogsFilter(t *testing.T) {
	for _, c := range []struct {
		pattern, event string
		want           bool
	}{
		{`{ $.a = "x" }`, `{"a":"x"}`, true},
		{`{ $.a = "x" }`, `{"a":"y"}`, false},
		{`{ $.a.b > 2 }`, `{"a":{"b":3}}`, true},
		{`{ $.a.b > 2 }`, `{"a":{"b":2}}`, false},
		{`{ ($.a = "x") && (($.n > 0) || ($.m > 0)) }`, `{"a":"x","m":1}`, true},
		{`{ ($.a = "x") && (($.n > 0) || ($.m > 0)) }`, `{"a":"x"}`, false},
		{`{ $.a = "x" }`, `not json`, false},
	} {
		if got, err := matchLogsFilter(c.pattern, c.event); err != nil || got != c.want {
			t.Errorf("%s on %s = %v %v", c.pattern, c.event, got, err)
		}
	}
	if _, err := matchLogsFilter(`{ $.a ~ 1 }`, `{}`); err == nil {
		t.Error("unsupported operator accepted")
	}
}
