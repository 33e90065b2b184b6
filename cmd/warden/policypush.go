package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/policy/live"
	"github.com/bedrock-warden/warden/pkg/policy/ssmpolicy/pushpull"
	"github.com/bedrock-warden/warden/pkg/safetext"
	"github.com/bedrock-warden/warden/pkg/stack"
)

func init() {
	policySubcommands["push"] = subcommand{"validate a policy file and write it to the stack's policy parameter", runPolicyPush}
	policySubcommands["pull"] = subcommand{"print the policy the stack's functions run with", runPolicyPull}
}

// pushReport is `policy push --format json`.
type pushReport struct {
	Stack     string   `json:"stack"`
	Parameter string   `json:"parameter"`
	Previous  int64    `json:"previousVersion"`
	Version   int64    `json:"version"` // 0 when nothing was written
	Written   bool     `json:"written"`
	Bytes     int      `json:"bytes"`
	Tier      string   `json:"tier"`
	Stripped  bool     `json:"commentsDropped"`
	Changes   []string `json:"changes"`
}

func runPolicyPush(ctx context.Context, args []string, sio *IO) int {
	fl := newFlags("policy push", "warden policy push FILE|--reset --stack NAME [--dry-run] [--format text|json]",
		`Validates FILE exactly as the functions will and, only when it is valid,
writes it as a new version of the stack's policy parameter (the
PolicyParameterName output). It prints what changes in the effective policy.
Every function re-reads the parameter within a minute: no redeploy, no cold
start. An invalid file is refused and nothing is written.

The parameter holds up to 4 KB in the free standard tier and up to 8 KB in the
advanced tier: a larger file is stored without its comments (the effective
policy is the same; keep your commented file in version control).

The change is a PutParameter on the stack's path: the sentinel reports it as
monitor-tampered unless the caller is in the policy's monitor.onCall.
--reset writes a blank document instead: the functions go back to the
embedded default policy with the stack's list parameters.

Exit status: 0 written (or nothing to change), 2 invalid policy, unknown stack
or the write failed.`,
		"warden policy push my-policy.yaml --stack bedrock-warden --dry-run",
		"warden policy push my-policy.yaml --stack bedrock-warden",
		"warden policy push --reset --stack bedrock-warden").withFormat()
	sf := addStackFlags(fl, sio)
	dryRun := fl.fs.Bool("dry-run", false, "validate and show the changes, write nothing")
	reset := fl.fs.Bool("reset", false, "write a blank document: back to the embedded default policy with the stack's list parameters")
	pos, code, ok := fl.parse(args, sio)
	if !ok {
		return code
	}
	name := "policy push"
	var doc []byte
	switch {
	case *reset && len(pos) == 0:
		doc = []byte(resetDocument)
		pos = []string{"--reset"}
	case *reset:
		return fail(sio, name, fmt.Errorf("--reset takes no FILE (got %q)", pos[0]))
	case len(pos) != 1:
		return fail(sio, name, errors.New("want exactly one FILE, the policy to push (warden policy push my-policy.yaml --stack NAME)"))
	default:
		var err error
		if doc, err = readLocalFile(pos[0]); err != nil {
			return fail(sio, name, fmt.Errorf("read policy: %w", err))
		}
		if policy.Blank(doc) {
			return fail(sio, name, fmt.Errorf("%s is empty (only comments or spaces); to go back to the stack's default policy use --reset", pos[0]))
		}
	}
	next, err := loadPushed(pos[0], doc, sio)
	if err != nil {
		for _, e := range policy.Errors(err) {
			fmt.Fprintln(sio.Stderr, e)
		}
		if len(policy.Errors(err)) == 0 {
			fmt.Fprintln(sio.Stderr, err)
		}
		fmt.Fprintf(sio.Stderr, "warden policy push: %s is not valid: nothing was written\n", pos[0])
		return exitUsage
	}
	value, tier, stripped, err := storedForm(doc)
	if err != nil {
		return fail(sio, name, err)
	}
	cfg, err := sf.config(ctx)
	if err != nil {
		return fail(sio, name, err)
	}
	st, err := sf.resolve(ctx, cfg)
	if err != nil {
		return fail(sio, name, err)
	}
	param, err := st.Output(stack.OutputPolicyParameter)
	if err != nil {
		return fail(sio, name, err)
	}
	store, err := policyStore(ctx)
	if err != nil {
		return fail(sio, name, err)
	}
	cur, err := store.Get(ctx, param)
	if errors.Is(err, live.ErrNotFound) {
		return fail(sio, name, fmt.Errorf("the policy parameter %s (the stack's %s output) does not exist: redeploy the stack (sam deploy) to recreate it; nothing was written",
			param, stack.OutputPolicyParameter))
	}
	if err != nil {
		return fail(sio, name, stack.Explain(err, "read the policy parameter "+param, "the caller needs ssm:GetParameter on it"))
	}
	prev, prevName := currentPolicy(cur, sio)
	changes, err := policyChanges(prev, next)
	if err != nil {
		return fail(sio, name, err)
	}
	rep := pushReport{Stack: st.Name, Parameter: param, Previous: cur.Version, Bytes: len(value), Tier: tier, Stripped: stripped, Changes: changes}
	if rep.Changes == nil {
		rep.Changes = []string{}
	}
	sameText := cur.Value == value
	if !*dryRun && !sameText {
		v, err := store.Put(ctx, param, value)
		if err != nil {
			return fail(sio, name, stack.Explain(err, "write the policy parameter "+param, "the caller needs ssm:PutParameter on it"))
		}
		rep.Version, rep.Written = v, true
	}
	if fl.JSON() {
		if err := writeJSON(sio.Stdout, rep); err != nil {
			return fail(sio, name, err)
		}
		return exitOK
	}
	w := sio.Stdout
	switch {
	case len(changes) == 0:
		fmt.Fprintf(w, "No change in effect from %s (version %d).\n", prevName, cur.Version)
	default:
		fmt.Fprintf(w, "Changes from %s (version %d):\n", prevName, cur.Version)
		for _, c := range changes {
			fmt.Fprintf(w, "  %s\n", safetext.Line(c))
		}
	}
	note := ""
	if stripped {
		note = ", comments dropped to fit"
	}
	switch {
	case *dryRun:
		fmt.Fprintf(w, "Dry run: nothing written (%s would be %s bytes, %s tier%s).\n", param, thousands(len(value)), tier, note)
	case sameText:
		fmt.Fprintf(w, "%s version %d already holds this document: nothing written.\n", param, cur.Version)
	default:
		fmt.Fprintf(w, "Wrote %s version %d for stack %s (%s bytes, %s tier%s). The functions use it within %s.\n",
			param, rep.Version, st.Name, thousands(len(value)), tier, note, live.MaxTTL)
	}
	return exitOK
}

