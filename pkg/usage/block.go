package usage

import (
	"fmt"
	"slices"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// BlockFor resolves a limit-exceeded finding against policy p for the
// remediator: the limit it names must be in p with action block and the
// same period, the period it names must be one of that limit's periods
// and not over at now. It returns the models to deny (globs on the base
// model id; "*" for every model) and when the block lifts, or ok false
// when the limit only alerts. Everything but the limit's name and the
// period's start comes from p, not from the finding.
func BlockFor(p *policy.Policy, f findings.Finding, now time.Time) (models []string, until time.Time, ok bool, err error) {
	if f.Rule != findings.RuleLimitExceeded {
		return nil, time.Time{}, false, fmt.Errorf("a %s finding asks for no block", f.Rule)
	}
	name := f.Details[findings.DetailLimit]
	l, found := p.LimitNamed(name)
	if !found {
		return nil, time.Time{}, false, fmt.Errorf("limit %q is not in this policy", clip(name))
	}
	if l.Action != policy.LimitBlock {
		return nil, time.Time{}, false, nil
	}
	if period := f.Details[findings.DetailPeriod]; period != l.Period {
		return nil, time.Time{}, false, fmt.Errorf("the finding counts limit %s per %q, the policy per %s", l.Name, clip(period), l.Period)
	}
	start, err := time.Parse(time.RFC3339, f.Details[findings.DetailPeriodStart])
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("the finding's period start: %w", err)
	}
	s, end, err := Bounds(l.Period, start)
	if err != nil {
		return nil, time.Time{}, false, err
	}
	if !s.Equal(start) {
		return nil, time.Time{}, false, fmt.Errorf("%s does not start a %s", start.Format(time.RFC3339), l.Period)
	}
	if !now.Before(end) {
		return nil, time.Time{}, false, fmt.Errorf("the %s of limit %s that started %s ended at %s", l.Period, l.Name, start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	return slices.Clone(orAll(l.Models)), end, true, nil
}
