package rules

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/internal/samples"
	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// sample normalises a public CloudTrail record from testdata.
func sample(t *testing.T, name string) normalize.Event {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samples.Dir(), name))
	if err != nil {
		t.Fatal(err)
	}
	var r decode.Record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if ts, err := time.Parse(time.RFC3339Nano, r.EventTime); err == nil {
		r.Time = ts.UTC()
	}
	return normalize.Normalize(&r, decode.Origin{Source: name})
}

// TestPublicLLMjackingRecords judges the real records of the Permiso and
// Sysdig write-ups under the default policy.
func TestPublicLLMjackingRecords(t *testing.T) {
	eng := New(policy.Default())
	for _, c := range []struct {
		file string
		want []string
	}{
		// Recon with a long-term key (AKIA…) by a stolen IAM user.
		{"cloudtrail_getfoundationmodelavailability_iamuser_permiso.json", []string{findings.RuleModelRecon}},
		// The refused invocation: only the refusal.
		{"cloudtrail_invokemodel_accessdenied_iamuser_permiso.json", []string{findings.RuleDeniedInvocation}},
		// The validation probe of a legacy (denied) model: the probe and the
		// model.
		{"cloudtrail_invokemodel_validationexception_iamuser_sysdig.json", []string{findings.RuleDeniedInvocation, findings.RuleUnauthorizedModel}},
	} {
		ev := sample(t, c.file)
		if got := rulesOf(eng.Evaluate(&ev, nil)); !slices.Equal(got, c.want) {
			t.Errorf("%s: rules %v, want %v", c.file, got, c.want)
		}
	}
}

func reconEvent(name, arn, key string, at time.Time) normalize.Event {
	return normalize.Event{ID: name + "-" + at.Format("150405"), Name: name, Source: normalize.SourceBedrock, Account: "123456789012",
		Category: normalize.CategoryRecon, Region: "us-east-1", Time: at,
		Principal: normalize.Principal{Type: normalize.PrincipalIAMUser, ARN: arn, AccessKeyID: key, LongTermKey: strings.HasPrefix(key, "AKIA")}}
}

func TestModelRecon(t *testing.T) {
	eng := New(testPolicy())
	t0 := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		mutate func(*normalize.Event)
		want   bool
	}{
		{"allowed role with a session key", func(e *normalize.Event) {
			e.Principal = normalize.Principal{Type: normalize.PrincipalAssumedRole, ARN: "arn:aws:iam::123456789012:role/app-batch", AccessKeyID: "ASIAEXAMPLE"}
		}, false},
		{"allowed principal with a long-term key", func(e *normalize.Event) {
			e.Principal.ARN = "arn:aws:iam::123456789012:role/app-batch"
		}, true},
		{"principal outside allow", func(e *normalize.Event) {
			e.Principal = normalize.Principal{Type: normalize.PrincipalAssumedRole, ARN: "arn:aws:iam::123456789012:role/dev", AccessKeyID: "ASIAEXAMPLE"}
		}, true},
		{"api key of an allowed principal", func(e *normalize.Event) {
			e.Principal = normalize.Principal{Type: normalize.PrincipalAssumedRole, ARN: "arn:aws:iam::123456789012:role/app-batch", AccessKeyID: "ASIAEXAMPLE", BearerToken: true}
		}, true},
		{"refused recon still counts", func(e *normalize.Event) {
			e.Outcome = normalize.Outcome{ErrorCode: "AccessDeniedException", Denied: true}
		}, true},
		{"exempt principal", func(e *normalize.Event) {
			e.Principal.ARN = "arn:aws:iam::123456789012:role/BreakGlassAdmin"
		}, false},
		{"AWS service", func(e *normalize.Event) {
			e.Principal = normalize.Principal{Type: normalize.PrincipalAWSService, ARN: "bedrock.amazonaws.com"}
		}, false},
		{"ListGuardrails is not recon", func(e *normalize.Event) {
			e.Name, e.Category = "ListGuardrails", normalize.CategoryOther
		}, false},
	}
	for _, c := range cases {
		ev := reconEvent("ListFoundationModels", "arn:aws:iam::123456789012:user/ci", "AKIAEXAMPLE", t0)
		c.mutate(&ev)
		fs := eng.Evaluate(&ev, nil)
		if got := len(fs) == 1 && fs[0].Rule == findings.RuleModelRecon; got != c.want || (!c.want && len(fs) != 0) {
			t.Errorf("%s: findings %v, want model-recon %v", c.name, rulesOf(fs), c.want)
		}
		if c.want && fs[0].Reason == "" {
			t.Errorf("%s: no reason", c.name)
		}
	}
	// One incident per principal: other calls, models and regions fold in.
	a := reconEvent("ListFoundationModels", "arn:aws:iam::123456789012:user/ci", "AKIAEXAMPLE", t0)
	b := reconEvent("GetFoundationModelAvailability", "arn:aws:iam::123456789012:user/ci", "AKIAEXAMPLE", t0.Add(time.Minute))
	b.Region = "eu-west-3"
	b.Model = normalize.ParseModelID("anthropic.claude-3-opus-20240229-v1:0")
	fa, fb := eng.Evaluate(&a, nil)[0], eng.Evaluate(&b, nil)[0]
	if fa.Fingerprint != fb.Fingerprint || fa.Fingerprint != findings.Fingerprint(findings.RuleModelRecon, a.Principal.ARN, "", "") {
		t.Errorf("model-recon incidents differ: %s %s", fa.Fingerprint, fb.Fingerprint)
	}
	c := reconEvent("ListFoundationModels", "arn:aws:iam::123456789012:user/other", "AKIAOTHER", t0)
	if fc := eng.Evaluate(&c, nil)[0]; fc.Fingerprint == fa.Fingerprint {
		t.Error("two principals share a model-recon incident")
	}
}

