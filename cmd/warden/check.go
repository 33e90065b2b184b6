package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bedrock-warden/warden/pkg/decode"
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
	engine := rules.New(p.Policy)
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
				fmt.Fprintf(sio.Stderr, "warden check: %s\n", safetext.Line(err.Error()))
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
	sortFindings(all)
	if err := printFindings(sio, all, fl.JSON()); err != nil {
		return fail(sio, "check", err)
	}
	fmt.Fprintf(sio.Stderr, "%s in %s from %s", summary(all), plural(events, "Bedrock event"), plural(len(files), "input"))
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

// sortFindings orders findings most severe first, then by event time.
func sortFindings(all []findings.Finding) {
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		return a.EventTime.Before(b.EventTime)
	})
}

// printFindings prints findings as one JSON object per line, or as a table.
func printFindings(sio *IO, all []findings.Finding, asJSON bool) error {
	if !asJSON {
		return printTable(sio.Stdout, all, colourOn(sio), sio.Width)
	}
	enc := json.NewEncoder(sio.Stdout)
	for i := range all {
		if err := enc.Encode(&all[i]); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
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
			if skipWalk(p, path, d) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
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

// skipWalk reports the entries a directory walk leaves out: env.json
// (the environment of sam local invoke --env-vars) and functions/
// directories (the payloads of the other functions: SNS messages and
// schedules, not CloudTrail records).
func skipWalk(root, path string, d fs.DirEntry) bool {
	if path == root {
		return false
	}
	if d.IsDir() {
		return d.Name() == "functions"
	}
	return d.Name() == "env.json"
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
	counts := map[findings.Severity]int{}
	for _, f := range fs {
		counts[f.Severity]++
	}
	return severitySummary(len(fs), counts)
}

// printTable writes the findings as an aligned table, severity coloured
// when colour is on, cut to width when width > 0.
func printTable(w io.Writer, fs []findings.Finding, colour bool, width int) error {
	if len(fs) == 0 {
		return nil
	}
	t := &table{
		header:   []string{"SEVERITY", "RULE", "TIME", "PRINCIPAL", "MODEL", "REGION", "SOURCE", "EVENT"},
		shrink:   map[int]bool{3: true, 4: true, 5: true, 6: true, 7: true},
		minWidth: map[int]int{3: 12, 4: 12, 5: 9},
		drop:     []int{7, 2, 6}, // EVENT, TIME, SOURCE: who and which model matter most
	}
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
		row := plainCells(strings.ToUpper(string(f.Severity)), f.Rule, when, rules.ShortPrincipal(f.Principal))
		row = append(row, cell{text: dash(model)}, cell{text: region}, cell{text: dash(f.SourceIP)}, cell{text: dash(f.EventName)})
		row[0].colour = sevColour[f.Severity]
		t.rows = append(t.rows, row)
	}
	return t.render(w, width, colour)
}

// sevColour is the SGR colour of each severity on a terminal.
var sevColour = map[findings.Severity]string{
	findings.Critical: "1;31", findings.High: "31", findings.Medium: "33", findings.Low: "36", findings.Info: "37",
}

// dash returns s made safe to show, or "-" when it is empty.
func dash(s string) string {
	if s = safetext.Line(s); s == "" {
		return "-"
	}
	return safetext.Line(s)
}