// resetDocument is what --reset writes: a blank document, which the
// functions read as the embedded default with the stack's list parameters.
const resetDocument = "# Bedrock Warden policy: blank, so the functions run the embedded default policy\n" +
	"# with the stack's AllowedModels, AllowedRegions and AllowedCidrs. Written by warden policy push --reset.\n"

// loadPushed loads what push would write, as the functions will read it.
func loadPushed(name string, doc []byte, sio *IO) (*policy.Policy, error) {
	if policy.Blank(doc) {
		return policy.FromEnv(sio.Getenv)
	}
	return policy.Load(name, doc)
}

// currentPolicy is the policy the parameter holds now, as the functions
// read it: a blank or invalid version means the embedded default (an
// invalid one is named as such).
func currentPolicy(cur live.Parameter, sio *IO) (*policy.Policy, string) {
	if policy.Blank([]byte(cur.Value)) {
		p, err := policy.FromEnv(sio.Getenv)
		if err != nil {
			p = policy.Default()
		}
		return p, "the embedded default (the parameter is blank)"
	}
	p, err := policy.Load("current", []byte(cur.Value))
	if err != nil {
		return policy.Default(), "the embedded default (the current version is not valid: the functions keep the last good one)"
	}
	return p, "the current policy"
}

// storedForm is what push writes: the document as given when it fits the
// standard tier, else without comments when that fits it, else the same
// in the advanced tier; it must not change the policy.
func storedForm(doc []byte) (value, tier string, stripped bool, err error) {
	if len(doc) <= pushpull.MaxStandardBytes {
		return string(doc), "standard", false, nil
	}
	bare, err := withoutComments(doc)
	if err != nil {
		return "", "", false, err
	}
	for _, limit := range []struct {
		max  int
		tier string
	}{{pushpull.MaxStandardBytes, "standard"}, {pushpull.MaxAdvancedBytes, "advanced"}} {
		if len(doc) <= limit.max {
			return string(doc), limit.tier, false, nil
		}
		if len(bare) <= limit.max {
			return string(bare), limit.tier, true, nil
		}
	}
	return "", "", false, fmt.Errorf("the policy is %s bytes (%s without comments); an SSM parameter holds at most %s: shorten the lists (a glob can replace several model ids)",
		thousands(len(doc)), thousands(len(bare)), thousands(pushpull.MaxAdvancedBytes))
}

