package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/pkg/budget"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/safetext"
	"github.com/bedrock-warden/warden/pkg/stack"
	usagepkg "github.com/bedrock-warden/warden/pkg/usage"
	"github.com/bedrock-warden/warden/pkg/usage/iamsrc"
	"github.com/bedrock-warden/warden/pkg/usage/usagedb"
)

func init() {
	register(command{name: "usage", summary: "show tokens and USD per principal and model against the policy's usage limits", run: runUsage})
}

const usageAbout = `Reads what the usage function counted from the model invocation logs (the
state table) for the UTC period holding --at (default now), and prints
the spend per principal or per model — calls, tokens (input, output,
cache read and write) and USD at the policy's prices — then every usage
limit of that period with a bar per principal (or team) that used it.

The table is --table, else the StateTableName output of the stack (--stack,
else $WARDEN_STACK), else $WARDEN_TABLE. The policy (limits, prices) is
--policy, else $WARDEN_POLICY, else the stack's policy parameter, else the
embedded default. Limits that select principals by tag read the tags from
IAM (iam:GetRole, GetUser).

Exit status: 0 every limit under its warnAt, 1 some limit at warnAt or
more, 2 error.`

func runUsage(ctx context.Context, args []string, sio *IO) int {
	fl := newFlags("usage", "warden usage [--stack NAME | --table TABLE] [--period day|week|month] [--at TIME] [--by principal|model|limit] [--policy LOCATION] [--format text|json]",
		usageAbout,
		"warden usage --stack bedrock-warden",
		"warden usage --stack bedrock-warden --by limit --period day",
		"warden usage --stack bedrock-warden --json | jq '.limits[] | select(.share >= 1)'").withFormat()
	st := addStackFlags(fl, sio)
	period := fl.fs.String("period", policy.PeriodMonth, "`PERIOD`: day, week (from Monday) or month, UTC")
	at := fl.fs.String("at", "", "a `TIME` (RFC 3339) in the period to show (default now)")
	by := fl.fs.String("by", usagepkg.ByPrincipal, "group rows by `principal`, model, or limit (limits only)")
	table := fl.fs.String("table", "", "DynamoDB state `TABLE` (default: the stack's StateTableName output, else $WARDEN_TABLE)")
	policyFlag := fl.fs.String("policy", "", policyFlagUsage)
	pos, code, ok := fl.parse(args, sio)
	if !ok {
		return code
	}
	fail := func(format string, a ...any) int { return fail(sio, "usage", fmt.Errorf(format, a...)) }
	if len(pos) > 0 {
		return fail("unexpected argument %q (usage takes only flags)", pos[0])
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
	cfg, err := st.config(ctx)
	if err != nil {
		return fail("%v", err)
	}
	policyParam := ""
	if *table == "" && st.named() {
		s, err := st.resolve(ctx, cfg)
		if err != nil {
			return fail("%v", err)
		}
		if *table, err = s.Output(stack.OutputStateTable); err != nil {
			return fail("%v", err)
		}
		policyParam = s.Outputs[stack.OutputPolicyParameter]
	}
	if *table == "" {
		*table = sio.Getenv("WARDEN_TABLE")
	}
	if *table == "" {
		return fail("no state table: pass --stack NAME (or set WARDEN_STACK), or --table TABLE")
	}
	lp, err := loadPolicy(ctx, *policyFlag, sio, policyParam)
	if err != nil {
		return fail("%v", err)
	}
	p := lp.Policy
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
	if fl.JSON() {
		if err := writeJSON(sio.Stdout, rep); err != nil {
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
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", safetext.Line(row.Name), budget.Group(c.Invocations), budget.Group(c.InputTokens),
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s %3d %%\t%s\t%s\n", safetext.Line(s.Limit.Name), safetext.Line(s.Who()), strings.Join(used, ", "), strings.Join(of, ", "),
			usagepkg.Bar(s.Percent, 20), int64(math.Floor(s.Percent)), s.Limit.Action, state)
	}
	tw.Flush()
}
