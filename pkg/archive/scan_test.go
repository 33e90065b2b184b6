package archive_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bedrock-warden/warden/internal/corpus"
	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/archive"
	"github.com/bedrock-warden/warden/pkg/archive/s3src"
	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
)

const (
	testBucket = "org-trail-logs"
	testOrg    = "o-abcdef1234"
)

// t0 is when the test archive's calls begin.
var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// testArchive is a seeded organisation trail archive in moto: 800 calls
// over about a day and a half, across accounts and Regions, plus the
// recon-then-invoke sample, a digest file and a key that is not a log
// file in the same folders.
type testArchive struct {
	srv    *motoserver.Server
	client *s3.Client
	files  []corpus.ArchiveFile
}

func newTestArchive(t *testing.T) *testArchive {
	t.Helper()
	return newTestArchiveOn(t, motoserver.Start(t))
}

// newTestArchiveOn is newTestArchive on srv, each object stored with opts.
func newTestArchiveOn(t *testing.T, srv *motoserver.Server, opts ...func(*s3.PutObjectInput)) *testArchive {
	t.Helper()
	a := &testArchive{srv: srv, client: s3.NewFromConfig(srv.Config(t), func(o *s3.Options) { o.UsePathStyle = true })}
	ctx := context.Background()
	if _, err := a.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(testBucket)}); err != nil {
		t.Fatal(err)
	}
	evs, err := corpus.GenerateAt(17, 800, corpus.Standard, t0, 4*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	files, err := corpus.Archive(evs, corpus.ArchiveOptions{Org: testOrg, Seed: 17, Others: 2})
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, sequenceFile(t))
	a.files = files
	var extra []corpus.ArchiveFile
	lf, _ := archive.ParseKey(files[len(files)-1].Key) // the sequence sample's folder
	day := lf.Delivered.Format("2006/01/02/")
	extra = append(extra,
		corpus.ArchiveFile{Key: "AWSLogs/" + testOrg + "/" + lf.Account + "/CloudTrail-Digest/" + lf.Region + "/" + day + lf.Account + "_CloudTrail-Digest_" + lf.Region + "_org_us-east-1_" + lf.Delivered.Format("20060102T150405Z") + ".json.gz", Body: []byte("{}")},
		corpus.ArchiveFile{Key: "AWSLogs/" + testOrg + "/" + lf.Account + "/CloudTrail/" + lf.Region + "/" + day + "README.txt", Body: []byte("not a log file")})
	a.put(t, append(slices.Clone(files), extra...), opts...)
	return a
}

// sequenceFile is the recon-then-invoke sample as a log file of account
// 111122223333 in us-east-1, delivered five minutes after its last call.
func sequenceFile(t *testing.T) corpus.ArchiveFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "sequences", "llmjacking-recon-then-invoke.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(b)
	zw.Close()
	at := time.Date(2026, 11, 21, 2, 27, 0, 0, time.UTC)
	key := "AWSLogs/" + testOrg + "/111122223333/CloudTrail/us-east-1/2026/11/21/111122223333_CloudTrail_us-east-1_20261121T0227Z_SeQuEnCeSaMpLe01.json.gz"
	return corpus.ArchiveFile{Key: key, Body: gz.Bytes(), Records: 4, Delivered: at}
}

