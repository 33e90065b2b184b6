package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bedrock-warden/warden/pkg/alerts/hubpub"
	"github.com/bedrock-warden/warden/pkg/remediation"
	"github.com/bedrock-warden/warden/pkg/remediation/iamstate"
	"github.com/bedrock-warden/warden/pkg/remediation/ledgerdb"
	"github.com/bedrock-warden/warden/pkg/remediation/snsalert"
	"github.com/bedrock-warden/warden/pkg/remediation/ssmmode"
	"github.com/bedrock-warden/warden/pkg/safetext"
	"github.com/bedrock-warden/warden/pkg/seal"
	"github.com/bedrock-warden/warden/pkg/seal/kmsmac"
	"github.com/bedrock-warden/warden/pkg/stack"
	"github.com/bedrock-warden/warden/pkg/suggest"
)

func init() {
	register(command{name: "remediation", summary: "show and flip remediation mode, list, undo, reset the breaker", run: runRemediation})
}

// remNow is the CLI's clock; tests replace it.
var remNow = time.Now

func runRemediation(ctx context.Context, args []string, sio *IO) int {
	return dispatch(ctx, "remediation", map[string]subcommand{
		"status":  {"mode, breaker, actions in the last hour", remCommand("status")},
		"set":     {"flip the mode: off, dry-run or enforce (takes effect within 30 s)", remCommand("set")},
		"list":    {"what remediation did (ledger records)", remCommand("list")},
		"undo":    {"restore exactly what one ledger record changed", remCommand("undo")},
		"breaker": {"breaker reset: close the breaker for this hour", remCommand("breaker")},
	}, args, sio)
}

// remCommands describes each subcommand: synopsis, description, examples
// and how many arguments it takes.
var remCommands = map[string]struct {
	synopsis, about string
	examples        []string
	args            []string // the names of the positional arguments
}{
	"status": {"warden remediation status --stack NAME [--format text|json]",
		"Prints the mode (and the SSM parameter it lives in), the breaker, and the\nremediation actions of the last hour.",
		[]string{"warden remediation status --stack bedrock-warden", "WARDEN_STACK=bedrock-warden warden remediation status --json"}, nil},
	"set": {"warden remediation set off|dry-run|enforce --stack NAME",
		"Writes the mode to the stack's RemediationModeParameterName parameter; the\nremediator reads it within 30 seconds. The stack must exist and hold the\nparameter: nothing is created.",
		[]string{"warden remediation set off --stack bedrock-warden", "warden remediation set enforce --stack bedrock-warden"}, []string{"MODE"}},
	"list": {"warden remediation list --stack NAME [--since 24h] [--principal ARN] [--format text|json]",
		"Lists the ledger records (dry-run plans, actions, refusals, undos) since a\ntime, newest first.",
		[]string{"warden remediation list --stack bedrock-warden --since 7d", "warden remediation list --stack bedrock-warden --principal arn:aws:iam::123456789012:role/app-chat --json"}, nil},
	"undo": {"warden remediation undo ID --stack NAME",
		"Restores exactly what ledger record ID changed, after checking its seal\nwith the stack's ledger key (LedgerKeyArn output): a record that does not\nverify is refused before any IAM change. IDs are in warden remediation list.\nThe caller needs kms:VerifyMac and kms:GenerateMac on the ledger key (the\nstack's OnCallRoleArn role has them).",
		[]string{"warden remediation undo 20261124T103000Z-3f2a9c --stack bedrock-warden"}, []string{"ID"}},
	"breaker": {"warden remediation breaker reset --stack NAME [--account ID]",
		"Closes the breaker for the current hour after maxActionsPerHour tripped it,\nso enforce actions may run again.",
		[]string{"warden remediation breaker reset --stack bedrock-warden"}, []string{"reset"}},
}

// remOpts are the parsed flags.
type remOpts struct {
	account, policyPath string
	since, principal    string
	json                bool
}

// remCommand returns the runner of subcommand sub.
func remCommand(sub string) func(ctx context.Context, args []string, sio *IO) int {
	return func(ctx context.Context, args []string, sio *IO) int {
		return runRem(ctx, sub, args, sio)
	}
}

