package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/rules"
)

// Defaults of a Scanner.
const (
	DefaultConcurrency = 8
	DefaultAttempts    = 3
)

// Scanner reads the log files of a plan and judges their records with the
// detection core, as `warden check` judges files: the same decoder, the
// same rules, recon-then-invoke in time order (SequenceJudge, a bucket at a
// time behind the files read, DeliveryHorizon back).
//
// Objects are listed a day folder at a time (every partition of a day at
// once), sorted by delivery time and read in that order by Concurrency
// workers, each streaming its object through the decoder: memory holds at
// most three days' listings (the day being read, the next one, and the one
// being listed), the objects being read, the recon and invocation events
// of the last DeliveryHorizon and the window before it, and nothing else.
type Scanner struct {
	Bucket Bucket
	Engine *rules.Engine
	// Concurrency is how many objects are read at once, and how many
	// listings run at once (DefaultConcurrency when 0).
	Concurrency int
	// Attempts is how often an object whose reading failed (a request
	// error, a connection cut mid-object) is read before it is reported
	// (DefaultAttempts when 0). An object S3 refuses or no longer has, and
	// an object whose bytes cannot be decoded, is reported at once.
	Attempts int
	// Wait pauses before attempt n+1 (a second, doubling, when nil);
	// it returns ctx's error when ctx ends first.
	Wait func(ctx context.Context, attempt int) error
	// Progress, when set, is called on Scan's goroutine after each object
	// and each day listed.
	Progress func(Progress)
	// Problem, when set, is called on Scan's goroutine with each record
	// that could not be decoded, each object reported by key and each
	// listing that failed, as they happen.
	Problem func(error)
}

// Progress is a scan's totals so far.
type Progress struct {
	// Listed and ListedBytes are the log files found so far and their
	// compressed size; Read and Failed the objects finished.
	Listed, Read, Failed int
	ListedBytes          int64
	// Bytes is the compressed bytes read (again when an object is read
	// again).
	Bytes int64
	// Records is every record decoded; Events the Bedrock events judged
	// (within the plan's time range); Findings those reported so far.
	Records, Events, Findings int
	// DaysListed of Days day folders are listed.
	DaysListed, Days int
	// Covered: every object delivered before it has been read.
	Covered time.Time
	Elapsed time.Duration
}

// Rate is records decoded per second.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Records) / p.Elapsed.Seconds()
}

// ETA estimates the time left from the bytes read and the bytes listed
// (extrapolated from the days listed while listing goes on); 0 when it
// cannot yet say.
func (p Progress) ETA() time.Duration {
	if p.Bytes <= 0 || p.DaysListed == 0 || p.Elapsed <= 0 {
		return 0
	}
	total := float64(p.ListedBytes) * float64(p.Days) / float64(p.DaysListed)
	left := total - float64(p.Bytes)
	if left <= 0 {
		return 0
	}
	return time.Duration(left / float64(p.Bytes) * float64(p.Elapsed))
}

// ObjectError is an object the scan could not read or decode, reported by
// key.
type ObjectError struct {
	URL      string
	Attempts int
	// Records is how many of its records were judged before the failure.
	Records int
	Err     error
}

func (e *ObjectError) Error() string {
	s := e.Err.Error()
	if !strings.HasPrefix(s, e.URL) { // the decoder's errors name it already
		s = e.URL + ": " + s
	}
	if e.Attempts > 1 {
		s += fmt.Sprintf(" (after %d attempts", e.Attempts)
		if e.Records > 0 {
			s += fmt.Sprintf("; its first %d records were judged", e.Records)
		}
		s += ")"
	} else if e.Records > 0 {
		s += fmt.Sprintf(" (its first %d records were judged)", e.Records)
	}
	return s
}

func (e *ObjectError) Unwrap() error { return e.Err }

