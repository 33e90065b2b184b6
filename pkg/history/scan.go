package history

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultMaxAttempts bounds the tries of one LookupEvents page when
// CloudTrail throttles or fails transiently.
const DefaultMaxAttempts = 8

// Scanner reads the Bedrock event history of several Regions in parallel,
// one goroutine per Region, each with its own Limiter.
type Scanner struct {
	// Lookup returns the client for a Region. Required.
	Lookup func(region string) (Lookup, error)
	// Clock drives limiters and backoff; nil means RealClock.
	Clock Clock
	// Rate is requests per second per Region; 0 means DefaultRate.
	Rate int
	// Backoff spaces retries of throttled requests.
	Backoff Backoff
	// MaxAttempts per page; 0 means DefaultMaxAttempts.
	MaxAttempts int
	// Sources overrides the event sources queried; nil means Sources.
	Sources []string
	// Progress, when set, is called after every page (serialised). Its
	// Stats.Latest map is the scanner's own: read it, do not keep it.
	Progress func(Stats)
	// Retrying, when set, is told before each retry why and when: a
	// person watching a slow scan learns it is being throttled or cannot
	// reach the endpoint, rather than seeing nothing.
	Retrying func(Retry)
}

// Retry describes a request about to be retried.
type Retry struct {
	Region  string
	Attempt int // the attempt about to be made, 2 or more
	Max     int
	Wait    time.Duration
	Err     error // why the last attempt failed
}

// Stats counts a scan's work.
type Stats struct {
	Events    int           // distinct events delivered to the callback
	Pages     int           // pages read
	Requests  int           // LookupEvents calls made, retries included
	Throttled int           // calls CloudTrail throttled
	Elapsed   time.Duration // on the scanner's clock
	// Latest is the newest event time seen, per Region (zero when none).
	Latest map[string]time.Time
}

// Rate returns events per second over Elapsed (0 before any time passed).
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Events) / s.Elapsed.Seconds()
}

// RegionError is a Region whose scan failed; the other Regions' events were
// still delivered.
type RegionError struct {
	Region string
	Source string
	Err    error
}

func (e *RegionError) Error() string {
	return fmt.Sprintf("lookup %s events in %s: %v", e.Source, e.Region, e.Err)
}

func (e *RegionError) Unwrap() error { return e.Err }

// Scan calls fn once for every distinct event (by Region and event id)
// whose time is in [start, end] in each Region, for every source. fn calls
// are serialised, so fn needs no locking; an error from fn stops the scan
// and is returned. Region failures are joined (each a *RegionError) after
// every Region finished; the events already delivered stay delivered.
func (s *Scanner) Scan(ctx context.Context, regions []string, start, end time.Time, fn func(Event) error) (Stats, error) {
	if s.Lookup == nil {
		return Stats{}, errors.New("history scanner: no Lookup")
	}
	if !end.After(start) {
		return Stats{}, fmt.Errorf("history scan: end %s is not after start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	clock := s.Clock
	if clock == nil {
		clock = RealClock{}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &scanRun{s: s, clock: clock, fn: fn, began: clock.Now(), seen: map[string]bool{},
		stats: Stats{Latest: map[string]time.Time{}}, cancel: cancel}
	var wg sync.WaitGroup
	errs := make([]error, len(regions))
	for i, region := range regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.region(ctx, region, start, end)
		}()
	}
	wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Elapsed = clock.Now().Sub(r.began)
	if r.fnErr != nil {
		return r.stats, r.fnErr
	}
	return r.stats, errors.Join(errs...)
}

type scanRun struct {
	s      *Scanner
	clock  Clock
	fn     func(Event) error
	began  time.Time
	cancel context.CancelFunc

	mu    sync.Mutex
	seen  map[string]bool
	stats Stats
	fnErr error
}

func (r *scanRun) region(ctx context.Context, region string, start, end time.Time) error {
	client, err := r.s.Lookup(region)
	if err != nil {
		return &RegionError{Region: region, Source: "bedrock", Err: fmt.Errorf("client: %w", err)}
	}
	lim := NewLimiter(r.s.Rate, r.clock)
	sources := r.s.Sources
	if sources == nil {
		sources = Sources
	}
	var errs []error
	for _, src := range sources {
		if err := r.series(ctx, client, lim, Query{Region: region, Source: src, Start: start, End: end}); err != nil {
			if ctx.Err() != nil {
				return &RegionError{Region: region, Source: src, Err: err}
			}
			errs = append(errs, &RegionError{Region: region, Source: src, Err: err})
		}
	}
	return errors.Join(errs...)
}

// series reads every page of one query.
func (r *scanRun) series(ctx context.Context, client Lookup, lim *Limiter, q Query) error {
	tokens := map[string]bool{}
	for {
		page, err := r.page(ctx, client, lim, q)
		if err != nil {
			return err
		}
		if err := r.deliver(q.Region, page); err != nil {
			return err
		}
		if page.NextToken == "" {
			return nil
		}
		if tokens[page.NextToken] {
			return fmt.Errorf("page token repeated after %d pages: stopping to avoid a loop", len(tokens)+1)
		}
		tokens[page.NextToken] = true
		q.Token = page.NextToken
	}
}

// page makes one call, retrying throttled and transient failures.
func (r *scanRun) page(ctx context.Context, client Lookup, lim *Limiter, q Query) (Page, error) {
	max := r.s.MaxAttempts
	if max <= 0 {
		max = DefaultMaxAttempts
	}
	var last error
	for attempt := 0; attempt < max; attempt++ {
		if attempt > 0 {
			wait := r.s.Backoff.Delay(attempt - 1)
			if r.s.Retrying != nil {
				r.s.Retrying(Retry{Region: q.Region, Attempt: attempt + 1, Max: max, Wait: wait, Err: last})
			}
			if err := r.clock.Sleep(ctx, wait); err != nil {
				return Page{}, fmt.Errorf("waiting to retry (%v): %w", last, err)
			}
		}
		if err := lim.Wait(ctx); err != nil {
			return Page{}, fmt.Errorf("rate limiter: %w", err)
		}
		page, err := client.Lookup(ctx, q)
		throttled := errors.Is(err, ErrThrottled)
		r.mu.Lock()
		r.stats.Requests++
		if throttled {
			r.stats.Throttled++
		}
		r.mu.Unlock()
		if err == nil {
			return page, nil
		}
		if !throttled && !errors.Is(err, ErrTransient) {
			return Page{}, err
		}
		last = err
	}
	return Page{}, fmt.Errorf("gave up after %d attempts: %w", max, last)
}

func (r *scanRun) deliver(region string, page Page) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fnErr != nil {
		return r.fnErr
	}
	r.stats.Pages++
	for _, ev := range page.Events {
		ev.Region = region
		key := region + "\x00" + ev.ID
		if ev.ID != "" {
			if r.seen[key] {
				continue
			}
			r.seen[key] = true
		}
		if ev.Time.After(r.stats.Latest[region]) {
			r.stats.Latest[region] = ev.Time
		}
		r.stats.Events++
		if err := r.fn(ev); err != nil {
			r.fnErr = err
			r.cancel()
			return err
		}
	}
	if r.s.Progress != nil {
		st := r.stats
		st.Elapsed = r.clock.Now().Sub(r.began)
		r.s.Progress(st)
	}
	return nil
}
