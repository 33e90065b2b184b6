package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/archive"
	"github.com/bedrock-warden/warden/pkg/archive/s3src"
	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
	"github.com/bedrock-warden/warden/pkg/safetext"
)

// archiveScan is what `warden scan --from s3://…` was asked.
type archiveScan struct {
	from        string
	since, end  time.Time
	accounts    []string
	regions     []string
	concurrency int
	policy      *policy.Policy
	json        bool
}

// parseList splits a comma list, dropping blanks.
func parseList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// checkAccounts refuses anything but 12-digit account ids.
func checkAccounts(list []string) error {
	for _, a := range list {
		if len(a) != 12 || strings.Trim(a, "0123456789") != "" {
			return fmt.Errorf("%q is not a 12-digit AWS account id", a)
		}
	}
	return nil
}

// runArchiveScan reads the trail archive at s.from: the log files of the
// day folders between --since and --until (plus the delivery horizon) of
// the accounts and Regions asked (every one found by default).
func runArchiveScan(ctx context.Context, s archiveScan, sio *IO) int {
	failf := func(format string, a ...any) int { return fail(sio, "scan", fmt.Errorf(format, a...)) }
	loc, err := archive.ParseURL(s.from)
	if err != nil {
		return failf("--from: %v", err)
	}
	cfg, err := awsconf.Load(ctx, "", "", nil)
	if err != nil {
		return failf("%v", err)
	}
	if r := s3src.BucketRegion(ctx, cfg, loc.Bucket); r != "" && r != cfg.Region {
		cfg.Region = r // the bucket's own Region answers for it
	}
	scanner := &archive.Scanner{Bucket: s3src.New(cfg), Engine: rules.New(s.policy), Concurrency: s.concurrency}

	progress := archiveProgress(sio.Stderr, loc)
	var clearLine string
	if progress != nil {
		clearLine = "\r\x1b[K"
		scanner.Progress = progress
	}
	scanner.Problem = func(err error) {
		fmt.Fprintf(sio.Stderr, "%swarden scan: %s\n", clearLine, safetext.Line(err.Error()))
	}
	// JSON findings go out as soon as they are final; the table sorts
	// them through check's collector, which spills to disk past a few
	// megabytes: memory does not grow with the findings either way.
	var (
		col      = newCollector()
		enc      = json.NewEncoder(sio.Stdout)
		severity = map[findings.Severity]int{}
	)
	defer col.close()
	emit := func(f *findings.Finding) error {
		severity[f.Severity]++
		if s.json {
			if err := enc.Encode(f); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			return nil
		}
		return col.add(f)
	}
	plan := archive.Plan{Location: loc, Since: s.since, Until: s.end, Accounts: s.accounts, Regions: s.regions}
	sum, err := scanner.Scan(ctx, plan, emit)
	if progress != nil {
		fmt.Fprint(sio.Stderr, clearLine)
	}
	if sum == nil {
		return failf("%v", err)
	}
	for _, n := range sum.Notes {
		fmt.Fprintf(sio.Stderr, "warden scan: note: %s\n", n)
	}
	if err != nil {
		fmt.Fprintf(sio.Stderr, "warden scan: %v\n", err)
		return exitUsage
	}
	if !s.json {
		if err := col.writeTable(sio.Stdout, colourOn(sio), sio.Width); err != nil {
			return failf("write: %v", err)
		}
	}
	printArchiveSummary(sio.Stderr, loc, plan, sum, severity)
	switch {
	case sum.Interrupted || len(sum.Failures) > 0 || len(sum.ListFailures) > 0 || sum.RecordErrors > 0:
		return exitUsage
	case sum.Findings > 0:
		return exitFindings
	}
	return exitOK
}

