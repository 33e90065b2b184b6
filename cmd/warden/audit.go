package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bedrock-warden/warden/pkg/audit"
	"github.com/bedrock-warden/warden/pkg/audit/iamsrc"
	"github.com/bedrock-warden/warden/pkg/audit/orgsrc"
	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/glob"
	"github.com/bedrock-warden/warden/pkg/rules"
	"github.com/bedrock-warden/warden/pkg/safetext"
)

func init() {
	register(command{name: "audit", summary: "who could break the policy today: effective Bedrock permissions of every user and role", run: runAudit})
}

const auditAbout = `Lists the account's IAM users and roles, reads the policies that apply to
each (inline, managed at their default version, group policies, the
permissions boundary, and the SCPs of AWS Organizations where the caller may
read them) and judges, against the same policy detection uses, what each
principal could do today: invoke denied or unlisted models, call from
regions or networks the policy does not allow, create Bedrock API keys,
change logging, guardrails, model access or costly resources.

Each dimension gets a verdict: allowed (with the statement that grants it
and the smallest fix), unknown (it depends on a condition the audit cannot
decide, named), restricted (only as the policy allows) or denied. Exempt,
protected and service-linked principals are listed apart. The JSON report's
schema is in docs/audit.md.

--principal matches the principal's ARN or its short form (role/NAME,
user/NAME) with IAM wildcards. IAM: the iam:List*/Get* reads of the user,
role, group and policy APIs; organizations:Describe*/List* for SCPs.

Exit status: 0 no principal exceeds the policy, 1 some do, 2 usage errors or
principals that could not be read (after printing everything that was read).`

func runAudit(ctx context.Context, args []string, sio *IO) int {
	fl := newFlags("audit", "warden audit [--policy LOCATION] [--principal GLOB] [--format text|json] [--concurrency N] [--no-scps]",
		auditAbout,
		"warden audit",
		"warden audit --principal 'role/app-*' --format json | jq '.principals[] | select(.risk != \"none\")'").withFormat()
	policyFlag := fl.fs.String("policy", "", policyFlagUsage)
	principal := fl.fs.String("principal", "", "audit only principals matching `GLOB` (ARN, or role/NAME, user/NAME)")
	workers := fl.fs.Int("concurrency", audit.DefaultWorkers, "principals read at `N` at once (1 to 64)")
	noSCPs := fl.fs.Bool("no-scps", false, "do not read SCPs from AWS Organizations")
	pos, code, ok := fl.parse(args, sio)
	if !ok {
		return code
	}
	failf := func(format string, a ...any) int { return fail(sio, "audit", fmt.Errorf(format, a...)) }
	if len(pos) > 0 {
		return failf("unexpected argument %q (audit takes only flags)", pos[0])
	}
	if *workers < 1 || *workers > 64 {
		return failf("--concurrency must be between 1 and 64, not %d", *workers)
	}
	lp, err := loadPolicy(ctx, *policyFlag, sio, "")
	if err != nil {
		return failf("%v", err)
	}
	p, name := lp.Policy, lp.Name
	rec := awsconf.NewRecorder()
	cfg, err := awsconf.Load(ctx, "", "", rec)
	if err != nil {
		return failf("%v", err)
	}
	a := &audit.Auditor{Policy: p, PolicyName: name, Directory: iamsrc.NewFromConfig(cfg), Workers: *workers}
	if !*noSCPs {
		a.SCPs = orgsrc.NewFromConfig(cfg)
	}
	if *principal != "" {
		pat := glob.Compile(*principal)
		a.Filter = func(r audit.Ref) bool { return pat.Match(r.ARN) || pat.Match(r.Kind+"/"+r.Name) }
	}
	if progress := auditProgress(sio.Stderr, rec); progress != nil {
		a.Progress = progress
	}
	rep, runErr := a.Run(ctx)
	if a.Progress != nil {
		fmt.Fprint(sio.Stderr, "\r\x1b[K")
	}
	if rep == nil {
		return failf("%v", runErr)
	}
	switch {
	case fl.JSON():
		if err := writeJSON(sio.Stdout, rep); err != nil {
			return failf("write: %v", err)
		}
	default:
		printAudit(sio.Stdout, rep, colourOn(sio))
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(sio.Stderr, "warden audit: %s\n", safetext.Line(e))
	}
	if runErr != nil {
		fmt.Fprintf(sio.Stderr, "warden audit: %v\n", runErr)
	}
	calls := 0
	for _, n := range rec.Calls() {
		calls += n
	}
	fmt.Fprintf(sio.Stderr, "%s; %d API calls in %s\n", auditSummary(rep), calls, rep.Stats.Elapsed.Round(time.Millisecond))
	switch {
	case len(rep.Errors) > 0 || runErr != nil:
		return exitUsage
	case rep.Summary.Exceeding > 0:
		return exitFindings
	}
	return exitOK
}

// auditProgress returns a progress callback rewriting one status line on w
// when w is a terminal, else nil.
func auditProgress(w io.Writer, rec *awsconf.Recorder) func(audit.Progress) {
	f, ok := w.(*os.File)
	if !ok || !isTerminal(f) {
		return nil
	}
	return func(p audit.Progress) {
		calls := 0
		for _, n := range rec.Calls() {
			calls += n
		}
		fmt.Fprintf(w, "\rauditing: %d/%d principals, %d API calls, %s\x1b[K", p.Done, p.Total, calls, p.Elapsed.Round(time.Second))
	}
}

