// Package archivescan measures `warden scan --from s3://…` against
// `warden check` on the same CloudTrail log files: a seeded organisation
// trail archive (internal/corpus: accounts, Regions, days, a log file per
// account, Region and 5 minutes, gzip) is written to a directory and
// uploaded to a local S3 (moto_server); the warden binary then checks the
// directory and scans the bucket, each as a process of its own, and the
// two JSON outputs are compared finding by finding. Events per second are
// the archive's Bedrock events over each process's wall-clock time (from
// exec to exit: listing, reading, decoding, judging and printing).
package archivescan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bedrock-warden/warden/internal/corpus"
	"github.com/bedrock-warden/warden/pkg/archive"
	"github.com/bedrock-warden/warden/pkg/findings"
)

// Options size the archive and the scan.
type Options struct {
	// Events is the archive's Bedrock events (default 200,000).
	Events int
	// Gap is the longest pause between two events (default 2 s: about a
	// second on average, so 200,000 events span two and a half days).
	Gap time.Duration
	// Others is how many records of other services come with each
	// Bedrock record (corpus.ArchiveOptions.Others).
	Others int
	// Concurrency is the scan's --concurrency (archive.DefaultConcurrency
	// when 0).
	Concurrency int
	Seed        int64
	// Binary is the warden CLI to run.
	Binary string
	// Endpoint is the local S3's URL; Config its client configuration.
	Endpoint string
	Config   aws.Config
	// Dir receives the archive's files (the check's input).
	Dir string
}

// Bucket is the bucket the archive is uploaded to.
const Bucket = "bench-org-trail"

// Org is the archive's organisation id.
const Org = "o-bench00001"

// Result is one measured run.
type Result struct {
	Events, Files, Others   int
	Bytes                   int64 // gzip, as stored
	Accounts, Regions, Days int
	Concurrency             int
	Upload                  time.Duration
	Check, Scan             time.Duration // process wall clock
	// Fetch is the local S3's floor: every object read (GetObject, bodies
	// discarded) at the scan's concurrency by an in-process client, with
	// nothing decoded or judged.
	Fetch                       time.Duration
	CheckFindings, ScanFindings int
	Missing, Extra              []string // findings only check, only scan reported (first few)
	ScanSummary, CheckSummary   string   // the last stderr line of each
	ScanExit, CheckExit         int
	CheckErr, ScanErr           string
}

// CheckRate and ScanRate are Bedrock events per second of each process.
func (r Result) CheckRate() float64 { return rate(r.Events, r.Check) }
func (r Result) ScanRate() float64  { return rate(r.Events, r.Scan) }

// Ratio is ScanRate / CheckRate.
func (r Result) Ratio() float64 {
	if r.CheckRate() == 0 {
		return 0
	}
	return r.ScanRate() / r.CheckRate()
}

// Identical reports whether both reported the same findings.
func (r Result) Identical() bool {
	return r.CheckFindings > 0 && r.CheckFindings == r.ScanFindings && len(r.Missing) == 0 && len(r.Extra) == 0
}

