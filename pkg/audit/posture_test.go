package audit

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
)

type memBaseline struct {
	snaps map[string]Snapshot
	saves int
}

func (m *memBaseline) Load(_ context.Context, account string) (Snapshot, error) {
	s, ok := m.snaps[account]
	if !ok {
		return Snapshot{Allowed: map[string][]string{}}, nil
	}
	return s, nil
}

func (m *memBaseline) Save(_ context.Context, account string, _, next Snapshot, _ Summary) error {
	m.saves++
	m.snaps[account] = next
	return nil
}

type memNotifier struct {
	got  []findings.Finding
	fail error
}

func (n *memNotifier) Notify(_ context.Context, fs []findings.Finding) error {
	if n.fail != nil {
		return n.fail
	}
	n.got = append(n.got, fs...)
	return nil
}

func TestPostureAlertsOnChangesOnly(t *testing.T) {
	t.Helper()
	fa := awsManaged(t, "AmazonBedrockFullAccess", bedrockFullAccess)
	logs := inline(t, "app-ops/logs", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:PutModelInvocationLoggingConfiguration","Resource":"*"}]}`)
	dir := &directory{principals: []Principal{role("app-chat"), role("app-ops", logs)}}
	base := &memBaseline{snaps: map[string]Snapshot{}}
	note := &memNotifier{}
	p := &Posture{Policy: policy.Default(), Directory: func() Directory { return dir }, Baseline: base, Notifier: note, Region: "us-east-1"}
	ctx := context.Background()
	week := func(n int) time.Time { return time.Date(2026, 11, 2+7*n, 6, 0, 0, 0, time.UTC) }

	// First run: the baseline, no alert although app-ops can change logging.
	out, err := p.Run(ctx, "run-0", "", week(0))
	if err != nil || !out.Baseline || len(note.got) != 0 || base.saves != 1 {
		t.Fatalf("first run: %+v, %v; notified %v", out, err, note.got)
	}
	if got := base.snaps[acct].Allowed["arn:aws:iam::"+acct+":role/app-ops"]; !slices.Equal(got, []string{DimLogging}) {
		t.Fatalf("baseline: %v", base.snaps[acct].Allowed)
	}
	// Nothing changed: no alert.
	if out, err := p.Run(ctx, "run-1", "", week(1)); err != nil || len(out.Findings) != 0 {
		t.Fatalf("unchanged: %+v, %v", out.Findings, err)
	}
	// app-chat gets AmazonBedrockFullAccess: one finding for it, none for
	// app-ops (already allowed to change logging).
	dir.principals[0].Identity = []Document{fa}
	note.fail = errors.New("SNS down")
	if _, err := p.Run(ctx, "run-2", "", week(2)); err == nil {
		t.Fatal("a failed notification must fail the run")
	}
	if base.snaps[acct].At != week(1) {
		t.Fatal("the run was saved although its alerts were not delivered")
	}
	note.fail = nil
	out, err = p.Run(ctx, "run-2", "", week(2))
	if err != nil || len(note.got) != 1 {
		t.Fatalf("after the grant: %v; notified %+v", err, note.got)
	}
	f := note.got[0]
	if f.Rule != findings.RuleOverPermissioned || f.Severity != findings.High || f.Principal != "arn:aws:iam::"+acct+":role/app-chat" || f.PrincipalType != "Role" {
		t.Errorf("finding: %+v", f)
	}
	if !strings.HasPrefix(f.Title, "role/app-chat can now invoke models outside models.allow") || !strings.Contains(f.Title, "change or delete model invocation logging") {
		t.Errorf("title: %q", f.Title)
	}
	if f.Details["dimensions"] != "costly-resources,guardrails,logging,model-access,models,regions" || !strings.Contains(f.Details["grant.models"], "AmazonBedrockFullAccess") || f.Details["fix.models"] == "" {
		t.Errorf("details: %v", f.Details)
	}
	// The same run id gives the same event id (a retried invocation is
	// recognised by the alert path).
	again := p.finding(Changes(Snapshot{}, SnapshotOf(out.Report, week(2)))[0], out.Report.Principals[0], acct, "run-2", week(2))
	if again.EventID != f.EventID || again.Fingerprint != f.Fingerprint || !strings.HasPrefix(f.EventID, "posture-run-2-") {
		t.Errorf("event id %q / %q", f.EventID, again.EventID)
	}
	// The grant is taken away, then given back: alerted again.
	dir.principals[0].Identity = nil
	if _, err := p.Run(ctx, "run-3", "", week(3)); err != nil || len(note.got) != 1 {
		t.Fatalf("after removal: %v %d", err, len(note.got))
	}
	if _, ok := base.snaps[acct].Allowed["arn:aws:iam::"+acct+":role/app-chat"]; ok {
		t.Error("a principal allowed in nothing is kept")
	}
	dir.principals[0].Identity = []Document{fa}
	if _, err := p.Run(ctx, "run-4", "", week(4)); err != nil || len(note.got) != 2 {
		t.Fatalf("regained: %v %d", err, len(note.got))
	}
}

func TestPostureKeepsUnreadPrincipals(t *testing.T) {
	fa := awsManaged(t, "AmazonBedrockFullAccess", bedrockFullAccess)
	arn := "arn:aws:iam::" + acct + ":role/app-chat"
	dir := &directory{principals: []Principal{role("app-chat", fa), role("app-other")}}
	base := &memBaseline{snaps: map[string]Snapshot{acct: {Exists: true, Allowed: map[string][]string{arn: {DimModels}}}}}
	note := &memNotifier{}
	p := &Posture{Policy: policy.Default(), Directory: func() Directory { return dir }, Baseline: base, Notifier: note}
	dir.fail = map[string]error{arn: errors.New("AccessDenied")}
	if _, err := p.Run(context.Background(), "r", "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := base.snaps[acct].Allowed[arn]; !slices.Equal(got, []string{DimModels}) || len(note.got) != 0 {
		t.Errorf("unread principal: state %v, alerts %v", got, note.got)
	}
}

func TestChanges(t *testing.T) {
	prev := Snapshot{Allowed: map[string][]string{"a": {DimModels}, "b": {DimLogging}}}
	next := Snapshot{Allowed: map[string][]string{"a": {DimModels, DimRegions}, "c": {DimGuardrails}}}
	got := Changes(prev, next)
	if len(got) != 2 || got[0].Principal != "a" || !slices.Equal(got[0].Newly, []string{DimRegions}) || got[1].Principal != "c" {
		t.Errorf("changes = %+v", got)
	}
}

func TestPostureHandle(t *testing.T) {
	dir := &directory{principals: []Principal{role("app-chat")}}
	base := &memBaseline{snaps: map[string]Snapshot{}}
	p := &Posture{Policy: policy.Default(), Directory: func() Directory { return dir }, Baseline: base, Notifier: &memNotifier{}}
	ev := `{"version":"0","id":"89d1a02d-5ec7-412e-82f5-13505f849b41","detail-type":"Scheduled Event","source":"aws.events","account":"111122223333","time":"2026-11-23T06:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:111122223333:rule/posture"],"detail":{}}`
	if err := p.Handle(context.Background(), []byte(ev)); err != nil {
		t.Fatal(err)
	}
	if s := base.snaps[acct]; !s.Exists || !s.At.Equal(time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)) {
		t.Errorf("saved %+v", s)
	}
	if err := p.Handle(context.Background(), []byte(`[1,2]`)); err == nil {
		t.Error("a payload that is not a scheduled event must be an error")
	}
}
