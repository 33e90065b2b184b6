package usage

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/budget"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// Levels a status can reach.
const (
	LevelWarning  = "warning"
	LevelExceeded = "exceeded"
)

// Status is a subject's usage of a limit's models in one period.
type Status struct {
	Limit   policy.Limit `json:"limit"`
	Subject string       `json:"subject"` // PrincipalSubject or TeamSubject
	Start   time.Time    `json:"start"`
	End     time.Time    `json:"end"`
	Used    Counters     `json:"used"`
	// ByModel is the usage of each of the limit's models.
	ByModel map[string]Counters `json:"byModel,omitempty"`
	// Percent is the higher of tokens/maxTokens and USD/maxUSD, × 100.
	Percent float64 `json:"percent"`
	// Driver is the dimension that gave Percent: "tokens" or "usd".
	Driver string `json:"driver"`
}

// Evaluate sums usage (counters per model, as Store.Usage returns them)
// over the limit's models and compares it with the limit.
func Evaluate(l policy.Limit, subject string, start, end time.Time, usage map[string]Counters) Status {
	s := Status{Limit: l, Subject: subject, Start: start.UTC(), End: end.UTC(), ByModel: map[string]Counters{}}
	for m, c := range usage {
		if l.CoversModel(m) {
			s.Used.Add(c)
			s.ByModel[m] = c
		}
	}
	consider := func(name string, used, limit float64) {
		if limit <= 0 {
			return
		}
		if p := used / limit * 100; s.Driver == "" || p > s.Percent {
			s.Percent, s.Driver = p, name
		}
	}
	consider("tokens", float64(s.Used.Tokens()), float64(l.MaxTokens))
	consider("usd", s.Used.USD, l.MaxUSD)
	return s
}

// Level returns LevelExceeded at 100 % and above, LevelWarning at the
// limit's warnAt and above, else "".
func (s Status) Level() string {
	warn := s.Limit.WarnAt
	if warn <= 0 || warn >= 1 {
		warn = policy.DefaultWarnAt
	}
	switch {
	case s.Percent >= 100:
		return LevelExceeded
	case s.Percent >= warn*100:
		return LevelWarning
	}
	return ""
}

// TopModels returns up to n of the limit's models by cost, then tokens.
func (s Status) TopModels(n int) []string {
	models := make([]string, 0, len(s.ByModel))
	for m := range s.ByModel {
		models = append(models, m)
	}
	sort.Slice(models, func(i, j int) bool {
		a, b := s.ByModel[models[i]], s.ByModel[models[j]]
		if a.USD != b.USD {
			return a.USD > b.USD
		}
		if a.Tokens() != b.Tokens() {
			return a.Tokens() > b.Tokens()
		}
		return models[i] < models[j]
	})
	if len(models) > n {
		models = models[:n]
	}
	return models
}

// RuleFor returns the rule a level raises.
func RuleFor(level string) string {
	if level == LevelExceeded {
		return findings.RuleLimitExceeded
	}
	return findings.RuleLimitWarning
}

// Caller is the principal a finding names, and where its last call was.
type Caller struct {
	ARN     string // normalised principal ARN
	Type    string // normalize.PrincipalType, e.g. "AssumedRole"
	Account string
	Region  string
}

// Finding is the rule's finding for the status, about caller, at time at.
// Its fingerprint names the rule, the principal, the limit and the
// period, so it is the same however often the status is evaluated.
func (s Status) Finding(rule string, sev findings.Severity, c Caller, at time.Time) findings.Finding {
	top := s.TopModels(3)
	model := ""
	if len(top) > 0 {
		model = top[0]
	}
	periodKey := s.Limit.Period + "@" + s.Start.Format(time.RFC3339)
	return findings.Finding{
		Rule:          rule,
		Severity:      sev,
		Title:         s.title(c.ARN),
		EventTime:     at.UTC(),
		Account:       c.Account,
		Region:        c.Region,
		Principal:     c.ARN,
		PrincipalType: c.Type,
		Model:         model,
		BaseModel:     model,
		Reason: fmt.Sprintf("limit %q (%s, per %s): %s at %.1f %% of the limit, warnAt %.0f %%", s.Limit.Name, s.Limit.Period,
			s.Limit.Per, s.Driver, s.Percent, s.Limit.WarnAt*100),
		Details:     s.details(top),
		Fingerprint: findings.Fingerprint(rule, c.ARN, "limit:"+s.Limit.Name, periodKey),
	}
}

