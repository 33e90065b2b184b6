package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/bench/archivescan"
)

// archiveGoal is the S3 scan's goal.
const archiveGoal = "warden scan --from s3:// ≥ 0.5 × warden check events/s on the same log files, identical findings"

// archiveGoals returns the S3 scan's goal.
func archiveGoals(r *Results) []Goal {
	if len(r.Archive) == 0 {
		return []Goal{{archiveGoal, "–", NotMeasured}}
	}
	a := &r.Archive[0]
	fig := fmt.Sprintf("%.2f × (%s vs %s events/s; %s), %s%s", a.Ratio(), thousands(int(a.ScanRate())), thousands(int(a.CheckRate())), mix(a), identical(a), floorNote(a))
	return []Goal{{archiveGoal, fig, status(a.Ratio() >= 0.5 && a.Identical())}}
}

// floorNote says, when the local S3 alone is slower than the goal allows,
// how long merely reading its objects takes.
func floorNote(a *archivescan.Result) string {
	if a.Fetch <= 0 || a.Check <= 0 {
		return ""
	}
	ceiling := float64(a.Check) / float64(a.Fetch)
	return fmt.Sprintf("; reading the objects alone, judging nothing, takes the local S3 %s (%s events/s, a ceiling of %.2f × check); scan ÷ that floor %.2f",
		a.Fetch.Round(time.Millisecond), thousands(int(a.FetchRate())), ceiling, float64(a.Fetch)/float64(a.Scan))
}

// mix says what share of the archive's records are Bedrock's.
func mix(a *archivescan.Result) string {
	if a.Others == 0 {
		return "Bedrock records only"
	}
	return fmt.Sprintf("1 record in %d is Bedrock's", a.Others+1)
}

func identical(a *archivescan.Result) string {
	if a.Identical() {
		return fmt.Sprintf("the same %s findings", thousands(a.CheckFindings))
	}
	return fmt.Sprintf("findings differ: check %d, scan %d (only check: %s; only scan: %s)", a.CheckFindings, a.ScanFindings,
		strings.Join(a.Missing, "; "), strings.Join(a.Extra, "; "))
}

// writeArchive renders the S3 scan scenario.
func writeArchive(p func(string, ...any), r *Results) {
	p("## `warden scan --from s3://…` against `warden check`\n\n")
	if len(r.Archive) == 0 {
		p("Not measured: %s\n\n", r.ArchiveErr)
		return
	}
	p("`bench/archivescan` lays a seeded corpus out as an organisation trail delivers it (`internal/corpus.Archive`: a gzip log file per account, Region and 5 minutes of calls, named and filed by delivery time under `AWSLogs/%s/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/`, with other services' read-only calls mixed in as a real trail has them), writes it to a directory and uploads it to `moto_server`'s S3. The warden binary then runs `check --format json DIR` and `scan --from s3://%s --format json --concurrency %d`, each as a process of its own; events/s is the archive's Bedrock events over each process's wall clock, and the two outputs are compared finding by finding. The goal is judged on the first archive.\n\n",
		archivescan.Org, archivescan.Bucket, r.Archive[0].Concurrency)
	p("| archive | log files | `warden check` (directory) | GetObject of every file, nothing judged | `warden scan --from s3://` | scan ÷ check | findings | scan ÷ LookupEvents |\n|---|---:|---:|---:|---:|---:|---|---:|\n")
	for i := range r.Archive {
		a := &r.Archive[i]
		p("| %s Bedrock events, %s; %s, %s, %s | %s (%s gzip; upload %s) | %s, **%s events/s** | %s, %s events/s | %s, **%s events/s** | **%.2f ×** | %s | %s × |\n",
			thousands(a.Events), mix(a), count(a.Accounts, "account"), count(a.Regions, "Region"), count(a.Days, "day"), thousands(a.Files), mib(a.Bytes), a.Upload.Round(time.Second),
			a.Check.Round(time.Millisecond), thousands(int(a.CheckRate())), a.Fetch.Round(time.Millisecond), thousands(int(a.FetchRate())), a.Scan.Round(time.Millisecond), thousands(int(a.ScanRate())),
			a.Ratio(), identical(a), thousands(int(a.ScanRate()/archivescan.LookupEventsRate)))
	}
	p("\nLookupEvents (`warden scan` without `--from`) reads at most %s events/s per account and Region: 2 requests a second, 50 events a page. The scans' own summaries:\n\n", thousands(int(archivescan.LookupEventsRate)))
	for i := range r.Archive {
		a := &r.Archive[i]
		p("- %s: check — %s; scan — %s\n", mix(a), mdCell(a.CheckSummary), mdCell(a.ScanSummary))
		if a.CheckErr != "" || a.ScanErr != "" {
			p("  (exit statuses: check %d, scan %d; 1 expected: the archive holds violations) %s %s\n", a.CheckExit, a.ScanExit, mdCell(a.CheckErr), mdCell(a.ScanErr))
		}
	}
	p("\nThe local S3 is one Python process on the same two cores: it serves each GET far more slowly than S3 does and takes CPU from the scan, so the ratio is a floor for a real bucket read from its own Region. The GetObject column is that local S3 alone: an in-process client reading every object at the scan's concurrency, decoding nothing; when it is slower than half of check's time the goal cannot be met on this machine, whatever the scan does. With Bedrock records only, each log file holds a handful of records and the scan's time is the local S3's per-object cost.\n\n")
}

// count is "1 day" or "3 days".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// mdCell makes text safe inside a Markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}
