package remediation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/metrics"
	"github.com/bedrock-warden/warden/pkg/safetext"
	"github.com/bedrock-warden/warden/pkg/seal"
)

// Alert is a message the remediator sends about itself: a dry-run plan, a
// result, a refusal with advice, the breaker opening, a rejected message.
// It never marks itself remediable.
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
	Actions map[string]string
	// Limits resolves limit-exceeded findings to the block their usage
	// limit asks for (action block-until); nil: they never act.
	Limits            Limits
	MaxActionsPerHour int           // default 10
	QuarantineTTL     time.Duration // 0: until a person undoes it
	// Guard decides who is never touched. Its Account — the account the
	// remediator's credentials act in, from STS — is also the breaker's
	// account, whatever a finding says.
	Guard Guard
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

// Admission is the trust boundary of the remediator's SNS intake: anyone
// allowed sns:Publish on the topic, or lambda:InvokeFunction on the
// remediator, can hand it a message. Only a message from the stack's own
// topic, marked remediable, carrying a finding sealed by the stack (package
// seal) no longer than seal.MaxFindingAge ago is acted on.
type Admission struct {
	// TopicARN is the stack's alert topic.
	TopicARN string
	// Verifier checks the finding's seal with the stack's finding key.
	Verifier seal.FindingVerifier
}

// Remediator handles findings for the remediator Lambda.
type Remediator struct {
	Config    Config
	Admission Admission
	Mode      ModeReader
	IAM       IAM
	Applier   Applier
	Ledger    Ledger
	Claims    Claims
	Breaker   Breaker
	// Notices dedups the alerts about the breaker and rejected messages.
	Notices Notices
	Alerts  Alerter
	// Metrics receives Embedded Metric Format lines (FindingsRejected);
	// nil means stdout.
	Metrics io.Writer
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

// Rejection is a message the remediator refuses to act on because it is
// not an authentic, current finding of this stack.
type Rejection struct {
	// Reason is a short name for metrics: wrong-topic, not-remediable,
	// malformed, unsealed, bad-mac, stale, future.
	Reason string
	Err    error
}

func (e *Rejection) Error() string { return "message rejected (" + e.Reason + "): " + e.Err.Error() }
func (e *Rejection) Unwrap() error { return e.Err }

// HandleSNS handles every record of an SNS delivery. A record that is not
// an authentic finding of this stack is refused — logged, counted in the
// FindingsRejected metric and reported in a critical alert (one per reason
// per hour), never acted on and not retried. Other failures are returned
// (Lambda retries, then the message goes to the dead-letter queue).
func (r *Remediator) HandleSNS(ctx context.Context, ev events.SNSEvent) error {
	if len(ev.Records) == 0 {
		return errors.New("SNS event with no records")
	}
	var errs []error
	for i, rec := range ev.Records {
		f, err := r.admit(ctx, rec.SNS)
		var rej *Rejection
		if errors.As(err, &rej) {
			if err := r.reject(ctx, rec.SNS, rej); err != nil {
				errs = append(errs, fmt.Errorf("record %d (message %s): %w", i, clip(rec.SNS.MessageID), err))
			}
			continue
		}
		if err == nil {
			_, err = r.Handle(ctx, f)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("record %d (message %s): %w", i, clip(rec.SNS.MessageID), err))
		}
	}
	return errors.Join(errs...)
}

