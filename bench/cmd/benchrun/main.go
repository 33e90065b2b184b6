// Command benchrun is the whole benchmark run behind `make bench`: it
// generates the corpora, runs the throughput benchmarks (json.Valid, decode,
// the detector's hot path, OPA) on the same bytes in this one process,
// checks that the Go and Rego engines agree, measures the detector
// bootstrap's cold start and size, the peak RSS of a 10,000-record SQS batch
// (in a process of its own) and the AWS calls per 1,000 events against
// moto_server, then writes BENCHMARKS.md.
//
// Run it from the bench directory (bench/run.sh does):
//
//	go run ./cmd/benchrun -out ../BENCHMARKS.md
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/bedrock-warden/warden/bench/archivescan"
	"github.com/bedrock-warden/warden/bench/auditrun"
	"github.com/bedrock-warden/warden/bench/awscalls"
	"github.com/bedrock-warden/warden/bench/coldstart"
	"github.com/bedrock-warden/warden/bench/hotpath"
	"github.com/bedrock-warden/warden/bench/opa"
	"github.com/bedrock-warden/warden/bench/process"
	"github.com/bedrock-warden/warden/bench/report"
	"github.com/bedrock-warden/warden/internal/corpus"
	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
)

// seed is the corpus seed of every measurement.
const seed = 1

type options struct {
	out        string
	root       string
	benchtime  string
	coldRuns   int
	rounds     int
	skip       map[string]bool
	corpusDir  string
	command    string
	auditRoles int
	// whole-process comparison
	processEvents int
	processRounds int
	bigBytes      int64
	// archiveEvents and archiveOthers size the S3 scan scenario.
	archiveEvents, archiveOthers int
}

func main() {
	testing.Init()
	var o options
	var skip string
	flag.StringVar(&o.out, "out", "../BENCHMARKS.md", "where to write the report")
	flag.StringVar(&o.root, "root", "..", "the repository root (main module)")
	flag.StringVar(&o.benchtime, "benchtime", "1s", "time per throughput benchmark and round")
	flag.IntVar(&o.coldRuns, "coldruns", 20, "cold starts to measure")
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved rounds of the throughput benchmarks (the median is reported)")
	flag.StringVar(&skip, "skip", "", "comma list of parts to skip: throughput,opa,coldstart,rss,awscalls,process,audit,archive")
	flag.IntVar(&o.archiveEvents, "archive-events", 200_000, "Bedrock events in the S3 scan scenario's archive")
	flag.IntVar(&o.archiveOthers, "archive-others", 9, "other services' records per Bedrock record in the S3 scan scenario's archive")
	flag.IntVar(&o.auditRoles, "audit-roles", 2000, "roles in the audit scenario's account")
	flag.StringVar(&o.corpusDir, "corpus-dir", "", "also write the corpora as JSON lines into this directory")
	flag.StringVar(&o.command, "command", "make bench", "the command named in the report")
	flag.IntVar(&o.processEvents, "process-events", 100000, "events of the whole-process comparison corpus")
	flag.IntVar(&o.processRounds, "process-rounds", 5, "paired rounds of the whole-process comparison")
	flag.Int64Var(&o.bigBytes, "big-bytes", 1400<<20, "size of the bounded-memory input (0: skip it)")
	flag.Parse()
	if o.rounds < 1 || o.coldRuns < 1 {
		fail(fmt.Errorf("-rounds %d and -coldruns %d must be at least 1", o.rounds, o.coldRuns))
	}
	o.skip = map[string]bool{}
	for _, s := range strings.Split(skip, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.skip[s] = true
		}
	}
	if err := flag.Set("test.benchtime", o.benchtime); err != nil {
		fail(fmt.Errorf("benchtime %q: %w", o.benchtime, err))
	}
	if err := run(context.Background(), o); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchrun:", err)
	os.Exit(1)
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "benchrun: "+format+"\n", a...)
}

