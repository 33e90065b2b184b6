package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/bedrock-warden/warden/pkg/export"
)

func init() {
	policySubcommands["export"] = subcommand{"print the policy as an IAM policy, SCP or permissions boundary (JSON)", runPolicyExport}
}

// runPolicyExport implements `warden policy export`: the prevention side of
// the policy that drives detection (see docs/export.md). It reads the
// policy exactly as detection does (--policy, else $WARDEN_POLICY, …), so
// what is prevented and what is detected cannot disagree.
func runPolicyExport(ctx context.Context, args []string, sio *IO) int {
	fl := newFlags("policy export", "warden policy export --as iam-policy|scp|boundary [--policy LOCATION] [--account ID] [--pretty] [--format text|json]",
		`Prints the policy's model, region, network and principal rules as an IAM
policy document, so that what is prevented matches what is detected:
  iam-policy  identity policy to attach to the roles that call Bedrock
  scp         service control policy for AWS Organizations (exempt
              principals excluded)
  boundary    permissions boundary for those roles (other actions untouched)
The document is JSON either way: --format json (the default) prints it on one
line, --format text (or --pretty) indented.

Exit status: 0 on success; 2 on bad usage, a pattern IAM cannot express, or a
document over the size limit (6,144 characters; 5,120 for an SCP).`,
		"warden policy export --as iam-policy --pretty",
		"warden policy export --as scp --account 123456789012 --policy my-policy.yaml",
		"WARDEN_POLICY=ssm:///bedrock-warden/prod/policy warden policy export --as boundary").withFormat()
	*fl.format = "json"
	fl.fs.Lookup("format").DefValue = "json"
	as := fl.fs.String("as", "", "document `KIND`: iam-policy, scp or boundary (required)")
	policyFlag := fl.fs.String("policy", "", policyFlagUsage)
	acct := fl.fs.String("account", "", "12-digit account `ID` for inference-profile ARNs (default: any account, *)")
	pretty := fl.fs.Bool("pretty", false, "indent the JSON, as --format text does (the size limit counts characters without whitespace either way)")
	pos, code, ok := fl.parse(args, sio)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		return fail(sio, "policy export", fmt.Errorf("unexpected argument %q (the policy goes after --policy)", pos[0]))
	}
	if *as == "" {
		return fail(sio, "policy export", fmt.Errorf("--as is required: iam-policy, scp or boundary"))
	}
	kind, err := export.ParseKind(*as)
	if err != nil {
		return fail(sio, "policy export", err)
	}
	p, err := loadPolicy(ctx, *policyFlag, sio, "")
	if err != nil {
		return fail(sio, "policy export", err)
	}
	doc, err := export.Export(p.Policy, kind, export.Options{Account: *acct, Source: p.Doc, Name: p.Name})
	if err != nil {
		return fail(sio, "policy export", err)
	}
	out, err := export.Marshal(doc, *pretty || !fl.JSON())
	if err != nil {
		return fail(sio, "policy export", err)
	}
	if _, err := sio.Stdout.Write(out); err != nil {
		return fail(sio, "policy export", fmt.Errorf("write: %w", err))
	}
	if !strings.HasSuffix(string(out), "\n") {
		fmt.Fprintln(sio.Stdout)
	}
	for _, note := range export.Omitted(p.Policy) {
		fmt.Fprintf(sio.Stderr, "warden policy export: note: %s\n", note)
	}
	return exitOK
}