// Summary is what a scan did.
type Summary struct {
	Progress
	Partitions int
	// Notes are accounts or Regions the plan named that the bucket does
	// not hold.
	Notes []string
	// Failures are the objects reported by key; ListFailures the
	// listings that failed (their day's files of that partition were not
	// read).
	Failures     []*ObjectError
	ListFailures []error
	// RecordErrors counts records that could not be decoded.
	RecordErrors int
	// Others counts records of services other than Bedrock (and the IAM
	// calls that create Bedrock API keys); OutOfRange records outside
	// [Since, Until); NotLogs keys in the day folders that are not log
	// files.
	Others, OutOfRange, NotLogs int
	// Late counts recon and invocation events that arrived more than
	// DeliveryHorizon after their time: judged by every rule but
	// recon-then-invoke.
	Late int
	// Interrupted is set when the context ended before everything was
	// read: Covered says how far the scan got.
	Interrupted bool
}

// Scan judges the plan's records, calling emit with each finding (on
// Scan's goroutine) as soon as it is final: per-event findings as their
// object is read, recon-then-invoke ones as the reader moves past their
// window. It returns an error only when nothing could be read (the
// partitions could not be found, emit failed); failed objects and
// listings are in the Summary, after Problem reported them.
func (s *Scanner) Scan(ctx context.Context, p Plan, emit func(*findings.Finding) error) (*Summary, error) {
	start := time.Now()
	parts, notes, err := Partitions(ctx, s.Bucket, p)
	if err != nil {
		return nil, err
	}
	sum := &Summary{Partitions: len(parts), Notes: notes}
	sum.Days = len(p.Days())
	if len(parts) == 0 {
		return sum, nil
	}
	conc := s.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	msgs := make(chan message, 4*conc)
	work := make(chan job)
	track := &tracker{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.list(ctx, p, parts, conc, track, work, msgs)
	}()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				s.read(ctx, p, j, msgs)
			}
		}()
	}
	go func() { wg.Wait(); close(msgs) }()

	judge := s.Engine.NewSequenceJudge()
	var emitErr error
	put := func(fs []findings.Finding) {
		for i := range fs {
			if emitErr != nil {
				return
			}
			sum.Findings++
			if err := emit(&fs[i]); err != nil {
				emitErr = err
				cancel()
			}
		}
	}
	problem := func(err error) {
		if s.Problem != nil {
			s.Problem(err)
		}
	}
	progress := func() {
		if s.Progress != nil {
			sum.Elapsed = time.Since(start)
			s.Progress(sum.Progress)
		}
	}
	for m := range msgs {
		switch m.kind {
		case msgListed:
			sum.DaysListed++
			sum.Listed += m.listed
			sum.ListedBytes += m.listedBytes
			sum.NotLogs += m.notLogs
			for _, err := range m.listErrs {
				sum.ListFailures = append(sum.ListFailures, err)
				problem(err)
			}
			progress()
		case msgBatch, msgDone:
			sum.Records += m.records
			sum.Events += m.events
			sum.Others += m.others
			sum.OutOfRange += m.outOfRange
			sum.Bytes += m.bytes
			for _, err := range m.recordErrs {
				sum.RecordErrors++
				problem(err)
			}
			put(m.findings)
			for i := range m.seq {
				judge.Add(&m.seq[i])
			}
			if m.kind != msgDone {
				continue
			}
			switch {
			case m.interrupted:
			case m.err != nil:
				sum.Failures = append(sum.Failures, m.err)
				sum.Failed++
				problem(m.err)
			default:
				sum.Read++
			}
			if w, ok := track.done(m.id); ok {
				sum.Covered = w
				put(judge.Advance(w.Add(-DeliveryHorizon)))
			}
			progress()
		}
	}
	if ctx.Err() != nil && emitErr == nil {
		sum.Interrupted = true
	}
	if !sum.Interrupted {
		if w, ok := track.final(); ok {
			sum.Covered = w
		}
	}
	// Everything read is judged, also when the scan was interrupted: a
	// sequence found among the events read is real.
	put(judge.Flush())
	sum.Late = judge.Late()
	sum.Elapsed = time.Since(start)
	if emitErr != nil {
		return sum, emitErr
	}
	return sum, nil
}

// job is one object to read.
type job struct {
	id   int
	file LogFile
	size int64
}

type msgKind int

const (
	msgListed msgKind = iota
	msgBatch
	msgDone
)

// message is what the lister and the workers tell Scan's goroutine.
type message struct {
	kind msgKind
	id   int
	// A day listed.
	listed      int
	listedBytes int64
	notLogs     int
	listErrs    []error
	// Part of an object read.
	findings                            []findings.Finding
	seq                                 []normalize.Event
	records, events, others, outOfRange int
	recordErrs                          []error
	bytes                               int64
	// The object is finished (msgDone).
	err         *ObjectError
	interrupted bool
}

