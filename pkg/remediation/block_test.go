package remediation

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
)

// periodEnd is the end of the limit's month in these tests.
var periodEnd = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func limitFinding(principal string) findings.Finding {
	return findings.Finding{
		Rule: findings.RuleLimitExceeded, Account: acct, Region: "us-east-1", Principal: principal, PrincipalType: "AssumedRole",
		Model: "anthropic.claude-3-5-haiku-20241022-v1:0", BaseModel: "anthropic.claude-3-5-haiku-20241022-v1:0",
		Details: map[string]string{findings.DetailLimit: "team-a-claude", findings.DetailPeriod: "month",
			findings.DetailPeriodStart: "2026-11-01T00:00:00Z", findings.DetailPeriodEnd: periodEnd.Format(time.RFC3339)},
		Fingerprint: findings.Fingerprint(findings.RuleLimitExceeded, principal, "team-a-claude", "month@2026-11-01T00:00:00Z"),
	}
}

// limitsStub resolves every finding to one block.
type limitsStub struct {
	b   Block
	ok  bool
	err error
}

func (l limitsStub) Block(findings.Finding, time.Time) (Block, bool, error) { return l.b, l.ok, l.err }

var teamBlock = Block{Limit: "team-a-claude", Models: []string{"anthropic.claude-*"}, Until: periodEnd}

func TestPlanBlockDeniesTheLimitsModelsUntilThePeriodEnds(t *testing.T) {
	st := roleState(t)
	f := limitFinding(roleARN)
	plan := Planner{Block: &teamBlock}.Plan(f, ActionBlockUntil, st, t0)
	if plan.Refused != "" || len(plan.Steps) != 1 {
		t.Fatalf("plan = %+v", plan)
	}
	s := plan.Steps[0]
	if s.Kind != StepPutBlock || s.PolicyName != BlockPolicyName || s.Sid != BlockSid(f.Fingerprint) || !strings.HasPrefix(s.Sid, "BWB") ||
		s.Until == nil || !s.Until.Equal(periodEnd) || s.Previous != nil {
		t.Fatalf("step = %+v", s)
	}
	d, err := iampolicy.Parse(s.Document)
	if err != nil {
		t.Fatal(err)
	}
	st0 := d.Statement[d.StatementBySid(s.Sid)]
	if st0.Effect != iampolicy.Deny || !st0.AppliesToAction("bedrock:InvokeModel") || !st0.AppliesToAction("bedrock:InvokeModelWithResponseStream") {
		t.Errorf("statement = %+v", st0)
	}
	for arn, want := range map[string]bool{
		"arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0":                true,
		"arn:aws:bedrock:us-west-2:" + acct + ":inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0": true,
		"arn:aws:bedrock:::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0":                          true, // global profile's second request
		"arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0":                                    false,
		"arn:aws:bedrock:us-west-2:999999999999:inference-profile/us.anthropic.claude-3-5-haiku-v1:0":         false,
	} {
		if got := st0.AppliesToResource(arn); got != want {
			t.Errorf("block applies to %s = %v, want %v", arn, got, want)
		}
	}
	var cond map[string]map[string]string
	if err := json.Unmarshal(st0.Condition, &cond); err != nil || cond["DateLessThan"]["aws:CurrentTime"] != "2026-12-01T00:00:00Z" {
		t.Errorf("condition = %s (%v): the deny must stop applying at the period's end", st0.Condition, err)
	}
	if !strings.Contains(s.Reason, "team-a-claude") || !strings.Contains(s.Reason, "2026-12-01T00:00:00Z") {
		t.Errorf("reason = %q", s.Reason)
	}

	// A second limit's block merges into the same policy; the same
	// finding again changes nothing.
	st.Inline = []InlinePolicy{{Name: BlockPolicyName, Document: s.Document}}
	if again := (Planner{Block: &teamBlock}).Plan(f, ActionBlockUntil, st, t0); len(again.Steps) != 0 || len(again.Notes) != 1 {
		t.Errorf("same finding twice: %+v", again)
	}
	g := f
	g.Fingerprint = findings.Fingerprint(findings.RuleLimitExceeded, roleARN, "all-nova", "day@2026-11-24T00:00:00Z")
	other := Block{Limit: "all-nova", Models: []string{"amazon.nova-*"}, Until: periodEnd}
	merged := Planner{Block: &other}.Plan(g, ActionBlockUntil, st, t0)
	if len(merged.Steps) != 1 || merged.Steps[0].Previous == nil || *merged.Steps[0].Previous != s.Document {
		t.Fatalf("merge: %+v", merged)
	}
	if d, _ := iampolicy.Parse(merged.Steps[0].Document); len(d.Statement) != 2 {
		t.Errorf("merged document = %s", merged.Steps[0].Document)
	}
}

