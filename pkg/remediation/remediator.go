package remediation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/bedrock-warden/warden/pkg/findings"
)

// Alert is a message the remediator sends about itself: a dry-run plan, a
// result, a refusal with advice, the breaker opening. It never marks
// itself remediable.
type Alert struct {
	Subject  string
	Message  string
	Severity findings.Severity
	Rule     string
	Account  string
	Region   string
}

// Alerter publishes alerts.
type Alerter interface {
	Publish(ctx context.Context, a Alert) error
}

// Config is the remediation: section of the policy plus the guard.
type Config struct {
	// Actions maps rule id to action; rules not listed never act.
	Actions           map[string]string
	MaxActionsPerHour int           // default 10
	QuarantineTTL     time.Duration // 0: until a person undoes it
	Guard             Guard
}

// ClaimLease is how long a pending claim blocks other deliveries of the
// same finding: longer than a Lambda can run.
const ClaimLease = 15 * time.Minute

// RecheckAfter is how long a non-applied outcome (dry-run, refused, noop)
// suppresses the same finding in the same mode.
const RecheckAfter = time.Hour

// ErrInFlight means another delivery of the same finding is being handled;
// the caller should retry later.
var ErrInFlight = errors.New("the same finding is being handled by another invocation")

// ModeReader returns the current mode; *ModeCache is one.
type ModeReader interface {
	Mode(ctx context.Context) (Mode, error)
}

// Remediator handles findings for the remediator Lambda.
type Remediator struct {
	Config  Config
	Mode    ModeReader
	IAM     IAM
	Applier Applier
	Ledger  Ledger
	Claims  Claims
	Breaker Breaker
	Alerts  Alerter
	Now     Clock
	Log     *slog.Logger
	Actor   string // recorded on ledger entries, e.g. the Lambda's name
}

func (r *Remediator) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Remediator) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// HandleSNS handles every record of an SNS delivery. A record whose body is
// not an alert carrying a finding is an error (Lambda retries, then the
// message goes to the dead-letter queue); it never guesses.
func (r *Remediator) HandleSNS(ctx context.Context, ev events.SNSEvent) error {
	if len(ev.Records) == 0 {
		return errors.New("SNS event with no records")
	}
	var errs []error
	for i, rec := range ev.Records {
		f, err := findings.ParseAlert(rec.SNS.Message)
		if err != nil {
			errs = append(errs, fmt.Errorf("record %d (message %s): %w", i, rec.SNS.MessageID, err))
			continue
		}
		if _, err := r.Handle(ctx, f); err != nil {
			errs = append(errs, fmt.Errorf("record %d (message %s): %w", i, rec.SNS.MessageID, err))
		}
	}
	return errors.Join(errs...)
}

// Handle decides and, when allowed, carries out the remediation for f. It
// returns the ledger record written (Result tells what happened; a zero ID
// means nothing was recorded: rule not listed, mode off, or duplicate).
func (r *Remediator) Handle(ctx context.Context, f findings.Finding) (Record, error) {
	log := r.log().With("rule", f.Rule, "fingerprint", f.Fingerprint, "principal", f.Principal, "eventId", f.EventID)
	action, listed := r.Config.Actions[f.Rule]
	if !listed {
		log.Info("rule not listed in remediation.actions; not acting")
		return Record{Result: "not-listed"}, nil
	}
	if !ValidAction(action) {
		return Record{}, fmt.Errorf("remediation.actions[%s] = %q is not an action", f.Rule, action)
	}
	mode, err := r.Mode.Mode(ctx)
	if err != nil {
		return Record{}, err
	}
	if mode == ModeOff {
		log.Info("remediation mode is off; not acting")
		return Record{Result: string(ModeOff)}, nil
	}
	now := r.now()
	state, holder, err := r.Claims.Claim(ctx, f.Fingerprint, mode, now, ClaimLease)
	if err != nil {
		return Record{}, fmt.Errorf("claim finding: %w", err)
	}
	switch state {
	case ClaimDuplicate:
		log.Info("duplicate finding; already handled", "record", holder, "mode", mode)
		return Record{ID: holder, Result: "duplicate"}, nil
	case ClaimBusy:
		return Record{}, ErrInFlight
	}
	rec, until, err := r.handleClaimed(ctx, f, action, mode, now, log)
	if err != nil {
		if rerr := r.Claims.Release(ctx, f.Fingerprint, mode); rerr != nil {
			err = errors.Join(err, fmt.Errorf("release claim: %w", rerr))
		}
		return rec, err
	}
	if err := r.Claims.Complete(ctx, f.Fingerprint, mode, rec.ID, until); err != nil {
		return rec, fmt.Errorf("complete claim: %w", err)
	}
	if rec.ID != "" {
		// One line per ledger record: the dashboard counts these.
		log.Info("remediation recorded", "id", rec.ID, "mode", rec.Mode, "action", rec.Action, "result", rec.Result)
	}
	return rec, nil
}

