package budget

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/glob"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// AWS/Bedrock metric names the budget reads.
const (
	MetricInvocations  = "Invocations"
	MetricInputTokens  = "InputTokenCount"
	MetricOutputTokens = "OutputTokenCount"
)

// Datapoint is one metric sum for one ModelId dimension value over one
// bucket starting at Time.
type Datapoint struct {
	ModelID string // the ModelId dimension value as CloudWatch has it
	Metric  string // MetricInvocations, MetricInputTokens or MetricOutputTokens
	Time    time.Time
	Value   float64
}

// Source reads the AWS/Bedrock metrics. metricsource.Source implements it
// on CloudWatch.
type Source interface {
	// Read returns the Sum of the three metrics for every ModelId in
	// [start, end), in buckets of period aligned on start.
	Read(ctx context.Context, start, end time.Time, period time.Duration) ([]Datapoint, error)
}

// Mark identifies one alert: a rule for a (budget, model) in a period.
type Mark struct {
	Rule        string // findings.RuleBudgetWarning or RuleBudgetExceeded
	Budget      string // the budget's model pattern
	Model       string
	Period      string
	PeriodStart time.Time
}

// Marks remembers which alerts were raised. budgetdb.Store implements it on
// DynamoDB.
type Marks interface {
	// Claim records m; it returns false, nil when m was already recorded.
	Claim(ctx context.Context, m Mark, expires time.Time) (bool, error)
	// Release forgets m, so a later run can raise it again (used when the
	// notification failed).
	Release(ctx context.Context, m Mark) error
}

// Notifier delivers findings. The SNS alert publisher implements it; so
// does LogNotifier.
type Notifier interface {
	Notify(ctx context.Context, fs []findings.Finding) error
}

// LogNotifier is a Notifier that only writes each finding to a slog logger
// as a JSON log line ("budget finding"). It stands in until the SNS alert
// publisher is wired in functions/budget.
type LogNotifier struct {
	Logger *slog.Logger // nil: slog.Default()
}

// Notify logs fs.
func (n LogNotifier) Notify(ctx context.Context, fs []findings.Finding) error {
	l := n.Logger
	if l == nil {
		l = slog.Default()
	}
	for _, f := range fs {
		l.WarnContext(ctx, "budget finding", "rule", f.Rule, "severity", string(f.Severity), "title", f.Title,
			"model", f.BaseModel, "fingerprint", f.Fingerprint, "details", f.Details)
	}
	return nil
}

// bucket is the CloudWatch period the checker reads: one datapoint per UTC
// day, so one read serves daily and monthly budgets alike.
const bucket = 24 * time.Hour

// Checker evaluates the policy's budgets.
type Checker struct {
	Policy   *policy.Policy
	Source   Source
	Marks    Marks    // needed by Run only
	Notifier Notifier // needed by Run only
	Now      func() time.Time
	Logger   *slog.Logger
	// Region and Account, when known, are copied into findings.
	Region  string
	Account string
}

func (c *Checker) now() time.Time {
	if c.Now == nil {
		return time.Now().UTC()
	}
	return c.Now().UTC()
}

func (c *Checker) log() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

// Status evaluates every budget against the metrics: one status per
// (budget, model used in its period); a budget no model used yet gets one
// zero status named by its pattern. It makes one Source.Read covering the
// longest period in use.
func (c *Checker) Status(ctx context.Context) ([]Status, error) {
	if c.Policy == nil || len(c.Policy.Budgets) == 0 {
		return nil, nil
	}
	at := c.now()
	var errs []error
	earliest := at
	for _, b := range c.Policy.Budgets {
		start, _, err := PeriodBounds(b.Period, at)
		if err != nil {
			errs = append(errs, fmt.Errorf("budget %q: %w", b.Model, err))
			continue
		}
		if start.Before(earliest) {
			earliest = start
		}
	}
	if !earliest.Before(at) {
		// Exactly midnight: nothing to read yet, but CloudWatch wants
		// StartTime < EndTime.
		earliest = at.Add(-time.Minute)
	}
	points, err := c.Source.Read(ctx, earliest, at, bucket)
	if err != nil {
		return nil, fmt.Errorf("budget: read metrics: %w", err)
	}
	var out []Status
	for _, b := range c.Policy.Budgets {
		start, _, err := PeriodBounds(b.Period, at)
		if err != nil {
			continue // reported above
		}
		usage := Sum(points, start, at)
		pat := glob.Compile(b.Model)
		models := make([]string, 0)
		for m := range usage {
			if pat.Match(m) {
				models = append(models, m)
			}
		}
		sort.Strings(models)
		if len(models) == 0 {
			s, err := Evaluate(b, b.Model, Usage{}, false, at)
			if err == nil {
				out = append(out, s)
			}
			continue
		}
		for _, m := range models {
			u := usage[m]
			pp, price, ok := policy.PriceFor(c.Policy.Prices, m)
			if ok {
				u.USD = Cost(u.InputTokens, u.OutputTokens, price)
			} else if b.MaxUSD > 0 {
				c.log().WarnContext(ctx, "budget: no price for model; USD not compared", "model", m, "budget", b.Model)
			}
			s, err := Evaluate(b, m, u, ok, at)
			if err != nil {
				errs = append(errs, fmt.Errorf("budget %q model %s: %w", b.Model, m, err))
				continue
			}
			s.PricePattern = pp
			out = append(out, s)
		}
	}
	return out, errors.Join(errs...)
}

