package remediation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
	"github.com/bedrock-warden/warden/pkg/metrics"
	"github.com/bedrock-warden/warden/pkg/safetext"
	"github.com/bedrock-warden/warden/pkg/seal"
)

// Undoer reverses applied remediations recorded in the ledger. The ledger
// must verify each record's seal on Get: nothing is undone from a record
// the remediator did not write.
type Undoer struct {
	Applier Applier
	Ledger  Ledger
	Claims  Claims
	// Guard, when its Account is set, re-screens the record's principal:
	// a principal of another account, a Bedrock Warden role, a
	// service-linked or Identity Center role is never written to.
	Guard Guard
	// Notices dedups the alerts about forged records (one per record per
	// day); optional.
	Notices Notices
	Alerts  Alerter // optional
	// Resolver, when set, resolves the finding an undone action answered
	// where it is mirrored (Security Hub); best effort, after the undo.
	Resolver FindingResolver
	// Metrics receives EMF lines (LedgerRecordsRejected); nil means
	// stdout.
	Metrics io.Writer
	Now     Clock
	Log     *slog.Logger
}

// FindingResolver marks an incident resolved outside the ledger (package
// alerts/hubpub archives its Security Hub finding).
type FindingResolver interface {
	Resolve(ctx context.Context, fingerprint, note string) error
}

// ErrNotUndoable is wrapped when a record cannot be undone (a dry-run, a
// refusal, an undo, or one already undone).
var ErrNotUndoable = errors.New("record cannot be undone")

// ErrRefused is wrapped when a record must not be undone: its seal does
// not verify (ErrUnauthenticated is wrapped too), its steps do not match
// what it saved, its principal is one remediation never touches, or (in a
// sweep) it has not expired.
var ErrRefused = errors.New("undo refused")

func (u Undoer) now() time.Time {
	if u.Now != nil {
		return u.Now().UTC()
	}
	return time.Now().UTC()
}

// Undo reverses record id: it restores exactly what the record's applied
// steps changed, verifies, writes an undo record, marks the original
// undone, and releases the finding's claim so a new violation acts again.
// actor says who asked. It returns the undo record.
//
// Before any IAM write it checks that the record is authentic (the ledger
// verified its seal), that its steps restore only what it saved (CheckUndo)
// and that its principal may be touched (the guard). A record that fails
// is refused with a critical alert and ErrRefused.
func (u Undoer) Undo(ctx context.Context, id, actor string) (Record, error) {
	return u.undo(ctx, id, actor, time.Time{})
}

