package usage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/usage"
	"github.com/bedrock-warden/warden/pkg/usage/memstore"
)

const (
	account = "123456789012"
	teamA   = "arn:aws:iam::" + account + ":role/apps/team-a-app"
	haiku   = "anthropic.claude-3-5-haiku-20241022-v1:0"
)

// record is a model invocation log record in the shape Bedrock writes
// (see testdata/README.md), bodies included.
func record(requestID string, at time.Time, identity, modelID string, in, out int64) string {
	return fmt.Sprintf(`{"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":%q,"accountId":%q,`+
		`"identity":{"arn":%q},"region":"us-east-1","requestId":%q,"operation":"Converse","modelId":%q,`+
		`"input":{"inputContentType":"application/json","inputBodyJson":{"messages":[{"role":"user","content":[{"text":"SECRET-PROMPT"}]}]},"inputTokenCount":%d,"cacheReadInputTokenCount":0,"cacheWriteInputTokenCount":0},`+
		`"output":{"outputContentType":"application/json","outputBodyJson":{"output":{"message":{"role":"assistant","content":[{"text":"SECRET-RESPONSE"}]}},"stopReason":"end_turn"},"outputTokenCount":%d}}`,
		at.UTC().Format(time.RFC3339), account, identity, requestID, modelID, in, out)
}

func session(role string) string {
	return "arn:aws:sts::" + account + ":assumed-role/" + role + "/s-1"
}

// notifier records findings; fail makes the next Notify fail.
type notifier struct {
	mu   sync.Mutex
	got  []findings.Finding
	fail error
}

func (n *notifier) Notify(_ context.Context, fs []findings.Finding) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fail != nil {
		err := n.fail
		n.fail = nil
		return err
	}
	n.got = append(n.got, fs...)
	return nil
}

func (n *notifier) rules() map[string]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]int{}
	for _, f := range n.got {
		out[f.Rule+" "+f.Principal]++
	}
	return out
}

// directory is IAM: roles by name with their path and tags.
type directory struct {
	roles map[string]usage.Identity
	users map[string]usage.Identity
	calls int
}

func (d *directory) Lookup(_ context.Context, kind, name string) (usage.Identity, error) {
	d.calls++
	m := d.roles
	if kind == usage.KindUser {
		m = d.users
	}
	id, ok := m[name]
	if !ok {
		return usage.Identity{}, fmt.Errorf("%s %s: %w", kind, name, usage.ErrNoPrincipal)
	}
	return id, nil
}

type deadLetters struct{ got []usage.Rejected }

func (d *deadLetters) Send(_ context.Context, rs []usage.Rejected) error {
	d.got = append(d.got, rs...)
	return nil
}

type rig struct {
	m     *usage.Meter
	store *memstore.Store
	note  *notifier
	dead  *deadLetters
	dir   *directory
	logs  *bytes.Buffer
	emf   *bytes.Buffer
	now   time.Time
}

