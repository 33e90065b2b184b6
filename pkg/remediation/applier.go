package remediation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bedrock-warden/warden/pkg/iampolicy"
)

// IAM is what remediation needs from IAM, in its own terms. The adapter in
// package iamstate implements it over the AWS SDK.
type IAM interface {
	// Snapshot reads the principal's path, tags, attached managed policies
	// (with their default version documents), inline policies (documents
	// verbatim, URL-decoded) and, for a user, the credentials opts asks for.
	Snapshot(ctx context.Context, p Principal, opts SnapshotOptions) (State, error)
	AttachManaged(ctx context.Context, p Principal, policyARN string) error
	DetachManaged(ctx context.Context, p Principal, policyARN string) error
	PutInline(ctx context.Context, p Principal, name, document string) error
	DeleteInline(ctx context.Context, p Principal, name string) error
	SetAccessKeyStatus(ctx context.Context, user, keyID, status string) error
	SetServiceCredentialStatus(ctx context.Context, user, credentialID, status string) error
}

// SnapshotOptions says which credentials of a user to read.
type SnapshotOptions struct {
	AccessKeys         bool // ListAccessKeys
	ServiceCredentials bool // ListServiceSpecificCredentials for Bedrock
}

// credentialOptions returns the snapshot options steps need to be checked.
func credentialOptions(steps []Step) SnapshotOptions {
	var o SnapshotOptions
	for _, s := range steps {
		o.AccessKeys = o.AccessKeys || s.Kind == StepDisableAccessKey
		o.ServiceCredentials = o.ServiceCredentials || s.Kind == StepDisableServiceCr
	}
	return o
}

// Applier carries out plans and undoes them, verifying IAM's state after
// acting. IAM is eventually consistent, so verification re-reads up to
// VerifyAttempts times, waiting VerifyDelay between reads.
type Applier struct {
	IAM            IAM
	VerifyAttempts int                 // default 3
	VerifyDelay    time.Duration       // default 1s
	Sleep          func(time.Duration) // default time.Sleep; tests pass a no-op
}

// StepResult is what happened to one step.
type StepResult struct {
	Step  Step   `json:"step"`
	Error string `json:"error,omitempty"`
}

// Outcome is what Apply or Undo did and what IAM showed afterwards.
type Outcome struct {
	Steps []StepResult `json:"steps"`
	// Verified is true when the re-read state shows every step in effect.
	Verified bool `json:"verified"`
	// Observed says, per step, what the re-read showed.
	Observed []string `json:"observed,omitempty"`
}

// Failed reports whether any step failed.
func (o Outcome) Failed() bool {
	for _, s := range o.Steps {
		if s.Error != "" {
			return true
		}
	}
	return false
}