func (a *testArchive) put(t *testing.T, files []corpus.ArchiveFile, opts ...func(*s3.PutObjectInput)) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, len(files))
	sem := make(chan struct{}, 8)
	for _, f := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			in := &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(f.Key), Body: bytes.NewReader(f.Body)}
			for _, o := range opts {
				o(in)
			}
			if _, err := a.client.PutObject(ctx, in); err != nil {
				errs <- fmt.Errorf("put %s: %w", f.Key, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// recorder is a Bucket that records what the scan listed and read, and
// can cut the first read of chosen objects short.
type recorder struct {
	archive.Bucket
	mu      sync.Mutex
	lists   []archive.ListInput
	opens   []string
	cut     map[string]int // key → bytes after which its first read fails
	inOpen  int
	maxOpen int
	gate    chan struct{} // when set, the first Opens wait until two are in flight
}

func (r *recorder) List(ctx context.Context, in archive.ListInput) (*archive.ListPage, error) {
	r.mu.Lock()
	r.lists = append(r.lists, in)
	r.mu.Unlock()
	return r.Bucket.List(ctx, in)
}

func (r *recorder) Open(ctx context.Context, bucket, key string) (*archive.Object, error) {
	r.mu.Lock()
	r.opens = append(r.opens, key)
	r.inOpen++
	r.maxOpen = max(r.maxOpen, r.inOpen)
	n, cut := r.cut[key]
	delete(r.cut, key)
	gate := r.gate
	if gate != nil && r.inOpen >= 2 {
		close(gate)
		r.gate = nil
	}
	r.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-time.After(10 * time.Second):
		}
	}
	defer func() { r.mu.Lock(); r.inOpen--; r.mu.Unlock() }()
	obj, err := r.Bucket.Open(ctx, bucket, key)
	if err == nil && cut {
		obj.Body = &cutBody{ReadCloser: obj.Body, left: n}
	}
	return obj, err
}

// cutBody fails like a connection reset after left bytes.
type cutBody struct {
	io.ReadCloser
	left int
}

func (c *cutBody) Read(b []byte) (int, error) {
	if c.left <= 0 {
		return 0, errors.New("read tcp 127.0.0.1: connection reset by peer")
	}
	if len(b) > c.left {
		b = b[:c.left]
	}
	n, err := c.ReadCloser.Read(b)
	c.left -= n
	return n, err
}

func (a *testArchive) scanner(t *testing.T, rec *recorder, p *policy.Policy) *archive.Scanner {
	t.Helper()
	rec.Bucket = s3src.New(a.srv.Config(t))
	return &archive.Scanner{Bucket: rec, Engine: rules.New(p), Concurrency: 4,
		Wait: func(ctx context.Context, _ int) error { return ctx.Err() }}
}

// expected judges the files' records in [since, until) of the given
// accounts and Regions as `warden check` does: every record through the
// core, then the sequences over all of them.
func expected(t *testing.T, files []corpus.ArchiveFile, p *policy.Policy, since, until time.Time, accounts, regions []string) []string {
	t.Helper()
	eng := rules.New(p)
	core := &detector.Core{Rules: eng}
	var all []findings.Finding
	var seq []normalize.Event
	for _, f := range files {
		lf, _ := archive.ParseKey(f.Key)
		if (len(accounts) > 0 && !slices.Contains(accounts, lf.Account)) || (len(regions) > 0 && !slices.Contains(regions, lf.Region)) {
			continue
		}
		items := func(yield func(decode.Item) bool) {
			for it := range decode.Bytes(f.Key, f.Body) {
				if it.Err == nil && (it.Record.Time.Before(since) || !it.Record.Time.Before(until)) {
					continue
				}
				if !yield(it) {
					return
				}
			}
		}
		core.Each(items, func(r *detector.Result, err error) {
			if errors.Is(err, detector.ErrNotBedrock) {
				return // another service's call
			}
			if err != nil {
				t.Fatalf("%s: %v", f.Key, err)
			}
			all = append(all, r.Findings...)
			if eng.SequenceRecon(&r.Event) || eng.SequenceInvoke(&r.Event) {
				seq = append(seq, r.Event)
			}
		})
	}
	fs, _, _ := eng.Sequences(seq, nil)
	return ids(append(all, fs...))
}

// ids identifies findings independently of their order.
func ids(fs []findings.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Rule + " " + f.Fingerprint + " " + f.EventID + " " + f.Details["invocationEventId"]
	}
	slices.Sort(out)
	return out
}