// withoutComments re-encodes a YAML document without its comments, and
// checks that the policy it loads as is the same.
func withoutComments(doc []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		return nil, fmt.Errorf("re-encode the policy: %w", err)
	}
	var strip func(*yaml.Node)
	strip = func(n *yaml.Node) {
		n.HeadComment, n.LineComment, n.FootComment = "", "", ""
		for _, c := range n.Content {
			strip(c)
		}
	}
	strip(&n)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("re-encode the policy: %w", err)
	}
	a, err1 := policy.Load("a", doc)
	c, err2 := policy.Load("b", b.Bytes())
	if err1 != nil || err2 != nil {
		return nil, errors.Join(err1, err2)
	}
	ya, _ := a.YAML()
	yc, _ := c.YAML()
	if !bytes.Equal(ya, yc) {
		return nil, errors.New("the policy without its comments is not the same policy; push a shorter file")
	}
	return b.Bytes(), nil
}

// policyChanges lists what differs between two effective policies, one
// line per key: "+ models.allow: amazon.nova-*", "~ alerts.window: 1h → 30m".
func policyChanges(prev, next *policy.Policy) ([]string, error) {
	a, err := flatten(prev)
	if err != nil {
		return nil, err
	}
	b, err := flatten(next)
	if err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var out []string
	for _, k := range sorted {
		x, y := a[k], b[k]
		if !x.list && !y.list {
			switch {
			case len(x.values) == 0:
				out = append(out, "+ "+k+": "+strings.Join(y.values, ""))
			case len(y.values) == 0:
				out = append(out, "- "+k+": "+strings.Join(x.values, ""))
			case x.values[0] != y.values[0]:
				out = append(out, "~ "+k+": "+x.values[0]+" → "+y.values[0])
			}
			continue
		}
		in := func(v string, l []string) bool {
			for _, s := range l {
				if s == v {
					return true
				}
			}
			return false
		}
		for _, v := range x.values {
			if !in(v, y.values) {
				out = append(out, "- "+k+": "+v)
			}
		}
		for _, v := range y.values {
			if !in(v, x.values) {
				out = append(out, "+ "+k+": "+v)
			}
		}
	}
	return out, nil
}

// leaf is one key of a flattened policy: a scalar, or a list whose items
// are compared as a set (maps in lists as compact JSON).
type leaf struct {
	list   bool
	values []string
}

func flatten(p *policy.Policy) (map[string]leaf, error) {
	doc, err := p.YAML()
	if err != nil {
		return nil, err
	}
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, err
	}
	out := map[string]leaf{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, c := range t {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, c)
			}
		case []any:
			l := leaf{list: true}
			for _, item := range t {
				if _, scalar := item.(map[string]any); scalar {
					js, _ := json.Marshal(item)
					l.values = append(l.values, string(js))
				} else {
					l.values = append(l.values, fmt.Sprint(item))
				}
			}
			out[path] = l
		default:
			out[path] = leaf{values: []string{fmt.Sprint(t)}}
		}
	}
	walk("", v)
	return out, nil
}