// Sum adds datapoints in [from, to) per base model id (BaseModelID of the
// ModelId dimension), so "us.anthropic.x" and "anthropic.x" count together.
func Sum(points []Datapoint, from, to time.Time) map[string]Usage {
	out := map[string]Usage{}
	for _, p := range points {
		if p.Time.Before(from) || !p.Time.Before(to) {
			continue
		}
		m := BaseModelID(p.ModelID)
		u := out[m]
		v := int64(math.Round(p.Value))
		switch p.Metric {
		case MetricInvocations:
			u.Invocations += v
		case MetricInputTokens:
			u.InputTokens += v
		case MetricOutputTokens:
			u.OutputTokens += v
		default:
			continue
		}
		out[m] = u
	}
	return out
}

// Finding turns a status at a level into its finding.
func (c *Checker) Finding(s Status) findings.Finding {
	rule := findings.RuleBudgetWarning
	if s.Level() == "exceeded" {
		rule = findings.RuleBudgetExceeded
	}
	_, sev := c.Policy.Rule(rule)
	periodStart := s.PeriodStart.Format(time.RFC3339)
	return findings.Finding{
		Rule:      rule,
		Severity:  sev,
		Title:     s.Title(),
		EventTime: s.At,
		Account:   c.Account,
		Region:    c.Region,
		// A budget is not one principal's doing: "*" keeps the finding
		// parseable by findings.ParseAlert. Remediation must not act on it.
		Principal: "*",
		Model:     s.Model,
		BaseModel: s.Model,
		Reason: fmt.Sprintf("budget %q (%s): %s at %.1f %% of its limit", s.Budget.Model, s.Period,
			s.Driver, s.Percent),
		Details:     s.Details(),
		Fingerprint: findings.Fingerprint(rule, "*", s.Model, s.Period+"@"+periodStart+"#"+s.Budget.Model),
	}
}

// Run evaluates the budgets and notifies each (budget, model) once per
// period at 80 % (budget-warning) and once at 100 % (budget-exceeded). A
// status that jumps past 100 % raises only budget-exceeded. The once is a
// conditional write (Marks.Claim) made before Notify; when Notify fails the
// claims are released so the next run tries again. It returns the findings
// notified.
func (c *Checker) Run(ctx context.Context) ([]findings.Finding, error) {
	statuses, err := c.Status(ctx)
	if statuses == nil && err != nil {
		return nil, err
	}
	errs := []error{err}
	var out []findings.Finding
	var claimed []Mark
	for _, s := range statuses {
		level := s.Level()
		if level == "" {
			continue
		}
		f := c.Finding(s)
		if enabled, _ := c.Policy.Rule(f.Rule); !enabled {
			continue
		}
		m := Mark{Rule: f.Rule, Budget: s.Budget.Model, Model: s.Model, Period: s.Period, PeriodStart: s.PeriodStart}
		first, err := c.Marks.Claim(ctx, m, s.PeriodEnd.Add(7*24*time.Hour))
		if err != nil {
			errs = append(errs, fmt.Errorf("budget: claim %s for %s: %w", f.Rule, s.Model, err))
			continue
		}
		if !first {
			continue
		}
		claimed = append(claimed, m)
		out = append(out, f)
	}
	if len(out) > 0 {
		if err := c.Notifier.Notify(ctx, out); err != nil {
			errs = append(errs, fmt.Errorf("budget: notify %d findings: %w", len(out), err))
			for _, m := range claimed {
				if rerr := c.Marks.Release(ctx, m); rerr != nil {
					errs = append(errs, fmt.Errorf("budget: release %s for %s after failed notify: %w", m.Rule, m.Model, rerr))
				}
			}
			return nil, errors.Join(errs...)
		}
	}
	return out, errors.Join(errs...)
}