func run(ctx context.Context, o options) error {
	start := time.Now()
	res := &report.Results{Machine: machine(), Command: o.command}
	tmp, err := os.MkdirTemp("", "warden-bench-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	// ---- corpora
	corpora := map[string][]corpus.Event{}
	for _, c := range []struct {
		name string
		n    int
		mix  corpus.Mix
		desc string
	}{
		{"1k", 1000, corpus.Standard, "standard"},
		{"10k", 10000, corpus.Standard, "standard"},
		{"100k", 100000, corpus.Standard, "standard"},
		{"10k-benign", 10000, corpus.Benign, "benign only"},
	} {
		t0 := time.Now()
		evs, err := corpus.Generate(seed, c.n, c.mix)
		if err != nil {
			return err
		}
		info := report.Corpus{Name: c.name, Events: c.n, Seed: seed, Mix: c.desc, Generate: time.Since(t0)}
		for _, e := range evs {
			info.Bytes += len(e.JSON)
		}
		pass, err := decodePass(evs)
		if err != nil {
			return fmt.Errorf("corpus %s: %w", c.name, err)
		}
		info.DecodePass = pass
		res.Corpora = append(res.Corpora, info)
		corpora[c.name] = evs
		logf("corpus %s: %d events, %d bytes, generated in %s", c.name, c.n, info.Bytes, info.Generate.Round(time.Millisecond))
		if o.corpusDir != "" {
			if err := writeCorpus(filepath.Join(o.corpusDir, "corpus-"+c.name+".jsonl"), evs); err != nil {
				return err
			}
		}
	}
	delete(corpora, "100k")

	// ---- agreement and throughput
	std := corpus.Payloads(corpora["10k"])
	benign := corpus.Payloads(corpora["10k-benign"])
	def := policy.Default()
	var engine *opa.Engine
	if !o.skip["opa"] {
		strict, err := policy.LoadFile(filepath.Join(o.root, "events", "strict-policy.yaml"))
		if err != nil {
			return fmt.Errorf("strict policy: %w", err)
		}
		for _, pc := range []struct {
			name string
			p    *policy.Policy
		}{{"default", def}, {"strict sample", strict}} {
			e, err := opa.New(ctx, pc.p)
			if err != nil {
				return err
			}
			tallies, examples, n, err := opa.Agreement(ctx, &detector.Core{Rules: rules.New(pc.p)}, e, std, 10)
			if err != nil {
				return fmt.Errorf("agreement (%s policy): %w", pc.name, err)
			}
			res.Agreement = append(res.Agreement, report.Agreement{Policy: pc.name, Events: len(std), Tallies: tallies, Mismatches: n, Examples: examples})
			logf("agreement under the %s policy: %d of %d events disagree", pc.name, n, len(std))
			if pc.p == def {
				engine = e
			}
		}
	}
	if !o.skip["throughput"] {
		avg := func(evs [][]byte) float64 {
			n := 0
			for _, e := range evs {
				n += len(e)
			}
			return float64(n) / float64(len(evs))
		}
		batchEvs, err := corpus.Generate(seed, 1000, corpus.Benign)
		if err != nil {
			return err
		}
		batch, err := corpus.SQSBatch(batchEvs)
		if err != nil {
			return err
		}
		benches := []struct {
			key, name, corpus string
			events            [][]byte
			fn                func(*testing.B)
		}{
			{"valid", "`json.Valid` (ceiling)", "10k", std, hotpath.Valid(std)},
			{"decode-valid", "`decode.Valid` (the decoder's validating walk alone)", "10k", std, hotpath.DecodeValid(std)},
			{"decode", "decode only", "10k", std, hotpath.Decode(std)},
			{"detect", "decode + normalise + evaluate (ours)", "10k", std, hotpath.Detect(std, rules.New(def))},
			{"detect-benign", "decode + normalise + evaluate, benign only", "10k-benign", benign, hotpath.Detect(benign, rules.New(def))},
			{"each-benign", "`Core.Each` over a JSON-lines stream, benign", "10k-benign", benign, hotpath.EachStream(benign, rules.New(def))},
			{"lambda-batch-benign", "detector `Handler.InvokeReader`, one SQS batch of 1,000, benign", "1k-benign", corpus.Payloads(batchEvs), hotpath.LambdaBatch(batch, len(batchEvs), hotpath.LocalDetector(def))},
			{"lambda-direct-benign", "detector `Handler.InvokeReader`, one EventBridge event per invocation, benign", "1k-benign", corpus.Payloads(batchEvs), hotpath.LambdaDirect(corpus.Payloads(batchEvs), hotpath.LocalDetector(def))},
		}
		if engine != nil {
			benches = append(benches, struct {
				key, name, corpus string
				events            [][]byte
				fn                func(*testing.B)
			}{"opa", "OPA prepared query (parse + eval)", "10k", std, hotpath.OPA(std, engine)})
		}
		// Rounds are interleaved (every benchmark once, then again) and
		// each benchmark reports its median round, so that a burst of
		// noise on a shared machine does not skew one side of a ratio.
		rounds := make([][]report.Bench, len(benches))
		for round := 1; round <= o.rounds; round++ {
			for i, b := range benches {
				r := testing.Benchmark(b.fn)
				if r.N == 0 {
					return fmt.Errorf("benchmark %s failed (see its output above)", b.key)
				}
				x := report.Bench{Key: b.key, Name: b.name, Corpus: b.corpus, N: r.N, Rounds: o.rounds, Round: round,
					NsPerEvent: float64(r.T.Nanoseconds()) / float64(r.N), BytesPerOp: r.AllocedBytesPerOp(),
					AllocsPerOp: r.AllocsPerOp(), AllocsPerEvent: float64(r.AllocsPerOp()), AvgEventBytes: avg(b.events)}
				if v, ok := r.Extra[hotpath.NsPerEvent]; ok {
					// A pass over a whole input per op: the per-event figures
					// are the benchmark's own metrics.
					x.NsPerEvent, x.AllocsPerEvent = v, r.Extra[hotpath.AllocsPerEvent]
					x.BytesPerOp = int64(r.Extra[hotpath.BytesPerEvent])
					x.CPUNsPerEvent = r.Extra[hotpath.CPUNsPerEvent]
				}
				rounds[i] = append(rounds[i], x)
				logf("round %d %-20s %10.0f ns/event %8d B/event %7.2f allocs/event (%d ops)", round, b.key, x.NsPerEvent, x.BytesPerOp, x.AllocsPerEvent, r.N)
			}
		}
		for _, rs := range rounds {
			res.BenchRounds = append(res.BenchRounds, slices.Clone(rs))
			sort.Slice(rs, func(i, j int) bool { return rs[i].NsPerEvent < rs[j].NsPerEvent })
			res.Benches = append(res.Benches, rs[len(rs)/2])
		}
	}

	// ---- cold start and size
	if !o.skip["coldstart"] {
		c, err := coldStart(ctx, o, tmp, corpora["1k"])
		if err != nil {
			res.ColdErr = err.Error()
			logf("cold start: %v", err)
		} else {
			res.ColdStart = c
			logf("cold start: ready median %s p90 %s; bootstrap amd64 %d B, arm64 %d B", c.Ready.Median, c.Ready.P90, c.BinaryAMD64, c.BinaryARM64)
		}
	} else {
		res.ColdErr = "skipped (-skip coldstart)."
	}

	// ---- peak RSS
	if !o.skip["rss"] {
		m, err := peakRSS(ctx, tmp, []int{10000, 1000, 100})
		if err != nil {
			res.RSSErr = err.Error()
			logf("rss: %v", err)
		} else {
			res.RSS = m
			for _, r := range m {
				logf("rss: peak %d KB for %d records", r.PeakKB, r.Records)
			}
		}
	} else {
		res.RSSErr = "skipped (-skip rss)."
	}

	// ---- AWS calls
	res.AWSEvents = 1000
	if !o.skip["awscalls"] {
		calls, err := awsCalls(ctx, res.AWSEvents)
		res.AWSCalls = calls
		if err != nil {
			res.AWSErr = err.Error()
			logf("aws calls: %v", err)
		}
	} else {
		res.AWSErr = "skipped (-skip awscalls)."
	}

	// ---- whole processes: warden check vs json.Valid vs Python, and
	// bounded memory
	if !o.skip["process"] {
		pr, err := process.RunSuite(ctx, process.Config{Root: o.root, Tmp: tmp, Seed: seed, Events: o.processEvents,
			Rounds: o.processRounds, BigBytes: o.bigBytes, Log: logf})
		res.Process = pr
		if err != nil {
			res.ProcessErr = err.Error()
			logf("process: %v", err)
		}
	} else {
		res.ProcessErr = "skipped (-skip process)."
	}

	// ---- warden audit over a large account
	if !o.skip["audit"] {
		a, err := auditRun(ctx, o.auditRoles)
		if err != nil {
			res.AuditErr = err.Error()
			logf("audit: %v", err)
		} else {
			res.Audit = &a
			logf("audit: %d roles in %s, %d calls (%.2f per principal), evaluator %s (%.2f %% of the run)", a.Roles, a.Wall.Round(time.Millisecond), a.Total(), a.CallsPerPrincipal(), a.JudgeSerial.Round(time.Millisecond), 100*a.EvaluatorShare())
		}
	} else {
		res.AuditErr = "skipped (-skip audit)."
	}

	// ---- warden scan --from s3:// against warden check
	if !o.skip["archive"] {
		// The goal's archive first: other services' calls mixed in, as in
		// a real trail; then Bedrock records only (tiny log files).
		for _, others := range []int{o.archiveOthers, 0} {
			a, err := archiveRun(ctx, o, others)
			if err != nil {
				res.ArchiveErr = err.Error()
				logf("archive scan: %v", err)
				break
			}
			res.Archive = append(res.Archive, a)
			logf("archive scan: %d events (+%d others each) in %d files: check %s (%.0f events/s), scan %s (%.0f events/s), %.2f ×, identical %v",
				a.Events, a.Others, a.Files, a.Check.Round(time.Millisecond), a.CheckRate(), a.Scan.Round(time.Millisecond), a.ScanRate(), a.Ratio(), a.Identical())
		}
	} else {
		res.ArchiveErr = "skipped (-skip archive)."
	}

	res.Notes = append(res.Notes, report.Explain(res)...)
	res.Elapsed = time.Since(start)
	var buf bytes.Buffer
	if err := report.Write(&buf, res); err != nil {
		return err
	}
	if err := os.WriteFile(o.out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	logf("wrote %s in %s", o.out, res.Elapsed.Round(time.Second))
	for _, g := range report.Goals(res) {
		logf("goal %-4s  %s: %s", g.Status, g.Goal, g.Figure)
	}
	return nil
}

// decodePass decodes every event once and returns the time taken.
func decodePass(evs []corpus.Event) (time.Duration, error) {
	t0 := time.Now()
	for i, e := range evs {
		for it := range decode.Bytes("corpus", e.JSON) {
			if it.Err != nil {
				return 0, fmt.Errorf("event %d does not decode: %w", i, it.Err)
			}
		}
	}
	return time.Since(t0), nil
}

func writeCorpus(path string, evs []corpus.Event) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("corpus dir: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := corpus.WriteJSONL(f, evs); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

// machine describes the host.
func machine() report.Machine {
	m := report.Machine{CPU: "unknown CPU", Cores: runtime.NumCPU(), GoVersion: runtime.Version(),
		OSArch: runtime.GOOS + "/" + runtime.GOARCH, Date: time.Now()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// goBuild builds pkg of the module in dir with the Lambda flags.
func goBuild(ctx context.Context, dir, goarch, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s (%s): %w\n%s", pkg, goarch, err, b)
	}
	return nil
}

func size(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Size(), nil
}

func coldStart(ctx context.Context, o options, tmp string, evs []corpus.Event) (*report.ColdStart, error) {
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("the bootstrap is a linux binary; this host is %s", runtime.GOOS)
	}
	c := &report.ColdStart{Runs: o.coldRuns, BuildFlags: `CGO_ENABLED=0 go build -trimpath -tags lambda.norpc -ldflags "-s -w"`}
	host := filepath.Join(tmp, "bootstrap-"+runtime.GOARCH)
	if err := goBuild(ctx, o.root, runtime.GOARCH, host, "./functions/detector"); err != nil {
		return nil, err
	}
	arm := filepath.Join(tmp, "bootstrap-arm64")
	if runtime.GOARCH == "arm64" {
		arm = host
	} else if err := goBuild(ctx, o.root, "arm64", arm, "./functions/detector"); err != nil {
		return nil, err
	}
	amd := filepath.Join(tmp, "bootstrap-amd64")
	if runtime.GOARCH != "amd64" {
		if err := goBuild(ctx, o.root, "amd64", amd, "./functions/detector"); err != nil {
			return nil, err
		}
	} else {
		amd = host
	}
	var err error
	if c.BinaryAMD64, err = size(amd); err != nil {
		return nil, err
	}
	if c.BinaryARM64, err = size(arm); err != nil {
		return nil, err
	}
	var event []byte
	for _, e := range evs {
		if e.Kind == corpus.KindBenign {
			event = e.JSON
			break
		}
	}
	// The detector counts every batch for spike detection in the state
	// table, so even a benign event makes a DynamoDB call: the function
	// gets a local moto_server with the table, topic and policy parameter.
	moto, err := awscalls.StartMoto(ctx)
	if err != nil {
		return nil, err
	}
	defer moto.Stop()
	cfg, err := awscalls.NewConfig(ctx, moto.URL)
	if err != nil {
		return nil, err
	}
	const table, param = "bedrock-warden-state", "/bedrock-warden/policy"
	if err := awscalls.CreateTable(ctx, dynamodb.NewFromConfig(cfg), table); err != nil {
		return nil, err
	}
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("bedrock-warden-alerts")})
	if err != nil {
		return nil, fmt.Errorf("create topic: %w", err)
	}
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(param), Value: aws.String(string(policy.DefaultYAML())),
		Type: ssmtypes.ParameterTypeString, Tier: ssmtypes.ParameterTierAdvanced,
	}); err != nil {
		return nil, fmt.Errorf("put policy parameter: %w", err)
	}
	home := filepath.Join(tmp, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("home dir: %w", err)
	}
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + home,
		"TZ=:UTC",
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		// Test credentials for moto, in the variables Lambda sets.
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_SESSION_TOKEN=testing",
		"AWS_ENDPOINT_URL=" + moto.URL,
		"AWS_EC2_METADATA_DISABLED=true",
		"WARDEN_METRICS_MODE=emf",
		"WARDEN_TABLE=" + table,
		"WARDEN_TOPIC_ARN=" + aws.ToString(topic.TopicArn),
		"WARDEN_STACK=bedrock-warden-bench",
	}
	// The floors: a bare aws-lambda-go bootstrap (a reflected handler
	// echoing its event) for init time, and one taking its payload as
	// bytes and doing nothing for memory.
	bare := filepath.Join(tmp, "bootstrap-bare")
	if err := goBuild(ctx, filepath.Join(o.root, "bench"), runtime.GOARCH, bare, "./coldstart/testdata/echo"); err != nil {
		return nil, err
	}
	raw := filepath.Join(tmp, "bootstrap-raw")
	if err := goBuild(ctx, filepath.Join(o.root, "bench"), runtime.GOARCH, raw, "./coldstart/testdata/raw"); err != nil {
		return nil, err
	}
	measure := func(env []string) (ready, resp coldstart.Stats, diffs []time.Duration, bareReady []time.Duration, err error) {
		cfg := coldstart.Config{Binary: host, Event: event, Env: env}
		bcfg := coldstart.Config{Binary: bare, Event: event, Env: env}
		// One warm-up start of each so the binaries are in the page cache,
		// as they are for every measured start after it.
		for _, c := range []coldstart.Config{cfg, bcfg} {
			if _, err := coldstart.Measure(ctx, c, 1); err != nil {
				return ready, resp, nil, nil, err
			}
		}
		// Paired: each run of the detector beside a run of the bare
		// bootstrap, alternating which goes first.
		var rd, rs []time.Duration
		for i := range o.coldRuns {
			pair := []coldstart.Config{cfg, bcfg}
			if i%2 == 1 {
				pair[0], pair[1] = pair[1], pair[0]
			}
			var det, b coldstart.Run
			for _, c := range pair {
				runs, err := coldstart.Measure(ctx, c, 1)
				if err != nil {
					return ready, resp, nil, nil, err
				}
				if c.Binary == host {
					det = runs[0]
				} else {
					b = runs[0]
				}
			}
			if strings.TrimSpace(string(det.Body)) != "null" {
				return ready, resp, nil, nil, fmt.Errorf("run %d: the detector answered %s, want null (a handled EventBridge event)", i+1, det.Body)
			}
			rd = append(rd, det.Ready)
			rs = append(rs, det.Response)
			diffs = append(diffs, det.Ready-b.Ready)
			bareReady = append(bareReady, b.Ready)
		}
		if ready, err = coldstart.Summarise(rd); err != nil {
			return ready, resp, nil, nil, err
		}
		resp, err = coldstart.Summarise(rs)
		return ready, resp, diffs, bareReady, err
	}
	var diffs, bareReady []time.Duration
	if c.Ready, c.Response, diffs, bareReady, err = measure(env); err != nil {
		return nil, err
	}
	if c.AboveBare, err = coldstart.Summarise(diffs); err != nil {
		return nil, err
	}
	if c.Bare, err = coldstart.Summarise(bareReady); err != nil {
		return nil, err
	}
	ready, resp, _, _, err := measure(append(env, "WARDEN_POLICY_PARAMETER="+param))
	if err != nil {
		return nil, fmt.Errorf("with the policy parameter: %w", err)
	}
	c.SSM = &report.ColdVariant{Ready: ready, Response: resp}

	// Peak RSS of the real bootstrap, served an SQS batch by the Runtime
	// API harness, beside the do-nothing raw-bytes bootstrap on the same
	// payload.
	for _, n := range []int{10000, 1000, 100} {
		m, err := bootstrapRSS(ctx, host, raw, env, n)
		if err != nil {
			c.RSSErr = err.Error()
			logf("bootstrap RSS: %v", err)
			break
		}
		c.RSS = append(c.RSS, m)
		logf("bootstrap RSS: %d records: detector %d KB, bare raw-bytes bootstrap %d KB", n, m.PeakKB, m.FloorKB)
	}
	return c, nil
}

