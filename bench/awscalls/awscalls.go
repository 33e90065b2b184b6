// Package awscalls counts the AWS API calls the detector handler makes per
// batch of events, by "service:Operation", composed as
// functions/detector/main.go composes it (pipeline.Detector) with the real aws-sdk-go-v2 clients talking
// HTTP to a moto_server. The count is taken by pkg/awsconf's Recorder
// middleware.
package awscalls

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/bedrock-warden/warden/internal/corpus"
	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/pipeline"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/spikes"
)

// Intake says how events reach the handler.
type Intake struct {
	// Name labels the intake in the report.
	Name string
	// BatchSize is the SQS batch size; 0 means EventBridge invokes the
	// function once per event (direct intake).
	BatchSize int
	// Window is the event source mapping's batching window: a batch is
	// invoked when it holds BatchSize events or when Window has passed
	// since its first event arrived, the events arriving at their
	// eventTime (the corpus spaces them 0-1.5 s apart, 1.33 a second on
	// average). Zero: batches close on size alone.
	Window time.Duration
	// Pollers is how many batches fill at once: Lambda starts five SQS
	// pollers, which take the queue's messages in turn. 0 means 1.
	Pollers int
	// Template marks the template's default intake.
	Template bool
}

// Intakes measured by default: the template's default (SQS, batches of up
// to 1,000 filled for up to 120 s) with one poller and with the five
// Lambda starts with; direct intake; the previous template's batches of
// 100; one batch of 1,000.
var Intakes = []Intake{
	{Name: "SQS, template default (≤ 1,000 / 120 s), 1 poller", BatchSize: 1000, Window: 120 * time.Second, Pollers: 1, Template: true},
	{Name: "SQS, template default (≤ 1,000 / 120 s), 5 pollers", BatchSize: 1000, Window: 120 * time.Second, Pollers: 5, Template: true},
	{Name: "direct (1 event / invocation)", BatchSize: 0},
	{Name: "SQS, batches of 100", BatchSize: 100},
	{Name: "SQS, one batch of 1,000", BatchSize: 1000},
}

// Batches splits events arriving at times into the batches intake in
// invokes, in the order they are invoked; each batch is a list of indexes.
func (in Intake) Batches(times []time.Time) [][]int {
	if in.BatchSize == 0 {
		out := make([][]int, len(times))
		for i := range out {
			out[i] = []int{i}
		}
		return out
	}
	pollers := max(in.Pollers, 1)
	type open struct {
		first time.Time
		idx   []int
	}
	type flushed struct {
		at  time.Time
		idx []int
	}
	var done []flushed
	cur := make([]open, pollers)
	for i, t := range times {
		p := &cur[i%pollers]
		if len(p.idx) > 0 && in.Window > 0 && t.Sub(p.first) >= in.Window {
			done = append(done, flushed{p.first.Add(in.Window), p.idx})
			p.idx = nil
		}
		if len(p.idx) == 0 {
			p.first = t
		}
		p.idx = append(p.idx, i)
		if len(p.idx) == in.BatchSize {
			done = append(done, flushed{t, p.idx})
			p.idx = nil
		}
	}
	for _, p := range cur {
		if len(p.idx) > 0 {
			done = append(done, flushed{p.first.Add(in.Window), p.idx})
		}
	}
	slices.SortStableFunc(done, func(a, b flushed) int { return a.at.Compare(b.at) })
	out := make([][]int, len(done))
	for i, d := range done {
		out[i] = d.idx
	}
	return out
}

// Scenario is one measured configuration.
type Scenario struct {
	// Mix names the corpus mix, e.g. "benign" or "5 % violations", and
	// Shares is that mix.
	Mix     string
	Shares  corpus.Mix
	Metrics string // outputs.MetricsAPI or outputs.MetricsEMF
	Intake  Intake
	// SpikesOff turns the invocation-spike rule off in the policy, which
	// removes the spike analyzer (and its DynamoDB counters) from the
	// detector.
	SpikesOff bool
}

// Result is the calls one scenario made.
type Result struct {
	Scenario
	Events      int
	Invocations int
	// Findings is how many events of the corpus break a rule of the
	// default policy (what alerts could come from).
	Findings int
	// Calls counts every AWS call by "service:Operation".
	Calls map[string]int
	// LogBytes is what the function wrote to its log (slog JSON lines and
	// EMF metric lines): CloudWatch Logs ingestion.
	LogBytes int64
	// Handle is the time spent in the handler, AWS calls to moto included.
	Handle time.Duration
	// Batches are the invoked batches' sizes.
	Batches []int
	// Windows are the spike windows the events fall in, with their
	// events and distinct keys (principals and models), for the write
	// unit estimate.
	Windows []Window
}