func runRem(ctx context.Context, sub string, args []string, sio *IO) int {
	spec := remCommands[sub]
	name := "remediation " + sub
	fl := newFlags(name, spec.synopsis, spec.about+"\n\nExit status: 0 done, 2 usage error or the operation failed.", spec.examples...).withFormat()
	sf := addStackFlags(fl, sio)
	var o remOpts
	fl.fs.StringVar(&o.account, "account", "", "account `ID` of the breaker (default: the caller's account)")
	fl.fs.StringVar(&o.policyPath, "policy", "", "policy `LOCATION` for maxActionsPerHour (default $WARDEN_POLICY, else the stack's policy parameter)")
	if sub == "list" {
		fl.fs.StringVar(&o.since, "since", "24h", "list records since a `DURATION` (90m, 24h, 7d) or an RFC 3339 time")
		fl.fs.StringVar(&o.principal, "principal", "", "only records about this principal `ARN`")
	}
	pos, code, ok := fl.parse(args, sio)
	if !ok {
		return code
	}
	o.json = fl.JSON()
	switch {
	case len(pos) < len(spec.args):
		missing := spec.args[len(pos)]
		hint := map[string]string{
			"MODE":  "off, dry-run or enforce",
			"ID":    "the record id from warden remediation list",
			"reset": "the only breaker subcommand is reset",
		}[missing]
		return fail(sio, name, fmt.Errorf("missing %s (%s): %s", missing, hint, spec.synopsis))
	case len(pos) > len(spec.args):
		return fail(sio, name, fmt.Errorf("unexpected argument %q: %s", pos[len(spec.args)], spec.synopsis))
	case sub == "breaker" && pos[0] != "reset":
		return fail(sio, name, fmt.Errorf("unknown breaker subcommand %q: the only one is reset", pos[0]))
	case sub == "set":
		if _, ok := remediation.ParseMode(pos[0]); !ok {
			msg := fmt.Sprintf("mode %q: want off, dry-run or enforce", pos[0])
			if s := suggest.Closest(pos[0], []string{"off", "dry-run", "enforce"}); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			return fail(sio, name, errors.New(msg))
		}
	case sub == "undo":
		if _, err := remediation.IDTime(pos[0]); err != nil {
			return fail(sio, name, fmt.Errorf("%q is not a ledger record id (ids look like 20261124T103000.000000000Z-0d37f580: see warden remediation list)", safetext.Line(pos[0])))
		}
	case sub == "list":
		if _, err := remSince(o.since, remNow().UTC()); err != nil {
			return fail(sio, name, err)
		}
	}
	cfg, err := sf.config(ctx)
	if err != nil {
		return fail(sio, name, err)
	}
	st, err := sf.resolve(ctx, cfg)
	if err != nil {
		return fail(sio, name, err)
	}
	d := remDeps{cfg: cfg, opts: o, stack: st, sio: sio}
	var out any
	var text string
	switch sub {
	case "status":
		out, text, err = remStatus(ctx, d, sio)
	case "set":
		out, text, err = remSet(ctx, d, remediation.Mode(pos[0]))
	case "list":
		out, text, err = remList(ctx, d)
	case "undo":
		out, text, err = remUndo(ctx, d, pos[0])
	case "breaker":
		out, text, err = remBreakerReset(ctx, d)
	}
	if err != nil && out == nil {
		return fail(sio, name, err)
	}
	if o.json {
		if werr := writeJSON(sio.Stdout, out); werr != nil {
			return fail(sio, name, werr)
		}
	} else {
		fmt.Fprint(sio.Stdout, text)
	}
	if err != nil {
		return fail(sio, name, err)
	}
	return exitOK
}

// remDeps are the adapters a subcommand needs, built from the stack's
// outputs.
type remDeps struct {
	cfg   aws.Config
	opts  remOpts
	stack stack.Stack
	sio   *IO
}