func ctrl(name string) normalize.Event {
	return normalize.Event{ID: "c1", Name: name, Source: normalize.SourceBedrock, Region: "us-west-2", Account: "123456789012",
		Category:  normalize.CategoryControlPlane,
		Principal: normalize.Principal{Type: normalize.PrincipalAssumedRole, ARN: "arn:aws:iam::123456789012:role/PlatformAdmin"}}
}

// TestEveryListedChangeFires: every eventName of every control-plane list
// raises its rule when it succeeds and denied-change when refused.
func TestEveryListedChangeFires(t *testing.T) {
	eng := New(testPolicy())
	for rule, names := range controlRules {
		if len(EventsOf(rule)) != len(names) {
			t.Errorf("EventsOf(%s) is not its list", rule)
		}
		for _, n := range names {
			ev := ctrl(n)
			if normalize.Classify(normalize.SourceBedrock, n) != normalize.CategoryControlPlane {
				t.Errorf("%s (%s) does not classify as control-plane", n, rule)
			}
			if got := rulesOf(eng.Evaluate(&ev, nil)); !slices.Equal(got, []string{rule}) {
				t.Errorf("%s: rules %v, want %s", n, got, rule)
			}
			ev.Outcome = normalize.Outcome{ErrorCode: "AccessDenied", Denied: true}
			if got := rulesOf(eng.Evaluate(&ev, nil)); !slices.Equal(got, []string{findings.RuleDeniedChange}) {
				t.Errorf("%s refused: rules %v, want denied-change", n, got)
			}
		}
	}
	// Unwatched calls: nothing, refused or not.
	for _, n := range []string{"ListGuardrails", "TagResource", "StartIngestionJob"} {
		ev := ctrl(n)
		ev.Category = normalize.Classify(normalize.SourceBedrock, n)
		ev.Outcome = normalize.Outcome{ErrorCode: "AccessDenied", Denied: true}
		if fs := eng.Evaluate(&ev, nil); len(fs) != 0 {
			t.Errorf("%s: rules %v", n, rulesOf(fs))
		}
	}
	// Refusals of one call fold into one incident.
	a, b := ctrl("DeleteGuardrail"), ctrl("DeleteGuardrail")
	a.Outcome = normalize.Outcome{ErrorCode: "AccessDeniedException", Denied: true}
	b.Outcome, b.ID = a.Outcome, "c2"
	if fa, fb := eng.Evaluate(&a, nil)[0], eng.Evaluate(&b, nil)[0]; fa.Fingerprint != fb.Fingerprint {
		t.Error("two refusals of one call are two incidents")
	}
}

