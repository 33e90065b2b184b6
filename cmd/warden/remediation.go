package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/remediation"
	"github.com/bedrock-warden/warden/pkg/remediation/iamstate"
	"github.com/bedrock-warden/warden/pkg/remediation/ledgerdb"
	"github.com/bedrock-warden/warden/pkg/remediation/snsalert"
	"github.com/bedrock-warden/warden/pkg/remediation/ssmmode"
	"github.com/bedrock-warden/warden/pkg/safetext"
	"github.com/bedrock-warden/warden/pkg/seal"
	"github.com/bedrock-warden/warden/pkg/seal/kmsmac"
)

func init() {
	register(command{name: "remediation", summary: "show and flip remediation mode, list, undo, reset the breaker", run: runRemediation})
}

// remNow is the CLI's clock; tests replace it.
var remNow = time.Now

const remediationUsage = `Usage:
  warden remediation status                       mode, breaker, actions in the last hour
  warden remediation set off|dry-run|enforce      flip the mode (takes effect within 30 s)
  warden remediation list [--since 24h] [--principal ARN]
  warden remediation undo ID                      restore exactly what record ID changed
  warden remediation breaker reset                close the breaker for this hour

Common flags (anywhere after the subcommand):
  --stack NAME     stack name (default $WARDEN_STACK); SSM /bedrock-warden/NAME/remediation/mode
  --table NAME     DynamoDB state table (default $WARDEN_TABLE)
  --region R       AWS region (default from the AWS config)
  --account ID     account of the breaker (default: the caller's account)
  --policy FILE    policy YAML for maxActionsPerHour (default $WARDEN_POLICY, else the default)
  --topic ARN      also publish an alert about an undo (default $WARDEN_TOPIC_ARN)
  --ledger-key ARN KMS HMAC key that seals the ledger (default $WARDEN_LEDGER_KEY;
                   the stack's LedgerKeyArn output). undo verifies the record with it
                   before any IAM change and refuses a record that does not verify.
  --json           print JSON for scripts

The endpoint can be overridden with AWS_ENDPOINT_URL.
Exit status: 0 done, 2 usage error or the operation failed.
`

// remOpts are the parsed common flags.
type remOpts struct {
	stack, table, region, account, policyPath, topic string
	ledgerKey                                        string
	since, principal                                 string
	json                                             bool
}