func (u Undoer) undo(ctx context.Context, id, actor string, sweepAt time.Time) (Record, error) {
	rec, err := u.Ledger.Get(ctx, id)
	if errors.Is(err, ErrUnauthenticated) {
		return Record{}, u.refuse(ctx, id, seal.Reason(err), err)
	}
	if err != nil {
		return Record{}, err
	}
	switch {
	case rec.ID != id:
		return Record{}, u.refuse(ctx, id, "mismatch", fmt.Errorf("the record stored as %s names itself %s", id, rec.ID))
	case rec.UndoneBy != "":
		return Record{}, fmt.Errorf("%w: %s was already undone by %s", ErrNotUndoable, id, rec.UndoneBy)
	case rec.Mode != ModeEnforce || (rec.Result != ResultApplied && rec.Result != ResultFailed && rec.Result != ResultUndoFailed && rec.Result != ResultApplying):
		return Record{}, fmt.Errorf("%w: %s is a %s record with result %s; only applied enforce actions change IAM", ErrNotUndoable, id, rec.Mode, rec.Result)
	}
	if !sweepAt.IsZero() && (rec.ExpiresAt == nil || rec.ExpiresAt.After(sweepAt)) {
		// The expiry index is only a pointer: the sealed record decides.
		return Record{}, u.refuse(ctx, id, "not-expired", fmt.Errorf("the expiry index lists %s, but the record does not expire before %s", id, sweepAt.Format(time.RFC3339)))
	}
	if problem := CheckUndo(rec); problem != "" {
		return Record{}, u.refuse(ctx, id, "inconsistent", errors.New(problem))
	}
	if u.Guard.Account != "" {
		if r, _ := u.Guard.screenPrincipal(rec.Plan.Principal, rec.Plan.Principal.ARN); r != "" {
			return Record{}, u.refuse(ctx, id, "guarded", fmt.Errorf("%s", r))
		}
	}
	steps := rec.AppliedSteps()
	now := u.now()
	undo := Record{
		ID: NewID(now), Time: now, Mode: ModeEnforce, Action: "undo", Rule: rec.Rule, EventID: rec.EventID,
		Fingerprint: rec.Fingerprint, Principal: rec.Principal, PrincipalType: rec.PrincipalType, Model: rec.Model,
		Account: rec.Account, Region: rec.Region, UndoOf: rec.ID, Actor: actor,
		Plan: Plan{Action: "undo", Principal: rec.Plan.Principal, Steps: steps},
	}
	out, undoErr := u.Applier.Undo(ctx, rec.Plan.Principal, steps)
	undo.Outcome = &out
	undo.Result = ResultUndo
	if undoErr != nil {
		undo.Result, undo.Error = ResultFailed, undoErr.Error()
	}
	if err := u.Ledger.Put(ctx, undo); err != nil {
		return undo, errors.Join(undoErr, fmt.Errorf("ledger undo record: %w", err))
	}
	if undoErr != nil {
		rec.Result = ResultUndoFailed
	} else {
		rec.Result, rec.UndoneBy, rec.UndoneAt = ResultUndone, undo.ID, &now
	}
	if err := u.Ledger.Put(ctx, rec); err != nil {
		return undo, errors.Join(undoErr, fmt.Errorf("ledger update of %s: %w", rec.ID, err))
	}
	if undoErr == nil && u.Claims != nil {
		if err := u.Claims.Release(ctx, rec.Fingerprint, ModeEnforce); err != nil {
			return undo, fmt.Errorf("release claim: %w", err)
		}
	}
	if undoErr == nil && u.Resolver != nil && rec.Fingerprint != "" {
		note := "remediation " + rec.ID + " undone by " + actor + " at " + now.Format(time.RFC3339) + " (ledger record " + undo.ID + ")"
		if err := u.Resolver.Resolve(ctx, rec.Fingerprint, note); err != nil {
			if u.Log != nil {
				u.Log.ErrorContext(ctx, "finding not resolved in Security Hub", "record", rec.ID, "error", err.Error())
			}
		}
	}
	if u.Alerts != nil {
		sev := findings.Medium
		if undoErr != nil {
			sev = findings.Critical
		}
		a := Alert{Subject: "Bedrock Warden remediation undo of " + safetext.Line(rec.ID) + ": " + undo.Result, Message: Describe(undo),
			Severity: sev, Rule: rec.Rule, Account: rec.Account, Region: rec.Region}
		if err := u.Alerts.Publish(ctx, a); err != nil && u.Log != nil {
			u.Log.Error("undo alert not sent", "err", err)
		}
	}
	if undoErr != nil {
		return undo, fmt.Errorf("undo %s: %w", rec.ID, undoErr)
	}
	return undo, nil
}

// refuse logs, counts and reports a record that must not be undone, and
// returns the error the caller gets (ErrRefused; the cause is wrapped).
func (u Undoer) refuse(ctx context.Context, id, reason string, cause error) error {
	err := fmt.Errorf("%w: ledger record %s (%s): %w", ErrRefused, safetext.Line(clip(id)), reason, cause)
	if u.Log != nil {
		u.Log.ErrorContext(ctx, "undo refused: nothing was changed in IAM", "record", safetext.Line(clip(id)), "reason", reason, "error", cause.Error())
	}
	writeCount(u.Metrics, u.now(), metrics.LedgerRecordsRejected, reason)
	a := Alert{
		Subject:  "Bedrock Warden refused to undo ledger record " + safetext.Line(clip(id)) + " (" + reason + ")",
		Severity: findings.Critical,
		Rule:     findings.RuleFindingRejected,
		Account:  u.Guard.Account,
		Message: fmt.Sprintf("An undo of ledger record %s was refused before any IAM change.\n\nReason: %s: %s\n\n"+
			"Undo restores only what the remediator itself removed, from records it sealed. A record that is not sealed, "+
			"whose seal does not verify, or whose steps do not match what it saved was written or altered by someone else: "+
			"an attempt to have Bedrock Warden grant permissions. Look in CloudTrail for dynamodb:PutItem and "+
			"dynamodb:UpdateItem on the state table, and for changes to its resource policy.\n",
			safetext.Line(clip(id)), reason, safetext.Line(cause.Error())),
	}
	if nerr := noticeOnce(ctx, u.Notices, u.Alerts, "refused-undo/"+clip(id), a, u.now(), 24*time.Hour); nerr != nil {
		return errors.Join(err, nerr)
	}
	return err
}

