package usage

import (
	"context"
	"errors"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
)

// Store keeps the counters. usagedb.Store keeps them in the state table;
// memstore.Store in memory for tests.
type Store interface {
	// Add adds c to k's counters in one write, unless an update with the
	// same digest was applied before (a batch delivered again): then it
	// changes nothing and applied is false. now dates the digest's
	// marker, kept long enough for any redelivery.
	Add(ctx context.Context, k Key, c Counters, digest string, now time.Time) (applied bool, err error)
	// Usage returns subject's counters per model in the period that
	// starts at start.
	Usage(ctx context.Context, period string, start time.Time, subject string) (map[string]Counters, error)
	// List returns every counter of the period that starts at start.
	List(ctx context.Context, period string, start time.Time) ([]Entry, error)
}

// Entry is one counter as List returns it.
type Entry struct {
	Subject  string   `json:"subject"`
	Model    string   `json:"model"`
	Counters Counters `json:"counters"`
}

// Mark identifies one notification: a rule for a limit and a principal in
// a period.
type Mark struct {
	Rule      string
	Limit     string
	Principal string
	Period    string
	Start     time.Time
}

// MarkState is the answer to Marks.Begin.
type MarkState int

// Mark states.
const (
	MarkAcquired MarkState = iota // first: notify, then Sent
	MarkDone                      // already notified
	MarkBusy                      // another invocation is notifying it now
)

// Marks makes each notification go out once, and at least once: a mark is
// taken before notifying and set sent only after the notification went
// out; one abandoned (a failed publish) or left pending by a crash longer
// than the lease is taken again.
type Marks interface {
	Begin(ctx context.Context, m Mark, now time.Time, lease time.Duration, expires time.Time) (MarkState, error)
	Sent(ctx context.Context, m Mark) error
	Abandon(ctx context.Context, m Mark) error
}

// Notifier delivers findings; outputs.Alerter implements it (SNS alerts,
// sealed, deduplicated).
type Notifier interface {
	Notify(ctx context.Context, fs []findings.Finding) error
}

// Identity is a principal as IAM knows it.
type Identity struct {
	ARN  string            // with the IAM path
	Tags map[string]string // the principal's IAM tags
}

// Principal kinds Directory looks up.
const (
	KindRole = "role"
	KindUser = "user"
)

// ErrNoPrincipal is wrapped by Directory.Lookup when IAM has no such
// principal (deleted since the call).
var ErrNoPrincipal = errors.New("no such IAM principal")

// Directory reads principals from IAM: the path a session ARN does not
// carry (so usage names a role exactly as the detector does) and the tags
// limits select on. iamsrc.Directory implements it with a cache.
type Directory interface {
	Lookup(ctx context.Context, kind, name string) (Identity, error)
}

// Rejected is a log event the meter could not use, as it is kept for a
// person to look at: where it came from and why, never its content.
type Rejected struct {
	LogGroup  string    `json:"logGroup"`
	LogStream string    `json:"logStream"`
	EventID   string    `json:"eventId"`
	Time      time.Time `json:"time"`
	RequestID string    `json:"requestId,omitempty"`
	Reason    string    `json:"reason"`
	Error     string    `json:"error"`
}

// DeadLetters keeps rejected events; sqspub.DeadLetters sends them to the
// usage function's dead-letter queue.
type DeadLetters interface {
	Send(ctx context.Context, rs []Rejected) error
}
