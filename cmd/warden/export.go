package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/bedrock-warden/warden/pkg/export"
	"github.com/bedrock-warden/warden/pkg/policy"
)

func init() {
	policySubcommands["export"] = subcommand{"print the policy as an IAM policy, SCP or permissions boundary (JSON)", runPolicyExport}
}

// runPolicyExport implements `warden policy export`: the prevention side of
// the policy that drives detection (see docs/export.md).
func runPolicyExport(_ context.Context, args []string, sio *IO) int {
	fl := flag.NewFlagSet("policy export", flag.ContinueOnError)
	fl.SetOutput(sio.Stderr)
	as := fl.String("as", "", "document `KIND`: iam-policy, scp or boundary (required)")
	path := fl.String("policy", "", "policy YAML `FILE` (default: the embedded default policy)")
	acct := fl.String("account", "", "12-digit account `ID` for inference-profile ARNs (default: any account, *)")
	pretty := fl.Bool("pretty", false, "indent the JSON (the size limit counts characters without whitespace either way)")
	fl.Usage = func() {
		fmt.Fprintln(fl.Output(), `Usage: warden policy export --as iam-policy|scp|boundary [--policy FILE] [--account ID] [--pretty]

Prints the policy's model, region, network and principal rules as an IAM
policy document, so that what is prevented matches what is detected:
  iam-policy  identity policy to attach to the roles that call Bedrock
  scp         service control policy for AWS Organizations (exempt
              principals excluded)
  boundary    permissions boundary for those roles (other actions untouched)
Exit 0 on success; 2 on bad usage, a pattern IAM cannot express, or a
document over the size limit (6,144 characters; 5,120 for an SCP).`)
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fl.NArg() != 0 {
		fmt.Fprintf(sio.Stderr, "warden policy export: unexpected argument %q (the policy file goes after --policy)\n", fl.Arg(0))
		return exitUsage
	}
	if *as == "" {
		fmt.Fprintln(sio.Stderr, "warden policy export: --as is required (iam-policy, scp or boundary)")
		return exitUsage
	}
	kind, err := export.ParseKind(*as)
	if err != nil {
		fmt.Fprintf(sio.Stderr, "warden policy export: %v\n", err)
		return exitUsage
	}
	name, src := "embedded default", policy.DefaultYAML()
	if *path != "" {
		name = *path
		if src, err = os.ReadFile(*path); err != nil {
			fmt.Fprintf(sio.Stderr, "warden policy export: %v\n", err)
			return exitUsage
		}
	}
	p, err := policy.Load(name, src)
	if err != nil {
		fmt.Fprintln(sio.Stderr, err)
		return exitUsage
	}
	doc, err := export.Export(p, kind, export.Options{Account: *acct, Source: src, Name: name})
	if err != nil {
		fmt.Fprintln(sio.Stderr, err)
		return exitUsage
	}
	out, err := export.Marshal(doc, *pretty)
	if err != nil {
		fmt.Fprintf(sio.Stderr, "warden policy export: %v\n", err)
		return exitUsage
	}
	if _, err := sio.Stdout.Write(out); err != nil {
		fmt.Fprintf(sio.Stderr, "warden policy export: write: %v\n", err)
		return exitUsage
	}
	for _, note := range export.Omitted(p) {
		fmt.Fprintf(sio.Stderr, "warden policy export: note: %s\n", note)
	}
	return exitOK
}
