package awscalls

import (
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/internal/corpus"
	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/outputs"
)

// TestMeasureAgainstMoto drives the real handler and clients against
// moto_server and checks the counts make sense: benign batches never reach
// SNS nor the alert state, only the spike counters (UpdateItem) and, in api
// mode, one PutMetricData per invocation; violations reach the alert state
// and SNS.
func TestMeasureAgainstMoto(t *testing.T) {
	srv := motoserver.Start(t)
	sqs100 := Intake{Name: "sqs-100", BatchSize: 100}
	scenarios := []Scenario{
		{Mix: "benign", Shares: corpus.Benign, Metrics: outputs.MetricsAPI, Intake: sqs100},
		{Mix: "benign", Shares: corpus.Benign, Metrics: outputs.MetricsEMF, Intake: sqs100},
		{Mix: "violations", Shares: corpus.Mix{Violations: 0.2}, Metrics: outputs.MetricsEMF, Intake: sqs100},
		{Mix: "benign", Shares: corpus.Benign, Metrics: outputs.MetricsEMF, Intake: sqs100, SpikesOff: true},
	}
	res, err := Measure(context.Background(), srv.URL, 1, 200, scenarios)
	if err != nil {
		t.Fatal(err)
	}
	api, emf, viol := res[0], res[1], res[2]
	if api.Invocations != 2 || api.Events != 200 {
		t.Fatalf("benign api: %d invocations of %d events, want 2 of 200", api.Invocations, api.Events)
	}
	if got := api.Calls["cloudwatch:PutMetricData"]; got != api.Invocations {
		t.Errorf("benign api: %d PutMetricData calls for %d invocations: %v", got, api.Invocations, api.Calls)
	}
	for _, r := range []Result{api, emf} {
		if r.Total("sns") != 0 {
			t.Errorf("benign %s: SNS called: %v", r.Metrics, r.Calls)
		}
		if r.Calls["dynamodb:UpdateItem"] == 0 || r.Total("dynamodb") != r.Calls["dynamodb:UpdateItem"] {
			t.Errorf("benign %s: DynamoDB calls %v, want spike-counter UpdateItem calls only", r.Metrics, r.Calls)
		}
	}
	if emf.Total("cloudwatch") != 0 {
		t.Errorf("benign emf: %v, want no CloudWatch call", emf.Calls)
	}
	if viol.Findings == 0 || viol.Total("sns") == 0 || viol.Total("dynamodb") <= emf.Total("dynamodb") {
		t.Errorf("violations: %d findings expected, calls %v: want SNS publishes and alert-state calls beyond the counters", viol.Findings, viol.Calls)
	}
	if viol.Total("cloudwatch") != 0 {
		t.Errorf("violations in emf mode called CloudWatch: %v", viol.Calls)
	}
	// Without spike detection, benign traffic makes no AWS call at all.
	if off := res[3]; off.Total("") != 0 {
		t.Errorf("benign emf, spike detection off: calls %v, want none", off.Calls)
	}
}

func TestScenarios(t *testing.T) {
	s := Scenarios(Intakes)
	if len(s) != 5*len(Intakes) {
		t.Fatalf("%d scenarios, want %d (2 mixes × 2 metric modes, and benign with spike detection off, per intake)", len(s), 5*len(Intakes))
	}
	r := Result{Calls: map[string]int{"sns:Publish": 2, "dynamodb:UpdateItem": 3, "dynamodb:BatchGetItem": 1, "cloudwatch:PutMetricData": 1}}
	if r.Total("sns") != 2 || r.Total("dynamodb") != 4 || r.Total("") != 7 || r.Writes() != 3 {
		t.Fatalf("Total/Writes wrong: sns %d dynamodb %d all %d writes %d", r.Total("sns"), r.Total("dynamodb"), r.Total(""), r.Writes())
	}
}

// TestCompositionMatchesTheLambda guards against drift: Measure builds the
// handler with pipeline.Detector, so functions/detector/main.go must build
// it there too and compose nothing else.
func TestCompositionMatchesTheLambda(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../../functions/detector/main.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if rest, ok := strings.CutPrefix(path, "github.com/bedrock-warden/warden/"); ok {
			got = append(got, rest)
		}
	}
	sort.Strings(got)
	want := []string{"pkg/lambdaenv", "pkg/outputs", "pkg/pipeline"}
	if !slices.Equal(got, want) {
		t.Fatalf("functions/detector imports %v; awscalls.Measure composes %v: update it to match", got, want)
	}
}

// The batching model: a batch closes at its size or when the window has
// passed since its first event; pollers take events in turn.
func TestIntakeBatches(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	times := make([]time.Time, 10)
	for i := range times {
		times[i] = t0.Add(time.Duration(i) * 10 * time.Second)
	}
	got := Intake{BatchSize: 3, Window: 25 * time.Second, Pollers: 1}.Batches(times)
	// Window 25 s: events 0,1,2 (0 s, 10 s, 20 s) fill 3; 3,4,5; 6,7,8; 9.
	if fmt.Sprint(got) != "[[0 1 2] [3 4 5] [6 7 8] [9]]" {
		t.Errorf("size-bound batches = %v", got)
	}
	got = Intake{BatchSize: 100, Window: 25 * time.Second, Pollers: 1}.Batches(times)
	if fmt.Sprint(got) != "[[0 1 2] [3 4 5] [6 7 8] [9]]" {
		t.Errorf("window-bound batches = %v", got)
	}
	got = Intake{BatchSize: 100, Window: 25 * time.Second, Pollers: 2}.Batches(times)
	if fmt.Sprint(got) != "[[0 2] [1 3] [4 6] [5 7] [8] [9]]" {
		t.Errorf("two pollers = %v", got)
	}
	if got := (Intake{}).Batches(times[:2]); fmt.Sprint(got) != "[[0] [1]]" {
		t.Errorf("direct = %v", got)
	}
}