func collect(t *testing.T, s *archive.Scanner, ctx context.Context, plan archive.Plan) (*archive.Summary, []findings.Finding) {
	t.Helper()
	var got []findings.Finding
	sum, err := s.Scan(ctx, plan, func(f *findings.Finding) error { got = append(got, *f); return nil })
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return sum, got
}

// TestScanPrunesPrefixesAndMatchesCheck: a scan of one account, two
// Regions and part of the time lists only the discovery folders and those
// partitions' day folders, opens exactly the log files delivered in the
// range (never a digest), and reports the findings `warden check` reports
// for the same records — recon-then-invoke included.
func TestScanPrunesPrefixesAndMatchesCheck(t *testing.T) {
	a := newTestArchive(t)
	rec := &recorder{}
	s := a.scanner(t, rec, policy.Default())
	since, until := time.Date(2026, 11, 20, 18, 30, 0, 0, time.UTC), time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC)
	accounts, regions := []string{"111122223333"}, []string{"us-east-1", "eu-west-1"}
	plan := archive.Plan{Location: archive.Location{Bucket: testBucket}, Since: since, Until: until, Accounts: accounts, Regions: regions}
	sum, got := collect(t, s, context.Background(), plan)

	// Listing: AWSLogs/ and the organisation folder (accounts), the
	// account's CloudTrail/ (Regions), then day folders of the two
	// partitions only, for the days of the range plus the delivery horizon.
	var dayLists []string
	for _, in := range rec.lists {
		switch in.Prefix {
		case "AWSLogs/", "AWSLogs/" + testOrg + "/", "AWSLogs/" + testOrg + "/111122223333/CloudTrail/":
			if in.Delimiter != "/" {
				t.Errorf("discovery listing of %s without a delimiter", in.Prefix)
			}
			continue
		}
		dayLists = append(dayLists, in.Prefix+" after "+in.StartAfter)
	}
	slices.Sort(dayLists)
	var wantLists []string
	for _, r := range []string{"eu-west-1", "us-east-1"} {
		p := "AWSLogs/" + testOrg + "/111122223333/CloudTrail/" + r + "/2026/11/"
		wantLists = append(wantLists, p+"20/ after "+p+"20/111122223333_CloudTrail_"+r+"_20261120T1830", p+"21/ after ")
	}
	slices.Sort(wantLists)
	if !slices.Equal(dayLists, wantLists) {
		t.Errorf("day listings:\n%s\nwant:\n%s", strings.Join(dayLists, "\n"), strings.Join(wantLists, "\n"))
	}

	var wantOpen []string
	for _, f := range a.files {
		lf, _ := archive.ParseKey(f.Key)
		if lf.Account == "111122223333" && slices.Contains(regions, lf.Region) &&
			!lf.Delivered.Before(since.Truncate(time.Minute)) && !lf.Delivered.After(until.Add(archive.DeliveryHorizon)) {
			wantOpen = append(wantOpen, f.Key)
		}
	}
	opens := slices.Clone(rec.opens)
	slices.Sort(opens)
	slices.Sort(wantOpen)
	if len(wantOpen) < 20 || !slices.Equal(opens, wantOpen) {
		t.Errorf("opened %d objects, want the %d delivered in range: %v", len(opens), len(wantOpen), diff(opens, wantOpen))
	}
	if sum.Read != len(wantOpen) || sum.Failed != 0 || len(sum.Failures) != 0 || sum.Interrupted {
		t.Errorf("summary %+v", sum)
	}

	want := expected(t, a.files, policy.Default(), since, until, accounts, regions)
	if g := ids(got); !slices.Equal(g, want) {
		t.Errorf("findings differ from check's:\n%v", diff(g, want))
	}
	if !slices.ContainsFunc(got, func(f findings.Finding) bool { return f.Rule == findings.RuleReconThenInvoke }) {
		t.Error("no recon-then-invoke finding")
	}
	if sum.Findings != len(got) || sum.Events == 0 || sum.OutOfRange == 0 || !sum.Covered.After(until) {
		t.Errorf("summary counts %+v", sum.Progress)
	}
}

