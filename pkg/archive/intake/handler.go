package intake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/bedrock-warden/warden/pkg/archive"
	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/metrics"
)

// DefaultMaxObjectBytes is the largest log file (as stored, gzip) the
// intake reads: CloudTrail's files are a few MB, tens for a busy
// organisation. A larger one is refused with an error that says how to
// judge it (warden scan --from) and ends in the dead-letter queue.
const DefaultMaxObjectBytes = 128 << 20

// DefaultMarkTTL is how long a judged log file is remembered: longer than
// the queue keeps a message (4 days) and than S3 and EventBridge retry.
const DefaultMarkTTL = 7 * 24 * time.Hour

// Marks remembers the log files judged; objectdb implements it on the
// state table.
type Marks interface {
	// Judged reports whether the object was judged already.
	Judged(ctx context.Context, o ObjectRef) (bool, error)
	// MarkJudged records that the object was judged, until expires.
	MarkJudged(ctx context.Context, o ObjectRef, expires time.Time) error
}

// MetricsPutter publishes the intake's counters (*outputs.Metrics).
type MetricsPutter interface {
	Put(ctx context.Context, ds []metrics.Datum) error
}

// Trail is the trail archive the intake watches: its bucket and key
// prefix (Root: "" or ending in "/").
type Trail struct {
	Bucket, Root string
}

// Handler is the S3 intake Lambda's handler.
type Handler struct {
	Trail Trail
	// Pipeline returns the detector's handler for the policy in force.
	Pipeline func(ctx context.Context) *detector.Handler
	Bucket   archive.Bucket
	// Marks is nil when the stack has no state table: every announcement
	// is then judged (the alerts still need the table to be deduplicated).
	Marks Marks
	// MaxObjectBytes is DefaultMaxObjectBytes when 0.
	MaxObjectBytes int64
	Metrics        MetricsPutter
	Now            func() time.Time
	Log            *slog.Logger
}

// Reasons, the Reason dimension of the intake's metrics.
const (
	ReasonDuplicate     = "duplicate"
	ReasonNotLogFile    = "not-a-log-file"
	ReasonUnknownNotice = "unknown-notice"
	ReasonOtherBucket   = "other-bucket"
	ReasonTooLarge      = "too-large"
	ReasonReadFailed    = "read-failed"
)

// ErrTooLarge marks a log file above MaxObjectBytes.
var ErrTooLarge = errors.New("log file too large for the S3 intake")

// errOtherBucket marks a notification about a bucket the stack does not
// watch.
var errOtherBucket = errors.New("notification for a bucket this stack does not watch")

// Handle judges the log files the SQS batch announces, one message after
// the other (so memory holds one log file's chunk at a time), and answers
// the messages that failed, to come back through SQS.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	var m metrics.Set
	for _, msg := range ev.Records {
		if err := h.message(ctx, msg, &m); err != nil {
			h.log().ErrorContext(ctx, "notification failed: it comes back through SQS, then goes to the dead-letter queue",
				"messageId", msg.MessageId, "error", err.Error())
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
		}
	}
	if h.Metrics != nil {
		if ds := m.Datums(); len(ds) > 0 {
			if err := h.Metrics.Put(ctx, ds); err != nil {
				h.log().ErrorContext(ctx, "intake metrics not published", "error", err.Error())
			}
		}
	}
	return resp, nil
}

func (h *Handler) message(ctx context.Context, msg events.SQSMessage, m *metrics.Set) error {
	n, err := ParseNotice([]byte(msg.Body))
	if err != nil {
		m.Add(metrics.TrailNoticesRejected, 1, metrics.Dimension{Name: metrics.DimReason, Value: ReasonUnknownNotice})
		return err
	}
	if n.Test {
		h.log().InfoContext(ctx, "S3 test event: the bucket's notification reaches the intake", "messageId", msg.MessageId)
		return nil
	}
	var errs []error
	for _, o := range n.Objects {
		if err := h.object(ctx, o, m); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.URL(), err))
		}
	}
	return errors.Join(errs...)
}