func newRig(t *testing.T, policyYAML string) *rig {
	t.Helper()
	p, err := policy.Load("test", []byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{store: memstore.New(), note: &notifier{}, dead: &deadLetters{}, logs: &bytes.Buffer{}, emf: &bytes.Buffer{},
		now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		dir: &directory{roles: map[string]usage.Identity{
			"team-a-app": {ARN: teamA, Tags: map[string]string{"team": "a"}},
			"team-a-etl": {ARN: "arn:aws:iam::" + account + ":role/team-a-etl", Tags: map[string]string{"team": "a"}},
			"other":      {ARN: "arn:aws:iam::" + account + ":role/other", Tags: map[string]string{"team": "b"}},
		}, users: map[string]usage.Identity{}}}
	r.m = &usage.Meter{Policy: p, Store: r.store, Marks: r.store, Notifier: r.note, Directory: r.dir, DeadLetters: r.dead,
		Metrics: r.emf, Now: func() time.Time { return r.now }, Log: slog.New(slog.NewJSONHandler(r.logs, nil))}
	return r
}

func (r *rig) handle(t *testing.T, msgs ...string) usage.Result {
	t.Helper()
	b := usage.Batch{LogGroup: "/aws/bedrock/invocations", LogStream: "aws/bedrock/modelinvocations"}
	for i, m := range msgs {
		b.Events = append(b.Events, usage.Event{ID: fmt.Sprint("ev", i), Time: r.now, Message: m})
	}
	res, err := r.m.Handle(context.Background(), b)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	return res
}

const teamLimit = `
limits:
  - name: team-a-claude
    principals: ["arn:aws:iam::*:role/apps/team-a-*"]
    models: ["anthropic.claude-*"]
    period: month
    maxTokens: 10000
    warnAt: 0.8
    action: block
`

// A team crossing 80 % then 100 % gets exactly one warning and one
// exceeded finding, whatever further calls and redeliveries follow.
func TestMeterWarnsOnceThenExceedsOnce(t *testing.T) {
	r := newRig(t, teamLimit)
	at := r.now.Add(-time.Minute)
	r.handle(t, record("r1", at, session("team-a-app"), "us."+haiku, 3000, 1000)) // 40 %
	if len(r.note.got) != 0 {
		t.Fatalf("findings at 40 %%: %v", r.note.got)
	}
	r.handle(t, record("r2", at, session("team-a-app"), haiku, 3000, 1000)) // 80 %
	r.handle(t, record("r3", at, session("team-a-app"), haiku, 500, 0))     // 85 %
	r.handle(t, record("r4", at, session("team-a-app"), haiku, 1500, 0))    // 100 %
	r.handle(t, record("r5", at, session("team-a-app"), haiku, 100, 100))   // 102 %
	// The same batch again, and a model the limit does not count.
	r.handle(t, record("r5", at, session("team-a-app"), haiku, 100, 100))
	r.handle(t, record("r6", at, session("team-a-app"), "amazon.nova-pro-v1:0", 99999, 0))
	got := r.note.rules()
	want := map[string]int{findings.RuleLimitWarning + " " + teamA: 1, findings.RuleLimitExceeded + " " + teamA: 1}
	if len(got) != 2 || got[findings.RuleLimitWarning+" "+teamA] != 1 || got[findings.RuleLimitExceeded+" "+teamA] != 1 {
		t.Fatalf("findings = %v, want %v", got, want)
	}
	ex := r.note.got[1]
	if ex.Rule != findings.RuleLimitExceeded || ex.Principal != teamA || ex.PrincipalType != "AssumedRole" || ex.Account != account || ex.Region != "us-east-1" ||
		ex.Details[findings.DetailLimit] != "team-a-claude" || ex.Details[findings.DetailPeriodStart] != "2026-11-01T00:00:00Z" ||
		ex.Details[findings.DetailPeriodEnd] != "2026-12-01T00:00:00Z" || ex.Details["used.tokens"] != "10000" || ex.Details["limit.maxTokens"] != "10000" ||
		ex.Details["action"] != "block" || !strings.HasPrefix(ex.Details["topModels"], haiku) || ex.BaseModel != haiku || ex.Severity != findings.High {
		t.Errorf("exceeded finding = %+v", ex)
	}
	if ex.Title != "role/apps/team-a-app at 100 % of limit team-a-claude (10,000 of 10,000 tokens this month, UTC)" {
		t.Errorf("title = %q", ex.Title)
	}
	if ex.Fingerprint != findings.Fingerprint(findings.RuleLimitExceeded, teamA, "limit:team-a-claude", "month@2026-11-01T00:00:00Z") {
		t.Errorf("fingerprint does not name rule, principal, limit and period")
	}
	// The role's path came from IAM, once per role per batch.
	if r.dir.calls != 7 {
		t.Errorf("directory calls = %d, want one per batch (the cache is the adapter's)", r.dir.calls)
	}
	for _, buf := range []*bytes.Buffer{r.logs, r.emf} {
		if strings.Contains(buf.String(), "SECRET") {
			t.Fatalf("a body reached the logs or metrics:\n%s", buf)
		}
	}
	js, _ := json.Marshal(r.note.got)
	if strings.Contains(string(js), "SECRET") {
		t.Fatal("a body reached a finding")
	}
}

// A batch delivered twice counts once: every key's update carries the
// batch's digest; each key is written once per batch.
func TestMeterReplayCountsOnce(t *testing.T) {
	r := newRig(t, teamLimit)
	at := r.now.Add(-time.Hour)
	msgs := []string{
		record("a", at, session("team-a-app"), haiku, 100, 10),
		record("b", at, session("team-a-app"), haiku, 200, 20),
		record("a", at, session("team-a-app"), haiku, 100, 10), // the same request twice in a batch
		record("c", at, session("other"), "amazon.nova-lite-v1:0", 5, 5),
	}
	first := r.handle(t, msgs...)
	again := r.handle(t, msgs...)
	if first.Records != 3 || first.Repeated != 1 || first.Keys != 2 || first.Replayed != 0 {
		t.Errorf("first delivery = %+v", first)
	}
	if again.Replayed != again.Keys || again.Keys != 2 {
		t.Errorf("second delivery = %+v: every update must be a replay", again)
	}
	if r.store.Adds != 4 {
		t.Errorf("store writes = %d, want one per key per batch (2 keys × 2 batches)", r.store.Adds)
	}
	u, _ := r.store.Usage(context.Background(), policy.PeriodMonth, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), usage.PrincipalSubject(teamA))
	if c := u[haiku]; c.Invocations != 2 || c.Tokens() != 330 {
		t.Errorf("counted %+v, want 2 calls and 330 tokens", c)
	}
}

