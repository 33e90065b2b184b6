package remediation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
)

// Undoer reverses applied remediations recorded in the ledger.
type Undoer struct {
	Applier Applier
	Ledger  Ledger
	Claims  Claims
	Alerts  Alerter // optional
	Now     Clock
	Log     *slog.Logger
}

// ErrNotUndoable is wrapped when a record cannot be undone (a dry-run, a
// refusal, an undo, or one already undone).
var ErrNotUndoable = errors.New("record cannot be undone")

// Undo reverses record id: it restores exactly what the record's applied
// steps changed, verifies, writes an undo record, marks the original
// undone, and releases the finding's claim so a new violation acts again.
// actor says who asked. It returns the undo record.
func (u Undoer) Undo(ctx context.Context, id, actor string) (Record, error) {
	rec, err := u.Ledger.Get(ctx, id)
	if err != nil {
		return Record{}, err
	}
	switch {
	case rec.UndoneBy != "":
		return Record{}, fmt.Errorf("%w: %s was already undone by %s", ErrNotUndoable, id, rec.UndoneBy)
	case rec.Mode != ModeEnforce || (rec.Result != ResultApplied && rec.Result != ResultFailed && rec.Result != ResultUndoFailed && rec.Result != ResultApplying):
		return Record{}, fmt.Errorf("%w: %s is a %s record with result %s; only applied enforce actions change IAM", ErrNotUndoable, id, rec.Mode, rec.Result)
	}
	steps := rec.AppliedSteps()
	now := time.Now().UTC()
	if u.Now != nil {
		now = u.Now().UTC()
	}
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
	if u.Alerts != nil {
		sev := findings.Medium
		if undoErr != nil {
			sev = findings.Critical
		}
		a := Alert{Subject: "Bedrock Warden remediation undo of " + rec.ID + ": " + undo.Result, Message: Describe(undo),
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

// SweepResult is what one sweep did.
type SweepResult struct {
	Undone []string          `json:"undone"`
	Failed map[string]string `json:"failed,omitempty"`
}

// Sweep undoes every applied remediation whose expiry (quarantineTTL) has
// passed at now. One failure does not stop the others; all are reported.
func (u Undoer) Sweep(ctx context.Context, now time.Time, actor string) (SweepResult, error) {
	ids, err := u.Ledger.Expired(ctx, now)
	if err != nil {
		return SweepResult{}, fmt.Errorf("list expired remediations: %w", err)
	}
	res := SweepResult{Failed: map[string]string{}}
	var errs []error
	for _, id := range ids {
		if _, err := u.Undo(ctx, id, actor); err != nil {
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
