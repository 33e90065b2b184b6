package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/internal/samples"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/history"
	"github.com/bedrock-warden/warden/pkg/history/trailtest"
	"github.com/bedrock-warden/warden/pkg/policy"
)

var scanNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func scanRecord(id, source, model, region string, at time.Time) string {
	return fmt.Sprintf(`{"eventVersion":"1.11","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/dev","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE","userName":"dev"},"eventTime":%q,"eventSource":%q,"eventName":"InvokeModel","awsRegion":%q,"sourceIPAddress":"AWS Internal","userAgent":"Boto3/1.35","requestParameters":{"modelId":%q},"responseElements":null,"requestID":"r-%s","eventID":%q,"readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}`,
		at.Format(time.RFC3339), source, region, model, id, id)
}

// fakeTrail starts the fake CloudTrail endpoint, points the AWS
// configuration of the CLI at it, and swaps in a fake clock.
func fakeTrail(t *testing.T) (*trailtest.Server, *trailtest.Clock) {
	t.Helper()
	srv := trailtest.New(t)
	clock := trailtest.NewClock(scanNow)
	srv.Now = clock.Now
	old := scanClock
	scanClock = clock
	t.Cleanup(func() { scanClock = old })
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	return srv, clock
}

func decodeFindings(t *testing.T, out string) []findings.Finding {
	t.Helper()
	var fs []findings.Finding
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var f findings.Finding
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("stdout is not JSON lines: %v\n%s", err, out)
		}
		fs = append(fs, f)
	}
	return fs
}

func TestScanReportsFindingsFromHistory(t *testing.T) {
	srv, _ := fakeTrail(t)
	srv.Add(t, "us-east-1",
		scanRecord("opus-1", "bedrock.amazonaws.com", "anthropic.claude-3-opus-20240229-v1:0", "us-east-1", scanNow.Add(-2*time.Hour)),
		scanRecord("sonnet-1", "bedrock.amazonaws.com", "anthropic.claude-3-5-sonnet-20240620-v1:0", "us-east-1", scanNow.Add(-3*time.Hour)),
		scanRecord("too-old", "bedrock.amazonaws.com", "anthropic.claude-3-opus-20240229-v1:0", "us-east-1", scanNow.Add(-30*time.Hour)),
	)
	code, stdout, stderr := runCLI(t, "", "scan", "--since", "24h", "--format", "json")
	if code != exitFindings {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	fs := decodeFindings(t, stdout)
	if len(fs) != 1 || fs[0].Rule != findings.RuleUnauthorizedModel || fs[0].EventID != "opus-1" {
		t.Fatalf("findings %+v", fs)
	}
	if !strings.Contains(stderr, "in 2 Bedrock events from 1 Region (") {
		t.Fatalf("summary missing: %s", stderr)
	}
	var sources []string
	for _, r := range srv.Requests() {
		sources = append(sources, r.Source)
		if !r.Start.Equal(scanNow.Add(-24*time.Hour)) || !r.End.Equal(scanNow) {
			t.Fatalf("request range %v..%v", r.Start, r.End)
		}
	}
	slices.Sort(sources)
	if !slices.Equal(sources, []string{"bedrock-mantle.amazonaws.com", "bedrock.amazonaws.com"}) {
		t.Fatalf("sources queried %v", sources)
	}
}

func TestScanTextOutputMatchesCheck(t *testing.T) {
	srv, _ := fakeTrail(t)
	srv.Add(t, "us-east-1", scanRecord("opus-2", "bedrock.amazonaws.com", "anthropic.claude-3-opus-20240229-v1:0", "us-east-1", scanNow.Add(-time.Hour)))
	code, stdout, _ := runCLI(t, "", "scan")
	if code != exitFindings {
		t.Fatalf("exit %d", code)
	}
	if !strings.HasPrefix(stdout, "SEVERITY") || !strings.Contains(stdout, "unauthorized-model") || !strings.Contains(stdout, "InvokeModel") {
		t.Fatalf("table:\n%s", stdout)
	}
}

func TestScanNoFindingsExitsZero(t *testing.T) {
	srv, _ := fakeTrail(t)
	srv.Add(t, "eu-west-1", scanRecord("ok", "bedrock.amazonaws.com", "amazon.nova-lite-v1:0", "eu-west-1", scanNow.Add(-time.Hour)))
	code, stdout, stderr := runCLI(t, "", "scan", "--region", "eu-west-1", "--until", scanNow.Add(-time.Minute).Format(time.RFC3339))
	if code != exitOK || stdout != "" || !strings.Contains(stderr, "no findings in 1 Bedrock event from 1 Region") {
		t.Fatalf("exit %d stdout %q stderr %q", code, stdout, stderr)
	}
}

func TestScanAllRegions(t *testing.T) {
	srv, _ := fakeTrail(t)
	srv.Add(t, "ap-southeast-2", scanRecord("syd", "bedrock.amazonaws.com", "anthropic.claude-3-opus-20240229-v1:0", "ap-southeast-2", scanNow.Add(-time.Hour)))
	code, stdout, stderr := runCLI(t, "", "scan", "--region", "all", "--format", "json")
	if code != exitFindings {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	fs := decodeFindings(t, stdout)
	if len(fs) == 0 || fs[0].EventID != "syd" {
		t.Fatalf("findings %+v", fs)
	}
	seen := map[string]int{}
	for _, r := range srv.Requests() {
		seen[r.Region]++
	}
	for _, r := range history.Regions {
		if seen[r] != 2 {
			t.Errorf("region %s: %d requests, want one per source", r, seen[r])
		}
	}
}

func TestScanRegionFailureExitsTwoAfterPrinting(t *testing.T) {
	srv, _ := fakeTrail(t)
	srv.Add(t, "us-east-1", scanRecord("opus-3", "bedrock.amazonaws.com", "anthropic.claude-3-opus-20240229-v1:0", "us-east-1", scanNow.Add(-time.Hour)))
	srv.Throttle("eu-west-1", 1000)
	code, stdout, stderr := runCLI(t, "", "scan", "--region", "us-east-1,eu-west-1", "--format", "json")
	if code != exitUsage {
		t.Fatalf("exit %d, want 2", code)
	}
	if fs := decodeFindings(t, stdout); len(fs) != 1 {
		t.Fatalf("findings of the healthy region not printed: %s", stdout)
	}
	if !strings.Contains(stderr, "eu-west-1") || !strings.Contains(stderr, "ThrottlingException") || !strings.Contains(stderr, "gave up") {
		t.Fatalf("stderr %s", stderr)
	}
}

func TestScanUsageErrors(t *testing.T) {
	fakeTrail(t)
	for _, args := range [][]string{
		{"scan", "--since", "100d"},
		{"scan", "--since", "yesterday"},
		{"scan", "--since", "1h", "--until", "2h"},
		{"scan", "--format", "yaml"},
		{"scan", "--region", "Mars"},
		{"scan", "extra"},
		{"scan", "--policy", "/nonexistent.yaml"},
	} {
		code, stdout, stderr := runCLI(t, "", args...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, "warden scan") {
			t.Errorf("%v: exit %d stdout %q stderr %q", args, code, stdout, stderr)
		}
	}
}

func TestScanHelpStatesLimits(t *testing.T) {
	code, stdout, _ := runCLI(t, "", "scan", "--help")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"MANAGEMENT EVENTS ONLY", "90 DAYS", "bedrock-mantle.amazonaws.com", "cloudtrail:LookupEvents", "--since", "Examples:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestProgressLine(t *testing.T) {
	got := progressLine(history.Stats{Events: 120, Pages: 3, Elapsed: 4 * time.Second, Throttled: 1})
	if got != "scanning: 120 events, 3 pages, 4s, 30.0 events/s, 1 throttled" {
		t.Fatalf("progress line %q", got)
	}
	// Not a terminal: no progress at all.
	if progressPrinter(&strings.Builder{}) != nil {
		t.Fatal("progress enabled on a non-terminal writer")
	}
}

func TestParseWhen(t *testing.T) {
	if got, err := parseWhen("7d", scanNow); err != nil || !got.Equal(scanNow.Add(-7*24*time.Hour)) {
		t.Fatalf("7d: %v %v", got, err)
	}
	if got, err := parseWhen("2026-11-20T09:00:00+01:00", scanNow); err != nil || !got.Equal(time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("rfc3339: %v %v", got, err)
	}
}

// sampleLookup serves every public CloudTrail sample as one history page.
type sampleLookup struct{ records []string }

func (s sampleLookup) Lookup(_ context.Context, q history.Query) (history.Page, error) {
	if q.Source != "bedrock.amazonaws.com" {
		return history.Page{}, nil
	}
	var p history.Page
	for i, r := range s.records {
		p.Events = append(p.Events, history.Event{ID: fmt.Sprintf("sample-%d", i), Record: r})
	}
	return p, nil
}

// The public samples (partial records, odd timestamps, redactions) go
// through the scan pipeline without input errors.
func TestScanAcceptsPublicSamples(t *testing.T) {
	files := samples.Files(t)
	var records []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, string(b))
	}
	s := &history.Scanner{Lookup: func(string) (history.Lookup, error) { return sampleLookup{records}, nil }, Clock: trailtest.NewClock(scanNow)}
	res := scanHistory(context.Background(), policy.Default(), s, []string{"us-east-1"}, scanNow.Add(-time.Hour), scanNow)
	if len(res.errors) != 0 {
		t.Fatalf("input errors: %v", res.errors)
	}
	if res.events+res.skipped != len(records) || res.events == 0 {
		t.Fatalf("%d records: %d events, %d skipped", len(records), res.events, res.skipped)
	}
}

// TestScanSaysWhyItWaits: a throttled request is retried, and the person
// watching is told which Region, why, which attempt and how long.
func TestScanSaysWhyItWaits(t *testing.T) {
	srv, _ := fakeTrail(t)
	srv.Add(t, "us-east-1", scanRecord("ok-1", "bedrock.amazonaws.com", "amazon.nova-lite-v1:0", "us-east-1", scanNow.Add(-time.Hour)))
	srv.Throttle("us-east-1", 1)
	code, _, stderr := runCLI(t, "", "scan")
	if code != exitOK || !regexp.MustCompile(`warden scan: us-east-1: throttled by CloudTrail \(2 requests/s per Region\); retry 2 of \d+ in `).MatchString(stderr) {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}