func TestAPIKeyOnControlPlane(t *testing.T) {
	eng := New(testPolicy())
	ev := ctrl("DeleteCustomModel") // watched by no rule
	ev.Principal.BearerToken = true
	if got := rulesOf(eng.Evaluate(&ev, nil)); !slices.Equal(got, []string{findings.RuleAPIKeyUsed}) {
		t.Errorf("DeleteCustomModel with a bearer token: %v", got)
	}
	ev = ctrl("DeleteGuardrail")
	ev.Principal.BearerToken = true
	if got := rulesOf(eng.Evaluate(&ev, nil)); !slices.Equal(got, []string{findings.RuleGuardrailChanged, findings.RuleAPIKeyUsed}) {
		t.Errorf("DeleteGuardrail with a bearer token: %v", got)
	}
	ev.Principal.ARN = "arn:aws:iam::123456789012:role/BreakGlassOps"
	if got := rulesOf(eng.Evaluate(&ev, nil)); !slices.Equal(got, []string{findings.RuleGuardrailChanged}) {
		t.Errorf("exempt principal with a bearer token: %v", got)
	}
	p := testPolicy()
	p.APIKeys.Allow = true
	ev = ctrl("DeleteCustomModel")
	ev.Principal.BearerToken = true
	if fs := New(p).Evaluate(&ev, nil); len(fs) != 0 {
		t.Errorf("apiKeys.allow: %v", rulesOf(fs))
	}
}

func TestModelExfiltration(t *testing.T) {
	eng := New(testPolicy())
	ev := ctrl("CreateModelCopyJob")
	ev.Region = "eu-central-1"
	ev.Model = normalize.ParseModelID("arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/abc123")
	fs := eng.Evaluate(&ev, nil)
	if len(fs) != 1 || fs[0].Rule != findings.RuleModelExfiltration || fs[0].Severity != findings.High ||
		!strings.Contains(fs[0].Reason, "us-east-1") || !strings.Contains(fs[0].Reason, "eu-central-1") {
		t.Fatalf("findings %+v", fs)
	}
	ev.Model = normalize.ParseModelID("arn:aws:bedrock:eu-central-1:210987654321:custom-model/shared/abc")
	if fs := eng.Evaluate(&ev, nil); len(fs) != 1 || !strings.Contains(fs[0].Reason, "account 210987654321") {
		t.Fatalf("cross-account copy: %+v", fs)
	}
}

func iamEvent(name, params string) normalize.Event {
	r := &decode.Record{EventSource: normalize.SourceIAM, EventName: name, AWSRegion: "us-east-1", EventID: name,
		UserIdentity:      decode.UserIdentity{Type: "AssumedRole", ARN: "arn:aws:sts::123456789012:assumed-role/PlatformAdmin/jdoe", AccountID: "123456789012"},
		RequestParameters: json.RawMessage(params)}
	return normalize.Normalize(r, decode.Origin{})
}

