package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/archive"
	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/history"
	"github.com/bedrock-warden/warden/pkg/history/trail"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
	"github.com/bedrock-warden/warden/pkg/safetext"
	"github.com/bedrock-warden/warden/pkg/suggest"
)

func init() {
	register(command{name: "scan", summary: "judge past Bedrock activity from CloudTrail event history (LookupEvents)", run: runScan})
}

const scanAbout = `Reads the Bedrock events of CloudTrail's event history (the LookupEvents
API, event sources bedrock.amazonaws.com and bedrock-mantle.amazonaws.com)
and judges them as 'warden check' does: "what would Bedrock Warden have
flagged in the last week?" (--since 7d).

Limits of event history: it holds MANAGEMENT EVENTS ONLY (no data events)
for the LAST 90 DAYS, per Region; an event can take several minutes to
appear. CloudTrail allows 2 LookupEvents requests per second per account and
Region, so a busy week takes a while: Regions are read in parallel, each at
2 requests/s, and throttled requests are retried with backoff (each retry is
reported on stderr).

With --from s3://BUCKET[/PREFIX] the scan reads a trail's log files in S3
instead: every account of an organisation trail, every Region, as far back
as the bucket keeps them, thousands of times faster. It lists only the day
folders between --since and --until (plus an hour, for late deliveries) of
the accounts (--account) and Regions (--region; default every one found),
never the whole bucket and never the digest files, and reads --concurrency
log files at once, each streamed through the decoder. PREFIX is the trail's
S3 key prefix (or a path down to AWSLogs/o-ORG/ACCOUNT/CloudTrail/REGION/).
Findings are the same as 'warden check' gives for the same files, with
recon-then-invoke judged in time order (docs/history.md says how); with
--format json they are printed as soon as they are final, unsorted. A log
file that cannot be read is retried, then named on stderr; Ctrl-C stops the
scan and says up to when it got. IAM: s3:ListBucket on the bucket,
s3:GetObject on its objects, and kms:Decrypt on the trail's KMS key when the
logs are SSE-KMS encrypted.

TIME is RFC 3339 (2026-11-20T09:00:00Z) or a duration before now (24h, 7d).
--region defaults to the configured Region (AWS_REGION); "all" reads every
commercial Region where Bedrock is offered. Region names are checked before
any request. Credentials come from the usual AWS chain; AWS_ENDPOINT_URL
overrides the endpoint. IAM: cloudtrail:LookupEvents.

Exit status: 0 no findings, 1 findings, 2 usage errors, a Region or log file
that could not be read, or an interrupted scan (after printing everything
that was read).`

// scanClock drives the limiter, the backoff and "now"; tests replace it.
var scanClock history.Clock = history.RealClock{}