func TestPlanBlockRefusals(t *testing.T) {
	st := roleState(t)
	f := limitFinding(roleARN)
	if p := (Planner{}).Plan(f, ActionBlockUntil, st, t0); p.Refused == "" {
		t.Error("no block resolved, yet a plan")
	}
	if p := (Planner{Block: &teamBlock}).Plan(f, ActionBlockUntil, st, periodEnd); p.Refused == "" || !strings.Contains(p.Refused, "ended") {
		t.Errorf("period over: %+v", p)
	}
	st.Tags = map[string]string{"bedrock-warden:protected": ""}
	if p := (Planner{Block: &teamBlock}).Plan(f, ActionBlockUntil, st, t0); !strings.Contains(p.Refused, "protected") {
		t.Errorf("protected principal: %+v", p)
	}
	if got := blockResources([]string{"*"}, st.Principal); len(got) != 1 || got[0] != "*" {
		t.Errorf("every model = %v", got)
	}
}

// A block goes through the same path as every action: mode, guard,
// breaker, ledger with before-state, claim; its record expires at the
// period's end whatever quarantineTTL says; undo takes out only its own
// statement and gives back the previous document byte for byte.
func TestHandleBlockUntilRecordsExpiryAndUndoRestoresExactly(t *testing.T) {
	st := roleState(t)
	byHand := "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\"Sid\": \"Manual\", \"Effect\": \"Deny\", \"Action\": \"bedrock:*\", \"Resource\": \"*\"}]\n}"
	st.Inline = []InlinePolicy{{Name: BlockPolicyName, Document: byHand}}
	fake := &fakeIAM{st: map[string]*State{roleARN: &st}}
	r, store, alerts := newUnitRemediator(t, fake, ModeEnforce)
	r.Config.QuarantineTTL = time.Hour
	r.Config.Limits = limitsStub{b: teamBlock, ok: true}
	rec, err := r.Handle(context.Background(), limitFinding(roleARN))
	if err != nil || rec.Result != ResultApplied || rec.Action != ActionBlockUntil {
		t.Fatalf("handle: %+v %v", rec, err)
	}
	if rec.ExpiresAt == nil || !rec.ExpiresAt.Equal(periodEnd) {
		t.Errorf("expiry = %v, want the period's end %v (not quarantineTTL)", rec.ExpiresAt, periodEnd)
	}
	if problem := CheckUndo(rec); problem != "" {
		t.Errorf("CheckUndo of a genuine block: %s", problem)
	}
	if len(alerts.got) != 1 || !strings.Contains(alerts.got[0].Subject, "block-until") || !strings.Contains(alerts.got[0].Subject, "until 2026-12-01T00:00:00Z") ||
		!strings.Contains(alerts.got[0].Message, "stops applying at 2026-12-01T00:00:00Z") {
		t.Errorf("notice = %+v", alerts.got)
	}
	d, _ := iampolicy.Parse(st.Inline[0].Document)
	if len(d.Statement) != 2 {
		t.Fatalf("block not merged with the hand-made statement: %s", st.Inline[0].Document)
	}
	// Again: a duplicate, nothing more.
	if again, err := r.Handle(context.Background(), limitFinding(roleARN)); err != nil || again.Result != "duplicate" {
		t.Errorf("duplicate: %+v %v", again, err)
	}
	u := Undoer{Applier: r.Applier, Ledger: store, Claims: store, Now: r.Now}
	if _, err := u.Undo(context.Background(), rec.ID, "oncall"); err != nil {
		t.Fatal(err)
	}
	if len(st.Inline) != 1 || st.Inline[0].Document != byHand {
		t.Errorf("after undo the policy is not the hand-made one byte for byte: %q", st.Inline[0].Document)
	}
}