// A batch that straddles a period boundary counts each record in its own
// period: the late record of the day before does not count today.
func TestMeterBatchStraddlingMidnightCountsEachRecordInItsPeriod(t *testing.T) {
	r := newRig(t, `
limits:
  - {name: daily, principals: ["*"], period: day, maxTokens: 1000}
`)
	r.now = time.Date(2026, 12, 1, 0, 0, 30, 0, time.UTC)
	before := time.Date(2026, 11, 30, 23, 59, 58, 0, time.UTC)
	after := time.Date(2026, 12, 1, 0, 0, 2, 0, time.UTC)
	res := r.handle(t,
		record("late", before, session("team-a-app"), haiku, 900, 0),
		record("new", after, session("team-a-app"), haiku, 50, 0))
	if res.Keys != 4 { // (month, day) × (November, December)
		t.Errorf("keys = %d, want 4", res.Keys)
	}
	ctx := context.Background()
	nov, _ := r.store.Usage(ctx, policy.PeriodDay, before.Truncate(24*time.Hour), usage.PrincipalSubject(teamA))
	dec, _ := r.store.Usage(ctx, policy.PeriodDay, after.Truncate(24*time.Hour), usage.PrincipalSubject(teamA))
	if nov[haiku].Tokens() != 900 || dec[haiku].Tokens() != 50 {
		t.Errorf("30 Nov = %+v, 1 Dec = %+v", nov[haiku], dec[haiku])
	}
	novM, _ := r.store.Usage(ctx, policy.PeriodMonth, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), usage.PrincipalSubject(teamA))
	if novM[haiku].Tokens() != 900 {
		t.Errorf("November = %+v", novM[haiku])
	}
	// 30 November reached its warning share; the finding names that day.
	if len(r.note.got) != 1 || r.note.got[0].Rule != findings.RuleLimitWarning || r.note.got[0].Details[findings.DetailPeriodStart] != "2026-11-30T00:00:00Z" {
		t.Errorf("findings = %+v", r.note.got)
	}
}

// A per-team limit is shared: two roles of the team add up, and each
// caller of the team gets its own finding (and block) once.
func TestMeterTeamLimitIsShared(t *testing.T) {
	r := newRig(t, `
limits:
  - {name: team-a, tags: {team: a}, period: week, maxUSD: 1, per: team, action: block}
`)
	at := r.now.Add(-time.Minute)
	// Claude 3.5 Haiku: $0.0008 in, $0.004 out per 1,000 tokens.
	r.handle(t, record("1", at, session("team-a-app"), haiku, 250_000, 0)) // $0.20
	r.handle(t, record("2", at, session("team-a-etl"), haiku, 0, 100_000)) // $0.40 → $0.60
	r.handle(t, record("3", at, session("other"), haiku, 0, 1_000_000))    // team b: not counted
	if len(r.note.got) != 0 {
		t.Fatalf("findings under 80 %%: %+v", r.note.got)
	}
	r.handle(t, record("4", at, session("team-a-etl"), haiku, 0, 100_000)) // $1.00
	r.handle(t, record("5", at, session("team-a-app"), haiku, 1, 0))
	got := r.note.rules()
	etl := "arn:aws:iam::" + account + ":role/team-a-etl"
	if got[findings.RuleLimitExceeded+" "+etl] != 1 || got[findings.RuleLimitExceeded+" "+teamA] != 1 || len(got) != 2 {
		t.Errorf("findings = %v", got)
	}
	if f := r.note.got[0]; f.Details["team"] != "team-a" || f.Details["per"] != "team" || !strings.HasPrefix(f.Title, "team of limit team-a at 100 % ($1.00 of $1.00 this week, UTC; last call by role/team-a-etl") {
		t.Errorf("team finding = %+v", f)
	}
	// The dashboard metric counts the team's dollars under the limit.
	if !strings.Contains(r.emf.String(), `"Limit":"team-a"`) || !strings.Contains(r.emf.String(), `"LimitUSD"`) {
		t.Errorf("no LimitUSD metric for the limit:\n%s", r.emf)
	}
}