func (r *Remediator) newRecord(f findings.Finding, action string, mode Mode, now time.Time) Record {
	return Record{
		ID: NewID(now), Time: now, Mode: mode, Action: action,
		Rule: f.Rule, EventID: f.EventID, Fingerprint: f.Fingerprint, Principal: f.Principal,
		PrincipalType: f.PrincipalType, Model: firstNonEmpty(f.BaseModel, f.Model), Account: f.Account, Region: f.Region,
		Actor: r.Actor,
	}
}

// handleClaimed runs with the claim held. It returns the record and until
// when the claim blocks the same finding.
func (r *Remediator) handleClaimed(ctx context.Context, f findings.Finding, action string, mode Mode, now time.Time, log *slog.Logger) (Record, time.Time, error) {
	rec := r.newRecord(f, action, mode, now)
	recheck := now.Add(RecheckAfter)
	p, refused, advice := r.Config.Guard.Screen(f)
	if refused != "" {
		rec.Plan = Plan{Action: action, Principal: p, Refused: refused, Advice: advice}
		return r.finishRefused(ctx, rec, f, log, recheck)
	}
	st, err := r.IAM.Snapshot(ctx, p, SnapshotOptionsFor(f, action))
	if errors.Is(err, ErrNotFound) {
		rec.Plan = Plan{Action: action, Principal: p, Refused: "the principal no longer exists in IAM"}
		return r.finishRefused(ctx, rec, f, log, recheck)
	}
	if err != nil {
		return rec, time.Time{}, fmt.Errorf("read IAM state of %s: %w", p.ARN, err)
	}
	plan := Planner{Guard: r.Config.Guard}.Plan(f, action, st, now)
	rec.Plan = plan
	if plan.Refused != "" {
		return r.finishRefused(ctx, rec, f, log, recheck)
	}
	before := BeforeOf(st)
	rec.Before = &before
	if plan.Empty() {
		rec.Result = ResultNoop
		if err := r.Ledger.Put(ctx, rec); err != nil {
			return rec, time.Time{}, fmt.Errorf("ledger: %w", err)
		}
		log.Info("nothing to change", "notes", plan.Notes)
		return rec, recheck, nil
	}
	if mode == ModeEnforce {
		max := r.Config.MaxActionsPerHour
		if max <= 0 {
			max = 10
		}
		hour := Hour(now)
		account := firstNonEmpty(f.Account, p.Account)
		allowed, err := r.Breaker.Take(ctx, account, hour, max)
		if err != nil {
			return rec, time.Time{}, fmt.Errorf("breaker: %w", err)
		}
		if !allowed {
			rec.Mode = ModeDryRun
			rec.Plan.Notes = append(rec.Plan.Notes, fmt.Sprintf("breaker open: %d enforce actions already taken in account %s this hour; fell back to dry-run", max, account))
			first, err := r.Breaker.MarkOpen(ctx, account, hour)
			if err != nil {
				return rec, time.Time{}, fmt.Errorf("breaker: %w", err)
			}
			if first {
				f.Account = account
				if err := r.Alerts.Publish(ctx, breakerAlert(f, max, hour)); err != nil {
					log.Error("breaker-open alert not sent", "err", err)
				}
			}
		}
	}
	if rec.Mode != ModeEnforce {
		rec.Result = ResultPlanned
		if err := r.Ledger.Put(ctx, rec); err != nil {
			return rec, time.Time{}, fmt.Errorf("ledger: %w", err)
		}
		r.alert(ctx, rec, f, findings.Medium, "dry-run: would "+action+" "+p.ARN, log)
		return rec, recheck, nil
	}
	if r.Config.QuarantineTTL > 0 {
		exp := now.Add(r.Config.QuarantineTTL)
		rec.ExpiresAt = &exp
	}
	rec.Result = ResultApplying
	if err := r.Ledger.Put(ctx, rec); err != nil {
		return rec, time.Time{}, fmt.Errorf("ledger before acting: %w", err)
	}
	out, applyErr := r.Applier.Apply(ctx, plan)
	rec.Outcome = &out
	rec.Result = ResultApplied
	sev := findings.High
	if applyErr != nil {
		rec.Result, rec.Error = ResultFailed, applyErr.Error()
		sev = findings.Critical
		log.Error("remediation failed", "err", applyErr)
	}
	if err := r.Ledger.Put(ctx, rec); err != nil {
		return rec, time.Time{}, fmt.Errorf("ledger after acting (result %s): %w", rec.Result, err)
	}
	r.alert(ctx, rec, f, sev, "enforce: "+action+" "+p.ARN+" "+rec.Result, log)
	if rec.Result == ResultFailed {
		// A later delivery of the same incident may try again, planning
		// from the state the partial attempt left.
		return rec, recheck, nil
	}
	return rec, time.Time{}, nil
}