// admit checks one SNS message at the trust boundary. It returns the
// finding, a *Rejection, or another error (a KMS outage: retry).
func (r *Remediator) admit(ctx context.Context, m events.SNSEntity) (findings.Finding, error) {
	a := r.Admission
	if a.TopicARN == "" || m.TopicArn != a.TopicARN {
		return findings.Finding{}, &Rejection{Reason: "wrong-topic", Err: fmt.Errorf("topic %q is not the stack's alert topic", clip(m.TopicArn))}
	}
	attrs := MessageAttributes(m)
	if attrs[findings.AttrRemediable] != "true" {
		return findings.Finding{}, &Rejection{Reason: "not-remediable", Err: fmt.Errorf("message attribute %s is %q, not \"true\"", findings.AttrRemediable, clip(attrs[findings.AttrRemediable]))}
	}
	f, raw, err := findings.ParseAlertJSON(m.Message)
	if err != nil {
		return findings.Finding{}, &Rejection{Reason: "malformed", Err: err}
	}
	if _, err := a.Verifier.Verify(ctx, raw, attrs); err != nil {
		reason := seal.Reason(err)
		if reason == "error" {
			return findings.Finding{}, fmt.Errorf("verify the finding's seal: %w", err)
		}
		return f, &Rejection{Reason: reason, Err: err}
	}
	return f, nil
}

// MessageAttributes returns the String message attributes of an SNS
// message as Lambda delivers them ({"Type": "String", "Value": "…"}).
func MessageAttributes(m events.SNSEntity) map[string]string {
	out := make(map[string]string, len(m.MessageAttributes))
	for k, v := range m.MessageAttributes {
		attr, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if t, _ := attr["Type"].(string); t != "String" {
			continue
		}
		if s, ok := attr["Value"].(string); ok {
			out[k] = s
		}
	}
	return out
}

// reject logs, counts and reports a refused message. The alert goes out
// once per reason per hour; an error is returned only when it could not be
// published (the retry publishes it; the message is never acted on).
func (r *Remediator) reject(ctx context.Context, m events.SNSEntity, rej *Rejection) error {
	claimed, _ := findings.ParseAlert(m.Message) // for the record only; never trusted
	r.log().WarnContext(ctx, "message refused: not an authentic finding of this stack; nothing done",
		"reason", rej.Reason, "messageId", clip(m.MessageID), "topicArn", clip(m.TopicArn),
		"claimedRule", clip(claimed.Rule), "claimedPrincipal", clip(claimed.Principal), "error", rej.Err.Error())
	writeCount(r.Metrics, r.now(), metrics.FindingsRejected, rej.Reason)
	now := r.now()
	a := Alert{
		Subject:  "Bedrock Warden remediation refused a forged or replayed finding (" + rej.Reason + ")",
		Severity: findings.Critical,
		Rule:     findings.RuleFindingRejected,
		Account:  r.Config.Guard.Account,
		Message: fmt.Sprintf("The remediator received a message it must not act on, and did nothing.\n\n"+
			"Reason:     %s (%s)\nMessage id: %s\nTopic:      %s\nClaimed:    rule %s, principal %s\nWhen:       %s\n\n"+
			"Only the stack's own functions can seal findings. A forged message means someone who may publish to the alert "+
			"topic or invoke the remediator tried to make Bedrock Warden change IAM: look in CloudTrail for sns:Publish on the "+
			"topic and lambda:Invoke on the remediator around this time. A stale seal means a delivery late by more than %s, "+
			"or a replay. Further rejections for the same reason this hour are counted in the FindingsRejected metric, not alerted.\n",
			rej.Reason, safetext.Line(rej.Err.Error()), safetext.Line(clip(m.MessageID)), safetext.Line(clip(m.TopicArn)),
			safetext.Line(clip(claimed.Rule)), safetext.Line(clip(claimed.Principal)), now.Format(time.RFC3339), seal.MaxFindingAge),
	}
	return r.noticeOnce(ctx, "rejected/"+rej.Reason+"/"+Hour(now).Format(time.RFC3339), a, 2*time.Hour)
}

// noticeOnce publishes a once per key: skipped when it went out already
// or is being published, marked sent only after the publish succeeded.
func (r *Remediator) noticeOnce(ctx context.Context, key string, a Alert, keep time.Duration) error {
	return noticeOnce(ctx, r.Notices, r.Alerts, key, a, r.now(), keep)
}