// Unusable events are counted and kept without their content; the rest
// of the batch is counted.
func TestMeterRejectsUnusableEventsWithoutTheirContent(t *testing.T) {
	r := newRig(t, teamLimit)
	at := r.now.Add(-time.Minute)
	res := r.handle(t,
		"SECRET-PROMPT not a record",
		strings.Replace(record("x", at, session("team-a-app"), haiku, 1, 1), `"outputTokenCount":1`, `"outputTokenCount":"SECRET-PROMPT"`, 1),
		record("y", at, "SECRET-PROMPT-not-an-arn", haiku, 1, 1),
		record("ok", at, session("team-a-app"), haiku, 1, 1))
	if res.Records != 1 || res.Rejected != 3 || len(r.dead.got) != 3 {
		t.Fatalf("result %+v, dead letters %+v", res, r.dead.got)
	}
	if d := r.dead.got[2]; d.Reason != usage.ReasonNoPrincipal || d.RequestID != "y" || d.EventID != "ev2" || d.LogGroup != "/aws/bedrock/invocations" {
		t.Errorf("dead letter = %+v", d)
	}
	js, _ := json.Marshal(r.dead.got)
	for _, out := range []string{string(js), r.logs.String(), r.emf.String()} {
		if strings.Contains(out, "SECRET") {
			t.Fatalf("content of a rejected event was kept:\n%s", out)
		}
	}
	if !strings.Contains(r.emf.String(), `"UsageRecordsRejected"`) || !strings.Contains(r.emf.String(), `"Reason":"not-json"`) {
		t.Errorf("no rejection metric:\n%s", r.emf)
	}
}

// When the alert cannot go out, the batch fails (Lambda retries it), the
// counters are not added twice, and the retry sends the finding.
func TestMeterRetryAfterNotifyFailureAlertsWithoutCountingTwice(t *testing.T) {
	r := newRig(t, teamLimit)
	r.note.fail = errors.New("sns: throttled")
	b := usage.Batch{Events: []usage.Event{{ID: "1", Message: record("big", r.now, session("team-a-app"), haiku, 10_000, 0)}}}
	if _, err := r.m.Handle(context.Background(), b); err == nil {
		t.Fatal("a failed notification must fail the batch")
	}
	res, err := r.m.Handle(context.Background(), b)
	if err != nil || res.Replayed != res.Keys || len(r.note.got) != 1 || r.note.got[0].Rule != findings.RuleLimitExceeded {
		t.Fatalf("retry: %+v %v, findings %+v", res, err, r.note.got)
	}
	u, _ := r.store.Usage(context.Background(), policy.PeriodMonth, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), usage.PrincipalSubject(teamA))
	if u[haiku].Tokens() != 10_000 {
		t.Errorf("counted %d tokens, want 10000", u[haiku].Tokens())
	}
}