// LookupEventsRate is event history's ceiling per account and Region:
// 2 LookupEvents requests a second, 50 events a page.
const LookupEventsRate = 100.0

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Measure builds the archive, uploads it, and runs check and scan.
func Measure(ctx context.Context, o Options) (Result, error) {
	if o.Events <= 0 {
		o.Events = 200_000
	}
	if o.Gap <= 0 {
		o.Gap = 2 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = archive.DefaultConcurrency
	}
	start := time.Date(2026, 11, 18, 6, 0, 0, 0, time.UTC)
	evs, err := corpus.GenerateAt(o.Seed, o.Events, corpus.Standard, start, o.Gap)
	if err != nil {
		return Result{}, err
	}
	files, err := corpus.Archive(evs, corpus.ArchiveOptions{Org: Org, Seed: o.Seed, Others: o.Others})
	if err != nil {
		return Result{}, err
	}
	res := Result{Events: len(evs), Files: len(files), Concurrency: o.Concurrency, Others: o.Others}
	accounts, regions, days := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, f := range files {
		lf, _ := archive.ParseKey(f.Key)
		accounts[lf.Account], regions[lf.Region], days[lf.Delivered.Format(time.DateOnly)] = true, true, true
		res.Bytes += int64(len(f.Body))
		path := filepath.Join(o.Dir, filepath.FromSlash(f.Key))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return res, err
		}
		if err := os.WriteFile(path, f.Body, 0o644); err != nil {
			return res, err
		}
	}
	res.Accounts, res.Regions, res.Days = len(accounts), len(regions), len(days)
	t0 := time.Now()
	if err := upload(ctx, o.Config, files); err != nil {
		return res, err
	}
	res.Upload = time.Since(t0)

	env := append(os.Environ(), "AWS_ENDPOINT_URL="+o.Endpoint, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing", "AWS_SESSION_TOKEN=", "AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "WARDEN_POLICY=", "NO_COLOR=1")
	// Every event lies within Events × Gap of the start.
	since, until := start.Add(-time.Hour), start.Add(time.Duration(len(evs))*o.Gap+time.Hour)
	checkOut, checkErr, checkExit, checkWall, err := run(ctx, o.Binary, env, "check", "--format", "json", filepath.Join(o.Dir, "AWSLogs"))
	if err != nil {
		return res, err
	}
	if res.Fetch, err = fetch(ctx, o.Config, files, o.Concurrency); err != nil {
		return res, err
	}
	scanOut, scanErr, scanExit, scanWall, err := run(ctx, o.Binary, env, "scan", "--from", "s3://"+Bucket, "--format", "json",
		"--since", since.Format(time.RFC3339), "--until", until.Format(time.RFC3339), "--concurrency", fmt.Sprint(o.Concurrency))
	if err != nil {
		return res, err
	}
	res.Check, res.Scan, res.CheckExit, res.ScanExit = checkWall, scanWall, checkExit, scanExit
	res.CheckSummary, res.ScanSummary = lastLine(checkErr), lastLine(scanErr)
	want, err := ids(checkOut)
	if err != nil {
		return res, fmt.Errorf("check's output: %w", err)
	}
	got, err := ids(scanOut)
	if err != nil {
		return res, fmt.Errorf("scan's output: %w", err)
	}
	res.CheckFindings, res.ScanFindings = len(want), len(got)
	res.Missing, res.Extra = difference(want, got), difference(got, want)
	if checkExit != 1 {
		res.CheckErr = strings.TrimSpace(checkErr)
	}
	if scanExit != 1 {
		res.ScanErr = strings.TrimSpace(scanErr)
	}
	return res, nil
}

// FetchRate is Bedrock events per second of the fetch floor.
func (r Result) FetchRate() float64 { return rate(r.Events, r.Fetch) }

// fetch reads every file from Bucket, conc at a time, and discards the
// bodies: what the local S3 alone costs the scan.
func fetch(ctx context.Context, cfg aws.Config, files []corpus.ArchiveFile, conc int) (time.Duration, error) {
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	t0 := time.Now()
	work := make(chan corpus.ArchiveFile)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(Bucket), Key: aws.String(f.Key)})
				if err == nil {
					_, err = io.Copy(io.Discard, out.Body)
					out.Body.Close()
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("get %s: %w", f.Key, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	return time.Since(t0), first
}

// upload puts the files into Bucket, eight at a time.
func upload(ctx context.Context, cfg aws.Config, files []corpus.ArchiveFile) error {
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(Bucket)}); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	work := make(chan corpus.ArchiveFile)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(Bucket), Key: aws.String(f.Key), Body: bytes.NewReader(f.Body)})
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("put %s: %w", f.Key, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	return first
}

// run runs the binary and returns its stdout, stderr, exit status and wall
// clock.
func run(ctx context.Context, bin string, env []string, args ...string) ([]byte, string, int, time.Duration, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	err := cmd.Run()
	wall := time.Since(t0)
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			return nil, "", 0, 0, fmt.Errorf("%s %s: %w", bin, args[0], err)
		}
		code = ee.ExitCode()
	}
	return out.Bytes(), errb.String(), code, wall, nil
}

// ids identifies findings independently of their order.
func ids(out []byte) ([]string, error) {
	var ids []string
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var f findings.Finding
		if err := dec.Decode(&f); err != nil {
			return nil, err
		}
		ids = append(ids, f.Rule+" "+f.Fingerprint+" "+f.EventID+" "+f.Details["invocationEventId"])
	}
	sort.Strings(ids)
	return ids, nil
}

// difference returns up to five members of a (sorted) missing from b.
func difference(a, b []string) []string {
	var out []string
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			out = append(out, x)
			if len(out) == 5 {
				break
			}
		}
	}
	return out
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
