package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"

	"github.com/bedrock-warden/warden/pkg/policy"
)

func init() {
	register(command{name: "policy", summary: "validate, show or export the policy", run: runPolicy})
	policySubcommands["validate"] = subcommand{"check a policy file and report every error with its line", runPolicyValidate}
	policySubcommands["show"] = subcommand{"print the effective policy (defaults filled in)", runPolicyShow}
}

type subcommand struct {
	summary string
	run     func(ctx context.Context, args []string, sio *IO) int
}

// policySubcommands holds the verbs under `warden policy`; other files add
// theirs in init.
var policySubcommands = map[string]subcommand{}

func runPolicy(ctx context.Context, args []string, sio *IO) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		w := sio.Stdout
		if len(args) == 0 {
			w = sio.Stderr
		}
		fmt.Fprintln(w, "Usage: warden policy <subcommand> [flags]\n\nSubcommands:")
		names := make([]string, 0, len(policySubcommands))
		for n := range policySubcommands {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(w, "  %-10s %s\n", n, policySubcommands[n].summary)
		}
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sc, ok := policySubcommands[args[0]]
	if !ok {
		fmt.Fprintf(sio.Stderr, "warden policy: unknown subcommand %q (see warden policy --help)\n", args[0])
		return exitUsage
	}
	return sc.run(ctx, args[1:], sio)
}

func runPolicyValidate(_ context.Context, args []string, sio *IO) int {
	fl := flag.NewFlagSet("policy validate", flag.ContinueOnError)
	fl.SetOutput(sio.Stderr)
	fl.Usage = func() {
		fmt.Fprintln(fl.Output(), "Usage: warden policy validate FILE\n\nLoads FILE and reports every error with its line number. Exit 0 when valid, 2 otherwise.")
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fl.NArg() != 1 {
		fl.Usage()
		return exitUsage
	}
	if _, err := policy.LoadFile(fl.Arg(0)); err != nil {
		fmt.Fprintln(sio.Stderr, err)
		return exitUsage
	}
	fmt.Fprintf(sio.Stdout, "%s: valid\n", fl.Arg(0))
	return exitOK
}

func runPolicyShow(_ context.Context, args []string, sio *IO) int {
	fl := flag.NewFlagSet("policy show", flag.ContinueOnError)
	fl.SetOutput(sio.Stderr)
	path := fl.String("policy", "", "policy YAML `FILE` (default $WARDEN_POLICY, else the embedded default)")
	fl.Usage = func() {
		fmt.Fprintln(fl.Output(), "Usage: warden policy show [--policy FILE]\n\nPrints the effective policy as YAML, with every default filled in.")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	p, err := loadPolicy(*path, sio.Getenv)
	if err != nil {
		fmt.Fprintln(sio.Stderr, err)
		return exitUsage
	}
	out, err := p.YAML()
	if err != nil {
		fmt.Fprintf(sio.Stderr, "warden policy show: %v\n", err)
		return exitUsage
	}
	sio.Stdout.Write(out)
	return exitOK
}

// loadPolicy returns the policy every command judges with: the file at
// path, else the policy the Lambdas would run with ($WARDEN_POLICY, else the
// embedded default with the WARDEN_ALLOWED_* overrides).
func loadPolicy(path string, getenv func(string) string) (*policy.Policy, error) {
	if path != "" {
		return policy.LoadFile(path)
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	return policy.FromEnv(getenv)
}
