package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/history"
	"github.com/bedrock-warden/warden/pkg/history/trail"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
)

func init() {
	register(command{name: "scan", summary: "judge past Bedrock activity from CloudTrail event history (LookupEvents)", run: runScan})
}

const scanUsage = `Usage: warden scan [--since 24h|TIME] [--until TIME] [--region r1,r2|all]
                   [--policy FILE] [--format text|json]

Reads the Bedrock events of CloudTrail's event history (the LookupEvents
API, event sources bedrock.amazonaws.com and bedrock-mantle.amazonaws.com)
and judges them as 'warden check' does: "what would Bedrock Warden have
flagged in the last week?" (--since 7d).

Limits of event history: it holds MANAGEMENT EVENTS ONLY (no data events)
for the LAST 90 DAYS, per Region; an event can take several minutes to
appear. CloudTrail allows 2 LookupEvents requests per second per account and
Region, so a busy week takes a while: Regions are read in parallel, each at
2 requests/s, and throttled requests are retried with backoff.

TIME is RFC 3339 (2026-11-20T09:00:00Z) or a duration before now (24h, 7d).
--region defaults to the configured Region (AWS_REGION); "all" reads every
commercial Region where Bedrock is offered. Credentials come from the usual
AWS chain; AWS_ENDPOINT_URL overrides the endpoint. IAM: cloudtrail:LookupEvents.

Exit status: 0 no findings, 1 findings, 2 usage errors or a Region that could
not be read (after printing everything that was read).

Flags:
`

// scanClock drives the limiter, the backoff and "now"; tests replace it.
var scanClock history.Clock = history.RealClock{}

func runScan(ctx context.Context, args []string, sio *IO) int {
	fl := flag.NewFlagSet("scan", flag.ContinueOnError)
	fl.SetOutput(sio.Stderr)
	since := fl.String("since", "24h", "start: a duration before now (`24h`, 7d) or an RFC 3339 time")
	until := fl.String("until", "", "end: RFC 3339 time or a duration before now (default now)")
	regionFlag := fl.String("region", "", "comma list of Regions, or all (default: the configured Region)")
	policyPath := fl.String("policy", "", "policy YAML `FILE` (default $WARDEN_POLICY, else the embedded default)")
	format := fl.String("format", "text", "output format: text or json")
	fl.Usage = func() { fmt.Fprint(fl.Output(), scanUsage); fl.PrintDefaults() }
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(sio.Stderr, "warden scan: "+format+"\n", a...)
		return exitUsage
	}
	if fl.NArg() > 0 {
		return fail("unexpected argument %q (see warden scan --help)", fl.Arg(0))
	}
	if *format != "text" && *format != "json" {
		return fail("--format must be text or json, not %q", *format)
	}
	now := scanClock.Now().UTC()
	start, err := parseWhen(*since, now)
	if err != nil {
		return fail("--since: %v", err)
	}
	end := now
	if *until != "" {
		if end, err = parseWhen(*until, now); err != nil {
			return fail("--until: %v", err)
		}
	}
	if !end.After(start) {
		return fail("--until %s is not after --since %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	if start.Before(now.Add(-history.Retention)) {
		return fail("--since %s is more than 90 days ago: CloudTrail event history keeps 90 days", start.Format(time.RFC3339))
	}
	p, err := loadPolicy(*policyPath, sio.Getenv)
	if err != nil {
		return fail("%v", err)
	}
	cfg, err := awsconf.Load(ctx, "", "", nil)
	if err != nil {
		return fail("%v", err)
	}
	regions, err := history.ParseRegions(*regionFlag, cfg.Region)
	if err != nil {
		return fail("--region: %v", err)
	}

	progress := progressPrinter(sio.Stderr)
	res := scanHistory(ctx, p, &history.Scanner{
		Lookup:   trail.Factory(cfg),
		Clock:    scanClock,
		Backoff:  history.Backoff{Rand: rand.Float64},
		Progress: progress,
	}, regions, start, end)
	if progress != nil {
		fmt.Fprint(sio.Stderr, "\r\x1b[K") // clear the progress line
	}

	for _, e := range res.errors {
		fmt.Fprintf(sio.Stderr, "warden scan: %v\n", e)
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(sio.Stdout)
		for i := range res.findings {
			if err := enc.Encode(&res.findings[i]); err != nil {
				return fail("write: %v", err)
			}
		}
	default:
		printTable(sio.Stdout, res.findings, sio.IsTerminal)
	}
	fmt.Fprintf(sio.Stderr, "%s in %d Bedrock events from %d Regions (%s to %s, %d requests",
		summary(res.findings), res.events, len(regions), start.Format(time.RFC3339), end.Format(time.RFC3339), res.stats.Requests)
	if res.stats.Throttled > 0 {
		fmt.Fprintf(sio.Stderr, ", %d throttled", res.stats.Throttled)
	}
	fmt.Fprint(sio.Stderr, ")")
	if res.skipped > 0 {
		fmt.Fprintf(sio.Stderr, "; %d non-Bedrock records skipped", res.skipped)
	}
	if len(res.errors) > 0 {
		fmt.Fprintf(sio.Stderr, "; %d errors", len(res.errors))
	}
	fmt.Fprintln(sio.Stderr)
	switch {
	case len(res.errors) > 0:
		return exitUsage
	case len(res.findings) > 0:
		return exitFindings
	}
	return exitOK
}