// printArchiveSummary says what was read, what was found and what was
// not read.
func printArchiveSummary(w io.Writer, loc archive.Location, plan archive.Plan, sum *archive.Summary, severity map[findings.Severity]int) {
	fmt.Fprintf(w, "%s in %s from %s of %s (%s, %s; %s to %s",
		summaryCounts(sum.Findings, severity), plural(sum.Events, "Bedrock event"), plural(sum.Read, "log file"),
		plural(sum.Partitions, "account-Region"), byteSize(sum.Bytes), plural(sum.Records, "record"),
		plan.Since.Format(time.RFC3339), plan.Until.Format(time.RFC3339))
	if sum.Elapsed > 0 {
		fmt.Fprintf(w, ", %s, %.0f records/s", sum.Elapsed.Round(100*time.Millisecond), sum.Rate())
	}
	fmt.Fprint(w, ")")
	if sum.Others > 0 {
		fmt.Fprintf(w, "; %s of other services skipped", plural(sum.Others, "record"))
	}
	if sum.RecordErrors > 0 {
		fmt.Fprintf(w, "; %s", plural(sum.RecordErrors, "unreadable record"))
	}
	fmt.Fprintln(w)
	if sum.Late > 0 {
		fmt.Fprintf(w, "warden scan: note: %s arrived more than %s after they happened: judged by every rule but recon-then-invoke\n",
			plural(sum.Late, "recon or invocation event"), archive.DeliveryHorizon)
	}
	if n := len(sum.Failures) + len(sum.ListFailures); n > 0 {
		fmt.Fprintf(w, "warden scan: %s not read (listed above by key); run the scan again to retry them\n",
			plural(len(sum.Failures), "log file")+plural0(len(sum.ListFailures), " and ", "day folder"))
	}
	if sum.Interrupted {
		if sum.Covered.IsZero() {
			fmt.Fprintf(w, "warden scan: interrupted before any log file of %s was read\n", loc.URL())
		} else {
			fmt.Fprintf(w, "warden scan: interrupted after %s of %d listed: every log file delivered before %s was read (calls made before %s are covered); resume with --since %s\n",
				plural(sum.Read, "log file"), sum.Listed,
				sum.Covered.Format(time.RFC3339), sum.Covered.Add(-archive.DeliveryHorizon).Format(time.RFC3339),
				sum.Covered.Add(-archive.DeliveryHorizon).Format(time.RFC3339))
		}
	}
}

// plural0 is sep+plural(n, noun) when n > 0, else "".
func plural0(n int, sep, noun string) string {
	if n == 0 {
		return ""
	}
	return sep + plural(n, noun)
}

// byteSize formats a byte count for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// archiveProgress returns a Progress callback that keeps one status line
// up to date on w when w is a terminal (at most every 200 ms), and nil
// otherwise.
func archiveProgress(w io.Writer, loc archive.Location) func(archive.Progress) {
	f, ok := w.(*os.File)
	if !ok || !isTerminal(f) {
		return nil
	}
	var last time.Time
	return func(p archive.Progress) {
		if time.Since(last) < 200*time.Millisecond {
			return
		}
		last = time.Now()
		fmt.Fprint(w, "\r"+archiveProgressLine(loc, p)+"\x1b[K")
	}
}

// archiveProgressLine formats a scan's progress: objects, bytes, rate,
// findings, ETA.
func archiveProgressLine(loc archive.Location, p archive.Progress) string {
	events := 0.0
	if p.Elapsed > 0 {
		events = float64(p.Events) / p.Elapsed.Seconds()
	}
	line := fmt.Sprintf("scanning %s: %d/%d log files (day %d of %d listed), %s, %.0f records/s, %d Bedrock events (%.0f/s), %s",
		loc.URL(), p.Read+p.Failed, p.Listed, p.DaysListed, p.Days, byteSize(p.Bytes), p.Rate(), p.Events, events, plural(p.Findings, "finding"))
	if eta := p.ETA(); eta > 0 {
		line += ", ETA " + eta.Round(time.Second).String()
	}
	return line
}

// scanArchiveFlagsWithoutFrom reports the archive-only flags given without
// --from.
func scanArchiveFlagsWithoutFrom(fl *cmdFlags) error {
	for _, name := range []string{"account", "concurrency"} {
		if fl.set(name) {
			return fmt.Errorf("--%s reads a trail archive: give it with --from s3://BUCKET/PREFIX (event history holds the caller's account only)", name)
		}
	}
	return nil
}

// archiveRegions reads --region for an archive scan: every Region found
// when empty or "all", else the names given (checked like scan's).
func archiveRegions(value string, sio *IO) ([]string, error) {
	if v := strings.TrimSpace(value); v == "" || strings.EqualFold(v, "all") {
		return nil, nil
	}
	if err := checkRegions(value, sio); err != nil {
		return nil, err
	}
	list := parseList(value)
	slices.Sort(list)
	return slices.Compact(list), nil
}
