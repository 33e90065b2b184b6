// Package reconcile is the reconciler's logic: on a schedule it looks back
// over CloudTrail's event history (window plus overlap) and sends every
// Bedrock event through the same detector pipeline, so that an event
// EventBridge dropped still alerts — once, because the alert sink skips
// events already handled (eventId idempotency) and folds repeats of a
// fingerprint. Then it runs the heartbeat check with the newest activity
// CloudTrail showed.
package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/bedrock-warden/warden/pkg/heartbeat"
	"github.com/bedrock-warden/warden/pkg/history"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// Environment variables.
const (
	EnvWindow  = "WARDEN_RECONCILE_WINDOW"  // schedule interval, default 15m
	EnvOverlap = "WARDEN_RECONCILE_OVERLAP" // extra look-back, default 20m
	EnvRegions = "WARDEN_RECONCILE_REGIONS" // comma list or "all"; default the function's Region
	// EnvHeartbeatGrace is how old CloudTrail activity must be before the
	// heartbeat misses it (heartbeat.Grace by default; the template sets
	// heartbeat.S3Grace for Intake=s3, whose events come from log files).
	EnvHeartbeatGrace = "WARDEN_HEARTBEAT_GRACE"
)

// Defaults. CloudTrail makes an event visible to LookupEvents minutes after
// the call (typically about 5, historically quoted up to 15, never
// guaranteed). A run at time R reads [R-window-overlap, R]; an event
// delayed by D is read by some run as long as D ≤ overlap, so the overlap
// is the delay the reconciler tolerates. 20m covers the 15-minute figure
// with margin; re-reading costs only LookupEvents calls, because events
// already handled are skipped by the alert sink.
const (
	DefaultWindow  = 15 * time.Minute
	DefaultOverlap = 20 * time.Minute
	// BatchSize is how many records one detector call carries.
	BatchSize = 100
)

// Config is the reconciler's configuration.
type Config struct {
	Window  time.Duration
	Overlap time.Duration
	Regions []string
	// HeartbeatGrace is the heartbeat's grace (zero: heartbeat.Grace).
	HeartbeatGrace time.Duration
}

// Lookback is Window + Overlap.
func (c Config) Lookback() time.Duration { return c.Window + c.Overlap }

// ConfigFromEnv reads the configuration; region is the function's own
// Region, the default of WARDEN_RECONCILE_REGIONS.
func ConfigFromEnv(getenv func(string) string, region string) (Config, error) {
	c := Config{Window: DefaultWindow, Overlap: DefaultOverlap}
	for _, v := range []struct {
		name string
		dst  *time.Duration
	}{{EnvWindow, &c.Window}, {EnvOverlap, &c.Overlap}, {EnvHeartbeatGrace, &c.HeartbeatGrace}} {
		s := strings.TrimSpace(getenv(v.name))
		if s == "" {
			continue
		}
		d, err := policy.ParseDuration(s)
		if err != nil {
			return c, fmt.Errorf("%s: %w", v.name, err)
		}
		*v.dst = d.D()
	}
	if c.Window < time.Minute {
		return c, fmt.Errorf("%s %v: must be at least 1m", EnvWindow, c.Window)
	}
	if c.Lookback() > history.Retention {
		return c, fmt.Errorf("%s + %s = %v: beyond the 90 days event history keeps", EnvWindow, EnvOverlap, c.Lookback())
	}
	regions, err := history.ParseRegions(getenv(EnvRegions), region)
	if err != nil {
		return c, fmt.Errorf("%s: %w", EnvRegions, err)
	}
	c.Regions = regions
	return c, nil
}

// Scanner reads event history; *history.Scanner implements it.
type Scanner interface {
	Scan(ctx context.Context, regions []string, start, end time.Time, fn func(history.Event) error) (history.Stats, error)
}

