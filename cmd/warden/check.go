package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/rules"
	"github.com/bedrock-warden/warden/pkg/safetext"
)

func init() {
	register(command{name: "check", summary: "check CloudTrail events (files, directories, stdin) against the policy", run: runCheck})
}

const checkAbout = `Decodes every CloudTrail record in PATH — EventBridge envelopes, bare records,
CloudTrail log files (plain or .gz), SQS messages, JSON lines — normalises it,
judges it against the policy and prints the findings (a table, or one finding
JSON per line with --format json: the contract of docs/findings.md). Sequences
across records (recon-then-invoke) are judged over all inputs together, in
event time order, whatever order the files are given in.

PATH is a file, a directory (searched recursively for *.json, *.json.gz,
*.jsonl and *.jsonl.gz; env.json files and functions/ directories, which hold
sam local invoke inputs, are skipped) or - for standard input. Without PATH,
events/ is checked. Records from sources other than Bedrock are skipped and
counted.

Exit status: 0 no findings, 1 findings, 2 usage or input errors (after
printing everything that could be checked).`

func runCheck(ctx context.Context, args []string, sio *IO) int {
	fl := newFlags("check", "warden check [--policy LOCATION] [--format text|json] [PATH ...]", checkAbout,
		"warden check",
		"warden check --policy events/strict-policy.yaml --format json events/",
		"warden check ~/Downloads/AWSLogs/",
		"aws s3 cp s3://trail-bucket/AWSLogs/…/file.json.gz - | warden check -").withFormat()
	policyFlag := fl.fs.String("policy", "", policyFlagUsage)
	paths, code, ok := fl.parse(args, sio)
	if !ok {
		return code
	}
	p, err := loadPolicy(ctx, *policyFlag, sio, "")
	if err != nil {
		return fail(sio, "check", err)
	}
	if len(paths) == 0 {
		paths = []string{"events"}
	}
	files, err := expandPaths(paths)
	if err != nil {
		return fail(sio, "check", err)
	}
	defer tuneGC(os.Getenv)()
	engine := rules.New(p.Policy)
	core := &detector.Core{Rules: engine}
	seq := newSequences(engine)
	defer seq.close()
	col := newCollector()
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
				fmt.Fprintf(sio.Stderr, "warden check: %s\n", safetext.Line(err.Error()))
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
			seq.add(&res.Event)
		})
		clear(b)
		free <- b
	}
	fs, err := seq.findings()
	if err != nil && collectErr == nil {
		collectErr = err
	}
	for _, f := range fs {
		if err := col.add(&f); err != nil && collectErr == nil {
			collectErr = err
		}
	}
	if collectErr != nil {
		return fail(sio, "check", collectErr)
	}
	var werr error
	if fl.JSON() {
		werr = col.writeJSON(sio.Stdout)
	} else {
		werr = col.writeTable(sio.Stdout, colourOn(sio), sio.Width)
	}
	if werr != nil {
		return fail(sio, "check", fmt.Errorf("write: %w", werr))
	}
	fmt.Fprintf(sio.Stderr, "%s in %s from %s", summaryCounts(col.total(), col.summary), plural(events, "Bedrock event"), plural(len(files), "input"))
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

// sevColour is the SGR colour of each severity on a terminal.
var sevColour = map[findings.Severity]string{
	findings.Critical: "1;31", findings.High: "31", findings.Medium: "33", findings.Low: "36", findings.Info: "37",
}

// dash returns s made safe to show (safetext.Line), or "-" when it is
// empty.
func dash(s string) string {
	if s = safetext.Line(s); s == "" {
		return "-"
	}
	return s
}
