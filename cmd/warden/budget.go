package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/budget"
	"github.com/bedrock-warden/warden/pkg/budget/metricsource"
)

func init() {
	register(command{name: "budget", summary: "show per-model Bedrock usage against the policy's budgets", run: runBudget})
}

// budgetCloudWatchOptions are extra CloudWatch client options; tests set
// the awsQuery protocol moto speaks.
var budgetCloudWatchOptions []func(*cloudwatch.Options)

const budgetUsage = `Usage: warden budget status [--policy FILE] [--json]

Reads the AWS/Bedrock CloudWatch metrics (Invocations, InputTokenCount,
OutputTokenCount by ModelId) for the current UTC day and month and prints,
per budget and model, the usage so far, the projection to the end of the
period at the current rate, and the share of the budget used.

The policy is --policy FILE, else $WARDEN_POLICY, else the embedded default.
AWS access uses the usual SDK configuration; AWS_ENDPOINT_URL is honoured.

Exit status: 0 every budget under 80 %, 1 some budget at 80 % or more, 2 error.

Flags:
`

func runBudget(ctx context.Context, args []string, sio *IO) int {
	if code, ok := onlyStatus(args, budgetUsage, sio); !ok {
		return code
	}
	fl := flag.NewFlagSet("budget status", flag.ContinueOnError)
	fl.SetOutput(sio.Stderr)
	policyPath := fl.String("policy", "", "policy YAML `FILE` (default $WARDEN_POLICY, else the embedded default)")
	asJSON := fl.Bool("json", false, "print JSON instead of a table")
	fl.Usage = func() { fmt.Fprint(fl.Output(), budgetUsage); fl.PrintDefaults() }
	if err := fl.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fl.NArg() > 0 {
		fmt.Fprintln(sio.Stderr, "warden budget status: takes no arguments")
		return exitUsage
	}
	p, err := loadPolicy(*policyPath, sio.Getenv)
	if err != nil {
		fmt.Fprintf(sio.Stderr, "warden budget status: %v\n", err)
		return exitUsage
	}
	if len(p.Budgets) == 0 {
		fmt.Fprintln(sio.Stderr, "warden budget status: the policy has no budgets")
		if *asJSON {
			fmt.Fprintln(sio.Stdout, "[]")
		}
		return exitOK
	}
	cfg, err := awsconf.Load(ctx, "", "", nil)
	if err != nil {
		fmt.Fprintf(sio.Stderr, "warden budget status: %v\n", err)
		return exitUsage
	}
	c := &budget.Checker{Policy: p, Source: metricsource.NewFromConfig(cfg, budgetCloudWatchOptions...), Now: statusNow}
	statuses, err := c.Status(ctx)
	if err != nil {
		// Partial results (a budget with a bad period) are still shown.
		fmt.Fprintf(sio.Stderr, "warden budget status: %v\n", err)
		if statuses == nil {
			return exitUsage
		}
	}
	if *asJSON {
		enc := json.NewEncoder(sio.Stdout)
		enc.SetIndent("", "  ")
		if statuses == nil {
			statuses = []budget.Status{}
		}
		if err := enc.Encode(statuses); err != nil {
			fmt.Fprintf(sio.Stderr, "warden budget status: write: %v\n", err)
			return exitUsage
		}
	} else {
		printBudgets(sio.Stdout, statuses)
	}
	if err != nil {
		return exitUsage
	}
	for _, s := range statuses {
		if s.Level() != "" {
			return exitFindings
		}
	}
	return exitOK
}

func printBudgets(w io.Writer, statuses []budget.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tPERIOD\tINVOCATIONS\tTOKENS\tUSD\tPROJECTED\tUSED\tSTATE")
	for _, s := range statuses {
		usd := budget.USD(s.Used.USD)
		if s.PriceMissing {
			usd = "no price"
		}
		state := s.Level()
		if state == "" {
			state = "ok"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			s.Model, s.Period,
			budgetCell(budget.Group(s.Used.Invocations), s.Budget.MaxInvocations > 0, budget.Group(s.Budget.MaxInvocations)),
			budgetCell(budget.Group(s.Used.Tokens()), s.Budget.MaxTokens > 0, budget.Group(s.Budget.MaxTokens)),
			budgetCell(usd, s.Budget.MaxUSD > 0, budget.USD(s.Budget.MaxUSD)),
			budgetProjected(s), budgetPercent(s), state)
	}
	tw.Flush()
}

func budgetCell(used string, limited bool, limit string) string {
	if !limited {
		return used
	}
	return used + " / " + limit
}

// budgetProjected shows the projection of the dimension that drives the status.
func budgetProjected(s budget.Status) string {
	switch s.Driver {
	case "tokens":
		return budget.Group(s.Projected.Tokens()) + " tokens"
	case "usd":
		return budget.USD(s.Projected.USD)
	case "invocations":
		return budget.Group(s.Projected.Invocations) + " calls"
	}
	return "-"
}

func budgetPercent(s budget.Status) string {
	if s.Driver == "" {
		return "-"
	}
	return fmt.Sprintf("%d %% (%s)", int64(math.Floor(s.Percent)), s.Driver)
}