// bootstrapRSS serves an SQS batch of n standard-mix records to the real
// bootstrap (its AWS peers on moto_server) and to the do-nothing raw-bytes
// bootstrap, and reads their peak RSS.
func bootstrapRSS(ctx context.Context, host, raw string, env []string, n int) (report.BootstrapRSS, error) {
	m := report.BootstrapRSS{Records: n}
	evs, err := corpus.Generate(seed, n, corpus.Standard)
	if err != nil {
		return m, err
	}
	payload, err := corpus.SQSBatch(evs)
	if err != nil {
		return m, err
	}
	m.PayloadBytes = len(payload)
	// moto answers slowly: the invocation gets a generous deadline.
	runs, err := coldstart.Measure(ctx, coldstart.Config{Binary: host, Event: payload, Env: env, Timeout: 300 * time.Second}, 1)
	if err != nil {
		return m, fmt.Errorf("%d records: %w", n, err)
	}
	if !strings.Contains(string(runs[0].Body), `"batchItemFailures":[]`) {
		return m, fmt.Errorf("%d records: the detector answered %.200s", n, runs[0].Body)
	}
	m.PeakKB, m.Response = runs[0].PeakRSSKB, runs[0].Response
	floor, err := coldstart.Measure(ctx, coldstart.Config{Binary: raw, Event: payload, Env: env, Timeout: 60 * time.Second}, 1)
	if err != nil {
		return m, fmt.Errorf("floor, %d records: %w", n, err)
	}
	m.FloorKB = floor[0].PeakRSSKB
	return m, nil
}