type scanResult struct {
	findings []findings.Finding
	events   int
	skipped  int
	errors   []error
	stats    history.Stats
}

// scanHistory runs every history event through the detection core.
func scanHistory(ctx context.Context, p *policy.Policy, s *history.Scanner, regions []string, start, end time.Time) scanResult {
	var res scanResult
	engine := rules.New(p)
	core := &detector.Core{Rules: engine}
	seq := &sequences{engine: engine}
	st, err := s.Scan(ctx, regions, start, end, func(ev history.Event) error {
		src := "cloudtrail:" + ev.Region + ":" + ev.ID
		core.Each(decode.Bytes(src, []byte(ev.Record)), func(r *detector.Result, err error) {
			if err != nil {
				if errors.Is(err, detector.ErrNotBedrock) {
					res.skipped++
					return
				}
				res.errors = append(res.errors, err)
				return
			}
			res.events++
			res.findings = append(res.findings, r.Findings...)
			seq.add(&r.Event)
		})
		return nil
	})
	res.findings = append(res.findings, seq.findings()...)
	res.stats = st
	if err != nil {
		res.errors = append(res.errors, unjoin(err)...)
	}
	sort.SliceStable(res.findings, func(i, j int) bool {
		a, b := res.findings[i], res.findings[j]
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		return a.EventTime.Before(b.EventTime)
	})
	return res
}

// unjoin splits an errors.Join result into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

// parseWhen reads an RFC 3339 time or a duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := policy.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration (24h, 7d)", s)
	}
	return now.Add(-d.D()), nil
}

// progressPrinter returns a Progress callback that rewrites one status line
// on w when w is a terminal, and nil (no progress) otherwise.
func progressPrinter(w io.Writer) func(history.Stats) {
	f, ok := w.(*os.File)
	if !ok || !isTerminal(f) {
		return nil
	}
	return func(st history.Stats) { fmt.Fprint(w, "\r"+progressLine(st)+"\x1b[K") }
}

// progressLine formats the scan's progress.
func progressLine(st history.Stats) string {
	line := fmt.Sprintf("scanning: %d events, %d pages, %s, %.1f events/s",
		st.Events, st.Pages, st.Elapsed.Round(time.Second), st.Rate())
	if st.Throttled > 0 {
		line += fmt.Sprintf(", %d throttled", st.Throttled)
	}
	return line
}