func (d remDeps) modeStore() (ssmmode.Store, error) {
	param, err := d.stack.Output(stack.OutputModeParameter)
	if err != nil {
		return ssmmode.Store{}, err
	}
	s := ssmmode.New(d.cfg, d.stack.Name)
	s.Parameter = param
	return s, nil
}

// table is the stack's state table.
func (d remDeps) table() (string, error) { return d.stack.Output(stack.OutputStateTable) }

// explainTable names the table and the fix in an AWS error.
func (d remDeps) explainTable(err error, what string) error {
	table, _ := d.table()
	return stack.Explain(err, what+" in table "+table+" (the stack's StateTableName output)",
		"the caller needs dynamodb:Query, GetItem (and PutItem/UpdateItem for undo and breaker reset) on it; the table's resource policy lets only the stack's roles and the OnCallRoleArn role write")
}

// store returns the ledger. Reading lists needs no key; undo, which
// verifies and writes records, needs the ledger key (LedgerKeyArn).
func (d remDeps) store(withKey bool) (ledgerdb.Store, error) {
	table, err := d.table()
	if err != nil {
		return ledgerdb.Store{}, err
	}
	var sealer seal.Records
	if withKey {
		key, err := d.stack.Output(stack.OutputLedgerKey)
		if err != nil {
			return ledgerdb.Store{}, fmt.Errorf("undo verifies the record's seal with the ledger key: %w", err)
		}
		k := kmsmac.New(d.cfg, key)
		sealer = seal.Records{Gen: k, Check: k}
	}
	return ledgerdb.New(d.cfg, table, sealer), nil
}

// caller returns the caller's ARN and account (sts:GetCallerIdentity needs
// no permission).
func (d remDeps) caller(ctx context.Context) (arn, account string, err error) {
	out, err := sts.NewFromConfig(d.cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", "", stack.Explain(err, "who am I (sts:GetCallerIdentity)", "check the AWS credentials")
	}
	return aws.ToString(out.Arn), aws.ToString(out.Account), nil
}

func (d remDeps) account(ctx context.Context) (string, error) {
	if d.opts.account != "" {
		return d.opts.account, nil
	}
	_, acct, err := d.caller(ctx)
	return acct, err
}

// remStatusReport is `status --json`.
type remStatusReport struct {
	Stack         string                    `json:"stack"`
	Parameter     string                    `json:"parameter"`
	Mode          remediation.Mode          `json:"mode"`
	ModeSet       bool                      `json:"modeSet"` // false: parameter missing, default applies
	Breaker       remediation.BreakerStatus `json:"breaker"`
	Max           int                       `json:"maxActionsPerHour"`
	LastHour      map[string]int            `json:"lastHour"` // "mode/result" -> count
	EnforceInHour int                       `json:"enforceActionsLastHour"`
}