func noticeOnce(ctx context.Context, ns Notices, al Alerter, key string, a Alert, now time.Time, keep time.Duration) error {
	if al == nil {
		return nil
	}
	if ns != nil {
		first, err := ns.BeginNotice(ctx, key, now, NoticeLease, keep)
		if err != nil {
			return fmt.Errorf("notice %s: %w", key, err)
		}
		if !first {
			return nil
		}
	}
	if err := al.Publish(ctx, a); err != nil {
		if ns != nil {
			if aerr := ns.AbandonNotice(ctx, key); aerr != nil {
				err = errors.Join(err, fmt.Errorf("give back notice %s: %w", key, aerr))
			}
		}
		return fmt.Errorf("publish notice %s: %w", key, err)
	}
	if ns != nil {
		if err := ns.NoticeSent(ctx, key); err != nil {
			return fmt.Errorf("mark notice %s sent: %w", key, err)
		}
	}
	return nil
}

// Handle decides and, when allowed, carries out the remediation for f, a
// finding already admitted. The guard runs before the claim: a refused
// finding is recorded under RefusalKey, never under the fingerprint a
// genuine finding about an actionable principal needs. It returns the
// ledger record written (Result tells what happened; a zero ID means
// nothing was recorded: rule not listed, mode off, or duplicate).
//
// The notice about the record (dry-run plan, result, refusal) is published
// after the claim completes; when it fails, Handle returns an error so the
// delivery is retried, and the retry sends the notice without acting
// again.
func (r *Remediator) Handle(ctx context.Context, f findings.Finding) (Record, error) {
	log := r.log().With("rule", f.Rule, "fingerprint", f.Fingerprint, "principal", safetext.Line(f.Principal), "eventId", safetext.Line(f.EventID))
	action, listed := r.Config.Actions[f.Rule]
	var block *Block
	if f.Rule == findings.RuleLimitExceeded {
		// A limit's own action decides, read from this remediator's
		// policy: the finding only names the limit and the period.
		action, listed = "", false
		if r.Config.Limits != nil {
			b, ok, err := r.Config.Limits.Block(f, r.now())
			if err != nil {
				log.Warn("limit-exceeded finding does not resolve to a block of this policy; not acting", "error", err.Error())
				return Record{Result: "not-listed"}, nil
			}
			if ok {
				action, listed, block = ActionBlockUntil, true, &b
			}
		}
	}
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
	p, refused, advice := r.Config.Guard.Screen(f)
	if refused == "" {
		st, err := r.IAM.Snapshot(ctx, p, SnapshotOptions{})
		switch {
		case errors.Is(err, ErrNotFound):
			refused = "the principal no longer exists in IAM"
		case err != nil:
			return Record{}, fmt.Errorf("read IAM state of %s: %w", p.ARN, err)
		default:
			refused, advice = r.Config.Guard.ScreenState(st)
			p = st.Principal
		}
	}
	key := f.Fingerprint
	if refused != "" {
		key = RefusalKey(f.Fingerprint)
	}
	res, err := r.Claims.Claim(ctx, key, mode, now, ClaimLease)
	if err != nil {
		return Record{}, fmt.Errorf("claim finding: %w", err)
	}
	switch res.State {
	case ClaimDuplicate:
		if !res.Notified {
			return r.renotify(ctx, key, mode, res.Record, log)
		}
		log.Info("duplicate finding; already handled", "record", res.Record, "mode", mode)
		return Record{ID: res.Record, Result: "duplicate"}, nil
	case ClaimBusy:
		return Record{}, ErrInFlight
	}
	var rec Record
	var until time.Time
	if refused != "" {
		rec = r.newRecord(f, action, mode, now)
		rec.Plan = Plan{Action: action, Principal: p, Refused: refused, Advice: advice}
		rec, until, err = r.finishRefused(ctx, rec, log, now.Add(RecheckAfter))
	} else {
		rec, until, err = r.handleClaimed(ctx, f, action, block, mode, p, now, log)
	}
	if err != nil {
		if rerr := r.Claims.Release(ctx, key, mode); rerr != nil {
			err = errors.Join(err, fmt.Errorf("release claim: %w", rerr))
		}
		return rec, err
	}
	notice, due := NoticeFor(rec)
	due = due && r.Alerts != nil
	if err := r.Claims.Complete(ctx, key, mode, rec.ID, until, !due); err != nil {
		return rec, fmt.Errorf("complete claim: %w", err)
	}
	// One line per ledger record: the dashboard counts these.
	log.Info("remediation recorded", "id", rec.ID, "mode", rec.Mode, "action", rec.Action, "result", rec.Result)
	if due {
		if err := r.notify(ctx, key, mode, notice); err != nil {
			return rec, err
		}
	}
	return rec, nil
}

