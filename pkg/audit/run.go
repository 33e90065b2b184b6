package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bedrock-warden/warden/pkg/policy"
)

// DefaultWorkers is how many principals are read and judged at once.
const DefaultWorkers = 8

// Auditor runs one audit of an account.
type Auditor struct {
	Policy *policy.Policy
	// PolicyName names the policy in the report.
	PolicyName string
	Directory  Directory
	// SCPs reads the account's service control policies; nil: not read
	// (the report says so).
	SCPs SCPReader
	// Account is the audited account; "" takes it from the principals'
	// ARNs.
	Account string
	// Filter selects the principals to audit; nil: all.
	Filter func(Ref) bool
	// Workers bounds the principals read and judged at once
	// (DefaultWorkers when 0).
	Workers int
	Now     func() time.Time
	// Progress, when set, is called after each principal (from one
	// goroutine at a time).
	Progress func(Progress)
}

// Progress is how far a run is.
type Progress struct {
	Done, Total int
	Elapsed     time.Duration
}

// RunStats measures a run (for the benchmark; not in the JSON report).
type RunStats struct {
	Principals int
	Elapsed    time.Duration // the whole run, wall clock
	// Judge is the time spent evaluating, summed over principals (reading
	// IAM excluded).
	Judge time.Duration
	// Computed counts the principals whose verdicts were computed; the
	// others shared the verdicts of one with the same Bedrock-relevant
	// policies.
	Computed int
}

// Run lists the principals, reads the SCPs, then reads and judges every
// selected principal with bounded concurrency. A listing failure is an
// error; a principal that cannot be read or judged is reported in
// Report.Errors and the run goes on. When ctx ends, Run returns what it
// has with ctx's error.
func (a *Auditor) Run(ctx context.Context) (*Report, error) {
	start := time.Now()
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	if a.Policy == nil || a.Directory == nil {
		return nil, errors.New("audit: a policy and a directory are needed")
	}
	refs, err := a.Directory.Principals(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: list principals: %w", err)
	}
	var selected []Ref
	for _, r := range refs {
		if a.Filter == nil || a.Filter(r) {
			selected = append(selected, r)
		}
	}
	account := a.Account
	if account == "" {
		account = accountOf(refs)
	}
	scps := SCPs{Note: "not read"}
	if a.SCPs != nil && account != "" {
		s, err := a.SCPs.SCPs(ctx, account)
		if err != nil {
			s = SCPs{Note: "not read: " + err.Error()}
		}
		scps = s
	}
	pl, err := newPlan(a.Policy, account, scps.OrgID, scps, now())
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	rep := &Report{SchemaVersion: SchemaVersion, GeneratedAt: now().UTC().Truncate(time.Second), Account: account,
		Policy: a.PolicyName, SCPs: scpStatus(scps), Principals: []PrincipalReport{}, Apart: []PrincipalReport{},
		Errors: []string{}, Notes: []string{}}
	for _, d := range Dimensions {
		ok, why := d.judged(a.Policy)
		rep.Dimensions = append(rep.Dimensions, DimensionStatus{ID: d.ID, Rule: d.Rule, Title: d.Title, Judged: ok, Note: why})
	}

	workers := a.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	type outcome struct {
		rep   *PrincipalReport
		err   error
		judge time.Duration
	}
	results := make([]outcome, len(selected))
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for range min(workers, max(len(selected), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				pr, err := a.Directory.Principal(ctx, selected[i])
				var o outcome
				if err != nil {
					o.err = err
				} else {
					t0 := time.Now()
					r := pl.report(pr)
					o.rep, o.judge = &r, time.Since(t0)
				}
				results[i] = o
				if a.Progress != nil {
					mu.Lock()
					done++
					a.Progress(Progress{Done: done, Total: len(selected), Elapsed: time.Since(start)})
					mu.Unlock()
				}
			}
		}()
	}
	var runErr error
feed:
	for i := range selected {
		select {
		case next <- i:
		case <-ctx.Done():
			runErr = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()

	for i, o := range results {
		switch {
		case o.rep != nil:
			rep.Stats.Judge += o.judge
			if o.rep.Status == StatusJudged {
				rep.Principals = append(rep.Principals, *o.rep)
			} else {
				rep.Apart = append(rep.Apart, *o.rep)
			}
		case errors.Is(o.err, ErrGone):
			rep.Notes = append(rep.Notes, selected[i].ARN+" was deleted during the audit")
		case o.err != nil:
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", selected[i].ARN, o.err))
			rep.Unread = append(rep.Unread, selected[i].ARN)
		}
	}
	sortByRisk(rep.Principals)
	sortByRisk(rep.Apart)
	rep.Summary = summarise(rep)
	rep.Stats.Principals = len(rep.Principals) + len(rep.Apart)
	rep.Stats.Computed = int(pl.computed.Load())
	rep.Stats.Elapsed = time.Since(start)
	return rep, runErr
}

// accountOf takes the account from the first principal ARN
// (arn:PARTITION:iam::ACCOUNT:…).
func accountOf(refs []Ref) string {
	for _, r := range refs {
		parts := strings.SplitN(r.ARN, ":", 6)
		if len(parts) == 6 && parts[4] != "" {
			return parts[4]
		}
	}
	return ""
}

func scpStatus(s SCPs) SCPStatus {
	st := SCPStatus{Applied: s.Applied, Targets: s.Targets, Note: s.Note}
	for _, lvl := range s.Levels {
		for _, d := range lvl {
			st.Policies = append(st.Policies, d.Name)
		}
	}
	return st
}

// report judges one principal and says whether it is listed apart.
func (pl *plan) report(pr Principal) PrincipalReport {
	out := PrincipalReport{ARN: pr.ARN, Kind: pr.Kind, Name: pr.Name, Status: StatusJudged, Verdicts: []VerdictReport{}}
	if pr.Boundary != nil {
		out.Boundary = pr.Boundary.Name
	}
	tag := pl.policy.Remediation.ProtectedTag
	if tag == "" {
		tag = policy.DefaultProtectedTag
	}
	switch {
	case pr.ServiceLinked():
		out.Status, out.Why = StatusServiceLinked, "a service-linked role: only its AWS service can assume it, and its policies are AWS's"
	case pl.policy.PrincipalExempt(pr.ARN):
		out.Status, out.Why = StatusExempt, "matches principals.exempt: not reported by the allow-list rules, never remediated"
	default:
		if _, ok := pr.Tags[tag]; ok {
			out.Status, out.Why = StatusProtected, "carries the tag "+tag+": remediation never touches it"
		}
	}
	j := pl.shell(pr)
	raw, err := pl.verdictsFor(j)
	if err != nil {
		out.Error = err.Error()
		out.Risk = "unknown"
		return out
	}
	out.Verdicts = j.render(raw)
	out.Risk, out.Exceeds = severityOf(out.Verdicts)
	return out
}

func summarise(r *Report) Summary {
	s := Summary{Principals: len(r.Principals), Apart: len(r.Apart), ByRisk: map[string]int{}}
	for _, p := range r.Principals {
		s.ByRisk[p.Risk]++
		switch {
		case p.Exceeds:
			s.Exceeding++
		case p.Risk == "unknown":
			s.Unknown++
		}
	}
	return s
}