// object judges one announced object.
func (h *Handler) object(ctx context.Context, o ObjectRef, m *metrics.Set) error {
	reject := func(reason string, err error) error {
		m.Add(metrics.TrailNoticesRejected, 1, metrics.Dimension{Name: metrics.DimReason, Value: reason})
		return err
	}
	skip := func(reason string) error {
		m.Add(metrics.TrailObjectsSkipped, 1, metrics.Dimension{Name: metrics.DimReason, Value: reason})
		h.log().InfoContext(ctx, "object skipped", "object", o.URL(), "reason", reason)
		return nil
	}
	if o.Bucket != h.Trail.Bucket {
		return reject(ReasonOtherBucket, fmt.Errorf("%w (%s)", errOtherBucket, h.Trail.Bucket))
	}
	lf, ok := archive.ParseKey(o.Key)
	if !ok || lf.Root != h.Trail.Root || lf.Kind != archive.KindLog {
		// Digests and Insights files sit beside the log files; the S3
		// route's filter cannot leave them out.
		return skip(ReasonNotLogFile)
	}
	limit := h.MaxObjectBytes
	if limit <= 0 {
		limit = DefaultMaxObjectBytes
	}
	tooLarge := func(size int64) error {
		return reject(ReasonTooLarge, fmt.Errorf("%w: %d bytes, above the limit of %d (WARDEN_TRAIL_MAX_OBJECT_BYTES); not read: judge it with warden scan --from s3://%s/%s --since %s --until %s",
			ErrTooLarge, size, limit, o.Bucket, strings.TrimSuffix(archive.Partition{Root: lf.Root, Org: lf.Org, Account: lf.Account, Region: lf.Region}.Prefix(), "/"),
			lf.Delivered.Add(-archive.DeliveryHorizon).Format(time.RFC3339), lf.Delivered.Add(time.Minute).Format(time.RFC3339)))
	}
	if o.Size > limit {
		return tooLarge(o.Size)
	}
	if h.Marks != nil {
		done, err := h.Marks.Judged(ctx, o)
		if err != nil {
			return err
		}
		if done {
			return skip(ReasonDuplicate)
		}
	}
	obj, err := h.Bucket.Open(ctx, o.Bucket, o.Key)
	if err != nil {
		return reject(ReasonReadFailed, err)
	}
	defer obj.Body.Close()
	if obj.Size > limit {
		return tooLarge(obj.Size)
	}
	pipe := h.Pipeline(ctx)
	start := h.now()
	var records, skipped int
	items := func(yield func(decode.Item) bool) {
		for it := range decode.Reader(o.URL(), io.LimitReader(obj.Body, limit+1)) {
			if it.Err == nil {
				records++
				if !archive.MayConcernBedrock(&it.Record) {
					skipped++
					continue
				}
			}
			if !yield(it) {
				return
			}
		}
	}
	others, err := pipe.Stream(ctx, iter.Seq[decode.Item](items))
	if err != nil {
		return reject(ReasonReadFailed, fmt.Errorf("judged in part (%d records read): %w", records, err))
	}
	m.Add(metrics.TrailObjects, 1)
	h.log().InfoContext(ctx, "log file judged", "object", o.URL(), "account", lf.Account, "region", lf.Region,
		"records", records, "otherServices", skipped+others, "ms", h.now().Sub(start).Milliseconds())
	if h.Marks != nil {
		// A failed mark only means a repeat announcement is judged again,
		// which the alert path deduplicates.
		if err := h.Marks.MarkJudged(ctx, o, h.now().Add(DefaultMarkTTL)); err != nil {
			h.log().WarnContext(ctx, "log file not marked judged", "object", o.URL(), "error", err.Error())
		}
	}
	return nil
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

// WithDeadline wraps a detector sink so that each Deliver (one chunk of a
// log file) ends within d. The alert sink claims an alert and commits it
// inside one Deliver, so a chunk's claim lives at most d: with d below the
// claim's lease (state.DefaultLease) a live invocation never loses its
// claim, however long the whole log file takes.
func WithDeadline(s detector.Sink, d time.Duration) detector.Sink {
	return deadlineSink{s, d}
}

type deadlineSink struct {
	detector.Sink
	d time.Duration
}

func (s deadlineSink) Deliver(ctx context.Context, b *detector.Batch) error {
	ctx, cancel := context.WithTimeout(ctx, s.d)
	defer cancel()
	return s.Sink.Deliver(ctx, b)
}

// Remediable reports whether a finding of the S3 intake may be remediable
// in a stack of account own: only when its principal (by its ARN, as the
// remediator's guard reads it) is in another account. The remediator acts
// only in its own account and refuses the others with the plan; a finding
// about a principal of its own account from a log file is alerted but
// never handed to it, since an S3 object is not authenticated — whoever
// may put objects in the trail bucket could write one naming any
// principal. Remediation in the stack's account comes only from events
// CloudTrail delivers through EventBridge (a per-account stack).
func Remediable(f *findings.Finding, own string) bool {
	a, err := arn.Parse(f.Principal)
	return err == nil && own != "" && a.AccountID != "" && a.AccountID != own
}