// rssReport mirrors cmd/rss's output.
type rssReport struct {
	PayloadBytes int    `json:"payloadBytes"`
	BaselineKB   int64  `json:"baselineKB"`
	PeakKB       int64  `json:"peakKB"`
	Records      int    `json:"records"`
	Failed       int    `json:"failed"`
	Published    int    `json:"published"`
	HandleNanos  int64  `json:"handleNanos"`
	AllocBytes   uint64 `json:"allocBytes"`
	HeapSysBytes uint64 `json:"heapSysBytes"`
}

// peakRSS builds cmd/rss and runs it, a fresh process per batch size, on an
// SQS event of that many standard-mix records.
func peakRSS(ctx context.Context, tmp string, sizes []int) ([]report.RSS, error) {
	bin := filepath.Join(tmp, "rss")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/rss")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/rss: %w\n%s", err, b)
	}
	var out []report.RSS
	for _, n := range sizes {
		evs, err := corpus.Generate(seed, n, corpus.Standard)
		if err != nil {
			return nil, err
		}
		batch, err := corpus.SQSBatch(evs)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(tmp, fmt.Sprintf("sqs-%d.json", n))
		if err := os.WriteFile(path, batch, 0o600); err != nil {
			return nil, fmt.Errorf("write batch: %w", err)
		}
		var stdout, stderr bytes.Buffer
		run := exec.CommandContext(ctx, bin, path)
		run.Stdout, run.Stderr = &stdout, &stderr
		if err := run.Run(); err != nil {
			return nil, fmt.Errorf("rss %d records: %w: %s", n, err, stderr.String())
		}
		var r rssReport
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("rss output %q: %w", stdout.String(), err)
		}
		if r.Records != n || r.Failed != 0 {
			return nil, fmt.Errorf("rss handled %d records with %d failures, want %d and 0", r.Records, r.Failed, n)
		}
		out = append(out, report.RSS{Records: r.Records, PayloadBytes: r.PayloadBytes, BaselineKB: r.BaselineKB, PeakKB: r.PeakKB,
			Failed: r.Failed, Published: r.Published, Handle: time.Duration(r.HandleNanos),
			AllocBytes: r.AllocBytes, HeapSysBytes: r.HeapSysBytes})
		_ = os.Remove(path)
	}
	return out, nil
}