// notify publishes a record's notice and marks it sent on the claim.
func (r *Remediator) notify(ctx context.Context, key string, mode Mode, a Alert) error {
	if err := r.Alerts.Publish(ctx, a); err != nil {
		return fmt.Errorf("remediation notice not sent (the action is recorded and is not repeated; a retry sends the notice): %w", err)
	}
	if err := r.Claims.MarkNotified(ctx, key, mode); err != nil {
		return fmt.Errorf("mark notice sent: %w", err)
	}
	return nil
}

// renotify sends the notice a previous delivery recorded but could not
// publish.
func (r *Remediator) renotify(ctx context.Context, key string, mode Mode, id string, log *slog.Logger) (Record, error) {
	if r.Alerts == nil {
		return Record{ID: id, Result: "duplicate"}, r.Claims.MarkNotified(ctx, key, mode)
	}
	rec, err := r.Ledger.Get(ctx, id)
	if err != nil {
		return Record{}, fmt.Errorf("read record %s to resend its notice: %w", id, err)
	}
	if notice, due := NoticeFor(rec); due {
		if err := r.notify(ctx, key, mode, notice); err != nil {
			return Record{}, err
		}
		log.Info("remediation notice resent", "record", id)
		return Record{ID: id, Result: "duplicate"}, nil
	}
	return Record{ID: id, Result: "duplicate"}, r.Claims.MarkNotified(ctx, key, mode)
}

// NoticeFor returns the alert a record is reported with, and false when a
// record needs none (a no-op).
func NoticeFor(rec Record) (Alert, bool) {
	who := rec.Principal
	if rec.Plan.Principal.ARN != "" {
		who = rec.Plan.Principal.ARN
	}
	who = safetext.Line(who)
	var subject string
	sev := findings.Medium
	switch rec.Result {
	case ResultRefused:
		subject = "not remediated: " + who
	case ResultPlanned:
		subject = "dry-run: would " + rec.Action + " " + who
	case ResultApplied:
		subject, sev = "enforce: "+rec.Action+" "+who+" applied", findings.High
		if rec.Action == ActionBlockUntil && rec.ExpiresAt != nil {
			subject += " until " + rec.ExpiresAt.UTC().Format(time.RFC3339)
		}
	case ResultFailed:
		subject, sev = "enforce: "+rec.Action+" "+who+" failed", findings.Critical
	default:
		return Alert{}, false
	}
	return Alert{Subject: "Bedrock Warden remediation " + subject, Message: Describe(rec), Severity: sev,
		Rule: rec.Rule, Account: rec.Account, Region: rec.Region}, true
}

func (r *Remediator) newRecord(f findings.Finding, action string, mode Mode, now time.Time) Record {
	return Record{
		ID: NewID(now), Time: now, Mode: mode, Action: action,
		Rule: f.Rule, EventID: f.EventID, Fingerprint: f.Fingerprint, Principal: f.Principal,
		PrincipalType: f.PrincipalType, Model: firstNonEmpty(f.BaseModel, f.Model), Account: f.Account, Region: f.Region,
		Actor: r.Actor,
	}
}

