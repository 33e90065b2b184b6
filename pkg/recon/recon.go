// Package recon follows recon-then-invoke sequences across the detector's
// batches: the reconnaissance calls of a suspect key are kept in the state
// table, and an invocation by that key within the window, in this batch or
// a later one, raises the finding. The judgement itself is
// rules.Engine.Sequences; this package only adds the memory between
// batches. recondb keeps it in DynamoDB; MemoryStore is for tests.
package recon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/rules"
)

// Store keeps the recon marks of suspect keys.
type Store interface {
	// Marks returns the stored marks among keys (buckets of the given
	// window); keys never recorded are missing from the result. It is one
	// read (one BatchGetItem for up to 100 keys).
	Marks(ctx context.Context, keys []rules.MarkKey, window time.Duration) ([]rules.Mark, error)
	// Record folds m into the stored mark of its key and bucket: the
	// earlier First, the later Last, the union of Calls. expires is when
	// the mark may be deleted.
	Record(ctx context.Context, m rules.Mark, window time.Duration, expires time.Time) error
}

// Retention is how long a mark is kept after its bucket starts: the bucket
// and the next one (the last an invocation can use it from), plus a day
// for late deliveries and retried batches.
func Retention(window time.Duration) time.Duration { return 2*window + 24*time.Hour }

// Analyzer is the detector's recon-then-invoke analyzer.
type Analyzer struct {
	engine *rules.Engine
	store  Store
	log    *slog.Logger
}

// New returns an Analyzer judging with engine and remembering in store;
// logger may be nil.
func New(engine *rules.Engine, store Store, logger *slog.Logger) *Analyzer {
	if logger == nil {
		logger = slog.Default()
	}
	return &Analyzer{engine: engine, store: store, log: logger}
}

// Analyze finds the sequences completed by the batch. AWS calls per batch:
// one Marks read, and only when the batch holds an invocation by a suspect
// key (rules.Engine.SequenceInvoke) that no recon call of the same batch
// explains; then up to three conditional writes per key and bucket that
// made recon calls in the batch (none for a batch without suspect recon).
//
// On any store error it returns no finding and the error, so the batch is
// retried; a retry recomputes the same findings (same fingerprints), which
// the alert state deduplicates, and re-recording a mark changes nothing.
func (a *Analyzer) Analyze(ctx context.Context, events []normalize.Event) ([]findings.Finding, error) {
	p := a.engine.Policy()
	window := p.ReconWindow()
	fs, marks, err := a.engine.Sequences(events, func(keys []rules.MarkKey) ([]rules.Mark, error) {
		return a.store.Marks(ctx, keys, window)
	})
	if err != nil {
		return nil, fmt.Errorf("recon: read marks: %w", err)
	}
	for _, m := range marks {
		if err := a.store.Record(ctx, m, window, m.Start.Add(Retention(window))); err != nil {
			return nil, fmt.Errorf("recon: record %s at %s: %w", m.Key, m.Start.Format(time.RFC3339), err)
		}
	}
	for i := range fs {
		a.log.InfoContext(ctx, "recon then invoke", "principal", fs[i].Principal, "accessKeyId", fs[i].AccessKeyID,
			"reconCalls", fs[i].Details["reconCalls"], "eventId", fs[i].EventID)
	}
	return fs, nil
}