func TestAPIKeyCreated(t *testing.T) {
	eng := New(testPolicy())
	user := iamEvent("CreateUser", `{"userName":"BedrockAPIKey-826f"}`)
	attach := iamEvent("AttachUserPolicy", `{"userName":"BedrockAPIKey-826f","policyArn":"arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess"}`)
	key := iamEvent("CreateServiceSpecificCredential", `{"userName":"BedrockAPIKey-826f","serviceName":"bedrock.amazonaws.com","credentialAgeDays":30}`)
	var fps []string
	for _, ev := range []normalize.Event{user, attach, key} {
		fs := eng.Evaluate(&ev, nil)
		if len(fs) != 1 || fs[0].Rule != findings.RuleAPIKeyCreated || fs[0].Severity != findings.High || !strings.Contains(fs[0].Title, "BedrockAPIKey-826f") {
			t.Fatalf("%s: %+v", ev.Name, fs)
		}
		fps = append(fps, fs[0].Fingerprint)
	}
	if fps[0] != fps[1] || fps[1] != fps[2] {
		t.Error("the console's API-key flow for one user is several incidents")
	}
	other := iamEvent("CreateServiceSpecificCredential", `{"userName":"ci-bot","serviceName":"bedrock.amazonaws.com"}`)
	if fs := eng.Evaluate(&other, nil); len(fs) != 1 || fs[0].Fingerprint == fps[0] {
		t.Errorf("another user's key: %+v", fs)
	}
	key.Outcome = normalize.Outcome{ErrorCode: "AccessDenied", Denied: true}
	if fs := eng.Evaluate(&key, nil); len(fs) != 0 {
		t.Errorf("failed key creation: %v", rulesOf(fs))
	}
	codecommit := iamEvent("CreateServiceSpecificCredential", `{"userName":"dev","serviceName":"codecommit.amazonaws.com"}`)
	if fs := eng.Evaluate(&codecommit, nil); len(fs) != 0 || !codecommit.Unsupported {
		t.Errorf("CodeCommit credential: %v", rulesOf(fs))
	}
}

func invokeBy(arn, key string, at time.Time) normalize.Event {
	ev := invoke()
	ev.ID = "inv-" + at.Format("150405")
	ev.Time = at
	ev.Principal = normalize.Principal{Type: normalize.PrincipalIAMUser, ARN: arn, AccessKeyID: key, LongTermKey: strings.HasPrefix(key, "AKIA")}
	return ev
}

func TestSequences(t *testing.T) {
	eng := New(testPolicy()) // window 1h
	const ci, key = "arn:aws:iam::123456789012:user/ci", "AKIASTOLEN"
	t0 := time.Date(2026, 11, 20, 14, 50, 0, 0, time.UTC) // near a bucket end
	recon := func(d time.Duration) normalize.Event { return reconEvent("ListFoundationModels", ci, key, t0.Add(d)) }
	inv := func(d time.Duration) normalize.Event { return invokeBy(ci, key, t0.Add(d)) }
	for _, c := range []struct {
		name   string
		events []normalize.Event
		want   int
	}{
		{"recon then invoke", []normalize.Event{recon(0), inv(5 * time.Minute)}, 1},
		{"out of order in the input", []normalize.Event{inv(5 * time.Minute), recon(0)}, 1},
		{"across the bucket boundary", []normalize.Event{recon(0), inv(50 * time.Minute)}, 1},
		{"invoke before recon", []normalize.Event{inv(0), recon(5 * time.Minute)}, 0},
		{"outside the window", []normalize.Event{recon(0), inv(61 * time.Minute)}, 0},
		{"many invocations, one finding", []normalize.Event{recon(0), inv(time.Minute), inv(2 * time.Minute), inv(3 * time.Minute)}, 1},
		{"another key invokes", []normalize.Event{recon(0), invokeBy(ci, "AKIAOTHER", t0.Add(time.Minute))}, 0},
		{"refused invocation does not complete it", func() []normalize.Event {
			i := inv(time.Minute)
			i.Outcome = normalize.Outcome{ErrorCode: "AccessDenied", Denied: true}
			return []normalize.Event{recon(0), i}
		}(), 0},
		{"allowed role with a session key is not followed", []normalize.Event{
			reconEvent("ListFoundationModels", "arn:aws:iam::123456789012:role/app-chat", "ASIAAPP", t0),
			invokeBy("arn:aws:iam::123456789012:role/app-chat", "ASIAAPP", t0.Add(time.Minute))}, 0},
	} {
		fs, _, err := eng.Sequences(c.events, nil)
		if err != nil || len(fs) != c.want {
			t.Errorf("%s: %d findings (%v), want %d", c.name, len(fs), err, c.want)
			continue
		}
		if c.want == 1 {
			f := fs[0]
			if f.Rule != findings.RuleReconThenInvoke || f.Severity != findings.Critical || f.AccessKeyID != key ||
				f.Details["reconCalls"] != "ListFoundationModels" || f.EventID != "" || f.Details["invocationEventId"] == "" || f.Fingerprint != findings.Fingerprint(findings.RuleReconThenInvoke, ci, "key#"+key, "") {
				t.Errorf("%s: finding %+v", c.name, f)
			}
		}
	}
}

