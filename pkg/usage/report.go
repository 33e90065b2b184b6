package usage

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/policy"
)

// Ways to group a report's rows.
const (
	ByPrincipal = "principal"
	ByModel     = "model"
	ByLimit     = "limit"
)

// Report is one period's spend for people (warden usage): rows grouped by
// principal or model, and every limit of that period with its usage.
type Report struct {
	Period string    `json:"period"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	By     string    `json:"by"`
	// Rows are grouped by By (empty when By is ByLimit), most expensive
	// first.
	Rows []ReportRow `json:"rows"`
	// Limits are the policy's limits of this period, per principal (or
	// team) that used them, highest share first.
	Limits []Status `json:"limits"`
}

// ReportRow is the usage of one principal or model.
type ReportRow struct {
	Name     string   `json:"name"`
	Counters Counters `json:"counters"`
}

// BuildReport groups a period's counters (Store.List) by principal or
// model and evaluates the policy's limits of that period. tags returns a
// principal's IAM tags, for limits that select on them (nil: none match).
func BuildReport(p *policy.Policy, period string, start time.Time, entries []Entry, by string, tags func(arn string) map[string]string) (Report, error) {
	s, end, err := Bounds(period, start)
	if err != nil {
		return Report{}, err
	}
	switch by {
	case ByPrincipal, ByModel, ByLimit:
	default:
		return Report{}, fmt.Errorf("usage: cannot group by %q (want %s, %s or %s)", by, ByPrincipal, ByModel, ByLimit)
	}
	r := Report{Period: period, Start: s, End: end, By: by, Rows: []ReportRow{}, Limits: []Status{}}
	rows := map[string]*ReportRow{}
	perSubject := map[string]map[string]Counters{}
	for _, e := range entries {
		if perSubject[e.Subject] == nil {
			perSubject[e.Subject] = map[string]Counters{}
		}
		perSubject[e.Subject][e.Model] = e.Counters
		arn, isPrincipal := SubjectPrincipal(e.Subject)
		if !isPrincipal || by == ByLimit {
			continue // team counters repeat their principals' usage
		}
		name := arn
		if by == ByModel {
			name = e.Model
		}
		row := rows[name]
		if row == nil {
			row = &ReportRow{Name: name}
			rows[name] = row
		}
		row.Counters.Add(e.Counters)
	}
	for _, row := range rows {
		r.Rows = append(r.Rows, *row)
	}
	sort.Slice(r.Rows, func(i, j int) bool {
		a, b := r.Rows[i].Counters, r.Rows[j].Counters
		if a.USD != b.USD {
			return a.USD > b.USD
		}
		if a.Tokens() != b.Tokens() {
			return a.Tokens() > b.Tokens()
		}
		return r.Rows[i].Name < r.Rows[j].Name
	})
	if tags == nil {
		tags = func(string) map[string]string { return nil }
	}
	subjects := make([]string, 0, len(perSubject))
	for subj := range perSubject {
		subjects = append(subjects, subj)
	}
	sort.Strings(subjects)
	for _, l := range p.Limits {
		if l.Period != period {
			continue
		}
		if l.Per == policy.LimitPerTeam {
			subj := TeamSubject(l.Name)
			r.Limits = append(r.Limits, Evaluate(l, subj, s, end, perSubject[subj]))
			continue
		}
		for _, subj := range subjects {
			arn, ok := SubjectPrincipal(subj)
			if !ok || !l.SelectsPrincipal(arn, tags(arn)) {
				continue
			}
			if st := Evaluate(l, subj, s, end, perSubject[subj]); st.Used.Invocations > 0 {
				r.Limits = append(r.Limits, st)
			}
		}
	}
	sort.SliceStable(r.Limits, func(i, j int) bool { return r.Limits[i].Percent > r.Limits[j].Percent })
	return r, nil
}

// Who is the principal ARN or "team <limit>" a status is about.
func (s Status) Who() string {
	if team, ok := SubjectTeam(s.Subject); ok {
		return "team " + team
	}
	arn, _ := SubjectPrincipal(s.Subject)
	return arn
}

// Bar draws the share of a limit used, width characters wide: '#' used,
// '-' left, '!' past the limit, e.g. "[#######---]".
func Bar(percent float64, width int) string {
	if width < 1 {
		width = 10
	}
	filled := int(percent / 100 * float64(width))
	switch {
	case percent >= 100:
		return "[" + strings.Repeat("!", width) + "]"
	case filled < 0:
		filled = 0
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat("-", width-filled) + "]"
}