func runScan(ctx context.Context, args []string, sio *IO) int {
	fl := newFlags("scan", "warden scan [--since 24h|TIME] [--until TIME] [--region r1,r2|all] [--from s3://BUCKET/PREFIX [--account IDS] [--concurrency N]] [--policy LOCATION] [--format text|json]", scanAbout,
		"warden scan --since 7d",
		"warden scan --since 2026-11-01T00:00:00Z --until 2026-11-08T00:00:00Z --region all --json > findings.jsonl",
		"warden scan --from s3://org-trail-logs --since 90d --json > last-quarter.jsonl",
		"warden scan --from s3://org-trail-logs/logs --account 111122223333,444455556666 --region us-east-1 --since 7d").withFormat()
	since := fl.fs.String("since", "24h", "start: a duration before now (`24h`, 7d) or an RFC 3339 time")
	until := fl.fs.String("until", "", "end: an RFC 3339 `TIME` or a duration before now (default now)")
	regionFlag := fl.fs.String("region", "", "comma list of `REGIONS`, or all (default: the configured Region; with --from every Region found)")
	from := fl.fs.String("from", "", "read a trail's log files in S3 instead of event history: `s3://BUCKET[/PREFIX]`")
	accountFlag := fl.fs.String("account", "", "with --from: comma list of `ACCOUNTS` to read (default every account found)")
	concurrency := fl.fs.Int("concurrency", archive.DefaultConcurrency, "with --from: log files read at once (`N`)")
	policyFlag := fl.fs.String("policy", "", policyFlagUsage)
	pos, code, ok := fl.parse(args, sio)
	if !ok {
		return code
	}
	failf := func(format string, a ...any) int { return fail(sio, "scan", fmt.Errorf(format, a...)) }
	if len(pos) > 0 {
		return failf("unexpected argument %q (scan reads CloudTrail event history, or a trail's S3 bucket with --from s3://BUCKET/PREFIX; to judge files use warden check)", pos[0])
	}
	if *from == "" {
		if err := scanArchiveFlagsWithoutFrom(fl); err != nil {
			return failf("%v", err)
		}
	} else if *concurrency < 1 || *concurrency > 256 {
		return failf("--concurrency must be between 1 and 256, not %d", *concurrency)
	}
	now := scanClock.Now().UTC()
	start, err := parseWhen(*since, now)
	if err != nil {
		return failf("--since: %v", err)
	}
	end := now
	if *until != "" {
		if end, err = parseWhen(*until, now); err != nil {
			return failf("--until: %v", err)
		}
	}
	if !end.After(start) {
		return failf("--until %s is not after --since %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	if *from != "" {
		accounts := parseList(*accountFlag)
		if err := checkAccounts(accounts); err != nil {
			return failf("--account: %v", err)
		}
		regions, err := archiveRegions(*regionFlag, sio)
		if err != nil {
			return failf("--region: %v", err)
		}
		p, err := loadPolicy(ctx, *policyFlag, sio, "")
		if err != nil {
			return failf("%v", err)
		}
		return runArchiveScan(ctx, archiveScan{from: *from, since: start, end: end, accounts: accounts, regions: regions,
			concurrency: *concurrency, policy: p.Policy, json: fl.JSON()}, sio)
	}
	if start.Before(now.Add(-history.Retention)) {
		return failf("--since %s is more than 90 days ago: CloudTrail event history keeps 90 days (a trail's S3 bucket keeps more: --from s3://BUCKET/PREFIX)", start.Format(time.RFC3339))
	}
	if *regionFlag != "" && !strings.EqualFold(strings.TrimSpace(*regionFlag), "all") {
		if err := checkRegions(*regionFlag, sio); err != nil {
			return failf("--region: %v", err)
		}
	}
	p, err := loadPolicy(ctx, *policyFlag, sio, "")
	if err != nil {
		return failf("%v", err)
	}
	cfg, err := awsconf.Load(ctx, "", "", nil)
	if err != nil {
		return failf("%v", err)
	}
	regions, err := history.ParseRegions(*regionFlag, cfg.Region)
	if err != nil {
		return failf("--region: %v", err)
	}

	progress := progressPrinter(sio.Stderr)
	var clearLine string
	if progress != nil {
		clearLine = "\r\x1b[K"
	}
	res := scanHistory(ctx, p.Policy, &history.Scanner{
		Lookup:   trail.Factory(cfg),
		Clock:    scanClock,
		Backoff:  history.Backoff{Rand: rand.Float64},
		Progress: progress,
		Retrying: func(r history.Retry) {
			fmt.Fprintf(sio.Stderr, "%swarden scan: %s: %s; retry %d of %d in %s\n", clearLine, r.Region, retryReason(r.Err), r.Attempt, r.Max, r.Wait.Round(100*time.Millisecond))
		},
	}, regions, start, end)
	if progress != nil {
		fmt.Fprint(sio.Stderr, clearLine) // clear the progress line
	}

	for _, e := range res.errors {
		fmt.Fprintf(sio.Stderr, "warden scan: %s\n", safetext.Line(e.Error()))
	}
	if err := printFindings(sio, res.findings, fl.JSON()); err != nil {
		return failf("%v", err)
	}
	fmt.Fprintf(sio.Stderr, "%s in %s from %s (%s to %s, %s",
		summary(res.findings), plural(res.events, "Bedrock event"), plural(len(regions), "Region"),
		start.Format(time.RFC3339), end.Format(time.RFC3339), plural(res.stats.Requests, "request"))
	if res.stats.Throttled > 0 {
		fmt.Fprintf(sio.Stderr, ", %d throttled", res.stats.Throttled)
	}
	fmt.Fprint(sio.Stderr, ")")
	if res.skipped > 0 {
		fmt.Fprintf(sio.Stderr, "; %s skipped", plural(res.skipped, "non-Bedrock record"))
	}
	if len(res.errors) > 0 {
		fmt.Fprintf(sio.Stderr, "; %s", plural(len(res.errors), "error"))
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

// checkRegions refuses a Region name that cannot be one ("us-esat-1"),
// naming the closest Bedrock Region, and notes a well-formed name that is
// not a Region where Bedrock is known to be offered.
func checkRegions(value string, sio *IO) error {
	for _, r := range strings.Split(value, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !policy.ValidRegion(r) {
			msg := fmt.Sprintf("%q is not an AWS Region name", r)
			if s := suggest.Closest(r, history.Regions); s != "" {
				msg += fmt.Sprintf(": did you mean %s?", s)
			} else {
				msg += " (like us-east-1; all reads every Bedrock Region)"
			}
			return errors.New(msg)
		}
		if !slices.Contains(history.Regions, r) {
			fmt.Fprintf(sio.Stderr, "warden scan: note: Bedrock is not offered in %s as far as this warden knows; reading it anyway\n", r)
		}
	}
	return nil
}

// retryReason says in a few words why a request is being retried.
func retryReason(err error) string {
	switch {
	case err == nil:
		return "retrying"
	case errors.Is(err, history.ErrThrottled):
		return "throttled by CloudTrail (2 requests/s per Region)"
	}
	return "request failed (" + safetext.Line(err.Error()) + ")"
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
	seq := newSequences(engine)
	defer seq.close()
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
	fs, serr := seq.findings()
	res.findings = append(res.findings, fs...)
	if serr != nil {
		res.errors = append(res.errors, serr)
	}
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
