// Package process measures whole programs as a user runs them: `warden
// check`, the json.Valid-only floor (bench/cmd/validonly) and the Python
// baseline (bench/python/baseline.py), each a fresh process on the same
// file, in paired rounds; and warden's peak memory on inputs of any size.
package process

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Run is one process run.
type Run struct {
	Wall time.Duration
	// CPU is the process's user plus system time (every thread).
	CPU time.Duration
	// PeakKB is the high-water mark of its resident set (VmHWM), sampled
	// from /proc every few milliseconds while it runs.
	PeakKB int64
	Exit   int
	Stderr string
}

// Command is a program to run.
type Command struct {
	Name string
	Path string
	Args []string
	// Stdin, when set, is opened and fed to the process through a pipe
	// (not as a file), as `cat file | warden check -` would.
	Stdin string
	// Env is added to the environment.
	Env []string
}

// Start runs c to completion, stdout discarded, and measures it.
func Start(ctx context.Context, c Command) (Run, error) {
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.Stdout = io.Discard
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), c.Env...)
	var feed *os.File
	if c.Stdin != "" {
		f, err := os.Open(c.Stdin)
		if err != nil {
			return Run{}, err
		}
		defer f.Close()
		pr, pw, err := os.Pipe()
		if err != nil {
			return Run{}, err
		}
		cmd.Stdin = pr
		feed = pw
		defer pr.Close()
		go func() {
			_, _ = io.Copy(pw, bufio.NewReaderSize(f, 1<<20))
			pw.Close()
		}()
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		if feed != nil {
			feed.Close()
		}
		return Run{}, fmt.Errorf("%s: start: %w", c.Name, err)
	}
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var hwm int64
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			if v := VmHWM(cmd.Process.Pid); v > hwm {
				hwm = v
			}
			select {
			case <-done:
				peak <- hwm
				return
			case <-t.C:
			}
		}
	}()
	err := cmd.Wait()
	wall := time.Since(start)
	close(done)
	r := Run{Wall: wall, PeakKB: <-peak, Stderr: stderr.String()}
	if ps := cmd.ProcessState; ps != nil {
		r.CPU = ps.UserTime() + ps.SystemTime()
		r.Exit = ps.ExitCode()
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return r, fmt.Errorf("%s: %w", c.Name, err)
	}
	return r, nil
}

// VmHWM reads a process's peak resident set size in KB, or 0.
// (getrusage's ru_maxrss is not used: Linux carries the parent's
// high-water mark across vfork+exec, and the harness is large.)
func VmHWM(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

// Round is one run of every contender, in the order they ran.
type Round struct {
	Order []string
	Runs  map[string]Run
}

// Paired runs every command once per round, rounds times, rotating which
// goes first, so that a burst of load on a shared machine falls on every
// side of a ratio in turn. A run that exits other than with ok fails.
func Paired(ctx context.Context, cmds []Command, rounds int, ok func(name string, exit int) bool) ([]Round, error) {
	out := make([]Round, 0, rounds)
	for r := range rounds {
		round := Round{Runs: map[string]Run{}}
		for k := range cmds {
			c := cmds[(r+k)%len(cmds)]
			run, err := Start(ctx, c)
			if err != nil {
				return out, err
			}
			if !ok(c.Name, run.Exit) {
				return out, fmt.Errorf("%s exited %d: %s", c.Name, run.Exit, clip(run.Stderr))
			}
			round.Order = append(round.Order, c.Name)
			round.Runs[c.Name] = run
		}
		out = append(out, round)
	}
	return out, nil
}

func clip(s string) string {
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}

// Spread is the min, median and max of a list.
type Spread struct{ Min, Median, Max float64 }

// SpreadOf returns the spread of xs (the lower middle for an even count).
func SpreadOf(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return Spread{Min: s[0], Median: s[(len(s)-1)/2], Max: s[len(s)-1]}
}

// Ratios returns, per round, how many times faster a ran than b (b's time
// over a's: a's events/s over b's, for the same input), by wall and by CPU
// time.
func Ratios(rounds []Round, a, b string) (wall, cpu []float64) {
	for _, r := range rounds {
		ra, rb := r.Runs[a], r.Runs[b]
		if ra.Wall > 0 {
			wall = append(wall, float64(rb.Wall)/float64(ra.Wall))
		}
		if ra.CPU > 0 {
			cpu = append(cpu, float64(rb.CPU)/float64(ra.CPU))
		}
	}
	return wall, cpu
}

// Finding is what the agreement check compares: the event and the rule.
type Finding struct {
	EventID string `json:"eventId"`
	Rule    string `json:"rule"`
}

// Findings runs a command and reads its JSON-lines output as findings.
func Findings(ctx context.Context, c Command) (map[Finding]int, error) {
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.Env = append(os.Environ(), c.Env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return nil, fmt.Errorf("%s: %w: %s", c.Name, err, clip(stderr.String()))
	}
	got := map[Finding]int{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var f Finding
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			return nil, fmt.Errorf("%s: output line %q: %w", c.Name, clip(sc.Text()), err)
		}
		got[f]++
	}
	return got, sc.Err()
}

// Diff describes how two finding sets differ ("" when equal).
func Diff(a, b map[Finding]int, nameA, nameB string) string {
	var only []string
	for f, n := range a {
		if b[f] != n {
			only = append(only, fmt.Sprintf("%s %s: %s %d, %s %d", f.EventID, f.Rule, nameA, n, nameB, b[f]))
		}
	}
	for f, n := range b {
		if _, ok := a[f]; !ok {
			only = append(only, fmt.Sprintf("%s %s: %s 0, %s %d", f.EventID, f.Rule, nameA, nameB, n))
		}
	}
	sort.Strings(only)
	if len(only) == 0 {
		return ""
	}
	if len(only) > 5 {
		only = append(only[:5], fmt.Sprintf("… %d more", len(only)-5))
	}
	return strings.Join(only, "; ")
}

// Mkfifo makes a named pipe (used to check that warden refuses one).
func Mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }
