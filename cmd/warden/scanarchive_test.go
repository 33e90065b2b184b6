package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bedrock-warden/warden/internal/corpus"
	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/archive"
	"github.com/bedrock-warden/warden/pkg/findings"
)

const archiveBucket = "org-trail-logs"

// archiveAt seeds a moto S3 bucket with a generated organisation trail
// archive under root (and the same files on disk under dir), and points
// the CLI's AWS configuration at moto.
func archiveAt(t *testing.T, root string) (files []corpus.ArchiveFile, dir string) {
	t.Helper()
	srv := motoserver.Start(t)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	client := s3.NewFromConfig(srv.Config(t), func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(archiveBucket)}); err != nil {
		t.Fatal(err)
	}
	evs, err := corpus.GenerateAt(23, 300, corpus.Standard, time.Date(2026, 11, 20, 20, 0, 0, 0, time.UTC), 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	files, err = corpus.Archive(evs, corpus.ArchiveOptions{Root: root, Org: "o-abcdef1234", Seed: 23, Others: 2})
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	for _, f := range files {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(archiveBucket), Key: aws.String(f.Key), Body: bytes.NewReader(f.Body)}); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.FromSlash(f.Key))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f.Body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return files, dir
}

func findingIDs(fs []findings.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Rule + " " + f.Fingerprint + " " + f.EventID
	}
	slices.Sort(out)
	return out
}

// TestScanFromS3MatchesCheck: `scan --from s3://…` over a trail archive
// reports exactly what `check` reports over the same files on disk, and
// says what it read.
func TestScanFromS3MatchesCheck(t *testing.T) {
	files, dir := archiveAt(t, "logs/")
	code, checkOut, checkErr := runCLI(t, "", "check", "--format", "json", dir)
	if code != exitFindings {
		t.Fatalf("check: exit %d\n%s", code, checkErr)
	}
	code, scanOut, scanErr := runCLI(t, "", "scan", "--from", "s3://"+archiveBucket+"/logs", "--since", "2026-11-20T00:00:00Z",
		"--until", "2026-11-23T00:00:00Z", "--json", "--concurrency", "3")
	if code != exitFindings {
		t.Fatalf("scan: exit %d\n%s", code, scanErr)
	}
	want, got := findingIDs(decodeFindings(t, checkOut)), findingIDs(decodeFindings(t, scanOut))
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("scan found %d findings, check %d:\nscan  %v\ncheck %v", len(got), len(want), got, want)
	}
	if !strings.Contains(scanErr, "in 300 Bedrock events from "+plural(len(files), "log file")+" of ") {
		t.Errorf("summary: %s", scanErr)
	}
}

// TestScanFromS3Narrowed: --account and --region narrow what is read, a
// name the bucket does not hold is noted, and the table comes out sorted
// like check's.
func TestScanFromS3Narrowed(t *testing.T) {
	archiveAt(t, "")
	code, stdout, stderr := runCLI(t, "", "scan", "--from", "s3://"+archiveBucket, "--since", "2026-11-20T00:00:00Z",
		"--until", "2026-11-23T00:00:00Z", "--account", "111122223333,123456789012", "--region", "us-east-1")
	if code != exitFindings && code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "note: no log files for account 123456789012 under s3://"+archiveBucket+"/") ||
		!strings.Contains(stderr, "of 1 account-Region (") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if code == exitFindings && !strings.HasPrefix(stdout, "SEVERITY") {
		t.Errorf("table:\n%s", stdout)
	}
}

// TestScanFromS3ReportsUnreadableFileByKey: a log file that is not gzip
// JSON is named on stderr by its s3:// URL and the scan exits 2 after
// printing everything else.
func TestScanFromS3ReportsUnreadableFileByKey(t *testing.T) {
	files, _ := archiveAt(t, "")
	bad := files[len(files)/2]
	cfg := motoConfigFromEnv(t)
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(archiveBucket), Key: aws.String(bad.Key),
		Body: strings.NewReader("\x1f\x8b\x08\x00not really gzip")}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "", "scan", "--from", "s3://"+archiveBucket, "--since", "2026-11-20T00:00:00Z", "--until", "2026-11-23T00:00:00Z", "--json")
	if code != exitUsage {
		t.Fatalf("exit %d, want 2\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "warden scan: s3://"+archiveBucket+"/"+bad.Key+": ") ||
		!strings.Contains(stderr, "1 log file not read (listed above by key)") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if len(decodeFindings(t, stdout)) == 0 {
		t.Error("nothing printed for the files that could be read")
	}
}

func motoConfigFromEnv(t *testing.T) aws.Config {
	t.Helper()
	return aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(os.Getenv("AWS_ENDPOINT_URL")),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing"}, nil
		})}
}

// TestScanArchiveFlags: archive-only flags without --from, a bad URL, a bad
// account, a bad concurrency: one line each, exit 2, nothing read.
func TestScanArchiveFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--account", "111122223333"}, "--account reads a trail archive: give it with --from s3://BUCKET/PREFIX"},
		{[]string{"--concurrency", "4"}, "--concurrency reads a trail archive"},
		{[]string{"--from", "trail-bucket"}, `--from: "trail-bucket" is not an s3:// URL`},
		{[]string{"--from", "s3://trail-bucket", "--account", "1111"}, `--account: "1111" is not a 12-digit AWS account id`},
		{[]string{"--from", "s3://trail-bucket", "--concurrency", "0"}, "--concurrency must be between 1 and 256"},
		{[]string{"--from", "s3://trail-bucket", "--region", "us-esat-1"}, "did you mean us-east-1?"},
	} {
		code, _, stderr := runCLI(t, "", append([]string{"scan"}, c.args...)...)
		if code != exitUsage || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
	}
}

func TestArchiveProgressLine(t *testing.T) {
	line := archiveProgressLine(mustLocation(t, "s3://b-u-c/logs"), archiveProgressSample())
	for _, want := range []string{"scanning s3://b-u-c/logs/: 40/100 log files (day 2 of 4 listed)", "2.0 MiB", "5000 records/s", "120 Bedrock events (12/s)", "3 findings", "ETA 1m40s"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress %q lacks %q", line, want)
		}
	}
}

func mustLocation(t *testing.T, url string) archive.Location {
	t.Helper()
	loc, err := archive.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// archiveProgressSample is half the days listed, 2 of a projected 22 MiB
// read in 10 s: 100 s to go.
func archiveProgressSample() archive.Progress {
	return archive.Progress{Listed: 100, Read: 38, Failed: 2, DaysListed: 2, Days: 4, Bytes: 2 << 20, ListedBytes: 11 << 20,
		Records: 50000, Events: 120, Findings: 3, Elapsed: 10 * time.Second}
}