// auditRun fills a fresh moto_server's IAM (AWS managed policies loaded)
// and audits it.
func auditRun(ctx context.Context, roles int) (auditrun.Result, error) {
	m, err := awscalls.StartMoto(ctx, "MOTO_IAM_LOAD_MANAGED_POLICIES=true")
	if err != nil {
		return auditrun.Result{}, err
	}
	defer m.Stop()
	cfg, err := awscalls.NewConfig(ctx, m.URL)
	if err != nil {
		return auditrun.Result{}, err
	}
	return auditrun.Measure(ctx, cfg, auditrun.Options{Roles: roles, Seed: seed})
}

func awsCalls(ctx context.Context, n int) ([]awscalls.Result, error) {
	m, err := awscalls.StartMoto(ctx)
	if err != nil {
		return nil, err
	}
	defer m.Stop()
	res, err := awscalls.Measure(ctx, m.URL, seed, n, awscalls.Scenarios(awscalls.Intakes))
	if err != nil {
		return res, err
	}
	if len(res) == 0 {
		return nil, errors.New("no scenario measured")
	}
	for _, r := range res {
		logf("aws calls: %-15s %-4s %-32s %v", r.Mix, r.Metrics, r.Intake.Name, r.Calls)
	}
	return res, nil
}

// archiveRun builds the warden CLI for this machine and measures the S3
// scan against check on a local S3.
func archiveRun(ctx context.Context, o options, others int) (archivescan.Result, error) {
	tmp, err := os.MkdirTemp("", "warden-archive-*")
	if err != nil {
		return archivescan.Result{}, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "warden")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/warden")
	cmd.Dir = o.root
	if b, err := cmd.CombinedOutput(); err != nil {
		return archivescan.Result{}, fmt.Errorf("go build ./cmd/warden: %w\n%s", err, b)
	}
	m, err := awscalls.StartMoto(ctx)
	if err != nil {
		return archivescan.Result{}, err
	}
	defer m.Stop()
	cfg, err := awscalls.NewConfig(ctx, m.URL)
	if err != nil {
		return archivescan.Result{}, err
	}
	return archivescan.Measure(ctx, archivescan.Options{Events: o.archiveEvents, Others: others, Seed: seed, Binary: bin, Endpoint: m.URL, Config: cfg, Dir: filepath.Join(tmp, "archive")})
}
