package export

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/bedrock-warden/warden/pkg/policy"
	"gopkg.in/yaml.v3"
)

// ExpressError reports a policy entry IAM cannot express with the meaning
// the detector gives it.
type ExpressError struct {
	Name    string // the policy's name
	Key     string // e.g. "models.allow[3]"
	Line    int    // 1-based; 0 when unknown
	Pattern string
	Msg     string
}

// Error formats e as "export: NAME:LINE: KEY: \"PATTERN\" MSG", leaving
// out what is unknown.
func (e *ExpressError) Error() string {
	var b strings.Builder
	b.WriteString("export: ")
	if e.Name != "" {
		b.WriteString(e.Name)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	fmt.Fprintf(&b, "%s: %q %s", e.Key, e.Pattern, e.Msg)
	return b.String()
}

// geoPrefixes are the system inference-profile prefixes.
var geoPrefixes = []string{"us.", "us-gov.", "eu.", "apac.", "au.", "jp.", "ca.", "global."}

// checkPatterns rejects model patterns whose detector meaning IAM cannot
// reproduce. The detector matches a models pattern against the base model
// id and against the id as the request gave it; the export puts the
// pattern after "foundation-model/" and after "inference-profile/GEO.", so
// a pattern must describe base model ids:
//   - no '/' and no "arn:" (a pattern written for an ARN: IAM would need a
//     resource ARN pattern, and the profile and foundation-model ARNs of
//     one call differ);
//   - no geography prefix ("us.…", "global.…"), and no leading '*'
//     followed by '.' ("*.anthropic.…"): they match the profile id but not
//     the foundation-model id of the same call, which a cross-region call
//     also needs. Geography is governed by regions.* instead.
func checkPatterns(p *policy.Policy, opts Options) error {
	for _, l := range []struct {
		key  string
		list []string
	}{{"models.allow", p.Models.Allow}, {"models.deny", p.Models.Deny}} {
		for i, pat := range l.list {
			msg := ""
			trimmed := strings.TrimLeft(pat, "*")
			switch {
			case strings.HasPrefix(pat, "arn:") || strings.Contains(pat, "/"):
				msg = "looks like an ARN pattern: IAM matches model patterns as the model id after foundation-model/ and after the inference-profile geography; write the model id (e.g. anthropic.claude-3-5-sonnet-*)"
			case hasGeoPrefix(pat):
				msg = "starts with an inference-profile geography: the same call is also authorised on the foundation-model ARN, which has no geography; write the base model id and govern geography with regions.allow, regions.inference and regions.allowGlobalProfiles"
			case trimmed != pat && strings.HasPrefix(trimmed, "."):
				msg = "matches only the geography prefix of a profile id (a '*' followed by '.'), never the foundation-model id the same call is authorised on; write the base model id"
			}
			if msg != "" {
				key := fmt.Sprintf("%s[%d]", l.key, i)
				return &ExpressError{Name: opts.Name, Key: key, Line: locate(opts.Source, l.key, i), Pattern: pat, Msg: msg}
			}
		}
	}
	return nil
}

func hasGeoPrefix(s string) bool {
	for _, g := range geoPrefixes {
		if strings.HasPrefix(s, g) {
			return true
		}
	}
	return false
}

// locate returns the line of item index of the list at the dotted key path
// in the YAML source, or 0 when it cannot be found.
func locate(src []byte, path string, index int) int {
	if len(bytes.TrimSpace(src)) == 0 {
		return 0
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil || len(doc.Content) == 0 {
		return 0
	}
	n := doc.Content[0]
	for _, k := range strings.Split(path, ".") {
		if n.Kind != yaml.MappingNode {
			return 0
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return 0
		}
		n = next
	}
	if n.Kind != yaml.SequenceNode || index >= len(n.Content) {
		return n.Line
	}
	return n.Content[index].Line
}
