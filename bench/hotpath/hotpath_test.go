package hotpath

import (
	"context"
	"testing"

	"github.com/bedrock-warden/warden/bench/opa"
	"github.com/bedrock-warden/warden/internal/corpus"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
)

// The same corpus the report uses: seed 1, 10,000 events, standard mix.
func events(b *testing.B, m corpus.Mix) [][]byte {
	b.Helper()
	evs, err := corpus.Generate(1, 10000, m)
	if err != nil {
		b.Fatal(err)
	}
	return corpus.Payloads(evs)
}

func BenchmarkValid(b *testing.B)  { Valid(events(b, corpus.Standard))(b) }
func BenchmarkDecode(b *testing.B) { Decode(events(b, corpus.Standard))(b) }
func BenchmarkDetect(b *testing.B) {
	Detect(events(b, corpus.Standard), rules.New(policy.Default()))(b)
}
func BenchmarkDetectBenign(b *testing.B) {
	Detect(events(b, corpus.Benign), rules.New(policy.Default()))(b)
}
func BenchmarkOPA(b *testing.B) {
	e, err := opa.New(context.Background(), policy.Default())
	if err != nil {
		b.Fatal(err)
	}
	OPA(events(b, corpus.Standard), e)(b)
}

// TestBenchmarksRun runs each benchmark body for a few events, so a broken
// benchmark fails `go test` rather than the benchmark run.
func TestBenchmarksRun(t *testing.T) {
	evs, err := corpus.Generate(2, 50, corpus.Standard)
	if err != nil {
		t.Fatal(err)
	}
	p := corpus.Payloads(evs)
	e, err := opa.New(context.Background(), policy.Default())
	if err != nil {
		t.Fatal(err)
	}
	for name, fn := range map[string]func(*testing.B){
		"valid": Valid(p), "decode": Decode(p), "detect": Detect(p, rules.New(policy.Default())), "opa": OPA(p, e),
	} {
		r := testing.Benchmark(fn)
		if r.N == 0 {
			t.Errorf("%s: benchmark did not run", name)
		}
	}
}

func BenchmarkEachStreamBenign(b *testing.B) {
	EachStream(events(b, corpus.Benign), rules.New(policy.Default()))(b)
}

func BenchmarkLambdaBatchBenign(b *testing.B) {
	evs, _ := corpus.Generate(1, 1000, corpus.Benign)
	payload, err := corpus.SQSBatch(evs)
	if err != nil {
		b.Fatal(err)
	}
	LambdaBatch(payload, len(evs), LocalDetector(policy.Default()))(b)
}

func BenchmarkLambdaDirectBenign(b *testing.B) {
	evs, _ := corpus.Generate(1, 1000, corpus.Benign)
	LambdaDirect(corpus.Payloads(evs), LocalDetector(policy.Default()))(b)
}