// CheckUndo reports why the record's steps would restore something other
// than what the remediation itself removed, or "" when they restore only
// that: every detached policy was attached before, every deleted document
// is the one saved before, the documents put are Bedrock Warden's own and
// their "previous" versions are the ones saved, every credential status is
// the one it had; and the outcome's steps are the plan's.
func CheckUndo(rec Record) string {
	p := rec.Plan.Principal
	parsed, err := ParsePrincipal(p.ARN)
	if err != nil || parsed.Kind != p.Kind || parsed.Name != p.Name || parsed.Account != p.Account {
		return fmt.Sprintf("the plan's principal %q does not parse to itself", safetext.Line(clip(p.ARN)))
	}
	if rec.Before == nil {
		return "the record saved no state before acting"
	}
	b := rec.Before
	inline := func(name string) (string, bool) {
		for _, ip := range b.Inline {
			if ip.Name == name {
				return ip.Document, true
			}
		}
		return "", false
	}
	for _, s := range rec.AppliedSteps() {
		if !slices.ContainsFunc(rec.Plan.Steps, func(t Step) bool { return sameStep(s, t) }) {
			return fmt.Sprintf("step %s %s is in the outcome but not in the plan", s.Kind, safetext.Line(clip(stepTarget(s))))
		}
		switch s.Kind {
		case StepDetachManaged:
			if !slices.Contains(b.Managed, s.PolicyARN) {
				return "undo would attach " + safetext.Line(clip(s.PolicyARN)) + ", which was not attached before the remediation"
			}
		case StepDeleteInline:
			doc, ok := inline(s.PolicyName)
			if !ok || doc != s.Document {
				return "undo would put inline policy " + safetext.Line(clip(s.PolicyName)) + " with a document other than the one saved before the remediation"
			}
		case StepPutQuarantine, StepPutRevoke, StepPutBlock:
			own := QuarantinePolicyName
			switch s.Kind {
			case StepPutRevoke:
				own = RevokePolicyName
			case StepPutBlock:
				own = BlockPolicyName
				if problem := checkBlockStep(s); problem != "" {
					return problem
				}
			}
			if s.PolicyName != own {
				return "step " + string(s.Kind) + " names policy " + safetext.Line(clip(s.PolicyName)) + ", not " + own
			}
			doc, ok := inline(s.PolicyName)
			if (s.Previous == nil) == ok || (ok && *s.Previous != doc) {
				return "the previous " + own + " document does not match the one saved before the remediation"
			}
		case StepDisableAccessKey, StepDisableServiceCr:
			found := false
			for _, c := range b.Credentials {
				if c.ID == s.CredentialID && c.Status == s.PreviousStatus {
					found = true
				}
			}
			if !found {
				return "credential " + safetext.Line(clip(s.CredentialID)) + " did not have status " + safetext.Line(clip(s.PreviousStatus)) + " before the remediation"
			}
		default:
			return "unknown step kind " + safetext.Line(clip(string(s.Kind)))
		}
	}
	return ""
}

// checkBlockStep reports why a put-block step is not one the planner
// makes: its statement (the one undo removes) must be a BWB deny that
// names its end.
func checkBlockStep(s Step) string {
	if !strings.HasPrefix(s.Sid, "BWB") || s.Until == nil {
		return "block step " + safetext.Line(clip(s.Sid)) + " is not a usage block (BWB statement with an end)"
	}
	d, err := iampolicy.Parse(s.Document)
	if err != nil {
		return "block step " + safetext.Line(clip(s.Sid)) + ": " + safetext.Line(clip(err.Error()))
	}
	i := d.StatementBySid(s.Sid)
	if i < 0 || d.Statement[i].Effect != iampolicy.Deny {
		return "block step " + safetext.Line(clip(s.Sid)) + " does not put a Deny statement " + safetext.Line(clip(s.Sid))
	}
	return ""
}

// sameStep compares the fields undo acts on.
func sameStep(a, b Step) bool {
	if a.Kind != b.Kind || a.PolicyARN != b.PolicyARN || a.PolicyName != b.PolicyName || a.Document != b.Document ||
		a.Sid != b.Sid || a.CredentialID != b.CredentialID || a.PreviousStatus != b.PreviousStatus {
		return false
	}
	if (a.Previous == nil) != (b.Previous == nil) {
		return false
	}
	return a.Previous == nil || *a.Previous == *b.Previous
}

// SweepResult is what one sweep did.
type SweepResult struct {
	Undone []string          `json:"undone"`
	Failed map[string]string `json:"failed,omitempty"`
}

// Sweep undoes every applied remediation whose expiry (quarantineTTL) has
// passed at now. One failure does not stop the others; all are reported.
// A record the expiry index lists but that is not sealed, or whose own
// expiry has not passed, is refused (see Undo).
func (u Undoer) Sweep(ctx context.Context, now time.Time, actor string) (SweepResult, error) {
	ids, err := u.Ledger.Expired(ctx, now)
	if err != nil {
		return SweepResult{}, fmt.Errorf("list expired remediations: %w", err)
	}
	res := SweepResult{Failed: map[string]string{}}
	var errs []error
	for _, id := range ids {
		if _, err := u.undo(ctx, id, actor, now); err != nil {
			if errors.Is(err, ErrNotUndoable) {
				continue
			}
			res.Failed[id] = err.Error()
			errs = append(errs, err)
			continue
		}
		res.Undone = append(res.Undone, id)
	}
	return res, errors.Join(errs...)
}