// Pipeline is the detector; *detector.Handler implements it.
type Pipeline interface {
	Handle(ctx context.Context, payload json.RawMessage) (*events.SQSEventResponse, error)
}

// Heartbeat checks the pipeline's pulse with the newest activity
// CloudTrail showed (zero when none); *heartbeat.Monitor implements it.
type Heartbeat interface {
	Check(ctx context.Context, lastActivity time.Time) (heartbeat.Decision, error)
}

// Reconciler runs one reconciliation.
type Reconciler struct {
	Config   Config
	History  Scanner
	Pipeline Pipeline
	// Heartbeat, when set, runs after the scan.
	Heartbeat Heartbeat
	Now       func() time.Time // time.Now when nil
	Log       *slog.Logger
}

// Result says what a run did.
type Result struct {
	Start, End time.Time
	Events     int // events read from history
	Batches    int // detector calls
	Rejected   int // events whose record was not JSON
	// LastActivity is the newest Bedrock event time seen, any Region.
	LastActivity time.Time
	Stats        history.Stats
}

// Handle is the Lambda entry point for the scheduled event (its content is
// not used). An error makes Lambda retry the run, which is safe.
func (r *Reconciler) Handle(ctx context.Context, _ json.RawMessage) error {
	_, err := r.Run(ctx)
	return err
}

// Run reads [now-window-overlap, now] in every configured Region, sends
// the records to the pipeline in batches of BatchSize as a CloudTrail log
// file ({"Records":[...]}), then runs the heartbeat. Every failure — a
// Region that could not be read, a batch the pipeline refused, a record
// that is not JSON, the heartbeat — is returned (joined) after the rest
// was done.
func (r *Reconciler) Run(ctx context.Context) (Result, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	log := r.Log
	if log == nil {
		log = slog.Default()
	}
	end := now().UTC()
	res := Result{Start: end.Add(-r.Config.Lookback()), End: end}
	var (
		errs  []error
		batch []json.RawMessage
	)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		payload, err := json.Marshal(struct {
			Records []json.RawMessage `json:"Records"`
		}{batch})
		n := len(batch)
		batch = batch[:0]
		if err != nil {
			errs = append(errs, fmt.Errorf("reconcile: build batch of %d records: %w", n, err))
			return
		}
		res.Batches++
		if _, err := r.Pipeline.Handle(ctx, payload); err != nil {
			errs = append(errs, fmt.Errorf("reconcile: detector batch %d (%d records): %w", res.Batches, n, err))
		}
	}
	st, scanErr := r.History.Scan(ctx, r.Config.Regions, res.Start, end, func(ev history.Event) error {
		res.Events++
		if !json.Valid([]byte(ev.Record)) {
			res.Rejected++
			log.ErrorContext(ctx, "history event is not JSON", "region", ev.Region, "eventId", ev.ID, "eventName", ev.Name)
			errs = append(errs, fmt.Errorf("reconcile: %s event %s: CloudTrailEvent is not JSON", ev.Region, ev.ID))
			return nil
		}
		batch = append(batch, json.RawMessage(ev.Record))
		if len(batch) >= BatchSize {
			flush()
		}
		return nil
	})
	flush()
	res.Stats = st
	for _, t := range st.Latest {
		if t.After(res.LastActivity) {
			res.LastActivity = t
		}
	}
	if scanErr != nil {
		errs = append(errs, fmt.Errorf("reconcile: scan: %w", scanErr))
	}
	if r.Heartbeat != nil {
		if _, err := r.Heartbeat.Check(ctx, res.LastActivity); err != nil {
			errs = append(errs, err)
		}
	}
	log.InfoContext(ctx, "reconcile done", "start", res.Start, "end", res.End, "regions", len(r.Config.Regions),
		"events", res.Events, "batches", res.Batches, "requests", st.Requests, "throttled", st.Throttled,
		"lastActivity", res.LastActivity, "errors", len(errs))
	return res, errors.Join(errs...)
}
