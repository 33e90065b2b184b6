package process

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/internal/corpus"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// Config says what the suite runs.
type Config struct {
	Root   string // the repository root
	Tmp    string // a scratch directory
	Seed   int64
	Events int // events of the comparison corpus
	Rounds int
	// BigBytes is the size of the bounded-memory input (0: skip).
	BigBytes int64
	// BombBytes is what the gzip bomb inflates to (0: 1 GiB).
	BombBytes int64
	Python    string // the Python 3 interpreter ("" : look up python3)
	Log       func(format string, a ...any)
}

// Contender names.
const (
	Warden    = "warden check"
	ValidOnly = "json.Valid only"
	Python    = "Python baseline"
)

// Comparison is the paired runs on one input.
type Comparison struct {
	Input  string // "JSON lines", "log file", "log file (gzip)"
	Bytes  int64
	Events int
	// Findings is how many findings warden and the baseline agreed on.
	Findings int
	Rounds   []Round
	// ValidWall/ValidCPU are warden's speed over the json.Valid program's
	// per round (events/s ratio), PyWall/PyCPU over the Python baseline's.
	ValidWall, ValidCPU, PyWall, PyCPU Spread
	// WardenPeakKB is warden's largest peak RSS over the rounds.
	WardenPeakKB int64
}

// Memory is one bounded-memory run.
type Memory struct {
	Name    string
	Input   string
	Bytes   int64
	Run     Run
	Summary string // warden's last stderr line
}

// Result is the whole suite.
type Result struct {
	Comparisons []Comparison
	Memory      []Memory
	Python      string // the interpreter's version
}

// Run builds the programs, writes the inputs, checks that warden and the
// Python baseline agree on every input, then times them.
func RunSuite(ctx context.Context, cfg Config) (*Result, error) {
	logf := cfg.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	res := &Result{}
	py := cfg.Python
	if py == "" {
		var err error
		if py, err = exec.LookPath("python3"); err != nil {
			return nil, fmt.Errorf("python3 not on PATH: %w", err)
		}
	}
	if v, err := exec.CommandContext(ctx, py, "--version").CombinedOutput(); err == nil {
		res.Python = strings.TrimSpace(string(v))
	}
	wardenBin := filepath.Join(cfg.Tmp, "warden")
	validBin := filepath.Join(cfg.Tmp, "validonly")
	if err := build(ctx, cfg.Root, "./cmd/warden", wardenBin); err != nil {
		return nil, err
	}
	if err := build(ctx, filepath.Join(cfg.Root, "bench"), "./cmd/validonly", validBin); err != nil {
		return nil, err
	}
	polFile := filepath.Join(cfg.Tmp, "policy.json")
	pj, err := json.Marshal(policy.Default())
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(polFile, pj, 0o644); err != nil {
		return nil, err
	}
	evs, err := corpus.Generate(cfg.Seed, cfg.Events, corpus.Standard)
	if err != nil {
		return nil, err
	}
	lines := filepath.Join(cfg.Tmp, "corpus.jsonl")
	logFile := filepath.Join(cfg.Tmp, "CloudTrail_corpus.json")
	gzFile := logFile + ".gz"
	if err := writeInputs(evs, lines, logFile, gzFile); err != nil {
		return nil, err
	}
	script := filepath.Join(cfg.Root, "bench", "python", "baseline.py")
	for _, in := range []struct {
		name, path string
		lines      bool
	}{
		{"JSON lines", lines, true},
		{"log file", logFile, false},
		{"log file (gzip)", gzFile, false},
	} {
		st, err := os.Stat(in.path)
		if err != nil {
			return nil, err
		}
		c := Comparison{Input: in.name, Bytes: st.Size(), Events: len(evs)}
		warden := Command{Name: Warden, Path: wardenBin, Args: []string{"check", "--format", "json", in.path}}
		valid := Command{Name: ValidOnly, Path: validBin, Args: []string{in.path}}
		if in.lines {
			valid.Args = []string{"-lines", in.path}
		}
		pyCmd := Command{Name: Python, Path: py, Args: []string{script, "--policy", polFile, in.path}}
		// Same findings before any timing.
		wf, err := Findings(ctx, warden)
		if err != nil {
			return nil, err
		}
		pf, err := Findings(ctx, pyCmd)
		if err != nil {
			return nil, err
		}
		if d := Diff(wf, pf, "warden", "python"); d != "" {
			return nil, fmt.Errorf("%s: warden and the Python baseline disagree: %s", in.name, d)
		}
		for _, n := range wf {
			c.Findings += n
		}
		logf("process: %s: warden and Python agree on %d findings; %d paired rounds", in.name, c.Findings, cfg.Rounds)
		c.Rounds, err = Paired(ctx, []Command{warden, valid, pyCmd}, cfg.Rounds, func(name string, exit int) bool {
			return exit == 0 || (exit == 1 && name != ValidOnly)
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in.name, err)
		}
		vw, vc := Ratios(c.Rounds, Warden, ValidOnly)
		pw, pc := Ratios(c.Rounds, Warden, Python)
		c.ValidWall, c.ValidCPU, c.PyWall, c.PyCPU = SpreadOf(vw), SpreadOf(vc), SpreadOf(pw), SpreadOf(pc)
		for _, r := range c.Rounds {
			c.WardenPeakKB = max(c.WardenPeakKB, r.Runs[Warden].PeakKB)
		}
		logf("process: %s: warden ÷ json.Valid wall %.2f (%.2f–%.2f), ÷ Python %.2f", in.name, c.ValidWall.Median, c.ValidWall.Min, c.ValidWall.Max, c.PyWall.Median)
		res.Comparisons = append(res.Comparisons, c)
	}
	mem, err := memoryRuns(ctx, cfg, wardenBin, evs, logf)
	res.Memory = mem
	return res, err
}

