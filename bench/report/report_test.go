package report

import (
	"strings"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/bench/archivescan"
	"github.com/bedrock-warden/warden/bench/auditrun"
	"github.com/bedrock-warden/warden/bench/awscalls"
	"github.com/bedrock-warden/warden/bench/coldstart"
	"github.com/bedrock-warden/warden/bench/opa"
)

func sample() *Results {
	return &Results{
		Machine: Machine{CPU: "Test CPU", Cores: 2, GoVersion: "go1.26", OSArch: "linux/amd64", Date: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)},
		Command: "make bench",
		Corpora: []Corpus{{Name: "10k", Events: 10000, Bytes: 15_000_000, Seed: 1, Mix: "standard", Generate: 80 * time.Millisecond, DecodePass: 100 * time.Millisecond}},
		Benches: []Bench{
			{Key: "valid", Name: "json.Valid", Corpus: "10k", NsPerEvent: 5000, AvgEventBytes: 1500},
			{Key: "detect", Name: "ours", Corpus: "10k", NsPerEvent: 9000, BytesPerOp: 2000, AllocsPerOp: 9, AvgEventBytes: 1500},
			{Key: "detect-benign", Name: "ours benign", Corpus: "10k-benign", NsPerEvent: 9000, AllocsPerOp: 11, AvgEventBytes: 1500},
			{Key: "opa", Name: "opa", Corpus: "10k", NsPerEvent: 400000, AllocsPerOp: 1500, AvgEventBytes: 1500},
		},
		Agreement: []Agreement{{Policy: "default", Events: 10000, Tallies: []opa.Tally{{Rule: "unauthorized-model", Go: 84, OPA: 84}, {Rule: "api-key-used", Go: 83, OPA: 82}},
			Mismatches: 1, Examples: []opa.Mismatch{{Index: 7, Go: []string{"api-key-used"}}}}},
		ColdStart: &ColdStart{Runs: 20, Ready: coldstart.Stats{Median: 12 * time.Millisecond, P90: 40 * time.Millisecond}, BinaryAMD64: 12 << 20, BinaryARM64: 11 << 20},
		RSS:       []RSS{{Records: 10000, PayloadBytes: 21 << 20, BaselineKB: 30000, PeakKB: 60 * 1024}},
		AWSCalls: []awscalls.Result{
			{Scenario: awscalls.Scenario{Mix: "benign", Metrics: "api", Intake: awscalls.Intake{Name: "one batch"}}, Events: 1000, Invocations: 1, Calls: map[string]int{"cloudwatch:PutMetricData": 1}},
			{Scenario: awscalls.Scenario{Mix: "benign", Metrics: "emf", Intake: awscalls.Intake{Name: "direct"}, SpikesOff: true}, Events: 1000, Invocations: 1000, Calls: map[string]int{"cloudwatch:PutMetricData": 1}},
		},
		AWSEvents: 1000,
		Audit: &auditrun.Result{Roles: 2000, Workers: 8, Templates: 100, DistinctManaged: 42, Wall: 25 * time.Second,
			JudgeSerial: 600 * time.Millisecond, Computed: 100, Calls: map[string]int{"iam:GetPolicyVersion": 42, "iam:GetRole": 2000}},
		Archive: []archivescan.Result{{Events: 200000, Others: 9, Files: 10000, Check: 20 * time.Second, Scan: 30 * time.Second,
			CheckFindings: 8266, ScanFindings: 8266, Concurrency: 8}},
	}
}

