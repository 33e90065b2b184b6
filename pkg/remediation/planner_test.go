package remediation

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/iampolicy"
)

const (
	acct     = "123456789012"
	roleARN  = "arn:aws:iam::" + acct + ":role/app-batch"
	userARN  = "arn:aws:iam::" + acct + ":user/dev/alice"
	opusBase = "anthropic.claude-3-opus-20240229-v1:0"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

type exemptList []string

func (e exemptList) PrincipalExempt(arn string) bool {
	for _, x := range e {
		if x == arn {
			return true
		}
	}
	return false
}

func modelFinding(principal string) findings.Finding {
	return findings.Finding{
		Rule: findings.RuleUnauthorizedModel, EventName: "Converse", Account: acct, Region: "us-east-1",
		Principal: principal, PrincipalType: "AssumedRole", Model: "us." + opusBase, BaseModel: opusBase,
		Fingerprint: findings.Fingerprint(findings.RuleUnauthorizedModel, principal, opusBase, "us-east-1"),
	}
}

func roleState(t *testing.T) State {
	t.Helper()
	p, err := ParsePrincipal(roleARN)
	if err != nil {
		t.Fatal(err)
	}
	return State{Principal: p}
}

func TestParsePrincipal(t *testing.T) {
	cases := []struct {
		in         string
		kind       PrincipalKind
		name, path string
		arn        string
	}{
		{roleARN, KindRole, "app-batch", "/", roleARN},
		{userARN, KindUser, "alice", "/dev/", userARN},
		{"arn:aws-cn:iam::" + acct + ":role/a/b/c", KindRole, "c", "/a/b/", "arn:aws-cn:iam::" + acct + ":role/a/b/c"},
		{"arn:aws:sts::" + acct + ":assumed-role/app-batch/sess", KindRole, "app-batch", "", roleARN},
	}
	for _, c := range cases {
		p, err := ParsePrincipal(c.in)
		if err != nil || p.Kind != c.kind || p.Name != c.name || p.Path != c.path || p.ARN != c.arn {
			t.Errorf("ParsePrincipal(%q) = %+v, %v", c.in, p, err)
		}
	}
	for _, bad := range []string{"", "arn:aws:iam::" + acct + ":root", "arn:aws:iam::" + acct + ":group/x", "arn:aws:s3:::bucket", "[REDACTED]", "arn:aws:iam::" + acct + ":role/"} {
		if _, err := ParsePrincipal(bad); err == nil {
			t.Errorf("ParsePrincipal(%q): want error", bad)
		}
	}
}

func TestGuardRefusals(t *testing.T) {
	g := Guard{Policy: exemptList{"arn:aws:iam::" + acct + ":role/exempt"}, OwnRoleARNs: []string{"arn:aws:iam::" + acct + ":role/warden-fn"}, StackName: "bw-prod"}
	refused := map[string]string{
		"root":    "arn:aws:iam::" + acct + ":root",
		"slr":     "arn:aws:iam::" + acct + ":role/aws-service-role/bedrock.amazonaws.com/AWSServiceRoleForAmazonBedrock",
		"sso":     "arn:aws:iam::" + acct + ":role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_1234",
		"exempt":  "arn:aws:iam::" + acct + ":role/exempt",
		"own":     "arn:aws:iam::" + acct + ":role/warden-fn",
		"stack":   "arn:aws:iam::" + acct + ":role/bw-prod-detector",
		"garbage": "[REDACTED]",
	}
	for name, arn := range refused {
		f := modelFinding(arn)
		if _, r, _ := g.Screen(f); r == "" {
			t.Errorf("%s: %s was not refused", name, arn)
		}
	}
	_, r, advice := g.Screen(modelFinding(refused["sso"]))
	if !strings.Contains(r, "Identity Center") || !strings.Contains(advice, "permission set") {
		t.Errorf("sso refusal lacks advice: %q / %q", r, advice)
	}
	if _, r, _ := g.Screen(modelFinding(roleARN)); r != "" {
		t.Errorf("ordinary role refused: %s", r)
	}
	// An assumed-role ARN hides the path: the state check catches it.
	st := State{Principal: Principal{ARN: roleARN, Kind: KindRole, Name: "app-batch", Path: "/aws-service-role/x/"}}
	if r, _ := g.ScreenState(st); r == "" {
		t.Error("service-linked path from IAM not refused")
	}
	st = State{Principal: Principal{ARN: roleARN, Kind: KindRole, Name: "app-batch", Path: "/"}, Tags: map[string]string{"bedrock-warden:protected": "true"}}
	if r, _ := g.ScreenState(st); r == "" {
		t.Error("protected tag not honoured")
	}
	st.Tags = map[string]string{"team:protected": "true"}
	if r, _ := (Guard{ProtectedTag: "team:protected"}).ScreenState(st); r == "" {
		t.Error("custom protected tag not honoured")
	}
}

func TestPlanQuarantineModelAndMerge(t *testing.T) {
	f := modelFinding(roleARN)
	st := roleState(t)
	other := `{"Version":"2012-10-17","Statement":[{"Sid":"BWQ0000000000000000","Effect":"Deny","Action":"bedrock:*","Resource":"*"}]}`
	st.Inline = []InlinePolicy{{Name: QuarantinePolicyName, Document: other}}
	plan := Planner{}.Plan(f, ActionQuarantine, st, t0)
	if plan.Refused != "" || len(plan.Steps) != 1 {
		t.Fatalf("plan = %+v", plan)
	}
	s := plan.Steps[0]
	if s.Previous == nil || *s.Previous != other || s.Sid != QuarantineSid(f.Fingerprint) {
		t.Fatalf("step = %+v", s)
	}
	d, err := iampolicy.Parse(s.Document)
	if err != nil || len(d.Statement) != 2 || d.Statement[0].Sid != "BWQ0000000000000000" {
		t.Fatalf("merge lost the other quarantine: %s", s.Document)
	}
	q := d.Statement[1]
	for _, a := range []string{"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:StartAsyncInvoke"} {
		if !q.AppliesToAction(a) {
			t.Errorf("quarantine does not deny %s", a)
		}
	}
	for _, r := range []string{
		"arn:aws:bedrock:ap-southeast-2::foundation-model/" + opusBase,
		"arn:aws:bedrock:us-east-1:" + acct + ":inference-profile/us." + opusBase,
		"arn:aws:bedrock:eu-west-1:" + acct + ":inference-profile/global." + opusBase,
	} {
		if !q.AppliesToResource(r) {
			t.Errorf("quarantine does not cover %s", r)
		}
	}
	if q.AppliesToResource("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1") {
		t.Error("quarantine covers another model")
	}
	// Already quarantined: nothing to do.
	st.Inline = []InlinePolicy{{Name: QuarantinePolicyName, Document: s.Document}}
	if again := (Planner{}).Plan(f, ActionQuarantine, st, t0); !again.Empty() || again.Refused != "" {
		t.Errorf("second plan = %+v, want empty", again)
	}
}

func TestPlanQuarantineAllModelsWhenRuleIsNotAboutAModel(t *testing.T) {
	f := modelFinding(roleARN)
	f.Rule = findings.RuleUnauthorizedSourceIP
	plan := Planner{}.Plan(f, ActionQuarantine, roleState(t), t0)
	d, _ := iampolicy.Parse(plan.Steps[0].Document)
	if r := d.Statement[0].Resource; len(r) != 1 || r[0] != "*" {
		t.Errorf("resource = %v, want *", r)
	}
	g := modelFinding(roleARN)
	g.BaseModel, g.Model = "", "arn:aws:bedrock:us-east-1:"+acct+":provisioned-model/abc123"
	plan = Planner{}.Plan(g, ActionQuarantine, roleState(t), t0)
	d, _ = iampolicy.Parse(plan.Steps[0].Document)
	if !d.Statement[0].AppliesToResource(g.Model) || d.Statement[0].AppliesToResource("*") {
		t.Errorf("opaque model ARN: resource = %v", d.Statement[0].Resource)
	}
}

func TestPlanDetach(t *testing.T) {
	f := modelFinding(roleARN)
	st := roleState(t)
	st.Managed = []ManagedPolicy{
		{ARN: "arn:aws:iam::" + acct + ":policy/only", Document: `{"Statement":{"Effect":"Allow","Action":"bedrock:Invoke*","Resource":"*"}}`},
		{ARN: "arn:aws:iam::aws:policy/AdministratorAccess", Document: `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`},
		{ARN: "arn:aws:iam::" + acct + ":policy/titan", Document: `{"Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"arn:aws:bedrock:*::foundation-model/amazon.titan*"}]}`},
		{ARN: "arn:aws:iam::" + acct + ":policy/stream-only", Document: `{"Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModelWithResponseStream","Resource":"*"}]}`},
	}
	inline := "{ \"Statement\": [{\"Effect\":\"Allow\",\"NotResource\":\"arn:aws:bedrock:*::foundation-model/amazon.*\",\"Action\":[\"bedrock:InvokeModel\"]}] }"
	st.Inline = []InlinePolicy{{Name: "inl", Document: inline}, {Name: "deny-only", Document: `{"Statement":[{"Effect":"Deny","Action":"bedrock:*","Resource":"*"}]}`}}
	plan := Planner{}.Plan(f, ActionDetach, st, t0)
	var got []string
	for _, s := range plan.Steps {
		got = append(got, string(s.Kind)+":"+stepTarget(s))
		if s.Kind == StepDeleteInline && s.Document != inline {
			t.Errorf("inline document not saved verbatim: %q", s.Document)
		}
	}
	want := "put-quarantine:" + QuarantinePolicyName + ",detach-managed:arn:aws:iam::" + acct + ":policy/only,delete-inline:inl"
	if strings.Join(got, ",") != want {
		t.Errorf("steps = %v\nwant %s", got, want)
	}
	if !strings.Contains(strings.Join(plan.Notes, "\n"), "AdministratorAccess") {
		t.Errorf("notes do not say the mixed policy was kept: %v", plan.Notes)
	}
	// Without the mixed policy: no quarantine needed.
	st.Managed = append(st.Managed[:1], st.Managed[2:]...)
	plan = Planner{}.Plan(f, ActionDetach, st, t0)
	for _, s := range plan.Steps {
		if s.Kind == StepPutQuarantine {
			t.Errorf("quarantine added although every grant was removable: %+v", plan)
		}
	}
	// Nothing grants it: quarantine instead, and say why.
	plan = Planner{}.Plan(f, ActionDetach, roleState(t), t0)
	if len(plan.Steps) != 1 || plan.Steps[0].Kind != StepPutQuarantine || len(plan.Notes) == 0 {
		t.Errorf("no grant found: plan = %+v", plan)
	}
}

func TestPlanRevokeAndDisable(t *testing.T) {
	f := modelFinding(roleARN)
	plan := Planner{}.Plan(f, ActionRevokeSessions, roleState(t), t0)
	if len(plan.Steps) != 1 || !strings.Contains(plan.Steps[0].Document, `"aws:TokenIssueTime":"2026-11-24T10:00:00Z"`) {
		t.Fatalf("revoke plan = %+v", plan)
	}
	if p := (Planner{}).Plan(f, ActionDisableCredentials, roleState(t), t0); p.Refused == "" {
		t.Error("disable-credentials on a role must be refused")
	}
	u, _ := ParsePrincipal(userARN)
	st := State{Principal: u, Credentials: []Credential{
		{ID: "AKIAEXAMPLE1", Kind: CredAccessKey, Status: StatusActive},
		{ID: "AKIAEXAMPLE2", Kind: CredAccessKey, Status: StatusActive},
		{ID: "ACCA1", Kind: CredServiceSpecific, Service: BedrockServiceName, Status: StatusActive},
		{ID: "ACCA2", Kind: CredServiceSpecific, Service: BedrockServiceName, Status: StatusInactive},
	}}
	g := modelFinding(userARN)
	g.AccessKeyID = "AKIAEXAMPLE2"
	plan = Planner{}.Plan(g, ActionDisableCredentials, st, t0)
	if len(plan.Steps) != 1 || plan.Steps[0].CredentialID != "AKIAEXAMPLE2" || plan.Steps[0].PreviousStatus != StatusActive {
		t.Errorf("access key plan = %+v", plan)
	}
	g.AccessKeyID = "ABSKQmVkcm9ja0FQSUtleS1"
	plan = Planner{}.Plan(g, ActionDisableCredentials, st, t0)
	if len(plan.Steps) != 1 || plan.Steps[0].CredentialID != "ACCA1" || plan.Steps[0].Kind != StepDisableServiceCr {
		t.Errorf("api key plan = %+v", plan)
	}
	for _, key := range []string{"ASIATEMP", "AKIAOTHERUSER", ""} {
		g.AccessKeyID = key
		if p := (Planner{}).Plan(g, ActionDisableCredentials, st, t0); p.Refused == "" {
			t.Errorf("key %q: want refusal, got %+v", key, p)
		}
	}
}

// fakeIAM is an in-memory IAM for applier unit tests.
type fakeIAM struct {
	st      map[string]*State
	failPut bool
}

func (f *fakeIAM) get(p Principal) (*State, error) {
	s, ok := f.st[p.ARN]
	if !ok {
		return nil, ErrNotFound
	}
	return s, nil
}

func (f *fakeIAM) Snapshot(_ context.Context, p Principal, _ SnapshotOptions) (State, error) {
	s, err := f.get(p)
	if err != nil {
		return State{}, err
	}
	c := *s
	c.Managed = append([]ManagedPolicy(nil), s.Managed...)
	c.Inline = append([]InlinePolicy(nil), s.Inline...)
	c.Credentials = append([]Credential(nil), s.Credentials...)
	return c, nil
}
func (f *fakeIAM) AttachManaged(_ context.Context, p Principal, arn string) error {
	s, err := f.get(p)
	if err == nil {
		s.Managed = append(s.Managed, ManagedPolicy{ARN: arn})
	}
	return err
}
func (f *fakeIAM) DetachManaged(_ context.Context, p Principal, arn string) error {
	s, err := f.get(p)
	if err != nil {
		return err
	}
	for i, m := range s.Managed {
		if m.ARN == arn {
			s.Managed = append(s.Managed[:i], s.Managed[i+1:]...)
			return nil
		}
	}
	return ErrNotFound
}
func (f *fakeIAM) PutInline(_ context.Context, p Principal, name, doc string) error {
	if f.failPut {
		return errors.New("AccessDenied")
	}
	s, err := f.get(p)
	if err != nil {
		return err
	}
	for i := range s.Inline {
		if s.Inline[i].Name == name {
			s.Inline[i].Document = doc
			return nil
		}
	}
	s.Inline = append(s.Inline, InlinePolicy{Name: name, Document: doc})
	return nil
}
func (f *fakeIAM) DeleteInline(_ context.Context, p Principal, name string) error {
	s, err := f.get(p)
	if err != nil {
		return err
	}
	for i := range s.Inline {
		if s.Inline[i].Name == name {
			s.Inline = append(s.Inline[:i], s.Inline[i+1:]...)
			return nil
		}
	}
	return ErrNotFound
}
func (f *fakeIAM) SetAccessKeyStatus(_ context.Context, user, id, status string) error {
	return f.setCred(id, status)
}
func (f *fakeIAM) SetServiceCredentialStatus(_ context.Context, user, id, status string) error {
	return f.setCred(id, status)
}
func (f *fakeIAM) setCred(id, status string) error {
	for _, s := range f.st {
		for i := range s.Credentials {
			if s.Credentials[i].ID == id {
				s.Credentials[i].Status = status
				return nil
			}
		}
	}
	return ErrNotFound
}

func TestApplierMergesWithQuarantineAddedAfterPlanningAndUndoKeepsIt(t *testing.T) {
	st := roleState(t)
	fake := &fakeIAM{st: map[string]*State{roleARN: &st}}
	a := Applier{IAM: fake, Sleep: func(time.Duration) {}}
	f := modelFinding(roleARN)
	plan := Planner{}.Plan(f, ActionQuarantine, st, t0)
	// Another quarantine lands between planning and applying.
	other := `{"Version":"2012-10-17","Statement":[{"Sid":"BWQffffffffffffffff","Effect":"Deny","Action":"bedrock:*","Resource":"*"}]}`
	st.Inline = []InlinePolicy{{Name: QuarantinePolicyName, Document: other}}
	out, err := a.Apply(context.Background(), plan)
	if err != nil || !out.Verified {
		t.Fatalf("apply: %+v %v", out, err)
	}
	d, _ := iampolicy.Parse(st.Inline[0].Document)
	if len(d.Statement) != 2 {
		t.Fatalf("concurrent quarantine lost: %s", st.Inline[0].Document)
	}
	out, err = a.Undo(context.Background(), plan.Principal, plan.Steps)
	if err != nil || !out.Verified {
		t.Fatalf("undo: %+v %v", out, err)
	}
	d, _ = iampolicy.Parse(st.Inline[0].Document)
	if len(d.Statement) != 1 || d.Statement[0].Sid != "BWQffffffffffffffff" {
		t.Fatalf("undo removed someone else's statement: %s", st.Inline[0].Document)
	}
}

func TestApplierReportsFailureAndWhatItSaw(t *testing.T) {
	st := roleState(t)
	st.Managed = []ManagedPolicy{{ARN: "arn:aws:iam::" + acct + ":policy/only", Document: `{"Statement":{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}}`}}
	fake := &fakeIAM{st: map[string]*State{roleARN: &st}, failPut: true}
	plan := Plan{Principal: st.Principal, Steps: []Step{
		{Kind: StepDetachManaged, PolicyARN: "arn:aws:iam::" + acct + ":policy/only"},
		{Kind: StepPutRevoke, PolicyName: RevokePolicyName, Document: `{}`},
		{Kind: StepDetachManaged, PolicyARN: "never-reached"},
	}}
	out, err := Applier{IAM: fake, Sleep: func(time.Duration) {}}.Apply(context.Background(), plan)
	if err == nil || !out.Failed() || out.Verified {
		t.Fatalf("want failure: %+v %v", out, err)
	}
	if len(out.Steps) != 2 || out.Steps[0].Error != "" || out.Steps[1].Error == "" {
		t.Errorf("steps = %+v: stop at the first failure", out.Steps)
	}
	if len(out.Observed) != 1 || !strings.Contains(out.Observed[0], "detached") {
		t.Errorf("observed = %v", out.Observed)
	}
}

type stubModeStore struct {
	v     string
	found bool
	reads int
}

func (s *stubModeStore) GetMode(context.Context) (string, bool, error) {
	s.reads++
	return s.v, s.found, nil
}
func (s *stubModeStore) SetMode(_ context.Context, m Mode) error {
	s.v, s.found = string(m), true
	return nil
}

func TestModeCache(t *testing.T) {
	now := t0
	store := &stubModeStore{}
	c := &ModeCache{Store: store, Now: func() time.Time { return now }, TTL: time.Hour}
	ctx := context.Background()
	if m, _ := c.Mode(ctx); m != ModeDryRun {
		t.Errorf("missing parameter: %s, want dry-run", m)
	}
	store.v, store.found = "enforce", true
	now = now.Add(29 * time.Second)
	if m, _ := c.Mode(ctx); m != ModeDryRun {
		t.Errorf("inside window: %s", m)
	}
	now = now.Add(2 * time.Second)
	if m, _ := c.Mode(ctx); m != ModeEnforce {
		t.Errorf("TTL above 30 s must be capped: %s", m)
	}
	store.v = "ENFORCE!"
	now = now.Add(31 * time.Second)
	if m, _ := c.Mode(ctx); m != ModeDryRun {
		t.Errorf("unknown value must mean dry-run, got %s", m)
	}
	if store.reads != 3 {
		t.Errorf("reads = %d, want 3", store.reads)
	}
}

func TestQuarantineSid(t *testing.T) {
	fp := findings.Fingerprint("r", "p", "m", "us-east-1")
	if got := QuarantineSid(fp); got != "BWQ"+fp[:16] {
		t.Errorf("QuarantineSid = %s", got)
	}
	odd := QuarantineSid("not hex!")
	if len(odd) != 19 || strings.Trim(odd[3:], "0123456789abcdef") != "" {
		t.Errorf("non-hex fingerprint gave %q", odd)
	}
}

func TestRecordIDs(t *testing.T) {
	id := NewID(t0.Add(123 * time.Nanosecond))
	got, err := IDTime(id)
	if err != nil || !got.Equal(t0.Add(123*time.Nanosecond)) {
		t.Errorf("IDTime(%s) = %v %v", id, got, err)
	}
	if _, err := IDTime("nonsense"); err == nil {
		t.Error("bad id accepted")
	}
}

func TestAWSBedrockManaged(t *testing.T) {
	for arn, want := range map[string]bool{
		"arn:aws:iam::aws:policy/AmazonBedrockFullAccess":          true,
		"arn:aws:iam::aws:policy/AmazonBedrockReadOnly":            true,
		"arn:aws-us-gov:iam::aws:policy/AmazonBedrockFullAccess":   true,
		"arn:aws:iam::aws:policy/AdministratorAccess":              false,
		"arn:aws:iam::123456789012:policy/AmazonBedrockFullAccess": false, // a customer policy of that name is judged by its statements
		"arn:aws:iam::aws:policy/service-role/AmazonBedrockX":      false,
	} {
		if got := awsBedrockManaged(arn); got != want {
			t.Errorf("awsBedrockManaged(%q) = %v, want %v", arn, got, want)
		}
	}
}