// auditSummary is the one-line account of a report.
func auditSummary(r *audit.Report) string {
	s := r.Summary
	line := fmt.Sprintf("%s judged", plural(s.Principals, "principal"))
	if s.Exceeding > 0 {
		var parts []string
		for _, sev := range []findings.Severity{findings.Critical, findings.High, findings.Medium, findings.Low} {
			if n := s.ByRisk[string(sev)]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, sev))
			}
		}
		line += fmt.Sprintf(": %d exceed the policy (%s)", s.Exceeding, strings.Join(parts, ", "))
	} else {
		line += ": none exceeds the policy"
	}
	if s.Unknown > 0 {
		line += fmt.Sprintf(", %d undecided", s.Unknown)
	}
	if s.Apart > 0 {
		line += fmt.Sprintf("; %d listed apart", s.Apart)
	}
	if r.SCPs.Applied {
		line += fmt.Sprintf("; SCPs applied (%d levels)", len(r.SCPs.Targets))
	} else {
		line += "; SCPs not applied (" + r.SCPs.Note + ")"
	}
	return line
}

// printAudit writes the text report: a table most dangerous first, the
// findings with their statements and fixes, then the principals listed
// apart.
func printAudit(w io.Writer, r *audit.Report, colour bool) {
	var dims []audit.DimensionStatus
	for _, d := range r.Dimensions {
		if d.Judged {
			dims = append(dims, d)
		}
	}
	fmt.Fprintf(w, "Account %s, policy %s\n", dash(r.Account), safetext.Line(r.Policy))
	for _, d := range r.Dimensions {
		if !d.Judged {
			fmt.Fprintf(w, "Not judged: %s (%s)\n", d.ID, d.Note)
		}
	}
	fmt.Fprintln(w)
	table := func(ps []audit.PrincipalReport, status bool) {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		head := "RISK\tPRINCIPAL"
		if status {
			head = "STATUS\t" + head
		}
		for _, d := range dims {
			head += "\t" + strings.ToUpper(d.ID)
		}
		fmt.Fprintln(tw, head)
		for _, p := range ps {
			row := riskLabel(p.Risk, colour) + "\t" + safetext.Line(rules.ShortPrincipal(p.ARN))
			if status {
				row = p.Status + "\t" + row
			}
			for _, d := range dims {
				row += "\t" + verdictOf(p, d.ID)
			}
			fmt.Fprintln(tw, row)
		}
		tw.Flush()
	}
	if len(r.Principals) > 0 {
		table(r.Principals, false)
	} else {
		fmt.Fprintln(w, "No principal judged.")
	}
	first := true
	for _, p := range r.Principals {
		if !p.Exceeds && p.Risk != "unknown" && p.Error == "" {
			continue
		}
		if first {
			fmt.Fprintln(w, "\nFindings (most dangerous first):")
			first = false
		}
		printPrincipalFindings(w, p)
	}
	if len(r.Apart) > 0 {
		fmt.Fprintln(w, "\nListed apart (not counted: exempt, protected or service-linked):")
		table(r.Apart, true)
		for _, p := range r.Apart {
			fmt.Fprintf(w, "  %s: %s\n", safetext.Line(rules.ShortPrincipal(p.ARN)), p.Why)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\nNote: %s\n", safetext.Line(n))
	}
}

func printPrincipalFindings(w io.Writer, p audit.PrincipalReport) {
	fmt.Fprintf(w, "\n%s (%s)\n", safetext.Line(rules.ShortPrincipal(p.ARN)), safetext.Line(p.ARN))
	if p.Error != "" {
		fmt.Fprintf(w, "  could not be judged: %s\n", safetext.Line(p.Error))
	}
	for _, v := range p.Verdicts {
		if v.Verdict != audit.Allowed && v.Verdict != audit.Unknown {
			continue
		}
		fmt.Fprintf(w, "  %-16s %-8s %s\n", v.Dimension, v.Verdict, safetext.Line(v.Summary))
		for _, g := range v.Grants {
			fmt.Fprintf(w, "  %-16s %-8s granted by %s\n", "", "", safetext.Line(g.String()))
		}
		for _, u := range v.Undecided {
			fmt.Fprintf(w, "  %-16s %-8s undecided: %s\n", "", "", safetext.Line(u))
		}
		if f := v.Fix; f != nil {
			verified := ""
			if f.Verified {
				verified = " (verified)"
			}
			fmt.Fprintf(w, "  %-16s %-8s fix%s: %s\n", "", "", verified, safetext.Line(f.Summary))
			if f.Command != "" {
				fmt.Fprintf(w, "  %-16s %-8s   $ %s\n", "", "", safetext.Line(f.Command))
			}
			if f.Document != "" {
				fmt.Fprintf(w, "  %-16s %-8s   %s\n", "", "", safetext.Line(f.Document))
			}
		}
	}
}

func verdictOf(p audit.PrincipalReport, dim string) string {
	for _, v := range p.Verdicts {
		if v.Dimension == dim {
			return string(v.Verdict)
		}
	}
	if p.Error != "" {
		return "error"
	}
	return "-"
}

func riskLabel(risk string, colour bool) string {
	label := strings.ToUpper(risk)
	switch risk {
	case "none":
		return "-"
	case "unknown":
		if colour {
			return "\x1b[33m" + fmt.Sprintf("%-8s", label) + "\x1b[0m"
		}
		return label
	}
	code := sevColour[findings.Severity(risk)]
	if !colour || code == "" {
		return label
	}
	// Pad before colouring so tabwriter's widths stay right.
	return "\x1b[" + code + "m" + fmt.Sprintf("%-8s", label) + "\x1b[0m"
}
