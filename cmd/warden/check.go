package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/rules"
)

func init() {
	register(command{name: "check", summary: "check CloudTrail events (files, directories, stdin) against the policy", run: runCheck})
}

const checkUsage = `Usage: warden check [--policy FILE] [--format text|json] [PATH ...]

Decodes every CloudTrail record in PATH — EventBridge envelopes, bare records,
CloudTrail log files (plain or .gz), SQS messages, JSON lines — normalises it,
judges it against the policy and prints the findings.

PATH is a file, a directory (searched recursively for *.json, *.json.gz,
*.jsonl and *.jsonl.gz) or - for standard input. Without PATH, events/ is
checked. Records from sources other than Bedrock are skipped and counted.

Exit status: 0 no findings, 1 findings, 2 usage or input errors (after
printing everything that could be checked).

Flags:
`

func runCheck(ctx context.Context, args []string, sio *IO) int {
	fl := flag.NewFlagSet("check", flag.ContinueOnError)
	fl.SetOutput(sio.Stderr)
	policyPath := fl.String("policy", "", "policy YAML `FILE` (default $WARDEN_POLICY, else the embedded default)")
	format := fl.String("format", "text", "output format: text or json")
	fl.Usage = func() { fmt.Fprint(fl.Output(), checkUsage); fl.PrintDefaults() }
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(sio.Stderr, "warden check: --format must be text or json, not %q\n", *format)
		return exitUsage
	}
	p, err := loadPolicy(*policyPath, sio.Getenv)
	if err != nil {
		fmt.Fprintf(sio.Stderr, "warden check: %v\n", err)
		return exitUsage
	}
	paths := fl.Args()
	if len(paths) == 0 {
		paths = []string{"events"}
	}
	files, err := expandPaths(paths)
	if err != nil {
		fmt.Fprintf(sio.Stderr, "warden check: %v\n", err)
		return exitUsage
	}
	defer tuneGC(os.Getenv)()
	core := &detector.Core{Rules: rules.New(p)}
	col := newCollector(sio.IsTerminal)
	defer col.close()
	var (
		events, skipped int
		inputErrors     int
		collectErr      error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches, free := decodeInputs(ctx, files, sio.Stdin)
	for b := range batches {
		core.Each(slices.Values(b), func(res *detector.Result, err error) {
			if err != nil {
				if errors.Is(err, detector.ErrNotBedrock) {
					skipped++
					return
				}
				fmt.Fprintf(sio.Stderr, "warden check: %v\n", err)
				inputErrors++
				return
			}
			events++
			for i := range res.Findings {
				if err := col.add(&res.Findings[i]); err != nil && collectErr == nil {
					collectErr = err
					cancel()
				}
			}
		})
		clear(b)
		free <- b
	}
	if collectErr != nil {
		fmt.Fprintf(sio.Stderr, "warden check: %v\n", collectErr)
		return exitUsage
	}
	var werr error
	switch *format {
	case "json":
		werr = col.writeJSON(sio.Stdout)
	default:
		werr = col.writeTable(sio.Stdout)
	}
	if werr != nil {
		fmt.Fprintf(sio.Stderr, "warden check: write: %v\n", werr)
		return exitUsage
	}
	fmt.Fprintf(sio.Stderr, "%s in %d Bedrock events from %d inputs", summaryCounts(col.total(), col.summary), events, len(files))
	if skipped > 0 {
		fmt.Fprintf(sio.Stderr, "; %s skipped", plural(skipped, "non-Bedrock record"))
	}
	if inputErrors > 0 {
		fmt.Fprintf(sio.Stderr, "; %s", plural(inputErrors, "input error"))
	}
	fmt.Fprintln(sio.Stderr)
	switch {
	case inputErrors > 0:
		return exitUsage
	case col.total() > 0:
		return exitFindings
	}
	return exitOK
}

// tuneGC lets the heap grow to four times the live data, within 48 MiB,
// unless GOGC or GOMEMLIMIT say otherwise: check's live data is a few
// megabytes (one batch of records, the findings below spillBytes) while it
// allocates a buffer per record, so the default (collect at twice the live
// data) spends a sixth of the CPU collecting. It returns the restore.
func tuneGC(getenv func(string) string) func() {
	pct, limit := -2, int64(-1)
	if getenv("GOGC") == "" {
		pct = debug.SetGCPercent(400)
	}
	if getenv("GOMEMLIMIT") == "" {
		limit = debug.SetMemoryLimit(48 << 20)
	}
	return func() {
		if pct != -2 {
			debug.SetGCPercent(pct)
		}
		if limit >= 0 {
			debug.SetMemoryLimit(limit)
		}
	}
}

// summaryCounts is e.g. "3 findings (1 critical, 2 high)".
func summaryCounts(n int, counts map[findings.Severity]int) string {
	if n == 0 {
		return "no findings"
	}
	var parts []string
	for _, s := range []findings.Severity{findings.Critical, findings.High, findings.Medium, findings.Low, findings.Info} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	return fmt.Sprintf("%s (%s)", plural(n, "finding"), strings.Join(parts, ", "))
}

func sevLabel(s findings.Severity, colour bool) string {
	label := strings.ToUpper(string(s))
	if !colour {
		return label
	}
	code := map[findings.Severity]string{findings.Critical: "1;31", findings.High: "31", findings.Medium: "33", findings.Low: "36", findings.Info: "37"}[s]
	if code == "" {
		return label
	}
	// Pad before colouring so tabwriter's widths stay right.
	return "\x1b[" + code + "m" + fmt.Sprintf("%-8s", label) + "\x1b[0m"
}

// plural returns "1 thing" or "n things".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// dash returns s made printable, or "-" when it is empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return printable(s)
}

// printable replaces control characters (an escape sequence in a crafted
// model id or principal must not reach the operator's terminal), tabs
// (they would break the table's columns) and invalid UTF-8 with '?'.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) || r == utf8.RuneError {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
