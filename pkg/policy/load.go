package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bedrock-warden/warden/pkg/suggest"
)

// maxPolicySize bounds what Load accepts; a real policy is a few KiB.
const maxPolicySize = 1 << 20

// LoadFile reads and loads the policy at path; messages name the file by
// its base path as given.
func LoadFile(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: read %s: %w", path, err)
	}
	return Load(path, data)
}

// Load parses and validates a policy document. name says where it came from
// ("policy.yaml", "WARDEN_POLICY", "embedded default") and prefixes every
// message. An empty document is the allow-all policy with defaults. On
// failure the error joins one *Error per problem found (see Errors), each
// with its line; the policy is nil.
func Load(name string, data []byte) (*Policy, error) {
	if len(data) > maxPolicySize {
		return nil, &Error{Name: name, Msg: fmt.Sprintf("document is %d bytes; the limit is %d", len(data), maxPolicySize)}
	}
	l := &loader{name: name}
	root, err := l.parse(data)
	if err != nil {
		return nil, err
	}
	p := newDefaults()
	l.policy(root, p)
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	fillRules(p)
	p.compile()
	return p, nil
}

// parse reads exactly one YAML document and returns its root (nil when the
// document is empty).
func (l *loader) parse(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, l.syntax(err, data)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{Name: l.name, Line: extra.Line, Msg: "more than one YAML document; a policy is one document"}
	} else if !errors.Is(err, io.EOF) {
		return nil, l.syntax(err, data)
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], nil
	}
	return nil, nil
}

var lineRE = regexp.MustCompile(`^yaml: line (\d+): `)

// syntax turns a yaml.v3 parse error into an *Error with its line, and
// the fix when the cause is one of the usual ones (syntaxHint).
func (l *loader) syntax(err error, data []byte) error {
	msg := err.Error()
	e := &Error{Name: l.name, Msg: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = "YAML syntax: " + msg[len(m[0]):]
	}
	if line, hint := syntaxHint(data, e.Line); hint != "" {
		if line > 0 {
			e.Line = line
		}
		e.Msg += ": " + hint
	}
	return e
}

var (
	// aliasRE finds an unquoted value that starts with "*": YAML reads it
	// as an alias (*opus* in a pattern list).
	aliasRE = regexp.MustCompile(`(?:^\s*-\s+|[\[,{]\s*|:\s+)\*`)
	// classRE finds a character class inside an unquoted word
	// (anthropic.claude-[35]-*).
	classRE = regexp.MustCompile(`[A-Za-z0-9.*-]\[[^\]"']*\]`)
)

// syntaxHint explains the YAML mistakes policies make: tabs in the
// indentation, patterns that start with "*" left unquoted, and character
// classes in unquoted patterns. It looks at the reported line first (yaml
// reports some errors a line early), then at every line. It returns the
// line it blames (0 when unsure) and the fix, or "" when it has none.
func syntaxHint(data []byte, reported int) (int, string) {
	lines := strings.Split(string(data), "\n")
	check := func(line string) string {
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		code := line
		if i := strings.Index(code, " #"); i >= 0 {
			code = code[:i]
		}
		switch {
		case strings.Contains(indent, "\t"):
			return "YAML does not allow tabs in indentation: indent with spaces"
		case aliasRE.MatchString(code):
			return `a value that starts with "*" is a YAML alias: quote the pattern, e.g. ["*opus*"]`
		case classRE.MatchString(code):
			return `globs have no character classes such as [35]: quote each pattern and write one per alternative, e.g. ["anthropic.claude-3-*", "anthropic.claude-5-*"]`
		}
		return ""
	}
	for _, n := range []int{reported, reported + 1} {
		if n >= 1 && n <= len(lines) {
			if h := check(lines[n-1]); h != "" {
				return n, h
			}
		}
	}
	for i, line := range lines {
		if h := check(line); h != "" {
			return i + 1, h
		}
	}
	return 0, ""
}

// loader walks the YAML node tree, filling a Policy and collecting every
// problem it meets.
type loader struct {
	name string
	errs []error
}

