package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// Snapshot is what one posture run found: per principal, the dimensions in
// which it was allowed. Principals allowed in nothing are left out.
type Snapshot struct {
	// Exists is false when there was no earlier run.
	Exists bool
	At     time.Time
	// Allowed maps a principal ARN to its allowed dimension ids, sorted.
	Allowed map[string][]string
}

// Baseline keeps the last run's snapshot of an account. audit/posturedb
// implements it on the state table.
type Baseline interface {
	Load(ctx context.Context, account string) (Snapshot, error)
	// Save replaces prev with next: it writes what changed, removes the
	// principals no longer allowed in anything, and marks the run.
	Save(ctx context.Context, account string, prev, next Snapshot, stats Summary) error
}

// Notifier delivers findings; the SNS alert path (outputs.Alerter)
// implements it.
type Notifier interface {
	Notify(ctx context.Context, fs []findings.Finding) error
}

// SnapshotOf returns the allowed dimensions of the judged principals of
// rep (those listed apart are never alerted on).
func SnapshotOf(rep *Report, at time.Time) Snapshot {
	s := Snapshot{Exists: true, At: at, Allowed: map[string][]string{}}
	for _, p := range rep.Principals {
		var dims []string
		for _, v := range p.Verdicts {
			if v.Verdict == Allowed {
				dims = append(dims, v.Dimension)
			}
		}
		if len(dims) > 0 {
			sort.Strings(dims)
			s.Allowed[p.ARN] = dims
		}
	}
	return s
}

// Change is a principal newly allowed in some dimensions.
type Change struct {
	Principal string
	Newly     []string // dimension ids, sorted
}

// Changes returns, principal by principal (sorted), the dimensions allowed
// in next and not in prev. A principal absent from prev (new, or allowed
// in nothing before) counts every allowed dimension.
func Changes(prev, next Snapshot) []Change {
	var out []Change
	for arn, dims := range next.Allowed {
		var newly []string
		for _, d := range dims {
			if !slices.Contains(prev.Allowed[arn], d) {
				newly = append(newly, d)
			}
		}
		if len(newly) > 0 {
			out = append(out, Change{Principal: arn, Newly: newly})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Principal < out[j].Principal })
	return out
}

// Posture is the scheduled audit: it runs the audit of the account, compares
// with the last run, and raises one over-permissioned finding per principal
// newly allowed in some dimension, through the same alert path as every
// other rule. The first run records the baseline without alerting.
type Posture struct {
	Policy *policy.Policy
	// Directory returns a fresh reader for each run (readers cache what
	// they read for one run).
	Directory func() Directory
	SCPs      SCPReader // nil: SCPs not read
	Baseline  Baseline
	Notifier  Notifier
	Workers   int
	Now       func() time.Time
	Log       *slog.Logger
	// Region is copied into findings.
	Region string
}

// scheduled is the part of an EventBridge scheduled event a run reads.
type scheduled struct {
	ID      string    `json:"id"`
	Account string    `json:"account"`
	Time    time.Time `json:"time"`
}

// Outcome says what one posture run did.
type Outcome struct {
	Report   *Report
	Baseline bool // first run: recorded, nothing alerted
	Findings []findings.Finding
}

// Handle is the Lambda entry point: the payload is the scheduled event,
// whose id makes the run's findings idempotent (a retried invocation
// carries the same id, and the alert path skips what it already sent).
func (p *Posture) Handle(ctx context.Context, payload json.RawMessage) error {
	var ev scheduled
	if len(payload) > 0 {
		if err := json.Unmarshal(payload, &ev); err != nil {
			return fmt.Errorf("posture: scheduled event: %w", err)
		}
	}
	out, err := p.Run(ctx, ev.ID, ev.Account, ev.Time)
	log := p.log()
	if out.Report != nil {
		log.InfoContext(ctx, "posture run", "principals", out.Report.Summary.Principals, "exceeding", out.Report.Summary.Exceeding,
			"findings", len(out.Findings), "baseline", out.Baseline, "errors", len(out.Report.Errors), "scps", out.Report.SCPs.Applied)
		// A principal that cannot be read is logged, not retried: the
		// SDK already retried the call, and a rerun would read it the same.
		for _, e := range out.Report.Errors {
			log.ErrorContext(ctx, "posture: principal not judged; its last state is kept", "error", e)
		}
	}
	return err
}