func TestHandleLimitFindingsFollowTheirLimit(t *testing.T) {
	st := roleState(t)
	fake := &fakeIAM{st: map[string]*State{roleARN: &st}}
	r, _, _ := newUnitRemediator(t, fake, ModeEnforce)
	// No resolver, an alert-only limit, or a limit this policy does not
	// have: no action, no record.
	for name, lim := range map[string]Limits{"none": nil, "alert": limitsStub{}, "unknown": limitsStub{err: errors.New("no limit gone")}} {
		r.Config.Limits = lim
		rec, err := r.Handle(context.Background(), limitFinding(roleARN))
		if err != nil || rec.Result != "not-listed" || rec.ID != "" {
			t.Errorf("%s: %+v %v", name, rec, err)
		}
	}
	// remediation.actions cannot make a limit finding act.
	r.Config.Limits = nil
	r.Config.Actions[findings.RuleLimitExceeded] = ActionQuarantine
	if rec, _ := r.Handle(context.Background(), limitFinding(roleARN)); rec.ID != "" {
		t.Errorf("remediation.actions acted on a limit finding: %+v", rec)
	}
	if len(st.Inline) != 0 {
		t.Errorf("IAM changed: %+v", st.Inline)
	}
	// Dry-run plans it and records it, without an IAM write.
	r.Config.Limits = limitsStub{b: teamBlock, ok: true}
	r.Mode = fixedMode(ModeDryRun)
	rec, err := r.Handle(context.Background(), limitFinding(roleARN))
	if err != nil || rec.Result != ResultPlanned || len(rec.Plan.Steps) != 1 || rec.Plan.Steps[0].Kind != StepPutBlock || len(st.Inline) != 0 {
		t.Errorf("dry-run: %+v %v", rec, err)
	}
}

// CheckUndo refuses a record whose block step would remove anything but a
// BWB deny of its own.
func TestCheckUndoRefusesForgedBlockSteps(t *testing.T) {
	st := roleState(t)
	f := limitFinding(roleARN)
	plan := Planner{Block: &teamBlock}.Plan(f, ActionBlockUntil, st, t0)
	good := Record{Mode: ModeEnforce, Result: ResultApplying, Plan: plan, Before: &Before{}}
	if p := CheckUndo(good); p != "" {
		t.Fatalf("genuine: %s", p)
	}
	for name, edit := range map[string]func(*Step){
		"other policy": func(s *Step) { s.PolicyName = QuarantinePolicyName },
		"not BWB":      func(s *Step) { s.Sid = "Manual" },
		"no end":       func(s *Step) { s.Until = nil },
		"allow":        func(s *Step) { s.Document = strings.Replace(s.Document, `"Deny"`, `"Allow"`, 1) },
	} {
		rec := good
		rec.Plan.Steps = []Step{plan.Steps[0]}
		edit(&rec.Plan.Steps[0])
		if p := CheckUndo(rec); p == "" {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A block takes a unit of the breaker like every enforce action: past
// maxActionsPerHour it is recorded as a dry-run plan.
func TestBlockObeysTheBreaker(t *testing.T) {
	st := roleState(t)
	fake := &fakeIAM{st: map[string]*State{roleARN: &st}}
	r, store, _ := newUnitRemediator(t, fake, ModeEnforce)
	r.Config.Limits = limitsStub{b: teamBlock, ok: true}
	store.count["123456789012"] = r.Config.MaxActionsPerHour
	rec, err := r.Handle(context.Background(), limitFinding(roleARN))
	if err != nil || rec.Mode != ModeDryRun || rec.Result != ResultPlanned || len(st.Inline) != 0 {
		t.Fatalf("breaker open: %+v %v, inline %+v", rec, err, st.Inline)
	}
	if !store.opened["123456789012"] {
		t.Error("the breaker was not marked open")
	}
}