func (l *loader) fail(n *yaml.Node, key, format string, args ...any) {
	e := &Error{Name: l.name, Key: key, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	l.errs = append(l.errs, e)
}

// field is the handler for one key of a mapping.
type field func(v *yaml.Node, path string)

// mapping walks the mapping n at path, calling fields[key] for each known
// key and reporting unknown and repeated keys. A null node is an empty
// mapping. It reports whether n was a mapping (or null).
func (l *loader) mapping(n *yaml.Node, path string, fields map[string]field) bool {
	if !l.usable(n, path) {
		return false
	}
	if isNull(n) {
		return true
	}
	if n.Kind != yaml.MappingNode {
		l.fail(n, path, "want a mapping of keys, got %s", describe(n))
		return false
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.fail(k, path, "keys must be plain strings")
			continue
		}
		f, ok := fields[k.Value]
		if !ok {
			where := path
			if where == "" {
				where = "the policy"
			}
			msg := fmt.Sprintf("unknown key %q in %s", k.Value, where)
			if s := suggest.Closest(k.Value, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			l.errs = append(l.errs, &Error{Name: l.name, Line: k.Line, Msg: msg})
			continue
		}
		if seen[k.Value] {
			l.fail(k, join(path, k.Value), "key given twice")
			continue
		}
		seen[k.Value] = true
		f(v, join(path, k.Value))
	}
	return true
}

// entries walks a mapping whose keys are free-form (rule ids, model
// patterns), calling fn for each; repeated keys are errors.
func (l *loader) entries(n *yaml.Node, path string, fn func(k, v *yaml.Node, path string)) {
	if !l.usable(n, path) || isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		l.fail(n, path, "want a mapping, got %s", describe(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || isNull(k) {
			l.fail(k, path, "keys must be plain strings")
			continue
		}
		p := join(path, k.Value)
		if seen[k.Value] {
			l.fail(k, p, "key given twice")
			continue
		}
		seen[k.Value] = true
		fn(k, v, p)
	}
}

// usable rejects aliases (which could make walking exponential) and
// anything else that cannot be read.
func (l *loader) usable(n *yaml.Node, path string) bool {
	if n == nil {
		return false
	}
	if n.Kind == yaml.AliasNode {
		l.fail(n, path, "YAML aliases are not supported in a policy")
		return false
	}
	return true
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names what n is, for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if isNull(n) {
		return "nothing"
	}
	return strconv.Quote(n.Value)
}

// str reads a non-null scalar as a string.
func (l *loader) str(n *yaml.Node, path string) (string, bool) {
	if !l.usable(n, path) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		l.fail(n, path, "want a string, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

// boolean reads true or false.
func (l *loader) boolean(n *yaml.Node, path string) (bool, bool) {
	if !l.usable(n, path) {
		return false, false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	}
	l.fail(n, path, "want true or false, got %s", describe(n))
	return false, false
}

// integer reads a whole number that is not negative.
func (l *loader) integer(n *yaml.Node, path string) (int64, bool) {
	if !l.usable(n, path) {
		return 0, false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		var v int64
		if err := n.Decode(&v); err == nil {
			if v < 0 {
				l.fail(n, path, "must not be negative, got %d", v)
				return 0, false
			}
			return v, true
		}
	}
	l.fail(n, path, "want a whole number, got %s", describe(n))
	return 0, false
}

// number reads a finite number that is not negative.
func (l *loader) number(n *yaml.Node, path string) (float64, bool) {
	if !l.usable(n, path) {
		return 0, false
	}
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		var v float64
		if err := n.Decode(&v); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
			if v < 0 {
				l.fail(n, path, "must not be negative, got %s", n.Value)
				return 0, false
			}
			return v, true
		}
	}
	l.fail(n, path, "want a number, got %s", describe(n))
	return 0, false
}

// duration reads a policy duration.
func (l *loader) duration(n *yaml.Node, path string) (Duration, bool) {
	if !l.usable(n, path) {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		l.fail(n, path, "want a duration like \"5m\" or \"7d\", got %s", describe(n))
		return 0, false
	}
	d, err := ParseDuration(n.Value)
	if err != nil {
		l.fail(n, path, "%v", err)
		return 0, false
	}
	return d, true
}

// list reads a list of strings, checking each with check (which returns
// the value to keep and a message when invalid). Null and [] give nil.
func (l *loader) list(n *yaml.Node, path string, check func(string) (string, string)) []string {
	if !l.usable(n, path) || isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.fail(n, path, "want a list, got %s", describe(n))
		return nil
	}
	var out []string
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		s, ok := l.str(item, p)
		if !ok {
			continue
		}
		v, msg := check(s)
		if msg != "" {
			l.fail(item, p, "%s", msg)
			continue
		}
		out = append(out, v)
	}
	return out
}