// A finding another invocation is sending brings the batch back
// (ErrBusy); after the lease it is taken over.
func TestMeterBusyMarkRetries(t *testing.T) {
	r := newRig(t, teamLimit)
	mark := usage.Mark{Rule: findings.RuleLimitExceeded, Limit: "team-a-claude", Principal: teamA, Period: "month", Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	if st, _ := r.store.Begin(context.Background(), mark, r.now, time.Minute, r.now); st != usage.MarkAcquired {
		t.Fatal("setup")
	}
	b := usage.Batch{Events: []usage.Event{{ID: "1", Message: record("big", r.now, session("team-a-app"), haiku, 10_000, 0)}}}
	if _, err := r.m.Handle(context.Background(), b); !errors.Is(err, usage.ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	r.now = r.now.Add(usage.DefaultMarkLease + time.Second)
	if _, err := r.m.Handle(context.Background(), b); err != nil || len(r.note.got) != 1 {
		t.Fatalf("after the lease: %v, findings %d", err, len(r.note.got))
	}
}

// Usage is priced per model with the policy's table, cache tokens
// included; a model without a price is counted in tokens and flagged.
func TestMeterPricesTokensAndFlagsUnpriced(t *testing.T) {
	r := newRig(t, `
limits:
  - {name: usd, period: month, maxUSD: 1000}
prices:
  "amazon.nova-lite-*": {input: 0.00006, output: 0.00024, cacheRead: 0.000006, cacheWrite: 0.00006}
`)
	msg := strings.Replace(record("n", r.now, session("team-a-app"), "us.amazon.nova-lite-v1:0", 4, 38),
		`"cacheReadInputTokenCount":0,"cacheWriteInputTokenCount":0`, `"cacheReadInputTokenCount":2000,"cacheWriteInputTokenCount":1000`, 1)
	r.handle(t, msg, record("u", r.now, session("team-a-app"), "acme.unknown-model-v1", 10, 10))
	u, _ := r.store.Usage(context.Background(), policy.PeriodMonth, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), usage.PrincipalSubject(teamA))
	want := (4*0.00006 + 38*0.00024 + 2000*0.000006 + 1000*0.00006) / 1000
	if c := u["amazon.nova-lite-v1:0"]; c.Tokens() != 3042 || c.USD < want*0.999999 || c.USD > want*1.000001 {
		t.Errorf("nova lite = %+v, want $%v", c, want)
	}
	if c := u["acme.unknown-model-v1"]; c.UnpricedTokens != 20 || c.USD != 0 {
		t.Errorf("unpriced = %+v", c)
	}
}

// Limit rules can be switched off; an exceeded limit then warns only when
// the warning is on.
func TestMeterObeysRuleSwitches(t *testing.T) {
	r := newRig(t, teamLimit+"rules:\n  limit-exceeded: {enabled: false}\n")
	r.handle(t, record("x", r.now, session("team-a-app"), haiku, 20_000, 0))
	if got := r.note.rules(); len(got) != 1 || got[findings.RuleLimitWarning+" "+teamA] != 1 {
		t.Errorf("findings = %v", got)
	}
	r2 := newRig(t, teamLimit+"rules:\n  limit-exceeded: {enabled: false}\n  limit-warning: {enabled: false}\n")
	r2.handle(t, record("x", r2.now, session("team-a-app"), haiku, 20_000, 0))
	if len(r2.note.got) != 0 {
		t.Errorf("findings with both rules off: %v", r2.note.got)
	}
}

// A deleted role keeps the ARN as logged; an IAM outage brings the batch
// back rather than counting under the wrong name.
func TestMeterDirectoryErrors(t *testing.T) {
	r := newRig(t, teamLimit)
	r.handle(t, record("g", r.now, session("gone"), haiku, 1, 1))
	if es, _ := r.store.List(context.Background(), policy.PeriodMonth, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)); len(es) != 1 ||
		es[0].Subject != usage.PrincipalSubject("arn:aws:iam::"+account+":role/gone") {
		t.Errorf("entries = %+v", es)
	}
	r.m.Directory = failingDirectory{}
	b := usage.Batch{Events: []usage.Event{{ID: "1", Message: record("z", r.now, session("team-a-app"), haiku, 1, 1)}}}
	if _, err := r.m.Handle(context.Background(), b); err == nil {
		t.Error("an IAM outage must fail the batch")
	}
}

type failingDirectory struct{}

func (failingDirectory) Lookup(context.Context, string, string) (usage.Identity, error) {
	return usage.Identity{}, errors.New("Throttling")
}

func TestBlockFor(t *testing.T) {
	p, err := policy.Load("t", []byte(teamLimit+"  - {name: soft, period: day, maxUSD: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := findings.Finding{Rule: findings.RuleLimitExceeded, Details: map[string]string{findings.DetailLimit: "team-a-claude",
		findings.DetailPeriod: "month", findings.DetailPeriodStart: "2026-11-01T00:00:00Z"}}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	models, until, ok, err := usage.BlockFor(p, f, now)
	if err != nil || !ok || len(models) != 1 || models[0] != "anthropic.claude-*" || !until.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("BlockFor = %v %v %v %v", models, until, ok, err)
	}
	for name, edit := range map[string]func(f *findings.Finding){
		"unknown limit": func(f *findings.Finding) { f.Details[findings.DetailLimit] = "nope" },
		"other period":  func(f *findings.Finding) { f.Details[findings.DetailPeriod] = "day" },
		"unaligned":     func(f *findings.Finding) { f.Details[findings.DetailPeriodStart] = "2026-11-02T00:00:00Z" },
		"over":          func(f *findings.Finding) { f.Details[findings.DetailPeriodStart] = "2026-10-01T00:00:00Z" },
		"not a limit":   func(f *findings.Finding) { f.Rule = findings.RuleLimitWarning },
	} {
		g := f
		g.Details = map[string]string{}
		for k, v := range f.Details {
			g.Details[k] = v
		}
		edit(&g)
		if _, _, _, err := usage.BlockFor(p, g, now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	f.Details[findings.DetailLimit], f.Details[findings.DetailPeriod], f.Details[findings.DetailPeriodStart] = "soft", "day", "2026-11-24T00:00:00Z"
	if _, _, ok, err := usage.BlockFor(p, f, now); ok || err != nil {
		t.Errorf("alert-only limit: ok %v err %v", ok, err)
	}
}
