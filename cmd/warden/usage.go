package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/budget"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
	usagepkg "github.com/bedrock-warden/warden/pkg/usage"
	"github.com/bedrock-warden/warden/pkg/usage/iamsrc"
	"github.com/bedrock-warden/warden/pkg/usage/usagedb"
)

func init() {
	register(command{name: "usage", summary: "show tokens and USD per principal and model against the policy's usage limits", run: runUsage})
}

const usageUsage = `Usage: warden usage [--period day|week|month] [--at TIME] [--by principal|model|limit] [--format text|json] [--table T] [--policy FILE]

Reads what the usage function counted from the model invocation logs (the
state table) for the UTC period holding --at (default now), and prints
the spend per principal or per model — calls, tokens (input, output,
cache read and write) and USD at the policy's prices — then every usage
limit of that period with a bar per principal (or team) that used it.

The table is --table, else $WARDEN_TABLE. The policy (limits, prices) is
--policy FILE, else $WARDEN_POLICY, else the embedded default. Limits that
select principals by tag read the tags from IAM (iam:GetRole, GetUser).

Exit status: 0 every limit under its warnAt, 1 some limit at warnAt or
more, 2 error.

Flags:
`

func runUsage(ctx context.Context, args []string, sio *IO) int {
	fl := flag.NewFlagSet("usage", flag.ContinueOnError)
	fl.SetOutput(sio.Stderr)
	period := fl.String("period", policy.PeriodMonth, "`PERIOD`: day, week (from Monday) or month, UTC")
	at := fl.String("at", "", "a `TIME` (RFC 3339) in the period to show (default now)")
	by := fl.String("by", usagepkg.ByPrincipal, "group rows by `principal`, model, or limit (limits only)")
	format := fl.String("format", "text", "output `FORMAT`: text or json")
	table := fl.String("table", "", "DynamoDB state `TABLE` (default $WARDEN_TABLE)")
	policyPath := fl.String("policy", "", "policy YAML `FILE` (default $WARDEN_POLICY, else the embedded default)")
	fl.Usage = func() { fmt.Fprint(fl.Output(), usageUsage); fl.PrintDefaults() }
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(sio.Stderr, "warden usage: "+format+"\n", a...)
		return exitUsage
	}
	if fl.NArg() > 0 {
		return fail("takes no arguments (got %q)", fl.Arg(0))
	}
	if *format != "text" && *format != "json" {
		return fail("--format %q: want text or json", *format)
	}
	when := statusNow()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return fail("--at %q: want an RFC 3339 time such as 2026-11-01T00:00:00Z", *at)
		}
		when = t
	}
	start, _, err := usagepkg.Bounds(*period, when)
	if err != nil {
		return fail("--period %q: want day, week or month", *period)
	}
	if *table == "" {
		*table = sio.Getenv("WARDEN_TABLE")
	}
	if *table == "" {
		return fail("no table: pass --table or set WARDEN_TABLE")
	}
	p, err := loadPolicy(*policyPath, sio.Getenv)
	if err != nil {
		return fail("%v", err)
	}
	cfg, err := awsconf.Load(ctx, "", "", nil)
	if err != nil {
		return fail("%v", err)
	}
	entries, err := usagedb.New(dynamodb.NewFromConfig(cfg), *table).List(ctx, *period, start)
	if err != nil {
		return fail("%v", err)
	}
	var tags func(string) map[string]string
	var tagErr error
	if p.UsesTags() {
		dir := iamsrc.New(cfg)
		tags = func(arn string) map[string]string {
			pr := normalize.PrincipalOfARN(arn)
			kind := usagepkg.KindUser
			if pr.Type == normalize.PrincipalAssumedRole || strings.Contains(arn, ":role/") {
				kind = usagepkg.KindRole
			}
			id, err := dir.Lookup(ctx, kind, pr.Name)
			if err != nil && !errors.Is(err, usagepkg.ErrNoPrincipal) && tagErr == nil {
				tagErr = err
			}
			return id.Tags
		}
	}
	rep, err := usagepkg.BuildReport(p, *period, start, entries, *by, tags)
	if err != nil {
		return fail("%v", err)
	}
	if tagErr != nil {
		return fail("read principals' tags for the limits that select on them: %v", tagErr)
	}
	if *format == "json" {
		enc := json.NewEncoder(sio.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fail("write: %v", err)
		}
	} else {
		printUsage(sio.Stdout, rep)
	}
	for _, s := range rep.Limits {
		if s.Level() != "" {
			return exitFindings
		}
	}
	return exitOK
}

// printUsage writes the report as a table, then the limits with a bar
// each.
func printUsage(w io.Writer, r usagepkg.Report) {
	fmt.Fprintf(w, "Usage %s %s – %s (UTC)\n\n", r.Period, r.Start.Format("2006-01-02"), r.End.Add(-time.Second).Format("2006-01-02"))
	if r.By != usagepkg.ByLimit {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tCALLS\tINPUT\tOUTPUT\tCACHE READ\tCACHE WRITE\tTOKENS\tUSD\n", strings.ToUpper(r.By))
		for _, row := range r.Rows {
			c := row.Counters
			usd := budget.USD(c.USD)
			if c.UnpricedTokens > 0 {
				usd += " (+" + budget.Group(c.UnpricedTokens) + " tokens unpriced)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Name, budget.Group(c.Invocations), budget.Group(c.InputTokens),
				budget.Group(c.OutputTokens), budget.Group(c.CacheReadTokens), budget.Group(c.CacheWriteTokens), budget.Group(c.Tokens()), usd)
		}
		if len(r.Rows) == 0 {
			fmt.Fprintln(tw, "(no usage counted in this period)")
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	if len(r.Limits) == 0 {
		fmt.Fprintf(w, "No %s limit was used in this period.\n", r.Period)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LIMIT\tWHO\tUSED\tOF\tSHARE\tACTION\tSTATE")
	for _, s := range r.Limits {
		var used, of []string
		if s.Limit.MaxTokens > 0 {
			used, of = append(used, budget.Group(s.Used.Tokens())+" tokens"), append(of, budget.Group(s.Limit.MaxTokens)+" tokens")
		}
		if s.Limit.MaxUSD > 0 {
			used, of = append(used, budget.USD(s.Used.USD)), append(of, budget.USD(s.Limit.MaxUSD))
		}
		state := s.Level()
		if state == "" {
			state = "ok"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s %3d %%\t%s\t%s\n", s.Limit.Name, s.Who(), strings.Join(used, ", "), strings.Join(of, ", "),
			usagepkg.Bar(s.Percent, 20), int64(math.Floor(s.Percent)), s.Limit.Action, state)
	}
	tw.Flush()
}