func TestGoalsJudgeTheFigures(t *testing.T) {
	got := map[string]string{}
	for _, g := range Goals(sample()) {
		got[g.Goal] = g.Status + " " + g.Figure
	}
	want := map[string]string{
		"hot path ≥ 0.5 × json.Valid events/s":         "PASS 0.556 ×",
		"hot path ≥ 20 × OPA events/s":                 "PASS 44.4 ×",
		"≤ 10 allocations per benign event":            "MISS 11 allocs/event",
		"cold start < 30 ms (exec → ready, median)":    "PASS 12.0 ms (p90 40.0 ms)",
		"peak RSS < 50 MB for the 10,000-record batch": "MISS 60.0 MB (in process; the real bootstrap not measured)",
		"1,000 benign events, api metrics, one batch, spike detection on: 0 SNS, 0 DynamoDB writes, ≤ 1 PutMetricData": "PASS 0 SNS, 0 DynamoDB writes, 1 PutMetricData",
		"1,000 benign events, emf metrics, direct, spike detection off: 0 SNS, 0 DynamoDB writes, 0 PutMetricData":     "MISS 0 SNS, 0 DynamoDB writes, 1 PutMetricData",
		"warden audit, 2,000 roles × 5 policies, local IAM: evaluator < 5 % of the run":                                "PASS 2.40 % (600ms of 25s)",
		"warden audit: each managed policy version fetched once per run, not per principal":                            "PASS 42 GetPolicyVersion for 42 distinct managed policies",
		archiveGoal: "PASS 0.67 × (6,666 vs 10,000 events/s; 1 record in 10 is Bedrock's), the same 8,266 findings",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("goal %q: %q, want %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("goals %v, want %d of them", got, len(want))
	}
}

// TestArchiveGoalNeedsIdenticalFindings: a fast scan whose findings differ
// from check's misses its goal, and so does a slow one.
func TestArchiveGoalNeedsIdenticalFindings(t *testing.T) {
	r := sample()
	r.Archive[0].ScanFindings, r.Archive[0].Extra = 8267, []string{"unauthorized-model abc evt-1 "}
	if g := archiveGoals(r)[0]; g.Status != Miss || !strings.Contains(g.Figure, "findings differ") {
		t.Errorf("differing findings: %s %s", g.Status, g.Figure)
	}
	r = sample()
	r.Archive[0].Scan = 50 * time.Second
	if g := archiveGoals(r)[0]; g.Status != Miss {
		t.Errorf("0.4 × check: %s %s", g.Status, g.Figure)
	}
}

func TestGoalsNotMeasured(t *testing.T) {
	for _, g := range Goals(&Results{}) {
		if g.Status != NotMeasured {
			t.Errorf("goal %q is %s with nothing measured", g.Goal, g.Status)
		}
	}
	// A slow hot path misses, whatever else holds.
	r := sample()
	r.Benches[1].NsPerEvent = 11000
	if g := Goals(r)[0]; g.Status != Miss {
		t.Errorf("0.45 × json.Valid judged %s", g.Status)
	}
}

func TestWrite(t *testing.T) {
	var b strings.Builder
	r := sample()
	r.ColdStart = nil
	r.ColdErr = "the build failed"
	if err := Write(&b, r); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, s := range []string{
		"Test CPU, 2 cores, go1.26, linux/amd64",
		"| ≤ 10 allocations per benign event | 11 allocs/event | **MISS** |",
		"| ours | 10k | 111,111 | 9,000 | 167 | 2,000 | 9 |",
		"ours ÷ `json.Valid` (events/s): **0.56**",
		"ours ÷ OPA (events/s): **44.4**",
		"**1 events disagree**",
		"| api-key-used | 83 | 82 ≠ |",
		"event 7: Go [api-key-used], OPA []",
		"Not measured: the build failed",
		"cloudwatch:PutMetricData 1",
		"make bench",
		"## `warden audit` over a large account",
		"| managed policy versions fetched | 42 for 42 distinct policies |",
		"| principals judged in full / sharing a judgement | 100 / 1900 |",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("report lacks %q", s)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestRSSGoalJudgesTheRealBootstrap: with the Runtime API harness's
// figure at hand, the Lambda's peak RSS goal is judged on it, the
// in-process harness's figure reported beside it.
func TestRSSGoalJudgesTheRealBootstrap(t *testing.T) {
	const goal = "peak RSS < 50 MB for the 10,000-record batch"
	for _, tc := range []struct {
		peakKB int64
		want   string
	}{
		{28 * 1024, "PASS 28.0 MB (real bootstrap, Runtime API harness); in process, the payload held whole before Handle: 60.0 MB"},
		{55 * 1024, "MISS 55.0 MB (real bootstrap, Runtime API harness); in process, the payload held whole before Handle: 60.0 MB"},
	} {
		r := sample()
		r.ColdStart.RSS = []BootstrapRSS{{Records: 10_000, PeakKB: tc.peakKB}}
		got := ""
		for _, g := range Goals(r) {
			if g.Goal == goal {
				got = g.Status + " " + g.Figure
			}
		}
		if got != tc.want {
			t.Errorf("peak %d KB: %q, want %q", tc.peakKB, got, tc.want)
		}
	}
}

func TestExplain(t *testing.T) {
	r := sample()
	r.RSS = append(r.RSS, RSS{Records: 100, PeakKB: 12 * 1024})
	notes := strings.Join(Explain(r), "\n")
	if !strings.Contains(notes, "The in-process peak RSS for 10,000 records is over 50 MB") || !strings.Contains(notes, "At 100 records the peak is 12.0 MB") {
		t.Errorf("no RSS explanation in %q", notes)
	}
	if !strings.Contains(notes, "one PutMetricData call per invocation") {
		t.Errorf("no PutMetricData explanation in %q", notes)
	}
	r.AWSCalls[1].SpikesOff = false
	r.AWSCalls[1].Calls = map[string]int{"dynamodb:UpdateItem": 42}
	if notes := strings.Join(Explain(r), "\n"); !strings.Contains(notes, "per 1,000 benign events 42 (direct).") {
		t.Errorf("no spike-counter explanation in %q", notes)
	}
	if !strings.Contains(notes, "here 100 for 2,000 roles") || !strings.Contains(notes, "about 12s (6ms per set × 2,000 roles), 48 % of this run's wall time") {
		t.Errorf("no audit explanation in %q", notes)
	}
	r.AWSCalls[1].Calls = map[string]int{}
	r.RSS = []RSS{{Records: 10000, PeakKB: 40 * 1024}}
	r.Audit = nil
	r.AWSCalls[0].Calls["cloudwatch:PutMetricData"] = 3 // not one per invocation
	if notes := Explain(r); len(notes) != 0 {
		t.Errorf("notes %q for figures that need none", notes)
	}
}
