package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/rules"
)

// eventNameRE matches a backticked eventName in the README ("`InvokeModel`").
var eventNameRE = regexp.MustCompile("`([A-Z][A-Za-z]+)`")

// TestReadmeRuleReference keeps the README's rule reference true to the
// lists in code: every rule the engine evaluates has a row, the row of
// every rule with an eventName list names exactly that list (no name
// missing, none extra), and every invocation eventName is documented.
func TestReadmeRuleReference(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	rows := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		id := strings.Trim(strings.TrimSpace(cells[1]), "`")
		rows[id] = strings.Join(cells[2:], "|")
	}
	for _, id := range eventRules {
		row, ok := rows[id]
		if !ok {
			t.Errorf("README's rule reference has no row for %s", id)
			continue
		}
		want := rules.EventsOf(id)
		if want == nil {
			continue
		}
		var got []string
		for _, m := range eventNameRE.FindAllStringSubmatch(row, -1) {
			got = append(got, m[1])
		}
		if !slices.Equal(sortedCopy(got), sortedCopy(want)) {
			t.Errorf("README row %s lists %v\nthe code's list is %v", id, got, want)
		}
	}
	for _, n := range normalize.InvocationEvents {
		if !strings.Contains(text, "`"+n+"`") {
			t.Errorf("README does not list invocation eventName %s", n)
		}
	}
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