// diff lists what is in only one of two sorted lists.
func diff(got, want []string) string {
	var b strings.Builder
	for _, g := range got {
		if _, ok := slices.BinarySearch(want, g); !ok {
			b.WriteString("\n+ " + g)
		}
	}
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok {
			b.WriteString("\n- " + w)
		}
	}
	return b.String()
}

// TestScanWholeArchiveInParallel: every account and Region, read by four
// workers at once, give check's findings over every file, whatever the
// order the objects finish in; one worker gives the same.
func TestScanWholeArchiveInParallel(t *testing.T) {
	a := newTestArchive(t)
	since, until := t0.Add(-time.Hour), t0.Add(72*time.Hour)
	want := expected(t, a.files, policy.Default(), since, until, nil, nil)
	plan := archive.Plan{Location: archive.Location{Bucket: testBucket}, Since: since, Until: until}
	for _, conc := range []int{4, 1} {
		rec := &recorder{}
		if conc > 1 {
			rec.gate = make(chan struct{})
		}
		s := a.scanner(t, rec, policy.Default())
		s.Concurrency = conc
		sum, got := collect(t, s, context.Background(), plan)
		if g := ids(got); !slices.Equal(g, want) {
			t.Errorf("concurrency %d: findings differ from check's:%s", conc, diff(g, want))
		}
		if sum.Read != len(a.files) || sum.Partitions < 8 || sum.NotLogs != 1 {
			t.Errorf("concurrency %d: read %d of %d files, %d partitions, %d keys not log files", conc, sum.Read, len(a.files), sum.Partitions, sum.NotLogs)
		}
		if conc > 1 && rec.maxOpen < 2 {
			t.Errorf("concurrency %d: at most %d objects read at once", conc, rec.maxOpen)
		}
		if conc == 1 && rec.maxOpen != 1 {
			t.Errorf("concurrency 1: %d objects read at once", rec.maxOpen)
		}
	}
}

// TestScanReportsACorruptObjectByKeyAndRetriesACutRead: an object whose
// gzip is broken is reported by its s3:// URL at once (reading it again
// would give the same bytes), the rest is judged; an object whose
// connection is cut mid-body is read again from where it stopped, so its
// findings are neither lost nor doubled.
func TestScanReportsACorruptObjectByKeyAndRetriesACutRead(t *testing.T) {
	a := newTestArchive(t)
	corrupt := a.files[3]
	broken := corrupt
	broken.Body = append(slices.Clone(corrupt.Body[:len(corrupt.Body)/2]), []byte("garbage")...)
	a.put(t, []corpus.ArchiveFile{broken})

	// The biggest file, cut a third of the way through.
	big := slices.MaxFunc(a.files, func(x, y corpus.ArchiveFile) int { return len(x.Body) - len(y.Body) })
	rec := &recorder{cut: map[string]int{big.Key: len(big.Body) / 3}}
	s := a.scanner(t, rec, policy.Default())
	var problems []string
	s.Problem = func(err error) { problems = append(problems, err.Error()) }
	since, until := t0.Add(-time.Hour), t0.Add(72*time.Hour)
	sum, got := collect(t, s, context.Background(), archive.Plan{Location: archive.Location{Bucket: testBucket}, Since: since, Until: until})

	url := "s3://" + testBucket + "/" + corrupt.Key
	if len(sum.Failures) != 1 || sum.Failures[0].URL != url || sum.Failures[0].Attempts != 1 || sum.Failed != 1 {
		t.Fatalf("failures %v", sum.Failures)
	}
	if len(problems) != 1 || !strings.HasPrefix(problems[0], url+": ") || strings.Count(problems[0], url) != 1 || !strings.Contains(problems[0], "read after") {
		t.Errorf("problems reported: %q", problems)
	}
	opened := 0
	for _, k := range rec.opens {
		if k == big.Key {
			opened++
		}
	}
	if opened != 2 {
		t.Errorf("the cut object was opened %d times, want 2", opened)
	}
	var rest []corpus.ArchiveFile
	for _, f := range a.files {
		if f.Key != corrupt.Key {
			rest = append(rest, f)
		}
	}
	want := expected(t, rest, policy.Default(), since, until, nil, nil)
	// The corrupt object's records before the damage were judged too.
	var partial []findings.Finding
	core := &detector.Core{Rules: rules.New(policy.Default())}
	core.Each(decode.Bytes(url, broken.Body), func(r *detector.Result, err error) {
		if err == nil {
			partial = append(partial, r.Findings...)
		}
	})
	want = append(want, ids(partial)...)
	slices.Sort(want)
	if g := ids(got); !slices.Equal(g, want) {
		t.Errorf("findings:%s", diff(g, want))
	}
	if sum.Read != len(a.files)-1 {
		t.Errorf("read %d objects, want %d", sum.Read, len(a.files)-1)
	}
}

