// Package coldstart measures a Lambda bootstrap's cold start with a minimal
// in-process implementation of the Lambda Runtime API: it starts the
// binary with AWS_LAMBDA_RUNTIME_API pointing at 127.0.0.1, serves it one
// event, and times process start → first "next" request (ready) and →
// response posted.
package coldstart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Runtime API paths (API version 2018-06-01).
const (
	apiPrefix   = "/2018-06-01/runtime"
	pathNext    = apiPrefix + "/invocation/next"
	pathInvoc   = apiPrefix + "/invocation/"
	pathInitErr = apiPrefix + "/init/error"
)

// Run is one cold start.
type Run struct {
	// Ready is the time from exec to the first GET .../invocation/next:
	// the process started, ran its init (main before lambda.Start) and
	// asks for work.
	Ready time.Duration
	// Response is the time from exec to the POST .../response of the
	// event: ready plus one invocation.
	Response time.Duration
	// Body is the response the function posted.
	Body []byte
	// PeakRSSKB is the process's resident-set high-water mark (VmHWM from
	// /proc/PID/status) once it has posted the response: 0 where /proc is
	// not available.
	PeakRSSKB int64
}

// Config says what to start and with what.
type Config struct {
	// Binary is the bootstrap to run.
	Binary string
	// Event is the invocation payload served on the first "next".
	Event []byte
	// Env is the function's environment (KEY=VALUE), to which the Runtime
	// API address and the Lambda variables are added. The host's
	// environment is not inherited.
	Env []string
	// Timeout bounds one run (10 s when zero).
	Timeout time.Duration
	// Stderr receives the function's stdout and stderr (discarded when
	// nil).
	Stderr io.Writer
}

// server is the Runtime API for one run at a time.
type server struct {
	mu       sync.Mutex
	deadline time.Duration
	event    []byte
	reqID    string
	start    time.Time
	served   bool
	ready    chan time.Time
	response chan result
}

type result struct {
	at   time.Time
	body []byte
	err  error
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == pathNext:
		s.mu.Lock()
		served := s.served
		s.served = true
		ev, id := s.event, s.reqID
		ready := s.ready
		deadline := s.deadline
		s.mu.Unlock()
		if served {
			// The one event was served: hold the function until the run
			// ends and the process is killed.
			<-r.Context().Done()
			return
		}
		select {
		case ready <- now:
		default:
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Lambda-Runtime-Aws-Request-Id", id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(now.Add(deadline).UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:111122223333:function:bedrock-warden-detector")
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-67a1b2c3-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=0")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(ev)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, pathInvoc):
		body, _ := io.ReadAll(r.Body)
		rest := strings.TrimPrefix(r.URL.Path, pathInvoc)
		id, kind, _ := strings.Cut(rest, "/")
		res := result{at: now, body: body}
		switch {
		case id != s.requestID():
			res.err = fmt.Errorf("function answered request %q, want %q", id, s.requestID())
		case kind == "error":
			res.err = fmt.Errorf("function reported an invocation error: %s", clip(body))
		case kind != "response":
			res.err = fmt.Errorf("unexpected runtime API call POST %s", r.URL.Path)
		}
		s.send(res)
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && r.URL.Path == pathInitErr:
		body, _ := io.ReadAll(r.Body)
		s.send(result{at: now, err: fmt.Errorf("function reported an init error: %s", clip(body))})
		w.WriteHeader(http.StatusAccepted)
	default:
		http.Error(w, "not part of the runtime API", http.StatusNotFound)
	}
}

func (s *server) requestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqID
}

func (s *server) send(r result) {
	s.mu.Lock()
	ch := s.response
	s.mu.Unlock()
	select {
	case ch <- r:
	default:
	}
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// Measure starts cfg.Binary runs times, one after the other, each a fresh
// process serving one event, and returns every run. It stops at the first
// failure (the function exits, reports an error, or times out).
func Measure(ctx context.Context, cfg Config, runs int) ([]Run, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("coldstart: listen: %w", err)
	}
	s := &server{}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()

	out := make([]Run, 0, runs)
	for i := range runs {
		r, err := s.once(ctx, cfg, ln.Addr().String(), i)
		if err != nil {
			return out, fmt.Errorf("coldstart: run %d: %w", i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func (s *server) once(ctx context.Context, cfg Config, addr string, i int) (Run, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	s.mu.Lock()
	// The invocation's deadline: the run's timeout (a Lambda's is its
	// configured timeout).
	s.deadline = cfg.Timeout
	s.event = cfg.Event
	s.reqID = fmt.Sprintf("8476a536-e9f4-11e8-9739-2dfe598c%04d", i)
	s.served = false
	s.ready = make(chan time.Time, 1)
	s.response = make(chan result, 1)
	ready, response := s.ready, s.response
	s.mu.Unlock()

	cmd := exec.Command(cfg.Binary)
	cmd.Env = append(append([]string{}, cfg.Env...),
		"AWS_LAMBDA_RUNTIME_API="+addr,
		"AWS_LAMBDA_FUNCTION_NAME=bedrock-warden-detector",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/bedrock-warden-detector",
		"AWS_LAMBDA_LOG_STREAM_NAME=2026/11/20/[$LATEST]0123456789abcdef",
		"LAMBDA_TASK_ROOT=/var/task",
		"AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023",
	)
	var logs bytes.Buffer
	sink := io.Writer(&logs)
	if cfg.Stderr != nil {
		sink = io.MultiWriter(&logs, cfg.Stderr)
	}
	cmd.Stdout, cmd.Stderr = sink, sink
	exited := make(chan error, 1)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Run{}, fmt.Errorf("start %s: %w", cfg.Binary, err)
	}
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(os.Kill)
		<-exited
	}

	var run Run
	select {
	case t := <-ready:
		run.Ready = t.Sub(start)
	case err := <-exited:
		return Run{}, fmt.Errorf("function exited before asking for an event (%v); output: %s", err, clip(logs.Bytes()))
	case res := <-response:
		stop()
		return Run{}, res.err
	case <-ctx.Done():
		stop()
		return Run{}, fmt.Errorf("function not ready within %s: %w", cfg.Timeout, ctx.Err())
	}
	select {
	case res := <-response:
		run.PeakRSSKB = vmHWM(cmd.Process.Pid)
		stop()
		if res.err != nil {
			return Run{}, res.err
		}
		run.Response, run.Body = res.at.Sub(start), res.body
	case err := <-exited:
		return Run{}, fmt.Errorf("function exited before responding (%v); output: %s", err, clip(logs.Bytes()))
	case <-ctx.Done():
		stop()
		return Run{}, fmt.Errorf("no response within %s: %w", cfg.Timeout, ctx.Err())
	}
	return run, nil
}

// vmHWM reads a process's peak resident set size in KB, or 0.
func vmHWM(pid int) int64 {
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

// Stats summarises durations.
type Stats struct {
	Min, Median, P90, Max time.Duration
}

// Summarise returns the order statistics of ds (nearest-rank p90). It fails
// on an empty list.
func Summarise(ds []time.Duration) (Stats, error) {
	if len(ds) == 0 {
		return Stats{}, errors.New("coldstart: no runs to summarise")
	}
	s := append([]time.Duration{}, ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(p float64) time.Duration {
		k := int(p*float64(len(s))+0.999999) - 1
		if k < 0 {
			k = 0
		}
		if k >= len(s) {
			k = len(s) - 1
		}
		return s[k]
	}
	return Stats{Min: s[0], Median: rank(0.5), P90: rank(0.9), Max: s[len(s)-1]}, nil
}