// keep adapts a "" -when-fine check to list's signature.
func keep(check func(string) string) func(string) (string, string) {
	return func(s string) (string, string) { return s, check(s) }
}

// policy fills p from the document root.
func (l *loader) policy(root *yaml.Node, p *Policy) {
	if root == nil {
		return
	}
	l.mapping(root, "", map[string]field{
		"models": func(v *yaml.Node, path string) {
			l.mapping(v, path, map[string]field{
				"allow": func(v *yaml.Node, path string) { p.Models.Allow = l.list(v, path, keep(checkPattern)) },
				"deny":  func(v *yaml.Node, path string) { p.Models.Deny = l.list(v, path, keep(checkPattern)) },
			})
		},
		"regions": func(v *yaml.Node, path string) {
			l.mapping(v, path, map[string]field{
				"allow":     func(v *yaml.Node, path string) { p.Regions.Allow = l.list(v, path, keep(checkRegion)) },
				"inference": func(v *yaml.Node, path string) { p.Regions.Inference = l.list(v, path, keep(checkRegion)) },
				"allowGlobalProfiles": func(v *yaml.Node, path string) {
					if b, ok := l.boolean(v, path); ok {
						p.Regions.AllowGlobalProfiles = b
					}
				},
			})
		},
		"network": func(v *yaml.Node, path string) {
			l.mapping(v, path, map[string]field{
				"allowCidrs":        func(v *yaml.Node, path string) { p.Network.AllowCidrs = l.list(v, path, canonicalCIDR) },
				"allowVpcEndpoints": func(v *yaml.Node, path string) { p.Network.AllowVpcEndpoints = l.list(v, path, keep(checkVPCE)) },
				"allowAwsServiceCallers": func(v *yaml.Node, path string) {
					if b, ok := l.boolean(v, path); ok {
						p.Network.AllowAwsServiceCallers = &b
					}
				},
			})
		},
		"principals": func(v *yaml.Node, path string) {
			l.mapping(v, path, map[string]field{
				"allow":  func(v *yaml.Node, path string) { p.Principals.Allow = l.list(v, path, keep(checkPrincipalPattern)) },
				"exempt": func(v *yaml.Node, path string) { p.Principals.Exempt = l.list(v, path, keep(checkPrincipalPattern)) },
			})
		},
		"apiKeys": func(v *yaml.Node, path string) {
			l.mapping(v, path, map[string]field{
				"allow": func(v *yaml.Node, path string) {
					if b, ok := l.boolean(v, path); ok {
						p.APIKeys.Allow = b
					}
				},
			})
		},
		"rules":       func(v *yaml.Node, path string) { l.rules(v, path, p) },
		"alerts":      func(v *yaml.Node, path string) { l.alerts(v, path, p) },
		"spikes":      func(v *yaml.Node, path string) { l.spikes(v, path, p) },
		"budgets":     func(v *yaml.Node, path string) { l.budgets(v, path, p) },
		"prices":      func(v *yaml.Node, path string) { l.prices(v, path, p) },
		"limits":      func(v *yaml.Node, path string) { l.limits(v, path, p) },
		"remediation": func(v *yaml.Node, path string) { l.remediation(v, path, p) },
		"heartbeat": func(v *yaml.Node, path string) {
			l.mapping(v, path, map[string]field{
				"silentAfter": func(v *yaml.Node, path string) {
					if d, ok := l.duration(v, path); ok {
						p.Heartbeat.SilentAfter = d
					}
				},
				"idleAfter": func(v *yaml.Node, path string) {
					if d, ok := l.duration(v, path); ok {
						p.Heartbeat.IdleAfter = d
					}
				},
			})
		},
		"monitor": func(v *yaml.Node, path string) {
			l.mapping(v, path, map[string]field{
				"onCall": func(v *yaml.Node, path string) { p.Monitor.OnCall = l.list(v, path, keep(checkPattern)) },
			})
		},
	})
}