// tracker knows which objects were handed out, in delivery order, and
// which are finished, to say up to when everything has been read.
type tracker struct {
	mu       sync.Mutex
	pending  []tracked // handed out, in order
	last     time.Time // the latest delivery handed out
	finished bool      // listing is over: nothing more will be handed out
}

type tracked struct {
	id   int
	at   time.Time
	done bool
}

func (t *tracker) add(id int, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending = append(t.pending, tracked{id: id, at: at})
	t.last = at
}

// done marks id finished and returns the delivery time before which every
// object has been read: the oldest unfinished one's, or with none the
// latest handed out (what comes next is delivered later).
func (t *tracker) done(id int) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.pending {
		if t.pending[i].id == id {
			t.pending[i].done = true
			break
		}
	}
	n := 0
	for n < len(t.pending) && t.pending[n].done {
		n++
	}
	t.pending = t.pending[n:]
	if len(t.pending) > 0 {
		return t.pending[0].at, true
	}
	if t.finished {
		return t.last.Add(time.Minute), true
	}
	return t.last, !t.last.IsZero()
}

// final returns the coverage once everything handed out is read.
func (t *tracker) final() (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.pending) > 0 || t.last.IsZero() {
		return time.Time{}, false
	}
	return t.last.Add(time.Minute), true
}