// Apply executes plan's steps in order, stopping at the first failure, then
// verifies. The returned error joins step failures; the Outcome says which
// steps ran, so undo can reverse exactly those.
func (a Applier) Apply(ctx context.Context, plan Plan) (Outcome, error) {
	var out Outcome
	var errs []error
	for _, s := range plan.Steps {
		err := a.applyStep(ctx, plan.Principal, s)
		r := StepResult{Step: s}
		if err != nil {
			r.Error = err.Error()
			errs = append(errs, fmt.Errorf("%s %s: %w", s.Kind, stepTarget(s), err))
		}
		out.Steps = append(out.Steps, r)
		if err != nil {
			break
		}
	}
	done := make([]Step, 0, len(out.Steps))
	for _, r := range out.Steps {
		if r.Error == "" {
			done = append(done, r.Step)
		}
	}
	ok, seen, err := a.verify(ctx, plan.Principal, done, appliedCheck)
	out.Verified, out.Observed = ok && len(errs) == 0, seen
	if err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

func (a Applier) applyStep(ctx context.Context, p Principal, s Step) error {
	switch s.Kind {
	case StepDetachManaged:
		return a.IAM.DetachManaged(ctx, p, s.PolicyARN)
	case StepDeleteInline:
		return a.IAM.DeleteInline(ctx, p, s.PolicyName)
	case StepPutRevoke:
		return a.IAM.PutInline(ctx, p, s.PolicyName, s.Document)
	case StepPutQuarantine, StepPutBlock:
		return a.putStatement(ctx, p, s)
	case StepDisableAccessKey:
		return a.IAM.SetAccessKeyStatus(ctx, p.Name, s.CredentialID, StatusInactive)
	case StepDisableServiceCr:
		return a.IAM.SetServiceCredentialStatus(ctx, p.Name, s.CredentialID, StatusInactive)
	}
	return fmt.Errorf("unknown step kind %q", s.Kind)
}

// putStatement merges the step's statement into its policy (quarantine or
// block) as it is now (another remediation may have landed since the plan
// was made), since PutRolePolicy replaces the whole document.
func (a Applier) putStatement(ctx context.Context, p Principal, s Step) error {
	// IAM has no conditional put: re-read after writing and merge again
	// if a concurrent writer replaced the document.
	for round := 0; ; round++ {
		if err := a.mergeStatement(ctx, p, s); err != nil {
			return err
		}
		st, err := a.IAM.Snapshot(ctx, p, SnapshotOptions{})
		if err != nil {
			return fmt.Errorf("re-read after merge: %w", err)
		}
		if ok, _ := appliedCheck(st, s); ok || round == 2 {
			return nil
		}
	}
}

func (a Applier) mergeStatement(ctx context.Context, p Principal, s Step) error {
	planned, err := iampolicy.Parse(s.Document)
	if err != nil {
		return fmt.Errorf("planned %s document: %w", s.PolicyName, err)
	}
	i := planned.StatementBySid(s.Sid)
	if i < 0 {
		return fmt.Errorf("planned %s document lacks statement %s", s.PolicyName, s.Sid)
	}
	st, err := a.IAM.Snapshot(ctx, p, SnapshotOptions{})
	if err != nil {
		return fmt.Errorf("re-read before merge: %w", err)
	}
	text := s.Document
	cur, ok := st.InlineNamed(s.PolicyName)
	if !ok && s.Previous != nil {
		// The policy was deleted since planning: do not resurrect the
		// statements it had.
		only := iampolicy.Document{Version: iampolicy.Version2012, Statement: iampolicy.Statements{planned.Statement[i]}}
		if text, err = only.Marshal(); err != nil {
			return err
		}
	}
	if ok && (s.Previous == nil || cur.Document != *s.Previous) {
		d, err := iampolicy.Parse(cur.Document)
		if err != nil {
			return fmt.Errorf("current %s: %w", s.PolicyName, err)
		}
		if d.StatementBySid(s.Sid) >= 0 {
			return nil
		}
		d.Statement = append(d.Statement, planned.Statement[i])
		if text, err = d.Marshal(); err != nil {
			return err
		}
	}
	return a.IAM.PutInline(ctx, p, s.PolicyName, text)
}

type checkFunc func(st State, s Step) (ok bool, seen string)

func appliedCheck(st State, s Step) (bool, string) {
	switch s.Kind {
	case StepDetachManaged:
		if st.HasManaged(s.PolicyARN) {
			return false, s.PolicyARN + " is still attached"
		}
		return true, s.PolicyARN + " is detached"
	case StepDeleteInline:
		if _, ok := st.InlineNamed(s.PolicyName); ok {
			return false, "inline policy " + s.PolicyName + " still exists"
		}
		return true, "inline policy " + s.PolicyName + " is gone"
	case StepPutQuarantine, StepPutBlock:
		cur, ok := st.InlineNamed(s.PolicyName)
		if !ok {
			return false, s.PolicyName + " is missing"
		}
		d, err := iampolicy.Parse(cur.Document)
		if err != nil || d.StatementBySid(s.Sid) < 0 {
			return false, s.PolicyName + " lacks statement " + s.Sid
		}
		return true, s.PolicyName + " holds statement " + s.Sid
	case StepPutRevoke:
		cur, ok := st.InlineNamed(s.PolicyName)
		if !ok || cur.Document != s.Document {
			return false, s.PolicyName + " is not the document put"
		}
		return true, s.PolicyName + " is in place"
	case StepDisableAccessKey, StepDisableServiceCr:
		c, ok := st.Credential(s.CredentialID)
		if !ok {
			return false, "credential " + s.CredentialID + " not found"
		}
		return c.Status == StatusInactive, "credential " + s.CredentialID + " is " + c.Status
	}
	return false, "unknown step " + string(s.Kind)
}

func undoneCheck(st State, s Step) (bool, string) {
	switch s.Kind {
	case StepDetachManaged:
		if !st.HasManaged(s.PolicyARN) {
			return false, s.PolicyARN + " is not attached"
		}
		return true, s.PolicyARN + " is attached again"
	case StepDeleteInline:
		cur, ok := st.InlineNamed(s.PolicyName)
		if !ok || cur.Document != s.Document {
			return false, "inline policy " + s.PolicyName + " is not byte-identical to the saved document"
		}
		return true, "inline policy " + s.PolicyName + " restored byte-identical"
	case StepPutQuarantine, StepPutBlock:
		cur, ok := st.InlineNamed(s.PolicyName)
		if !ok {
			return true, s.PolicyName + " is gone"
		}
		d, err := iampolicy.Parse(cur.Document)
		if err == nil && d.StatementBySid(s.Sid) < 0 {
			return true, s.PolicyName + " no longer holds " + s.Sid
		}
		return false, s.PolicyName + " still holds " + s.Sid
	case StepPutRevoke:
		cur, ok := st.InlineNamed(s.PolicyName)
		if s.Previous == nil {
			return !ok, s.PolicyName + " present=" + fmt.Sprint(ok)
		}
		return ok && cur.Document == *s.Previous, s.PolicyName + " restored to its previous document"
	case StepDisableAccessKey, StepDisableServiceCr:
		c, ok := st.Credential(s.CredentialID)
		if !ok {
			return false, "credential " + s.CredentialID + " not found"
		}
		return c.Status == s.PreviousStatus, "credential " + s.CredentialID + " is " + c.Status
	}
	return false, "unknown step " + string(s.Kind)
}

func (a Applier) verify(ctx context.Context, p Principal, steps []Step, check checkFunc) (bool, []string, error) {
	if len(steps) == 0 {
		return true, nil, nil
	}
	attempts := a.VerifyAttempts
	if attempts <= 0 {
		attempts = 3
	}
	delay := a.VerifyDelay
	if delay == 0 {
		delay = time.Second
	}
	sleep := a.Sleep
	if sleep == nil {
		sleep = time.Sleep
	}
	opts := credentialOptions(steps)
	var seen []string
	for i := 0; i < attempts; i++ {
		if i > 0 {
			sleep(delay)
		}
		st, err := a.IAM.Snapshot(ctx, p, opts)
		if err != nil {
			return false, seen, fmt.Errorf("verify: %w", err)
		}
		all := true
		seen = seen[:0]
		for _, s := range steps {
			ok, what := check(st, s)
			all = all && ok
			seen = append(seen, what)
		}
		if all {
			return true, seen, nil
		}
	}
	return false, seen, nil
}

// Undo reverses steps (those an Apply carried out), last first:
// re-attaches managed policies, re-puts inline documents byte-identical,
// removes only the remediation's own quarantine or block statement
// (re-putting the previous document verbatim when nothing else changed),
// restores or
// deletes the revoke-sessions policy, and restores credential statuses.
// It then verifies.
func (a Applier) Undo(ctx context.Context, p Principal, steps []Step) (Outcome, error) {
	var out Outcome
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		err := a.undoStep(ctx, p, s)
		r := StepResult{Step: s}
		if err != nil {
			r.Error = err.Error()
			errs = append(errs, fmt.Errorf("undo %s %s: %w", s.Kind, stepTarget(s), err))
		}
		out.Steps = append(out.Steps, r)
	}
	ok, seen, err := a.verify(ctx, p, steps, undoneCheck)
	out.Verified, out.Observed = ok && len(errs) == 0, seen
	if err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

func (a Applier) undoStep(ctx context.Context, p Principal, s Step) error {
	switch s.Kind {
	case StepDetachManaged:
		return a.IAM.AttachManaged(ctx, p, s.PolicyARN)
	case StepDeleteInline:
		return a.IAM.PutInline(ctx, p, s.PolicyName, s.Document)
	case StepPutRevoke:
		if s.Previous != nil {
			return a.IAM.PutInline(ctx, p, s.PolicyName, *s.Previous)
		}
		return ignoreMissing(a.IAM.DeleteInline(ctx, p, s.PolicyName))
	case StepPutQuarantine, StepPutBlock:
		return a.removeStatement(ctx, p, s)
	case StepDisableAccessKey:
		return a.IAM.SetAccessKeyStatus(ctx, p.Name, s.CredentialID, s.PreviousStatus)
	case StepDisableServiceCr:
		return a.IAM.SetServiceCredentialStatus(ctx, p.Name, s.CredentialID, s.PreviousStatus)
	}
	return fmt.Errorf("unknown step kind %q", s.Kind)
}

// removeStatement takes the step's own statement out of its policy
// (quarantine or block), leaving statements others added.
func (a Applier) removeStatement(ctx context.Context, p Principal, s Step) error {
	st, err := a.IAM.Snapshot(ctx, p, SnapshotOptions{})
	if err != nil {
		return fmt.Errorf("read %s policy: %w", s.PolicyName, err)
	}
	cur, ok := st.InlineNamed(s.PolicyName)
	if !ok {
		return nil
	}
	d, err := iampolicy.Parse(cur.Document)
	if err != nil {
		return fmt.Errorf("current %s: %w", s.PolicyName, err)
	}
	rest, n := d.WithoutSids(s.Sid)
	if n == 0 {
		return nil
	}
	if len(rest.Statement) == 0 {
		return ignoreMissing(a.IAM.DeleteInline(ctx, p, s.PolicyName))
	}
	if s.Previous != nil {
		if prev, err := iampolicy.Parse(*s.Previous); err == nil && equalSids(prev.Sids(), rest.Sids()) {
			return a.IAM.PutInline(ctx, p, s.PolicyName, *s.Previous)
		}
	}
	text, err := rest.Marshal()
	if err != nil {
		return err
	}
	return a.IAM.PutInline(ctx, p, s.PolicyName, text)
}

func equalSids(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ErrNotFound is what an IAM adapter wraps when the entity or policy does
// not exist.
var ErrNotFound = errors.New("not found")

func ignoreMissing(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}