func (l *loader) alerts(n *yaml.Node, path string, p *Policy) {
	l.mapping(n, path, map[string]field{
		"window": func(v *yaml.Node, path string) {
			if d, ok := l.duration(v, path); ok {
				if d <= 0 {
					l.fail(v, path, "must be longer than 0 (it is how long repeats of one incident stay quiet)")
					return
				}
				p.Alerts.Window = d
			}
		},
		"suppress": func(v *yaml.Node, path string) {
			l.entries(v, path, func(k, v *yaml.Node, path string) {
				if msg := checkRuleID(k.Value); msg != "" {
					l.fail(k, path, "%s", msg)
					return
				}
				if d, ok := l.duration(v, path); ok {
					if p.Alerts.Suppress == nil {
						p.Alerts.Suppress = map[string]Duration{}
					}
					p.Alerts.Suppress[k.Value] = d
				}
			})
		},
	})
}

func (l *loader) spikes(n *yaml.Node, path string, p *Policy) {
	l.mapping(n, path, map[string]field{
		"window": func(v *yaml.Node, path string) {
			if d, ok := l.duration(v, path); ok {
				if d.D() < minSpikeWindow {
					l.fail(v, path, "must be at least 1m, got %s", d)
					return
				}
				p.Spikes.Window = d
			}
		},
		"perPrincipal": func(v *yaml.Node, path string) { l.threshold(v, path, &p.Spikes.PerPrincipal) },
		"perModel":     func(v *yaml.Node, path string) { l.threshold(v, path, &p.Spikes.PerModel) },
		"overrides": func(v *yaml.Node, path string) {
			if !l.usable(v, path) || isNull(v) {
				return
			}
			if v.Kind != yaml.SequenceNode {
				l.fail(v, path, "want a list, got %s", describe(v))
				return
			}
			for i, item := range v.Content {
				ip := fmt.Sprintf("%s[%d]", path, i)
				var t SpikeThreshold
				var o SpikeOverride
				before := len(l.errs)
				if !l.thresholdWith(item, ip, &t, map[string]field{
					"principal": func(v *yaml.Node, path string) {
						if s, ok := l.str(v, path); ok {
							if msg := checkPattern(s); msg != "" {
								l.fail(v, path, "%s", msg)
								return
							}
							o.Principal = s
						}
					},
				}) || len(l.errs) != before {
					continue
				}
				if o.Principal == "" {
					l.fail(item, ip, "principal is required")
					continue
				}
				o.Max, o.BaselineFactor, o.BaselineWindows, o.Floor = t.Max, t.BaselineFactor, t.BaselineWindows, t.Floor
				p.Spikes.Overrides = append(p.Spikes.Overrides, o)
			}
		},
	})
}

// minSpikeWindow is the shortest spikes.window: CloudWatch's metric
// resolution and EventBridge delivery make shorter windows noise.
const minSpikeWindow = time.Minute

// threshold reads a spike threshold; keys not given keep t's value.
func (l *loader) threshold(n *yaml.Node, path string, t *SpikeThreshold) {
	l.thresholdWith(n, path, t, nil)
}