// handleClaimed runs with the claim held, for a principal the guard
// admitted. It returns the record and until when the claim blocks the
// same finding.
func (r *Remediator) handleClaimed(ctx context.Context, f findings.Finding, action string, block *Block, mode Mode, p Principal, now time.Time, log *slog.Logger) (Record, time.Time, error) {
	rec := r.newRecord(f, action, mode, now)
	recheck := now.Add(RecheckAfter)
	st, err := r.IAM.Snapshot(ctx, p, SnapshotOptionsFor(f, action))
	if errors.Is(err, ErrNotFound) {
		rec.Plan = Plan{Action: action, Principal: p, Refused: "the principal no longer exists in IAM"}
		return r.finishRefused(ctx, rec, log, recheck)
	}
	if err != nil {
		return rec, time.Time{}, fmt.Errorf("read IAM state of %s: %w", p.ARN, err)
	}
	plan := Planner{Guard: r.Config.Guard, Block: block}.Plan(f, action, st, now)
	rec.Plan = plan
	if plan.Refused != "" {
		return r.finishRefused(ctx, rec, log, recheck)
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
		// The breaker counts in the account the IAM calls land in, never
		// in one a message names.
		account := r.Config.Guard.Account
		if account == "" {
			return rec, time.Time{}, errors.New("breaker: the remediator's own account is unknown (Guard.Account)")
		}
		allowed, err := r.Breaker.Take(ctx, account, hour, max)
		if err != nil {
			return rec, time.Time{}, fmt.Errorf("breaker: %w", err)
		}
		if !allowed {
			rec.Mode = ModeDryRun
			rec.Plan.Notes = append(rec.Plan.Notes, fmt.Sprintf("breaker open: %d enforce actions already taken in account %s this hour; fell back to dry-run", max, account))
			if err := r.Breaker.MarkOpen(ctx, account, hour); err != nil {
				return rec, time.Time{}, fmt.Errorf("breaker: %w", err)
			}
			if err := r.noticeOnce(ctx, "breaker-open/"+account+"/"+hour.Format(time.RFC3339), breakerAlert(account, f.Region, max, hour), 2*time.Hour); err != nil {
				return rec, time.Time{}, err
			}
		}
	}
	if rec.Mode != ModeEnforce {
		rec.Result = ResultPlanned
		if err := r.Ledger.Put(ctx, rec); err != nil {
			return rec, time.Time{}, fmt.Errorf("ledger: %w", err)
		}
		return rec, recheck, nil
	}
	switch {
	case block != nil:
		// A usage block lasts until its period ends, whatever
		// quarantineTTL says: the sweeper lifts it then.
		exp := block.Until.UTC()
		rec.ExpiresAt = &exp
	case r.Config.QuarantineTTL > 0:
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
	if applyErr != nil {
		rec.Result, rec.Error = ResultFailed, applyErr.Error()
		log.Error("remediation failed", "err", applyErr)
	}
	if err := r.Ledger.Put(ctx, rec); err != nil {
		return rec, time.Time{}, fmt.Errorf("ledger after acting (result %s): %w", rec.Result, err)
	}
	if rec.Result == ResultFailed {
		// A later delivery of the same incident may try again, planning
		// from the state the partial attempt left.
		return rec, recheck, nil
	}
	return rec, time.Time{}, nil
}

func (r *Remediator) finishRefused(ctx context.Context, rec Record, log *slog.Logger, until time.Time) (Record, time.Time, error) {
	rec.Result = ResultRefused
	if err := r.Ledger.Put(ctx, rec); err != nil {
		return rec, time.Time{}, fmt.Errorf("ledger: %w", err)
	}
	log.Warn("remediation refused", "reason", rec.Plan.Refused)
	return rec, until, nil
}

func breakerAlert(account, region string, max int, hour time.Time) Alert {
	return Alert{
		Subject:  "Bedrock Warden remediation breaker open in account " + account,
		Severity: findings.Critical,
		Rule:     findings.RuleRemediationBreakerOpen,
		Account:  account,
		Region:   region,
		Message: fmt.Sprintf("Remediation took %d enforce actions in account %s in the hour starting %s, its maxActionsPerHour.\n"+
			"Until the hour ends or on-call runs `warden remediation breaker reset`, further remediations are dry-run only.\n"+
			"Review them with `warden remediation list --since 1h`.\n", max, account, hour.Format(time.RFC3339)),
	}
}

// writeCount writes one EMF count of metric with a Reason dimension.
func writeCount(w io.Writer, now time.Time, metric, reason string) {
	if w == nil {
		w = os.Stdout
	}
	var s metrics.Set
	s.Add(metric, 1, metrics.Dimension{Name: metrics.DimReason, Value: reason})
	_ = metrics.WriteEMF(w, metrics.DefaultNamespace, now, s.Datums())
}

// clip keeps attacker-supplied text in logs and alerts short.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
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
// Every value passes through safetext.Line: a record carries text that
// came from an event (ids, a principal, a model, an error message).
func Describe(rec Record) string {
	l := safetext.Line
	var b strings.Builder
	fmt.Fprintf(&b, "Record:    %s\nMode:      %s\nAction:    %s\nResult:    %s\nPrincipal: %s\nRule:      %s\n",
		l(rec.ID), l(string(rec.Mode)), l(rec.Action), l(rec.Result), l(rec.Principal), l(rec.Rule))
	if rec.EventID != "" {
		fmt.Fprintf(&b, "Event:     %s\n", l(rec.EventID))
	}
	if rec.UndoOf != "" {
		fmt.Fprintf(&b, "Undo of:   %s (by %s)\n", l(rec.UndoOf), l(rec.Actor))
	}
	if rec.Model != "" {
		fmt.Fprintf(&b, "Model:     %s\n", l(rec.Model))
	}
	if rec.Plan.Refused != "" {
		fmt.Fprintf(&b, "Refused:   %s\n", l(rec.Plan.Refused))
	}
	if rec.Plan.Advice != "" {
		fmt.Fprintf(&b, "Do this instead: %s\n", l(rec.Plan.Advice))
	}
	for _, s := range rec.Plan.Steps {
		fmt.Fprintf(&b, "  - %s %s: %s\n", l(string(s.Kind)), l(stepTarget(s)), l(s.Reason))
		if s.Kind == StepPutBlock && s.Until != nil {
			fmt.Fprintf(&b, "    the deny stops applying at %s (aws:CurrentTime) and the sweeper removes it; undo lifts it earlier\n", s.Until.UTC().Format(time.RFC3339))
		}
	}
	for _, n := range rec.Plan.Notes {
		fmt.Fprintf(&b, "  note: %s\n", l(n))
	}
	if rec.Outcome != nil {
		fmt.Fprintf(&b, "Verified:  %t\n", rec.Outcome.Verified)
		for _, o := range rec.Outcome.Observed {
			fmt.Fprintf(&b, "  saw: %s\n", l(o))
		}
	}
	if rec.Error != "" {
		fmt.Fprintf(&b, "Error:     %s\n", l(rec.Error))
	}
	if rec.ExpiresAt != nil {
		fmt.Fprintf(&b, "Expires:   %s (undone by the sweeper)\n", rec.ExpiresAt.Format(time.RFC3339))
	}
	if rec.Result == ResultApplied {
		fmt.Fprintf(&b, "Undo:      warden remediation undo %s\n", l(rec.ID))
	}
	return b.String()
}

// MarshalRecord is the JSON form the ledger stores and the CLI prints.
func MarshalRecord(rec Record) ([]byte, error) { return json.Marshal(rec) }