func (r *Remediator) finishRefused(ctx context.Context, rec Record, f findings.Finding, log *slog.Logger, until time.Time) (Record, time.Time, error) {
	rec.Result = ResultRefused
	if err := r.Ledger.Put(ctx, rec); err != nil {
		return rec, time.Time{}, fmt.Errorf("ledger: %w", err)
	}
	log.Warn("remediation refused", "reason", rec.Plan.Refused)
	r.alert(ctx, rec, f, findings.Medium, "not remediated: "+rec.Principal, log)
	return rec, until, nil
}

func (r *Remediator) alert(ctx context.Context, rec Record, f findings.Finding, sev findings.Severity, subject string, log *slog.Logger) {
	if r.Alerts == nil {
		return
	}
	a := Alert{Subject: "Bedrock Warden remediation " + subject, Message: Describe(rec), Severity: sev, Rule: f.Rule, Account: f.Account, Region: f.Region}
	if err := r.Alerts.Publish(ctx, a); err != nil {
		log.Error("remediation alert not sent", "err", err, "record", rec.ID)
	}
}

func breakerAlert(f findings.Finding, max int, hour time.Time) Alert {
	return Alert{
		Subject:  "Bedrock Warden remediation breaker open in account " + f.Account,
		Severity: findings.Critical,
		Rule:     findings.RuleRemediationBreakerOpen,
		Account:  f.Account,
		Region:   f.Region,
		Message: fmt.Sprintf("Remediation took %d enforce actions in account %s in the hour starting %s, its maxActionsPerHour.\n"+
			"Until the hour ends or on-call runs `warden remediation breaker reset`, further remediations are dry-run only.\n"+
			"Review them with `warden remediation list --since 1h`.\n", max, f.Account, hour.Format(time.RFC3339)),
	}
}

// SnapshotOptionsFor returns which credentials the planner needs for f and
// action: Bedrock API keys when the finding was authenticated with one,
// else access keys, and none for other actions.
func SnapshotOptionsFor(f findings.Finding, action string) SnapshotOptions {
	if action != ActionDisableCredentials {
		return SnapshotOptions{}
	}
	if bearerToken(f) {
		return SnapshotOptions{ServiceCredentials: true}
	}
	return SnapshotOptions{AccessKeys: true}
}

// Describe renders a record for people: what, on whom, why, and the plan.
func Describe(rec Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Record:    %s\nMode:      %s\nAction:    %s\nResult:    %s\nPrincipal: %s\nRule:      %s\n",
		rec.ID, rec.Mode, rec.Action, rec.Result, rec.Principal, rec.Rule)
	if rec.EventID != "" {
		fmt.Fprintf(&b, "Event:     %s\n", rec.EventID)
	}
	if rec.UndoOf != "" {
		fmt.Fprintf(&b, "Undo of:   %s (by %s)\n", rec.UndoOf, rec.Actor)
	}
	if rec.Model != "" {
		fmt.Fprintf(&b, "Model:     %s\n", rec.Model)
	}
	if rec.Plan.Refused != "" {
		fmt.Fprintf(&b, "Refused:   %s\n", rec.Plan.Refused)
	}
	if rec.Plan.Advice != "" {
		fmt.Fprintf(&b, "Do this instead: %s\n", rec.Plan.Advice)
	}
	for _, s := range rec.Plan.Steps {
		fmt.Fprintf(&b, "  - %s %s: %s\n", s.Kind, stepTarget(s), s.Reason)
	}
	for _, n := range rec.Plan.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	if rec.Outcome != nil {
		fmt.Fprintf(&b, "Verified:  %t\n", rec.Outcome.Verified)
		for _, o := range rec.Outcome.Observed {
			fmt.Fprintf(&b, "  saw: %s\n", o)
		}
	}
	if rec.Error != "" {
		fmt.Fprintf(&b, "Error:     %s\n", rec.Error)
	}
	if rec.ExpiresAt != nil {
		fmt.Fprintf(&b, "Expires:   %s (undone by the sweeper)\n", rec.ExpiresAt.Format(time.RFC3339))
	}
	if rec.Result == ResultApplied {
		fmt.Fprintf(&b, "Undo:      warden remediation undo %s\n", rec.ID)
	}
	return b.String()
}

// MarshalRecord is the JSON form the ledger stores and the CLI prints.
func MarshalRecord(rec Record) ([]byte, error) { return json.Marshal(rec) }
