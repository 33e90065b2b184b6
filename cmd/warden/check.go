package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/rules"
	"github.com/bedrock-warden/warden/pkg/safetext"
)

func init() {
	register(command{name: "check", summary: "check CloudTrail events (files, directories, stdin) against the policy", run: runCheck})
}

const checkUsage = `Usage: warden check [--policy FILE] [--format text|json] [PATH ...]

Decodes every CloudTrail record in PATH — EventBridge envelopes, bare records,
CloudTrail log files (plain or .gz), SQS messages, JSON lines — normalises it,
judges it against the policy and prints the findings. Sequences across
records (recon-then-invoke) are judged over all inputs together, in event
time order, whatever order the files are given in.

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
	engine := rules.New(p)
	core := &detector.Core{Rules: engine}
	seq := &sequences{engine: engine}
	var (
		all             []findings.Finding
		events, skipped int
		inputErrors     int
	)
	for _, name := range files {
		if ctx.Err() != nil {
			break
		}
		r, closeFn, err := openInput(name, sio.Stdin)
		if err != nil {
			fmt.Fprintf(sio.Stderr, "warden check: %v\n", err)
			inputErrors++
			continue
		}
		core.Each(decode.Reader(name, r), func(res *detector.Result, err error) {
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
			all = append(all, res.Findings...)
			seq.add(&res.Event)
		})
		closeFn()
	}
	all = append(all, seq.findings()...)
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		return a.EventTime.Before(b.EventTime)
	})
	switch *format {
	case "json":
		enc := json.NewEncoder(sio.Stdout)
		for i := range all {
			if err := enc.Encode(&all[i]); err != nil {
				fmt.Fprintf(sio.Stderr, "warden check: write: %v\n", err)
				return exitUsage
			}
		}
	default:
		printTable(sio.Stdout, all, sio.IsTerminal)
	}
	fmt.Fprintf(sio.Stderr, "%s in %d Bedrock events from %d inputs", summary(all), events, len(files))
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
	case len(all) > 0:
		return exitFindings
	}
	return exitOK
}

// expandPaths turns the PATH arguments into input names: files as given,
// directories walked for event files in lexical order, "-" for stdin.
func expandPaths(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		if p == "-" {
			out = append(out, "-")
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		n := len(out)
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && isEventFile(path) {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walk %s: %w", p, err)
		}
		if len(out) == n {
			return nil, fmt.Errorf("%s: no *.json, *.json.gz, *.jsonl or *.jsonl.gz files", p)
		}
	}
	return out, nil
}

func isEventFile(path string) bool {
	for _, ext := range []string{".json", ".json.gz", ".jsonl", ".jsonl.gz"} {
		if strings.HasSuffix(path, ext) {
			return true
		}
	}
	return false
}

func openInput(name string, stdin io.Reader) (io.Reader, func(), error) {
	if name == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

func summary(fs []findings.Finding) string {
	if len(fs) == 0 {
		return "no findings"
	}
	counts := map[findings.Severity]int{}
	for _, f := range fs {
		counts[f.Severity]++
	}
	var parts []string
	for _, s := range []findings.Severity{findings.Critical, findings.High, findings.Medium, findings.Low, findings.Info} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	return fmt.Sprintf("%s (%s)", plural(len(fs), "finding"), strings.Join(parts, ", "))
}

// printTable writes an aligned table, severity coloured on a terminal.
func printTable(w io.Writer, fs []findings.Finding, colour bool) {
	if len(fs) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tRULE\tTIME\tPRINCIPAL\tMODEL\tREGION\tSOURCE\tEVENT")
	for _, f := range fs {
		when := "-"
		if !f.EventTime.IsZero() {
			when = f.EventTime.UTC().Format("2006-01-02 15:04:05")
		}
		region := dash(f.Region)
		if f.InferenceRegion != "" && f.InferenceRegion != f.Region {
			region += "→" + safetext.Line(f.InferenceRegion)
		}
		model := f.BaseModel
		if model == "" {
			model = f.Model
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			sevLabel(f.Severity, colour), safetext.Line(f.Rule), when, dash(rules.ShortPrincipal(f.Principal)), dash(model),
			region, dash(f.SourceIP), dash(f.EventName))
	}
	tw.Flush()
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

// dash returns s neutralised for a terminal (safetext.Line: no escape
// sequence, control, bidi override or line break from a crafted record
// reaches the operator), or "-" when it is empty.
func dash(s string) string {
	if s = safetext.Line(s); s == "" {
		return "-"
	}
	return s
}