func (l *loader) thresholdWith(n *yaml.Node, path string, t *SpikeThreshold, extra map[string]field) bool {
	fields := map[string]field{
		"max": func(v *yaml.Node, path string) {
			if x, ok := l.integer(v, path); ok {
				t.Max = x
			}
		},
		"baselineFactor": func(v *yaml.Node, path string) {
			if x, ok := l.number(v, path); ok {
				if x != 0 && x < 1 {
					l.fail(v, path, "must be at least 1 when set (0 turns the baseline check off), got %s", v.Value)
					return
				}
				t.BaselineFactor = x
			}
		},
		"baselineWindows": func(v *yaml.Node, path string) {
			if x, ok := l.integer(v, path); ok {
				if x > 10_000 {
					l.fail(v, path, "must be at most 10000, got %d", x)
					return
				}
				t.BaselineWindows = int(x)
			}
		},
		"floor": func(v *yaml.Node, path string) {
			if x, ok := l.integer(v, path); ok {
				t.Floor = x
			}
		},
	}
	for k, f := range extra {
		fields[k] = f
	}
	before := len(l.errs)
	if !l.mapping(n, path, fields) {
		return false
	}
	if len(l.errs) == before && t.BaselineFactor > 0 && t.BaselineWindows == 0 {
		l.fail(n, path, "baselineFactor is set but baselineWindows is 0: the baseline needs at least one window")
	}
	return true
}

func (l *loader) budgets(n *yaml.Node, path string, p *Policy) {
	if !l.usable(n, path) || isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		l.fail(n, path, "want a list, got %s", describe(n))
		return
	}
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		var b Budget
		before := len(l.errs)
		if !l.mapping(item, ip, map[string]field{
			"model": func(v *yaml.Node, path string) {
				if s, ok := l.str(v, path); ok {
					if msg := checkPattern(s); msg != "" {
						l.fail(v, path, "%s", msg)
						return
					}
					b.Model = s
				}
			},
			"period": func(v *yaml.Node, path string) {
				if s, ok := l.str(v, path); ok {
					if s != "day" && s != "month" {
						l.fail(v, path, "%q is not a period (want day or month)", s)
						return
					}
					b.Period = s
				}
			},
			"maxInvocations": func(v *yaml.Node, path string) {
				if x, ok := l.integer(v, path); ok {
					b.MaxInvocations = x
				}
			},
			"maxTokens": func(v *yaml.Node, path string) {
				if x, ok := l.integer(v, path); ok {
					b.MaxTokens = x
				}
			},
			"maxUSD": func(v *yaml.Node, path string) {
				if x, ok := l.number(v, path); ok {
					b.MaxUSD = x
				}
			},
		}) || len(l.errs) != before {
			continue
		}
		switch {
		case b.Model == "":
			l.fail(item, ip, "model is required (a glob on the base model id, e.g. \"anthropic.claude-*\")")
		case b.Period == "":
			l.fail(item, ip, "period is required (day or month)")
		case b.MaxInvocations == 0 && b.MaxTokens == 0 && b.MaxUSD == 0:
			l.fail(item, ip, "give at least one of maxInvocations, maxTokens, maxUSD above 0")
		default:
			p.Budgets = append(p.Budgets, b)
		}
	}
}

func (l *loader) remediation(n *yaml.Node, path string, p *Policy) {
	l.mapping(n, path, map[string]field{
		"actions": func(v *yaml.Node, path string) {
			l.entries(v, path, func(k, v *yaml.Node, path string) {
				if msg := checkRuleID(k.Value); msg != "" {
					l.fail(k, path, "%s", msg)
					return
				}
				a, ok := l.str(v, path)
				if !ok {
					return
				}
				if err := ActionAllowed(k.Value, a); err != nil {
					l.fail(v, path, "%v", err)
					return
				}
				if p.Remediation.Actions == nil {
					p.Remediation.Actions = map[string]string{}
				}
				p.Remediation.Actions[k.Value] = a
			})
		},
		"maxActionsPerHour": func(v *yaml.Node, path string) {
			if x, ok := l.integer(v, path); ok {
				if x > 100_000 {
					l.fail(v, path, "must be at most 100000, got %d", x)
					return
				}
				p.Remediation.MaxActionsPerHour = int(x)
			}
		},
		"quarantineTTL": func(v *yaml.Node, path string) {
			if d, ok := l.duration(v, path); ok {
				p.Remediation.QuarantineTTL = d
			}
		},
		"protectedTag": func(v *yaml.Node, path string) {
			if s, ok := l.str(v, path); ok {
				if msg := checkTagKey(s); msg != "" {
					l.fail(v, path, "%s", msg)
					return
				}
				p.Remediation.ProtectedTag = s
			}
		},
	})
}