func remStatus(ctx context.Context, d remDeps, sio *IO) (any, string, error) {
	ms, err := d.modeStore()
	if err != nil {
		return nil, "", err
	}
	st, err := d.store(false)
	if err != nil {
		return nil, "", err
	}
	p, err := loadPolicy(ctx, d.opts.policyPath, sio, d.stack.Outputs[stack.OutputPolicyParameter])
	if err != nil {
		return nil, "", err
	}
	acct, err := d.account(ctx)
	if err != nil {
		return nil, "", err
	}
	r := remStatusReport{Stack: d.stack.Name, Parameter: ms.Name(), Max: p.Remediation.MaxActionsPerHour, LastHour: map[string]int{}}
	if r.Max <= 0 {
		r.Max = 10
	}
	v, found, err := ms.GetMode(ctx)
	if err != nil {
		return nil, "", stack.Explain(err, "read the mode parameter "+ms.Name(), "the caller needs ssm:GetParameter on it")
	}
	r.ModeSet = found
	r.Mode = remediation.DefaultMode
	if found {
		m, ok := remediation.ParseMode(v)
		if !ok {
			m = remediation.ModeDryRun
		}
		r.Mode = m
	}
	now := remNow().UTC()
	if r.Breaker, err = st.Status(ctx, acct, now); err != nil {
		return nil, "", d.explainTable(err, "read the breaker")
	}
	r.Breaker.Open = r.Breaker.Open || r.Breaker.Count >= r.Max
	recs, err := st.List(ctx, now.Add(-time.Hour), "")
	if err != nil {
		return nil, "", d.explainTable(err, "read the ledger")
	}
	for _, rec := range recs {
		r.LastHour[string(rec.Mode)+"/"+rec.Result]++
		// Actions that changed (or tried to change) IAM: refusals and
		// no-ops in enforce mode are not actions.
		switch rec.Result {
		case remediation.ResultApplied, remediation.ResultFailed, remediation.ResultApplying:
			if rec.Mode == remediation.ModeEnforce && rec.Action != "undo" {
				r.EnforceInHour++
			}
		}
	}
	var b strings.Builder
	def := ""
	if !found {
		def = " (parameter not set: default)"
	}
	fmt.Fprintf(&b, "Stack:    %s (%s)\n", d.stack.Name, d.stack.Region)
	fmt.Fprintf(&b, "Mode:     %s%s  [%s]\n", r.Mode, def, r.Parameter)
	state := "closed"
	if r.Breaker.Open {
		state = "OPEN: remediation is dry-run until the hour ends or `warden remediation breaker reset`"
	}
	fmt.Fprintf(&b, "Breaker:  %s — %d/%d enforce actions in account %s this hour (%s)\n", state, r.Breaker.Count, r.Max, acct, r.Breaker.Hour.Format("2006-01-02 15:00Z"))
	fmt.Fprintf(&b, "Last hour: %s", plural(r.EnforceInHour, "enforce action"))
	for _, k := range sortedKeys(r.LastHour) {
		fmt.Fprintf(&b, ", %s %d", k, r.LastHour[k])
	}
	b.WriteString("\n")
	return r, b.String(), nil
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func remSet(ctx context.Context, d remDeps, m remediation.Mode) (any, string, error) {
	ms, err := d.modeStore()
	if err != nil {
		return nil, "", err
	}
	prev, found, err := ms.GetMode(ctx)
	if err != nil {
		return nil, "", stack.Explain(err, "read the mode parameter "+ms.Name(), "the caller needs ssm:GetParameter on it")
	}
	if !found {
		// The stack creates the parameter: writing one here would create
		// a parameter nothing reads, and on-call would believe the mode
		// flipped.
		return nil, "", fmt.Errorf("the mode parameter %s (the stack's %s output) does not exist: nothing was changed; redeploy the stack (sam deploy) to recreate it",
			ms.Name(), stack.OutputModeParameter)
	}
	if err := ms.SetMode(ctx, m); err != nil {
		return nil, "", stack.Explain(err, "write the mode parameter "+ms.Name(), "the caller needs ssm:PutParameter on it")
	}
	out := map[string]string{"parameter": ms.Name(), "previous": prev, "mode": string(m)}
	return out, fmt.Sprintf("Set %s to %s (was %s) for stack %s. The remediator uses it within %s.\n", ms.Name(), m, prev, d.stack.Name, remediation.ModeCacheTTL), nil
}

func remSince(s string, now time.Time) (time.Time, error) {
	if strings.HasSuffix(s, "d") {
		if n, err := strconv.Atoi(strings.TrimSuffix(s, "d")); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration (90m, 24h, 7d) or an RFC 3339 time", s)
}

func remList(ctx context.Context, d remDeps) (any, string, error) {
	st, err := d.store(false)
	if err != nil {
		return nil, "", err
	}
	since, err := remSince(d.opts.since, remNow().UTC())
	if err != nil {
		return nil, "", err
	}
	recs, err := st.List(ctx, since, d.opts.principal)
	if err != nil {
		return nil, "", d.explainTable(err, "read the ledger")
	}
	if recs == nil {
		recs = []remediation.Record{}
	}
	var b strings.Builder
	if len(recs) > 0 {
		t := &table{header: []string{"ID", "TIME", "MODE", "ACTION", "RESULT", "PRINCIPAL", "RULE", "MODEL"}, shrink: map[int]bool{5: true, 7: true}}
		for _, r := range recs {
			row := plainCells(r.ID, r.Time.Format(time.RFC3339), string(r.Mode), r.Action, r.Result, r.Principal, r.Rule, r.Model)
			row[7].text = dash(row[7].text)
			if r.Result == remediation.ResultFailed || r.Result == remediation.ResultUndoFailed {
				row[4].colour = "31"
			}
			t.rows = append(t.rows, row)
		}
		if err := t.render(&b, d.sio.Width, colourOn(d.sio)); err != nil {
			return nil, "", err
		}
	}
	fmt.Fprintf(&b, "%s since %s\n", plural(len(recs), "record"), since.Format(time.RFC3339))
	return recs, b.String(), nil
}

func remUndo(ctx context.Context, d remDeps, id string) (any, string, error) {
	st, err := d.store(true)
	if err != nil {
		return nil, "", err
	}
	actor, account, err := d.caller(ctx)
	if err != nil {
		return nil, "", err
	}
	u := remediation.Undoer{
		Applier: remediation.Applier{IAM: iamstate.New(d.cfg)},
		Ledger:  st, Claims: st, Notices: st, Now: remNow, Metrics: io.Discard,
		Guard: remediation.Guard{StackName: d.stack.Name, Account: account},
	}
	alerts := &noteAlerter{}
	if topic := d.stack.Outputs[stack.OutputAlertTopic]; topic != "" {
		alerts.inner = snsalert.New(d.cfg, topic)
		u.Alerts = alerts
	}
	hub := &noteResolver{}
	if d.stack.Parameter(stack.ParameterSecurityHub) == "true" {
		hub.inner = hubpub.New(d.cfg, hubpub.Options{Stack: d.stack.Name, Account: account, Region: d.cfg.Region})
		u.Resolver = hub
	}
	rec, err := u.Undo(ctx, id, actor)
	if rec.ID == "" {
		return nil, "", err
	}
	text := "Undid " + id + ":\n" + remediation.Describe(rec)
	if alerts.err != nil {
		text += "Note: the undo alert was not published (" + safetext.Line(alerts.err.Error()) + "); the ledger records the undo.\n"
	}
	switch {
	case hub.err != nil:
		text += "Note: the Security Hub finding was not archived (" + safetext.Line(hub.err.Error()) + ").\n"
	case hub.inner != nil && err == nil:
		text += "Archived the incident's Security Hub finding.\n"
	}
	return rec, text, err
}

// noteResolver resolves through inner and keeps the failure for a note.
type noteResolver struct {
	inner remediation.FindingResolver
	err   error
}

func (n *noteResolver) Resolve(ctx context.Context, fingerprint, note string) error {
	n.err = n.inner.Resolve(ctx, fingerprint, note)
	return n.err
}

// noteAlerter publishes through inner and keeps the last failure, so the
// CLI can say the undo alert did not go out (the topic lets only the
// stack's roles publish) instead of losing it.
type noteAlerter struct {
	inner remediation.Alerter
	err   error
}

func (n *noteAlerter) Publish(ctx context.Context, a remediation.Alert) error {
	if err := n.inner.Publish(ctx, a); err != nil {
		n.err = err
		return err
	}
	return nil
}

func remBreakerReset(ctx context.Context, d remDeps) (any, string, error) {
	st, err := d.store(false)
	if err != nil {
		return nil, "", err
	}
	acct, err := d.account(ctx)
	if err != nil {
		return nil, "", err
	}
	now := remNow().UTC()
	before, err := st.Status(ctx, acct, now)
	if err != nil {
		return nil, "", d.explainTable(err, "read the breaker")
	}
	if err := st.Reset(ctx, acct, now); err != nil {
		return nil, "", d.explainTable(err, "reset the breaker")
	}
	out := map[string]any{"account": acct, "hour": remediation.Hour(now), "previousCount": before.Count, "wasOpen": before.Open}
	return out, fmt.Sprintf("Reset the breaker of account %s for the hour %s (it had counted %s; open: %t). Enforce actions may run again.\n",
		acct, remediation.Hour(now).Format("2006-01-02 15:00Z"), plural(before.Count, "enforce action"), before.Open), nil
}