// TestScanInterruptedSaysWhatWasCovered: cancelling the scan stops it
// without reporting the unread objects as failures, and the summary says
// up to which delivery time everything was read.
func TestScanInterruptedSaysWhatWasCovered(t *testing.T) {
	a := newTestArchive(t)
	rec := &recorder{}
	s := a.scanner(t, rec, policy.Default())
	s.Concurrency = 2
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Progress = func(p archive.Progress) {
		if p.Read >= 30 {
			cancel()
		}
	}
	sum, _ := collect(t, s, ctx, archive.Plan{Location: archive.Location{Bucket: testBucket}, Since: t0.Add(-time.Hour), Until: t0.Add(72 * time.Hour)})
	if !sum.Interrupted || len(sum.Failures) != 0 || sum.Read < 30 || sum.Read >= len(a.files) {
		t.Fatalf("interrupted %v, failures %v, read %d of %d", sum.Interrupted, sum.Failures, sum.Read, len(a.files))
	}
	if sum.Covered.IsZero() || !sum.Covered.Before(a.files[len(a.files)-1].Delivered) {
		t.Errorf("covered up to %s", sum.Covered)
	}
	// Everything delivered before Covered was read.
	read := map[string]bool{}
	for _, k := range rec.opens {
		read[k] = true
	}
	for _, f := range a.files {
		if f.Delivered.Before(sum.Covered) && !read[f.Key] {
			t.Errorf("%s delivered %s, before the coverage %s, was not read", f.Key, f.Delivered, sum.Covered)
		}
	}
}

// TestScanKMSEncryptedObjects: objects stored with SSE-KMS are read like
// any other: S3 decrypts them for a reader allowed kms:Decrypt.
func TestScanKMSEncryptedObjects(t *testing.T) {
	srv := motoserver.Start(t)
	key, err := kms.NewFromConfig(srv.Config(t)).CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("trail")})
	if err != nil {
		t.Fatal(err)
	}
	a := newTestArchiveOn(t, srv, func(in *s3.PutObjectInput) {
		in.ServerSideEncryption = s3types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = key.KeyMetadata.Arn
	})
	head, err := a.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(a.files[0].Key)})
	if err != nil || head.ServerSideEncryption != s3types.ServerSideEncryptionAwsKms {
		t.Fatalf("the archive is not SSE-KMS encrypted: %v %v", head.ServerSideEncryption, err)
	}
	rec := &recorder{}
	s := a.scanner(t, rec, policy.Default())
	since, until := t0.Add(-time.Hour), t0.Add(72*time.Hour)
	sum, got := collect(t, s, context.Background(), archive.Plan{Location: archive.Location{Bucket: testBucket}, Since: since, Until: until})
	if sum.Read != len(a.files) || len(sum.Failures) != 0 {
		t.Fatalf("read %d of %d, failures %v", sum.Read, len(a.files), sum.Failures)
	}
	if g, w := ids(got), expected(t, a.files, policy.Default(), since, until, nil, nil); !slices.Equal(g, w) {
		t.Errorf("findings:%s", diff(g, w))
	}
}
