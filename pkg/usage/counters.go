package usage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/policy"
)

// Counters is usage: invocations, the four kinds of tokens Bedrock bills,
// and their cost.
type Counters struct {
	Invocations      int64   `json:"invocations"`
	InputTokens      int64   `json:"inputTokens"`
	OutputTokens     int64   `json:"outputTokens"`
	CacheReadTokens  int64   `json:"cacheReadTokens"`
	CacheWriteTokens int64   `json:"cacheWriteTokens"`
	USD              float64 `json:"usd"`
	// UnpricedTokens are tokens of models without a price: USD leaves
	// them out.
	UnpricedTokens int64 `json:"unpricedTokens,omitempty"`
}

// Tokens is every token counted: input, output, cache reads and writes.
// A limit's maxTokens compares with it.
func (c Counters) Tokens() int64 {
	return c.InputTokens + c.OutputTokens + c.CacheReadTokens + c.CacheWriteTokens
}

// Add adds o to c.
func (c *Counters) Add(o Counters) {
	c.Invocations += o.Invocations
	c.InputTokens += o.InputTokens
	c.OutputTokens += o.OutputTokens
	c.CacheReadTokens += o.CacheReadTokens
	c.CacheWriteTokens += o.CacheWriteTokens
	c.USD += o.USD
	c.UnpricedTokens += o.UnpricedTokens
}

// Cost is what c's tokens cost at price (USD per 1,000 tokens).
func Cost(c Counters, price policy.Price) float64 {
	return (float64(c.InputTokens)*price.Input + float64(c.OutputTokens)*price.Output +
		float64(c.CacheReadTokens)*price.CacheRead + float64(c.CacheWriteTokens)*price.CacheWrite) / 1000
}

// Bounds returns the UTC period holding t: [start, end). A week runs from
// Monday 00:00 UTC.
func Bounds(period string, t time.Time) (start, end time.Time, err error) {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch period {
	case policy.PeriodDay:
		return day, day.AddDate(0, 0, 1), nil
	case policy.PeriodWeek:
		start = day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
		return start, start.AddDate(0, 0, 7), nil
	case policy.PeriodMonth:
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0), nil
	}
	return time.Time{}, time.Time{}, fmt.Errorf("usage: period %q: want day, week or month", period)
}

// Subjects: whose usage a counter holds.
const (
	principalPrefix = "principal:"
	teamPrefix      = "team:"
)

// PrincipalSubject is the subject of one principal's own usage.
func PrincipalSubject(arn string) string { return principalPrefix + arn }

// TeamSubject is the subject of a per-team limit's shared usage.
func TeamSubject(limit string) string { return teamPrefix + limit }

// SubjectPrincipal returns the principal ARN of a principal subject.
func SubjectPrincipal(subject string) (string, bool) {
	return strings.CutPrefix(subject, principalPrefix)
}

// SubjectTeam returns the limit name of a team subject.
func SubjectTeam(subject string) (string, bool) { return strings.CutPrefix(subject, teamPrefix) }

// Key identifies one counter: a subject's usage of a model in a period.
type Key struct {
	Period  string    // day, week or month
	Start   time.Time // the period's start, UTC
	Subject string    // PrincipalSubject or TeamSubject
	Model   string    // base model id, or the id as logged when it has none
}

// Digest identifies the update of key by the records with request ids
// ids: a delivery of the same batch again gives the same digest, so the
// store applies it once.
func Digest(k Key, ids []string) string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00", k.Period, k.Start.UTC().Format(time.RFC3339), k.Subject, k.Model)
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
