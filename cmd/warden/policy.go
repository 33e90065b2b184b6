package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/bedrock-warden/warden/pkg/policy"
)

func init() {
	register(command{name: "policy", summary: "validate, show, export, push or pull the policy", run: runPolicy})
	policySubcommands["validate"] = subcommand{"check a policy and report every error with its line", runPolicyValidate}
	policySubcommands["show"] = subcommand{"print the effective policy (defaults filled in)", runPolicyShow}
}

// policySubcommands holds the verbs under `warden policy`; other files add
// theirs in init.
var policySubcommands = map[string]subcommand{}

func runPolicy(ctx context.Context, args []string, sio *IO) int {
	return dispatch(ctx, "policy", policySubcommands, args, sio)
}

// validationReport is `policy validate --format json`.
type validationReport struct {
	Policy string            `json:"policy"`
	Valid  bool              `json:"valid"`
	Errors []validationError `json:"errors"`
}

type validationError struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Key     string `json:"key"`
	Message string `json:"message"`
}

func runPolicyValidate(ctx context.Context, args []string, sio *IO) int {
	fl := newFlags("policy validate", "warden policy validate [--format text|json] LOCATION",
		"Loads the policy at LOCATION (a file, file://PATH or ssm://PARAMETER) and\n"+
			"reports every problem at once, each with its line, key path and fix.\n\n"+
			"Exit status: 0 valid, 2 invalid or unreadable.",
		"warden policy validate my-policy.yaml",
		"warden policy validate ssm:///bedrock-warden/prod/policy").withFormat()
	pos, code, ok := fl.parse(args, sio)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return fail(sio, "policy validate", errors.New("want exactly one LOCATION, the policy file to check (e.g. warden policy validate my-policy.yaml)"))
	}
	p, err := loadPolicy(ctx, pos[0], sio, "")
	name := pos[0]
	if p.Name != "" {
		name = p.Name
	}
	problems := policy.Errors(err)
	if err != nil && len(problems) == 0 {
		// Not a policy problem: the file or parameter could not be read.
		return fail(sio, "policy validate", err)
	}
	if fl.JSON() {
		r := validationReport{Policy: name, Valid: err == nil, Errors: []validationError{}}
		for _, e := range problems {
			r.Errors = append(r.Errors, validationError{Line: e.Line, Column: e.Column, Key: e.Key, Message: e.Msg})
		}
		if werr := writeJSON(sio.Stdout, r); werr != nil {
			return fail(sio, "policy validate", werr)
		}
	} else if err == nil {
		fmt.Fprintf(sio.Stdout, "%s: valid\n", name)
	} else {
		for _, e := range problems {
			fmt.Fprintln(sio.Stderr, e)
		}
		fmt.Fprintf(sio.Stderr, "%s: %s\n", name, plural(len(problems), "problem"))
	}
	if err != nil {
		return exitUsage
	}
	return exitOK
}

func runPolicyShow(ctx context.Context, args []string, sio *IO) int {
	fl := newFlags("policy show", "warden policy show [--policy LOCATION] [--format text|json]",
		"Prints the effective policy with every default filled in: YAML, or JSON with\n"+
			"--format json. Without --policy it is the policy every verb judges with\n"+
			"($WARDEN_POLICY, else the embedded default with the WARDEN_ALLOWED_*\n"+
			"overrides).",
		"warden policy show",
		"warden policy show --policy ssm:///bedrock-warden/prod/policy --json | jq .models").withFormat()
	policyFlag := fl.fs.String("policy", "", policyFlagUsage)
	pos, code, ok := fl.parse(args, sio)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return fail(sio, "policy show", fmt.Errorf("unexpected argument %q: the policy goes after --policy", pos[0]))
	}
	p, err := loadPolicy(ctx, *policyFlag, sio, "")
	if err != nil {
		return fail(sio, "policy show", err)
	}
	out, err := effectiveYAML(p.Policy)
	if err != nil {
		return fail(sio, "policy show", err)
	}
	if fl.JSON() {
		js, err := yamlToJSON(out)
		if err != nil {
			return fail(sio, "policy show", err)
		}
		out = append(js, '\n')
	}
	if _, err := sio.Stdout.Write(out); err != nil {
		return fail(sio, "policy show", err)
	}
	return exitOK
}

// effectiveYAML is the policy with every default filled in.
func effectiveYAML(p *policy.Policy) ([]byte, error) {
	out, err := p.YAML()
	if err != nil {
		return nil, fmt.Errorf("render the policy: %w", err)
	}
	return out, nil
}

// yamlToJSON converts a YAML document to indented JSON.
func yamlToJSON(doc []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("convert to JSON: %w", err)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("convert to JSON: %w", err)
	}
	return out, nil
}

// readLocalFile reads a file named on the command line.
func readLocalFile(path string) ([]byte, error) {
	if path == "-" {
		return nil, errors.New("read the policy from a file, not standard input")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return data, nil
}