// remParse parses flags placed anywhere among the arguments.
func remParse(name string, args []string, sio *IO) (remOpts, []string, error) {
	var o remOpts
	fl := flag.NewFlagSet("remediation "+name, flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	fl.StringVar(&o.stack, "stack", sio.Getenv("WARDEN_STACK"), "")
	fl.StringVar(&o.table, "table", sio.Getenv("WARDEN_TABLE"), "")
	fl.StringVar(&o.region, "region", "", "")
	fl.StringVar(&o.account, "account", "", "")
	fl.StringVar(&o.policyPath, "policy", "", "")
	fl.StringVar(&o.topic, "topic", sio.Getenv("WARDEN_TOPIC_ARN"), "")
	fl.StringVar(&o.ledgerKey, "ledger-key", sio.Getenv("WARDEN_LEDGER_KEY"), "")
	fl.StringVar(&o.since, "since", "24h", "")
	fl.StringVar(&o.principal, "principal", "", "")
	fl.BoolVar(&o.json, "json", false, "")
	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			return o, nil, err
		}
		args = fl.Args()
		if len(args) == 0 {
			return o, pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// remDeps are the adapters a subcommand needs, built lazily.
type remDeps struct {
	cfg  aws.Config
	opts remOpts
}

func (d remDeps) modeStore() (ssmmode.Store, error) {
	if d.opts.stack == "" {
		return ssmmode.Store{}, errors.New("no stack: pass --stack or set WARDEN_STACK")
	}
	return ssmmode.New(d.cfg, d.opts.stack), nil
}

// store returns the ledger. Reading lists needs no key; undo, which
// verifies and writes records, needs the ledger key.
func (d remDeps) store() (ledgerdb.Store, error) {
	if d.opts.table == "" {
		return ledgerdb.Store{}, errors.New("no table: pass --table or set WARDEN_TABLE")
	}
	var sealer seal.Records
	if d.opts.ledgerKey != "" {
		k := kmsmac.New(d.cfg, d.opts.ledgerKey)
		sealer = seal.Records{Gen: k, Check: k}
	}
	return ledgerdb.New(d.cfg, d.opts.table, sealer), nil
}

// caller returns the caller's ARN and account (sts:GetCallerIdentity needs
// no permission).
func (d remDeps) caller(ctx context.Context) (arn, account string, err error) {
	out, err := sts.NewFromConfig(d.cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", "", fmt.Errorf("who am I (sts:GetCallerIdentity): %w", err)
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

func runRemediation(ctx context.Context, args []string, sio *IO) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := sio.Stderr
		if len(args) > 0 {
			w = sio.Stdout
		}
		fmt.Fprint(w, remediationUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub := args[0]
	o, pos, err := remParse(sub, args[1:], sio)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(sio.Stdout, remediationUsage)
			return exitOK
		}
		fmt.Fprintf(sio.Stderr, "warden remediation %s: %v\n\n%s", sub, err, remediationUsage)
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(sio.Stderr, "warden remediation %s: %v\n", sub, err)
		return exitUsage
	}
	wantArgs := map[string]int{"status": 0, "set": 1, "list": 0, "undo": 1, "breaker": 1}
	n, known := wantArgs[sub]
	if !known {
		fmt.Fprintf(sio.Stderr, "warden remediation: unknown subcommand %q\n\n%s", sub, remediationUsage)
		return exitUsage
	}
	if len(pos) != n || (sub == "breaker" && pos[0] != "reset") {
		fmt.Fprintf(sio.Stderr, "warden remediation %s: wrong arguments %q\n\n%s", sub, pos, remediationUsage)
		return exitUsage
	}
	if sub == "set" {
		if _, ok := remediation.ParseMode(pos[0]); !ok {
			fmt.Fprintf(sio.Stderr, "warden remediation set: mode %q: want off, dry-run or enforce\n", pos[0])
			return exitUsage
		}
	}
	cfg, err := awsconf.Load(ctx, o.region, "", nil)
	if err != nil {
		return fail(err)
	}
	d := remDeps{cfg: cfg, opts: o}
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
		return fail(err)
	}
	if o.json {
		enc := json.NewEncoder(sio.Stdout)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(out); werr != nil {
			return fail(werr)
		}
	} else {
		fmt.Fprint(sio.Stdout, text)
	}
	if err != nil {
		return fail(err)
	}
	return exitOK
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
	st, err := d.store()
	if err != nil {
		return nil, "", err
	}
	p, err := loadPolicy(d.opts.policyPath, sio.Getenv)
	if err != nil {
		return nil, "", err
	}
	acct, err := d.account(ctx)
	if err != nil {
		return nil, "", err
	}
	r := remStatusReport{Stack: d.opts.stack, Parameter: ms.Name(), Max: p.Remediation.MaxActionsPerHour, LastHour: map[string]int{}}
	if r.Max <= 0 {
		r.Max = 10
	}
	v, found, err := ms.GetMode(ctx)
	if err != nil {
		return nil, "", err
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
		return nil, "", err
	}
	r.Breaker.Open = r.Breaker.Open || r.Breaker.Count >= r.Max
	recs, err := st.List(ctx, now.Add(-time.Hour), "")
	if err != nil {
		return nil, "", err
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
	fmt.Fprintf(&b, "Mode:     %s%s  [%s]\n", r.Mode, def, r.Parameter)
	state := "closed"
	if r.Breaker.Open {
		state = "OPEN: remediation is dry-run until the hour ends or `warden remediation breaker reset`"
	}
	fmt.Fprintf(&b, "Breaker:  %s — %d/%d enforce actions in account %s this hour (%s)\n", state, r.Breaker.Count, r.Max, acct, r.Breaker.Hour.Format("2006-01-02 15:00Z"))
	fmt.Fprintf(&b, "Last hour: %d enforce actions", r.EnforceInHour)
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
		return nil, "", err
	}
	if !found {
		prev = string(remediation.DefaultMode) + " (default)"
	}
	if err := ms.SetMode(ctx, m); err != nil {
		return nil, "", err
	}
	out := map[string]string{"parameter": ms.Name(), "previous": prev, "mode": string(m)}
	return out, fmt.Sprintf("Set %s to %s (was %s). The remediator uses it within %s.\n", ms.Name(), m, prev, remediation.ModeCacheTTL), nil
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
	st, err := d.store()
	if err != nil {
		return nil, "", err
	}
	since, err := remSince(d.opts.since, remNow().UTC())
	if err != nil {
		return nil, "", err
	}
	recs, err := st.List(ctx, since, d.opts.principal)
	if err != nil {
		return nil, "", err
	}
	if recs == nil {
		recs = []remediation.Record{}
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tMODE\tACTION\tRESULT\tPRINCIPAL\tRULE\tMODEL")
	for _, r := range recs {
		l := safetext.Line
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l(r.ID), r.Time.Format(time.RFC3339), l(string(r.Mode)), l(r.Action),
			l(r.Result), l(r.Principal), l(r.Rule), dashIfBlank(l(r.Model)))
	}
	tw.Flush()
	fmt.Fprintf(&b, "%d record(s) since %s\n", len(recs), since.Format(time.RFC3339))
	return recs, b.String(), nil
}

func dashIfBlank(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func remUndo(ctx context.Context, d remDeps, id string) (any, string, error) {
	st, err := d.store()
	if err != nil {
		return nil, "", err
	}
	if _, err := remediation.IDTime(id); err != nil {
		return nil, "", err
	}
	if d.opts.ledgerKey == "" {
		return nil, "", errors.New("no ledger key: pass --ledger-key or set WARDEN_LEDGER_KEY (the stack's LedgerKeyArn output); " +
			"undo verifies the record's seal before changing IAM")
	}
	actor, account, err := d.caller(ctx)
	if err != nil {
		return nil, "", err
	}
	u := remediation.Undoer{
		Applier: remediation.Applier{IAM: iamstate.New(d.cfg)},
		Ledger:  st, Claims: st, Notices: st, Now: remNow, Metrics: io.Discard,
		Guard: remediation.Guard{StackName: d.opts.stack, Account: account},
	}
	if d.opts.topic != "" {
		u.Alerts = snsalert.New(d.cfg, d.opts.topic)
	}
	rec, err := u.Undo(ctx, id, actor)
	if rec.ID == "" {
		return nil, "", err
	}
	return rec, "Undid " + id + ":\n" + remediation.Describe(rec), err
}

func remBreakerReset(ctx context.Context, d remDeps) (any, string, error) {
	st, err := d.store()
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
		return nil, "", err
	}
	if err := st.Reset(ctx, acct, now); err != nil {
		return nil, "", err
	}
	out := map[string]any{"account": acct, "hour": remediation.Hour(now), "previousCount": before.Count, "wasOpen": before.Open}
	return out, fmt.Sprintf("Reset the breaker of account %s for the hour %s (it had counted %d enforce actions; open: %t). Enforce actions may run again.\n",
		acct, remediation.Hour(now).Format("2006-01-02 15:00Z"), before.Count, before.Open), nil
}