// pullReport is `policy pull --format json`.
type pullReport struct {
	Stack     string `json:"stack"`
	Parameter string `json:"parameter"`
	Version   int64  `json:"version"`
	Modified  string `json:"modified"`
	Blank     bool   `json:"blank"`
	Valid     bool   `json:"valid"`
	Document  string `json:"document"`
}

func runPolicyPull(ctx context.Context, args []string, sio *IO) int {
	fl := newFlags("policy pull", "warden policy pull --stack NAME [-o FILE] [--format text|json]",
		`Prints the document in the stack's policy parameter (PolicyParameterName), as
the functions read it, or writes it to FILE with -o. A blank parameter means
the embedded default policy with the stack's AllowedModels, AllowedRegions and
AllowedCidrs parameters (warden policy show prints it). A version that is not
valid is printed with a warning: the functions ignore it and keep the last
good one.`,
		"warden policy pull --stack bedrock-warden -o my-policy.yaml",
		"warden policy pull --stack bedrock-warden --json | jq -r .version").withFormat()
	sf := addStackFlags(fl, sio)
	outFile := fl.fs.String("o", "", "write the document to `FILE` instead of standard output")
	pos, code, ok := fl.parse(args, sio)
	if !ok {
		return code
	}
	name := "policy pull"
	if len(pos) > 0 {
		return fail(sio, name, fmt.Errorf("unexpected argument %q (write to a file with -o FILE)", pos[0]))
	}
	cfg, err := sf.config(ctx)
	if err != nil {
		return fail(sio, name, err)
	}
	st, err := sf.resolve(ctx, cfg)
	if err != nil {
		return fail(sio, name, err)
	}
	param, err := st.Output(stack.OutputPolicyParameter)
	if err != nil {
		return fail(sio, name, err)
	}
	store, err := policyStore(ctx)
	if err != nil {
		return fail(sio, name, err)
	}
	cur, err := store.Get(ctx, param)
	if err != nil {
		return fail(sio, name, stack.Explain(err, "read the policy parameter "+param, "the caller needs ssm:GetParameter on it"))
	}
	blank := policy.Blank([]byte(cur.Value))
	_, verr := policy.Load(policy.ParameterPrefix+param, []byte(cur.Value))
	rep := pullReport{Stack: st.Name, Parameter: param, Version: cur.Version, Blank: blank, Valid: blank || verr == nil, Document: cur.Value}
	if !cur.Modified.IsZero() {
		rep.Modified = cur.Modified.UTC().Format(time.RFC3339)
	}
	if fl.JSON() {
		if err := writeJSON(sio.Stdout, rep); err != nil {
			return fail(sio, name, err)
		}
		return exitOK
	}
	body := cur.Value
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	if *outFile != "" {
		if err := os.WriteFile(*outFile, []byte(body), 0o644); err != nil {
			return fail(sio, name, err)
		}
		fmt.Fprintf(sio.Stderr, "warden policy pull: wrote %s version %d to %s\n", param, cur.Version, *outFile)
	} else {
		fmt.Fprint(sio.Stdout, body)
	}
	switch {
	case blank:
		fmt.Fprintf(sio.Stderr, "warden policy pull: %s version %d is blank: the functions run the embedded default with the stack's list parameters (warden policy show)\n", param, cur.Version)
	case verr != nil:
		fmt.Fprintf(sio.Stderr, "warden policy pull: warning: version %d is not a valid policy; the functions ignore it and keep the last good version:\n", cur.Version)
		for _, e := range policy.Errors(verr) {
			fmt.Fprintf(sio.Stderr, "  %s\n", e)
		}
	}
	return exitOK
}

// thousands writes n with comma separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