// Window is one spike window of a scenario's events.
type Window struct {
	Events   int
	Keys     int
	KeyBytes int // total length of the keys' names
}

// Total returns the number of calls to service ("sns", "dynamodb",
// "cloudwatch"), or every call when service is "".
func (r Result) Total(service string) int {
	n := 0
	for k, v := range r.Calls {
		if service == "" || len(k) > len(service) && k[:len(service)+1] == service+":" {
			n += v
		}
	}
	return n
}

// Writes returns the DynamoDB calls that write.
func (r Result) Writes() int {
	n := 0
	for k, v := range r.Calls {
		switch k {
		case "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:TransactWriteItems":
			n += v
		}
	}
	return n
}

// Scenarios returns every combination of the benign and the standard
// (5 % violation) mix, the api and emf metrics modes, and intakes.
func Scenarios(intakes []Intake) []Scenario {
	var out []Scenario
	for _, m := range []struct {
		name string
		mix  corpus.Mix
	}{{"benign", corpus.Benign}, {"5 % violations", corpus.Standard}} {
		for _, mode := range []string{outputs.MetricsAPI, outputs.MetricsEMF} {
			for _, in := range intakes {
				out = append(out, Scenario{Mix: m.name, Shares: m.mix, Metrics: mode, Intake: in})
			}
		}
	}
	// The same benign traffic with spike detection switched off: what the
	// detector costs without the per-batch spike counters.
	for _, in := range intakes {
		out = append(out, Scenario{Mix: "benign", Shares: corpus.Benign, Metrics: outputs.MetricsEMF, Intake: in, SpikesOff: true})
	}
	return out
}