func build(ctx context.Context, dir, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// writeInputs writes the corpus as JSON lines of envelopes, and its records
// as one CloudTrail log file, plain and gzipped.
func writeInputs(evs []corpus.Event, lines, logFile, gzFile string) error {
	f, err := os.Create(lines)
	if err != nil {
		return err
	}
	if err := corpus.WriteJSONL(f, evs); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	lf, err := os.Create(logFile)
	if err != nil {
		return err
	}
	gf, err := os.Create(gzFile)
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(gf, gzip.DefaultCompression)
	w := bufio.NewWriter(lf)
	out := func(b []byte) {
		w.Write(b)
		zw.Write(b)
	}
	out([]byte(`{"Records":[`))
	for i, e := range evs {
		var env struct {
			Detail json.RawMessage `json:"detail"`
		}
		if err := json.Unmarshal(e.JSON, &env); err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		if i > 0 {
			out([]byte(","))
		}
		out(env.Detail)
	}
	out([]byte("]}"))
	for _, err := range []error{w.Flush(), lf.Close(), zw.Close(), gf.Close()} {
		if err != nil {
			return err
		}
	}
	return nil
}

// memoryRuns runs warden on inputs chosen for memory: a JSON-lines file of
// cfg.BigBytes (the corpus repeated), the same through a pipe on stdin, a
// gzip bomb, and a directory holding a named pipe.
func memoryRuns(ctx context.Context, cfg Config, wardenBin string, evs []corpus.Event, logf func(string, ...any)) ([]Memory, error) {
	var out []Memory
	check := func(name, input string, size int64, c Command) error {
		r, err := Start(ctx, c)
		if err != nil {
			return err
		}
		m := Memory{Name: name, Input: input, Bytes: size, Run: r}
		if lines := strings.Split(strings.TrimSpace(r.Stderr), "\n"); len(lines) > 0 {
			m.Summary = clip(lines[len(lines)-1])
		}
		logf("process: %s: peak RSS %d KB, %s, exit %d: %s", name, r.PeakKB, r.Wall.Round(time.Millisecond), r.Exit, m.Summary)
		out = append(out, m)
		return nil
	}
	if cfg.BigBytes > 0 {
		big := filepath.Join(cfg.Tmp, "big.jsonl")
		size, err := writeBig(big, evs, cfg.BigBytes)
		if err != nil {
			return out, err
		}
		if err := check("file", "JSON lines file", size, Command{Name: Warden, Path: wardenBin, Args: []string{"check", "--format", "json", big}}); err != nil {
			return out, err
		}
		if err := check("stdin", "the same through a pipe on stdin", size, Command{Name: Warden, Path: wardenBin, Args: []string{"check", "--format", "json", "-"}, Stdin: big}); err != nil {
			return out, err
		}
		os.Remove(big)
	}
	bomb := filepath.Join(cfg.Tmp, "bomb.json.gz")
	bombBytes := cfg.BombBytes
	if bombBytes == 0 {
		bombBytes = 1 << 30
	}
	size, err := writeBomb(bomb, bombBytes)
	if err != nil {
		return out, err
	}
	if err := check("gzip bomb", "1 GiB of white space, gzipped", size, Command{Name: Warden, Path: wardenBin, Args: []string{"check", bomb}}); err != nil {
		return out, err
	}
	dir := filepath.Join(cfg.Tmp, "withfifo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return out, err
	}
	if err := os.WriteFile(filepath.Join(dir, "good.json"), evs[0].JSON, 0o644); err != nil {
		return out, err
	}
	if err := Mkfifo(filepath.Join(dir, "stuck.json")); err != nil {
		return out, err
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r, err := Start(tctx, Command{Name: Warden, Path: wardenBin, Args: []string{"check", dir}})
	if err != nil {
		return out, fmt.Errorf("directory with a FIFO: %w", err)
	}
	m := Memory{Name: "named pipe", Input: "a directory holding a FIFO named stuck.json", Run: r}
	for _, l := range strings.Split(r.Stderr, "\n") {
		if strings.Contains(l, "stuck.json") {
			m.Summary = strings.TrimSpace(l)
		}
	}
	out = append(out, m)
	return out, nil
}

// writeBig writes the corpus's JSON lines again and again until size bytes.
func writeBig(path string, evs []corpus.Event, size int64) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var n int64
	for n < size {
		for _, e := range evs {
			w.Write(e.JSON)
			w.WriteByte('\n')
			n += int64(len(e.JSON) + 1)
			if n >= size {
				break
			}
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	return n, f.Close()
}

// writeBomb writes n bytes of spaces, gzipped at best compression.
func writeBomb(path string, n int64) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	chunk := []byte(strings.Repeat(" ", 1<<20))
	for written := int64(0); written < n; written += int64(len(chunk)) {
		if _, err := zw.Write(chunk); err != nil {
			f.Close()
			return 0, err
		}
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	return st.Size(), f.Close()
}