func TestSequencesPriorState(t *testing.T) {
	eng := New(testPolicy())
	const ci, key = "arn:aws:iam::123456789012:user/ci", "AKIASTOLEN"
	t0 := time.Date(2026, 11, 20, 14, 10, 0, 0, time.UTC)
	var asked [][]MarkKey
	prior := func(stored ...Mark) func([]MarkKey) ([]Mark, error) {
		return func(keys []MarkKey) ([]Mark, error) {
			asked = append(asked, keys)
			return stored, nil
		}
	}
	// A batch of recon only: no lookup, one mark to keep.
	asked = nil
	fs, marks, _ := eng.Sequences([]normalize.Event{reconEvent("ListFoundationModels", ci, key, t0), reconEvent("GetFoundationModelAvailability", ci, key, t0.Add(time.Minute))}, prior())
	if len(fs) != 0 || len(asked) != 0 || len(marks) != 1 || !marks[0].First.Equal(t0) || !marks[0].Last.Equal(t0.Add(time.Minute)) ||
		!slices.Equal(marks[0].Calls, []string{"GetFoundationModelAvailability", "ListFoundationModels"}) {
		t.Fatalf("recon batch: findings %v, asked %v, marks %+v", fs, asked, marks)
	}
	mark := marks[0]

	// A later batch with the invocation: one lookup of the two buckets.
	asked = nil
	fs, _, _ = eng.Sequences([]normalize.Event{invokeBy(ci, key, t0.Add(20*time.Minute))}, prior(mark))
	if len(fs) != 1 || len(asked) != 1 || len(asked[0]) != 2 {
		t.Fatalf("invoke batch: findings %d, asked %v", len(fs), asked)
	}
	// Benign invocations (an allowed role's session) cost no lookup.
	asked = nil
	fs, _, _ = eng.Sequences([]normalize.Event{invoke(), invoke()}, prior(mark))
	if len(fs) != 0 || len(asked) != 0 {
		t.Fatalf("benign batch: findings %d, asked %v", len(fs), asked)
	}
	// An invocation matched inside the batch costs no lookup either.
	asked = nil
	fs, _, _ = eng.Sequences([]normalize.Event{reconEvent("ListFoundationModels", ci, key, t0), invokeBy(ci, key, t0.Add(time.Minute))}, prior())
	if len(fs) != 1 || len(asked) != 0 {
		t.Fatalf("in-batch sequence: findings %d, asked %v", len(fs), asked)
	}
	// Stored recon too old: no finding.
	asked = nil
	fs, _, _ = eng.Sequences([]normalize.Event{invokeBy(ci, key, t0.Add(2*time.Hour))}, prior(mark))
	if len(fs) != 0 || len(asked) != 1 {
		t.Fatalf("stale recon: findings %d, asked %v", len(fs), asked)
	}
	// Disabled rule: nothing at all.
	p := testPolicy()
	off := false
	p.Rules = map[string]policy.RuleSetting{findings.RuleReconThenInvoke: {Enabled: &off}}
	asked = nil
	if fs, marks, _ := New(p).Sequences([]normalize.Event{invokeBy(ci, key, t0)}, prior(mark)); fs != nil || marks != nil || asked != nil {
		t.Fatalf("disabled: %v %v %v", fs, marks, asked)
	}
}