// list lists the plan's days one after the other (the partitions of a day
// at once), and hands out each day's objects in delivery order while the
// next day is being listed.
func (s *Scanner) list(ctx context.Context, p Plan, parts []Partition, conc int, track *tracker, work chan<- job, msgs chan<- message) {
	days := make(chan []job, 1)
	go func() {
		defer close(days)
		id := 0
		for _, day := range p.Days() {
			if ctx.Err() != nil {
				return
			}
			jobs, m := s.listDay(ctx, p, parts, day, conc)
			for i := range jobs {
				jobs[i].id = id
				id++
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
			select {
			case days <- jobs:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer close(work)
	stopped := false
	for jobs := range days { // drained to the end, so the lister has returned
		for _, j := range jobs {
			if stopped {
				break
			}
			track.add(j.id, j.file.Delivered)
			select {
			case work <- j:
			case <-ctx.Done():
				// Not handed out: the tracker must not wait for it.
				track.done(j.id)
				stopped = true
			}
		}
	}
	if !stopped && ctx.Err() == nil {
		track.mu.Lock()
		track.finished = true
		track.mu.Unlock()
	}
}

// listDay lists one day folder of every partition, conc at a time.
func (s *Scanner) listDay(ctx context.Context, p Plan, parts []Partition, day time.Time, conc int) ([]job, message) {
	type result struct {
		files []LogFile
		infos []ObjectInfo
		other int
		err   error
	}
	results := make([]result, len(parts))
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i, part := range parts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := &results[i]
			r.files, r.infos, r.other, r.err = listDay(ctx, s.Bucket, p, part, day)
		}()
	}
	wg.Wait()
	m := message{kind: msgListed}
	var jobs []job
	for i, r := range results {
		if r.err != nil {
			if ctx.Err() == nil {
				m.listErrs = append(m.listErrs, fmt.Errorf("list %s (%s, %s): %w", "s3://"+p.Bucket+"/"+parts[i].DayPrefix(day), parts[i], day.Format("2006-01-02"), r.err))
			}
			continue
		}
		m.notLogs += r.other
		for k, f := range r.files {
			jobs = append(jobs, job{file: f, size: r.infos[k].Size})
			m.listed++
			m.listedBytes += r.infos[k].Size
		}
	}
	slices.SortFunc(jobs, func(a, b job) int {
		if c := a.file.Delivered.Compare(b.file.Delivered); c != 0 {
			return c
		}
		return strings.Compare(a.file.Key, b.file.Key)
	})
	return jobs, m
}

// batchSize bounds how many events a worker judges before handing their
// findings and sequence events over.
const batchSize = 512

// read reads one object, again after a failure that another attempt may
// cure, resuming after the records already judged.
func (s *Scanner) read(ctx context.Context, p Plan, j job, msgs chan<- message) {
	attempts := s.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	url := "s3://" + p.Bucket + "/" + j.file.Key
	resume := 0
	var (
		last  error
		tries int
		bytes int64
	)
	for tries < attempts {
		if tries > 0 {
			if err := s.wait(ctx, tries); err != nil {
				break
			}
		}
		tries++
		obj, err := s.Bucket.Open(ctx, p.Bucket, j.file.Key)
		if err != nil {
			last = err
			if permanent(err) || ctx.Err() != nil {
				break
			}
			continue
		}
		body := &countingBody{r: obj.Body}
		next, whole := s.judge(ctx, p, url, body, resume, msgs)
		obj.Body.Close()
		bytes += body.n
		resume = next
		if whole == nil {
			s.finish(msgs, message{kind: msgDone, id: j.id, bytes: bytes})
			return
		}
		last = whole
		if body.err == nil || ctx.Err() != nil {
			break // the bytes themselves are bad: reading them again gives the same
		}
	}
	done := message{kind: msgDone, id: j.id, bytes: bytes}
	if ctx.Err() != nil {
		done.interrupted = true
	} else {
		done.err = &ObjectError{URL: url, Attempts: tries, Records: resume, Err: last}
	}
	s.finish(msgs, done)
}

// finish hands a message over even when the scan is being interrupted:
// Scan drains the channel until every worker is done.
func (s *Scanner) finish(msgs chan<- message, m message) { msgs <- m }

func (s *Scanner) wait(ctx context.Context, attempt int) error {
	if s.Wait != nil {
		return s.Wait(ctx, attempt)
	}
	t := time.NewTimer(time.Second << (attempt - 1))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// countingBody counts the bytes read from an object and keeps the first
// error the connection gave (a read that a new attempt may cure), apart
// from the decoder's errors (bad bytes).
type countingBody struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingBody) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// judge decodes one object's body, skipping the records before resume
// (judged by an earlier attempt), and hands its findings, sequence events
// and counts over in batches. It returns the index after the last record
// decoded and the error that ended the object early, if any.
func (s *Scanner) judge(ctx context.Context, p Plan, url string, body io.Reader, resume int, msgs chan<- message) (int, error) {
	var (
		whole error
		next  = resume
		m     = message{kind: msgBatch}
		core  = detector.Core{Rules: s.Engine}
	)
	flush := func() {
		msgs <- m
		m = message{kind: msgBatch}
	}
	items := func(yield func(decode.Item) bool) {
		for it := range decode.Reader(url, body) {
			if ctx.Err() != nil {
				whole = ctx.Err()
				return
			}
			i := it.Origin.Index
			if it.Err != nil && i < 0 {
				whole = it.Err
				continue
			}
			if i < resume {
				continue
			}
			next = i + 1
			if it.Err == nil {
				m.records++
				if !MayConcernBedrock(&it.Record) {
					m.others++
					continue
				}
				if t := it.Record.Time; t.Before(p.Since) || !t.Before(p.Until) {
					m.outOfRange++
					continue
				}
			}
			if !yield(it) {
				return
			}
		}
	}
	core.Each(iter.Seq[decode.Item](items), func(r *detector.Result, err error) {
		if err != nil {
			if errors.Is(err, detector.ErrNotBedrock) {
				m.others++
			} else {
				m.recordErrs = append(m.recordErrs, err)
			}
		} else {
			m.events++
			m.findings = append(m.findings, r.Findings...)
			if s.Engine.SequenceRecon(&r.Event) || s.Engine.SequenceInvoke(&r.Event) {
				m.seq = append(m.seq, r.Event)
			}
		}
		if m.events+len(m.recordErrs) >= batchSize {
			flush()
		}
	})
	flush()
	return next, whole
}

// MayConcernBedrock reports whether a record can concern Bedrock Warden: a
// Bedrock call, or an IAM call (the API-key creations among them; the
// core counts the rest as another service's). A log file holds every
// service's calls: the others need not be normalised at all.
func MayConcernBedrock(r *decode.Record) bool {
	src := strings.TrimSpace(r.EventSource)
	return normalize.IsBedrockSource(src) || src == normalize.SourceIAM
}