func (p *Posture) log() *slog.Logger {
	if p.Log == nil {
		return slog.Default()
	}
	return p.Log
}

// Run audits account (or the principals' account when empty), alerts on
// the changes and saves the snapshot. Principals that could not be read
// keep their last state. Nothing is saved when the alerts could not be
// delivered, so a retry alerts again.
func (p *Posture) Run(ctx context.Context, runID, account string, at time.Time) (Outcome, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	if at.IsZero() {
		at = now()
	}
	at = at.UTC()
	if runID == "" {
		runID = at.Format(time.RFC3339)
	}
	a := &Auditor{Policy: p.Policy, PolicyName: "deployed policy", Directory: p.Directory(), SCPs: p.SCPs, Account: account, Workers: p.Workers, Now: now}
	rep, err := a.Run(ctx)
	if err != nil {
		return Outcome{Report: rep}, fmt.Errorf("posture: %w", err)
	}
	out := Outcome{Report: rep}
	if rep.Account == "" {
		return out, nil // no principal: nothing to compare
	}
	prev, err := p.Baseline.Load(ctx, rep.Account)
	if err != nil {
		return out, fmt.Errorf("posture: load the last run: %w", err)
	}
	next := SnapshotOf(rep, at)
	// A principal that could not be read keeps its last state: neither an
	// alert nor a forgotten verdict.
	keep := append([]string{}, rep.Unread...)
	for _, pr := range rep.Principals {
		if pr.Error != "" {
			keep = append(keep, pr.ARN)
		}
	}
	for _, arn := range keep {
		if dims, ok := prev.Allowed[arn]; ok {
			next.Allowed[arn] = dims
		}
	}
	if !prev.Exists {
		out.Baseline = true
	} else {
		byARN := map[string]PrincipalReport{}
		for _, pr := range rep.Principals {
			byARN[pr.ARN] = pr
		}
		for _, c := range Changes(prev, next) {
			out.Findings = append(out.Findings, p.finding(c, byARN[c.Principal], rep.Account, runID, at))
		}
		if len(out.Findings) > 0 {
			if err := p.Notifier.Notify(ctx, out.Findings); err != nil {
				return out, fmt.Errorf("posture: notify %d findings: %w", len(out.Findings), err)
			}
		}
	}
	if err := p.Baseline.Save(ctx, rep.Account, prev, next, rep.Summary); err != nil {
		return out, fmt.Errorf("posture: save the run: %w", err)
	}
	return out, nil
}

// finding builds the over-permissioned finding of a change.
func (p *Posture) finding(c Change, pr PrincipalReport, account, runID string, at time.Time) findings.Finding {
	_, sev := p.Policy.Rule(findings.RuleOverPermissioned)
	short := pr.Kind + "/" + pr.Name
	if pr.Name == "" {
		short = c.Principal
	}
	var what, reasons []string
	details := map[string]string{"audit.run": runID, "dimensions": strings.Join(c.Newly, ",")}
	for _, v := range pr.Verdicts {
		if !slices.Contains(c.Newly, v.Dimension) {
			continue
		}
		d, _ := LookupDimension(v.Dimension)
		what = append(what, d.Title)
		reasons = append(reasons, v.Dimension+": "+v.Summary)
		details["verdict."+v.Dimension] = v.Summary
		if len(v.Grants) > 0 {
			details["grant."+v.Dimension] = v.Grants[0].String()
		}
		if v.Fix != nil {
			details["fix."+v.Dimension] = v.Fix.Summary
		}
	}
	typ := "Role"
	if pr.Kind == KindUser {
		typ = "IAMUser"
	}
	fp := findings.Fingerprint(findings.RuleOverPermissioned, c.Principal, strings.Join(c.Newly, ","), "")
	return findings.Finding{
		Rule: findings.RuleOverPermissioned, Severity: sev,
		Title:     short + " can now " + strings.Join(what, "; ") + " (weekly audit)",
		EventID:   "posture-" + runID + "-" + fp[:12],
		EventName: "WardenAudit", EventTime: at,
		Account: account, Region: p.Region,
		Principal: c.Principal, PrincipalType: typ,
		Reason:      strings.Join(reasons, "; "),
		Details:     details,
		Fingerprint: fp,
	}
}