// title is the alert's one line, most telling first (an SNS subject keeps
// its first 99 characters), e.g. "role/team-a-app at 82 % of limit
// team-a-claude (41,000,000 of 50,000,000 tokens this month, UTC)".
func (s Status) title(principal string) string {
	var used, limit string
	if s.Driver == "usd" {
		used, limit = budget.USD(s.Used.USD), budget.USD(s.Limit.MaxUSD)
	} else {
		used, limit = budget.Group(s.Used.Tokens()), budget.Group(s.Limit.MaxTokens)+" tokens"
	}
	pct := int64(math.Floor(s.Percent))
	if team, ok := SubjectTeam(s.Subject); ok {
		return fmt.Sprintf("team of limit %s at %d %% (%s of %s %s, UTC; last call by %s)", team, pct, used, limit, periodWords(s.Limit.Period), shortARN(principal))
	}
	return fmt.Sprintf("%s at %d %% of limit %s (%s of %s %s, UTC)", shortARN(principal), pct, s.Limit.Name, used, limit, periodWords(s.Limit.Period))
}

func periodWords(p string) string {
	switch p {
	case policy.PeriodDay:
		return "today"
	case policy.PeriodWeek:
		return "this week"
	}
	return "this month"
}

// details are the finding's figures: usage, limit, period and top models.
func (s Status) details(top []string) map[string]string {
	d := map[string]string{
		findings.DetailLimit:       s.Limit.Name,
		findings.DetailPeriod:      s.Limit.Period,
		findings.DetailPeriodStart: s.Start.Format(time.RFC3339),
		findings.DetailPeriodEnd:   s.End.Format(time.RFC3339),
		"per":                      s.Limit.Per,
		"action":                   s.Limit.Action,
		"models":                   strings.Join(orAll(s.Limit.Models), ","),
		"used.invocations":         strconv.FormatInt(s.Used.Invocations, 10),
		"used.tokens":              strconv.FormatInt(s.Used.Tokens(), 10),
		"used.inputTokens":         strconv.FormatInt(s.Used.InputTokens, 10),
		"used.outputTokens":        strconv.FormatInt(s.Used.OutputTokens, 10),
		"used.cacheReadTokens":     strconv.FormatInt(s.Used.CacheReadTokens, 10),
		"used.cacheWriteTokens":    strconv.FormatInt(s.Used.CacheWriteTokens, 10),
		"used.usd":                 strconv.FormatFloat(s.Used.USD, 'f', 2, 64),
		"percent":                  strconv.FormatFloat(s.Percent, 'f', 1, 64),
		"driver":                   s.Driver,
		"warnAt":                   strconv.FormatFloat(s.Limit.WarnAt, 'f', -1, 64),
	}
	if s.Limit.MaxTokens > 0 {
		d["limit.maxTokens"] = strconv.FormatInt(s.Limit.MaxTokens, 10)
	}
	if s.Limit.MaxUSD > 0 {
		d["limit.maxUSD"] = strconv.FormatFloat(s.Limit.MaxUSD, 'f', 2, 64)
	}
	if s.Used.UnpricedTokens > 0 {
		d["used.unpricedTokens"] = strconv.FormatInt(s.Used.UnpricedTokens, 10) + " (no price: not in used.usd)"
	}
	if team, ok := SubjectTeam(s.Subject); ok {
		d["team"] = team
	}
	var tops []string
	for _, m := range top {
		c := s.ByModel[m]
		tops = append(tops, fmt.Sprintf("%s (%s tokens, %s)", m, budget.Group(c.Tokens()), budget.USD(c.USD)))
	}
	d["topModels"] = strings.Join(tops, "; ")
	return d
}

func orAll(models []string) []string {
	if len(models) == 0 {
		return []string{"*"}
	}
	return models
}

// shortARN is "role/name" or "user/path/name" for an IAM ARN, else the ARN.
func shortARN(arn string) string {
	if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 && parts[5] != "" {
		return parts[5]
	}
	return arn
}
