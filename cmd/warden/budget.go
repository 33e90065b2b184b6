package main

import (
	"context"
	"fmt"
	"math"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/budget"
	"github.com/bedrock-warden/warden/pkg/budget/metricsource"
	"github.com/bedrock-warden/warden/pkg/stack"
)

func init() {
	register(command{name: "budget", summary: "show per-model Bedrock usage against the policy's budgets", run: runBudget})
}

// budgetCloudWatchOptions are extra CloudWatch client options; tests set
// the awsQuery protocol moto speaks.
var budgetCloudWatchOptions []func(*cloudwatch.Options)

func runBudget(ctx context.Context, args []string, sio *IO) int {
	return dispatch(ctx, "budget", map[string]subcommand{
		"status": {"usage per model against the policy's budgets, with projections", runBudgetStatus},
	}, args, sio)
}

func runBudgetStatus(ctx context.Context, args []string, sio *IO) int {
	fl := newFlags("budget status", "warden budget status [--policy LOCATION] [--format text|json]",
		`Reads the AWS/Bedrock CloudWatch metrics (Invocations, InputTokenCount,
OutputTokenCount by ModelId) for the current UTC day and month and prints,
per budget and model, the usage so far, the projection to the end of the
period at the current rate, and the share of the budget used.

The budgets come from --policy, else $WARDEN_POLICY, else the embedded
default. AWS access uses the usual SDK configuration (IAM:
cloudwatch:GetMetricData); AWS_ENDPOINT_URL is honoured.

Exit status: 0 every budget under 80 %, 1 some budget at 80 % or more, 2 error.`,
		"warden budget status --policy ssm:///bedrock-warden/prod/policy",
		"warden budget status --json | jq '.[] | select(.percent >= 80)'").withFormat()
	policyFlag := fl.fs.String("policy", "", policyFlagUsage)
	pos, code, ok := fl.parse(args, sio)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return fail(sio, "budget status", fmt.Errorf("unexpected argument %q (budget status takes only flags)", pos[0]))
	}
	p, err := loadPolicy(ctx, *policyFlag, sio, "")
	if err != nil {
		return fail(sio, "budget status", err)
	}
	if len(p.Budgets) == 0 {
		fmt.Fprintf(sio.Stderr, "warden budget status: %s has no budgets (see docs/spikes-and-budgets.md)\n", p.Name)
		if fl.JSON() {
			fmt.Fprintln(sio.Stdout, "[]")
		}
		return exitOK
	}
	cfg, err := awsconf.Load(ctx, "", "", nil)
	if err != nil {
		return fail(sio, "budget status", err)
	}
	c := &budget.Checker{Policy: p.Policy, Source: metricsource.NewFromConfig(cfg, budgetCloudWatchOptions...), Now: statusNow}
	statuses, err := c.Status(ctx)
	if err != nil {
		// Partial results (a budget with a bad period) are still shown.
		fmt.Fprintf(sio.Stderr, "warden budget status: %v\n", stack.Explain(err, "read the AWS/Bedrock metrics", "allow cloudwatch:GetMetricData"))
		if statuses == nil {
			return exitUsage
		}
	}
	if fl.JSON() {
		if statuses == nil {
			statuses = []budget.Status{}
		}
		if err := writeJSON(sio.Stdout, statuses); err != nil {
			return fail(sio, "budget status", err)
		}
	} else if perr := printBudgets(sio, statuses); perr != nil {
		return fail(sio, "budget status", perr)
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

func printBudgets(sio *IO, statuses []budget.Status) error {
	t := &table{header: []string{"MODEL", "PERIOD", "INVOCATIONS", "TOKENS", "USD", "PROJECTED", "USED", "STATE"},
		shrink: map[int]bool{0: true}}
	for _, s := range statuses {
		usd := budget.USD(s.Used.USD)
		if s.PriceMissing {
			usd = "no price"
		}
		state := s.Level()
		if state == "" {
			state = "ok"
		}
		row := plainCells(s.Model, s.Period,
			budgetCell(budget.Group(s.Used.Invocations), s.Budget.MaxInvocations > 0, budget.Group(s.Budget.MaxInvocations)),
			budgetCell(budget.Group(s.Used.Tokens()), s.Budget.MaxTokens > 0, budget.Group(s.Budget.MaxTokens)),
			budgetCell(usd, s.Budget.MaxUSD > 0, budget.USD(s.Budget.MaxUSD)),
			budgetProjected(s), budgetPercent(s), state)
		switch state {
		case "ok":
		case "warning":
			row[7].colour = "33"
		default:
			row[7].colour = "31"
		}
		t.rows = append(t.rows, row)
	}
	return t.render(sio.Stdout, sio.Width, colourOn(sio))
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