// Measure runs each scenario against the moto_server at endpoint with n
// events of seed: a fresh state table and alert topic per scenario, the
// detector handler built as functions/detector builds it (default policy,
// outputs.BuildSinks), and every call recorded. CloudWatch is switched to
// the awsJson1.0 protocol because moto does not speak the CBOR protocol the
// client uses by default; the operations are the same.
func Measure(ctx context.Context, endpoint string, seed int64, n int, scenarios []Scenario) ([]Result, error) {
	out := make([]Result, 0, len(scenarios))
	for i, sc := range scenarios {
		r, err := measure(ctx, endpoint, seed, n, sc, i)
		if err != nil {
			return out, fmt.Errorf("awscalls: %s / %s / %s: %w", sc.Mix, sc.Metrics, sc.Intake.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// NewConfig returns an aws.Config for us-east-1 with static test credentials
// and every client pointed at endpoint.
func NewConfig(ctx context.Context, endpoint string) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithBaseEndpoint(endpoint),
		config.WithRetryMaxAttempts(2),
		// moto closes connections early; the SDK's warnings about it are
		// noise in the benchmark output.
		config.WithLogger(logging.Nop{}),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	return cfg, nil
}

func measure(ctx context.Context, endpoint string, seed int64, n int, sc Scenario, i int) (Result, error) {
	res := Result{Scenario: sc}
	cfg, err := NewConfig(ctx, endpoint)
	if err != nil {
		return res, err
	}
	table, topicName := fmt.Sprintf("warden-bench-%d", i), fmt.Sprintf("warden-bench-alerts-%d", i)
	if err := CreateTable(ctx, dynamodb.NewFromConfig(cfg), table); err != nil {
		return res, err
	}
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(topicName)})
	if err != nil {
		return res, fmt.Errorf("create topic: %w", err)
	}
	rec := awsconf.NewRecorder()
	rec.Attach(&cfg)
	env := map[string]string{
		outputs.EnvTable:       table,
		outputs.EnvTopicARN:    aws.ToString(topic.TopicArn),
		outputs.EnvMetricsMode: sc.Metrics,
		outputs.EnvStack:       "warden-bench",
	}
	logs := &countingWriter{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	p := policy.Default()
	if sc.SpikesOff {
		if p, err = policy.Load("spikes off", append(policy.DefaultYAML(), []byte("\n")...)); err != nil {
			return res, err
		}
		off := false
		p.Rules[findings.RuleInvocationSpike] = policy.RuleSetting{Enabled: &off}
	}
	// Built exactly as functions/detector/main.go builds it.
	h, err := pipeline.Detector(ctx, cfg, func(k string) string { return env[k] }, p, outputs.Clients{
		CloudWatch: []func(*cloudwatch.Options){func(o *cloudwatch.Options) {
			o.Protocol = awsjson.New10(cwschemas.GraniteServiceVersion20100801)
		}},
		EMFOut: logs,
		Log:    logger,
	})
	if err != nil {
		return res, fmt.Errorf("build detector: %w", err)
	}

	evs, err := corpus.Generate(seed, n, sc.Shares)
	if err != nil {
		return res, err
	}
	res.Events = len(evs)
	for _, ev := range evs {
		if ev.Kind != corpus.KindBenign && ev.Kind != corpus.KindReadOnly &&
			ev.Kind != corpus.KindSourceIP && ev.Kind != corpus.KindPrincipal {
			res.Findings++
		}
	}
	times, windows, err := eventTimes(evs, p)
	if err != nil {
		return res, err
	}
	res.Windows = windows
	rec.Reset()
	logs.n = 0
	for _, idx := range sc.Intake.Batches(times) {
		res.Invocations++
		res.Batches = append(res.Batches, len(idx))
		var payload []byte
		if sc.Intake.BatchSize == 0 {
			payload = evs[idx[0]].JSON
		} else {
			sel := make([]corpus.Event, len(idx))
			for j, k := range idx {
				sel[j] = evs[k]
			}
			if payload, err = corpus.SQSBatch(sel); err != nil {
				return res, err
			}
		}
		t0 := time.Now()
		out, err := h.Invoke(ctx, payload)
		res.Handle += time.Since(t0)
		if err != nil {
			return res, fmt.Errorf("invocation %d: %w", res.Invocations, err)
		}
		var resp struct {
			Failures []json.RawMessage `json:"batchItemFailures"`
		}
		if json.Unmarshal(out, &resp) == nil && len(resp.Failures) > 0 {
			return res, fmt.Errorf("invocation %d: %d messages failed", res.Invocations, len(resp.Failures))
		}
	}
	res.Calls = rec.Calls()
	res.LogBytes = logs.n
	return res, nil
}

// eventTimes decodes the events' times, and counts per spike window the
// events and the distinct keys (principal, model) the analyzer counts.
func eventTimes(evs []corpus.Event, p *policy.Policy) ([]time.Time, []Window, error) {
	times := make([]time.Time, len(evs))
	type win struct {
		events int
		keys   map[string]bool
	}
	wins := map[int64]*win{}
	var order []int64
	length := spikes.WindowLength(p.Spikes)
	for i, e := range evs {
		for it := range decode.Bytes("corpus", e.JSON) {
			if it.Err != nil {
				return nil, nil, fmt.Errorf("event %d: %w", i, it.Err)
			}
			times[i] = it.Record.Time
			ev := normalize.Normalize(&it.Record, it.Origin)
			if ev.Category != normalize.CategoryInvocation {
				continue
			}
			start := spikes.WindowStart(ev.Time, length).Unix()
			w := wins[start]
			if w == nil {
				w = &win{keys: map[string]bool{}}
				wins[start] = w
				order = append(order, start)
			}
			w.events++
			w.keys["principal#"+ev.Principal.ARN] = true
			if m := ev.Model.ID(); m != "" {
				w.keys["model#"+m] = true
			}
		}
	}
	out := make([]Window, 0, len(order))
	for _, s := range order {
		w := wins[s]
		ww := Window{Events: w.events, Keys: len(w.keys)}
		for k := range w.keys {
			ww.KeyBytes += len(k)
		}
		out = append(out, ww)
	}
	return times, out, nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// CreateTable creates the state table layout (pk, sk; on demand).
func CreateTable(ctx context.Context, c *dynamodb.Client, name string) error {
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange},
		},
		BillingMode: ddbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	return nil
}

// Moto is a moto_server started by StartMoto.
type Moto struct {
	URL string
	cmd *exec.Cmd
}

// StartMoto starts moto_server on a free port of 127.0.0.1 and waits until
// it answers (30 s at most); env adds KEY=VALUE settings to its environment
// (e.g. MOTO_IAM_LOAD_MANAGED_POLICIES=true). Stop it with Stop.
func StartMoto(ctx context.Context, env ...string) (*Moto, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("moto_server not on PATH (pip install 'moto[server]'): %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Env = append(append(os.Environ(), "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing"), env...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	m := &Moto{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/moto-api/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return m, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			m.Stop()
			return nil, fmt.Errorf("moto_server did not answer on %s: %w", m.URL, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop kills the moto_server.
func (m *Moto) Stop() {
	if m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
		_ = m.cmd.Wait()
	}
}
