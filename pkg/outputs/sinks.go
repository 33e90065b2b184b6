package outputs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/bedrock-warden/warden/pkg/alerts"
	"github.com/bedrock-warden/warden/pkg/alerts/hubpub"
	"github.com/bedrock-warden/warden/pkg/alerts/snspub"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/metrics"
	"github.com/bedrock-warden/warden/pkg/metrics/cwput"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/seal"
	"github.com/bedrock-warden/warden/pkg/seal/kmsmac"
	"github.com/bedrock-warden/warden/pkg/state/dynamostore"
)

// Environment variables BuildSinks reads.
const (
	EnvTable            = "WARDEN_TABLE"             // state table name (required for alerts)
	EnvTopicARN         = "WARDEN_TOPIC_ARN"         // alert topic (required for alerts)
	EnvMetricsMode      = "WARDEN_METRICS_MODE"      // emf (default) | api | off
	EnvMetricsNamespace = "WARDEN_METRICS_NAMESPACE" // default BedrockWarden
	EnvAlertFormat      = "WARDEN_ALERT_FORMAT"      // text (default) | chat
	EnvStack            = "WARDEN_STACK"             // deployment name shown in alerts
	EnvFindingKey       = "WARDEN_FINDING_KEY"       // KMS HMAC key that seals alerts (optional)
	EnvSecurityHub      = "WARDEN_SECURITY_HUB"      // "true": also import alerted findings into Security Hub
)

// Metrics modes.
const (
	MetricsEMF = "emf"
	MetricsAPI = "api"
	MetricsOff = "off"
)

// MetricsPutter sends metric data with an API call; *cwput.Putter
// implements it.
type MetricsPutter interface {
	Put(ctx context.Context, ts time.Time, ds []metrics.Datum) error
}

// Metrics is the metrics sink: per batch, events processed, invocations by
// base model and by region, findings by rule and severity, decode errors,
// alerts sent and suppressed. With Putter nil it writes EMF lines to Out
// (stdout when nil); else it calls Putter once per 1,000 datums. The zero
// value writes EMF to stdout. Safe for concurrent use; use it by pointer.
type Metrics struct {
	Namespace string
	Out       io.Writer
	Putter    MetricsPutter
	Now       func() time.Time
	// Log receives PutMetricData failures: metrics are best effort, and a
	// failure must not bring back a batch whose alerts already went out.
	Log *slog.Logger
	// ByAccount adds Invocations and Findings by Account (CollectByAccount)
	// for a stack that judges an organisation's accounts (Intake=s3): one
	// metric per account with activity, bounded by the organisation.
	ByAccount bool

	mu      sync.Mutex // guards scratch
	scratch metricsScratch
}

var _ detector.Sink = (*Metrics)(nil)

// ModelDimension is the Model dimension value of an invocation. Only a
// call that succeeded proves its model id names a real model (or one of the
// account's own resources): refused or invalid calls carry whatever id the
// caller chose, so they are counted under "unresolved" to keep the number
// of metrics bounded. Values are cut to 256 bytes of printable ASCII.
func ModelDimension(ev *normalize.Event) string {
	id := ev.Model.ID()
	if !ev.Outcome.Success() || id == "" {
		return "unresolved"
	}
	if len(id) <= 256 && printableASCII(id) {
		return id // the usual case: no copy per event
	}
	var b strings.Builder
	for i := 0; i < len(id) && b.Len() < 256; i++ {
		if c := id[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// Collect returns the batch's metric data.
func Collect(b *detector.Batch) []metrics.Datum {
	var s metrics.Set
	collect(&s, b)
	return s.Datums()
}

// collect adds the batch's metrics to s.
func collect(s *metrics.Set, b *detector.Batch) {
	s.Add(metrics.EventsProcessed, float64(len(b.Events)))
	s.Add(metrics.DecodeErrors, float64(len(b.Errors)))
	s.Add(metrics.AlertsSent, float64(b.AlertsSent))
	s.Add(metrics.AlertsSuppressed, float64(b.AlertsSuppressed))
	for i := range b.Events {
		ev := &b.Events[i]
		if ev.Category != normalize.CategoryInvocation {
			continue
		}
		s.Add(metrics.Invocations, 1, metrics.Dimension{Name: metrics.DimModel, Value: ModelDimension(ev)})
		s.Add(metrics.Invocations, 1, metrics.Dimension{Name: metrics.DimRegion, Value: ev.Region})
	}
	for i := range b.Findings {
		f := &b.Findings[i]
		s.Add(metrics.Findings, 1,
			metrics.Dimension{Name: metrics.DimRule, Value: f.Rule},
			metrics.Dimension{Name: metrics.DimSeverity, Value: string(f.Severity)})
	}
}

// CollectByAccount returns the batch's invocations and findings by
// account (the member account of an organisation trail's record).
func CollectByAccount(b *detector.Batch) []metrics.Datum {
	var s metrics.Set
	collectByAccount(&s, b)
	return s.Datums()
}

// collectByAccount adds the batch's metrics by account to s.
func collectByAccount(s *metrics.Set, b *detector.Batch) {
	for i := range b.Events {
		if ev := &b.Events[i]; ev.Category == normalize.CategoryInvocation {
			s.Add(metrics.Invocations, 1, metrics.Dimension{Name: metrics.DimAccount, Value: ev.Account})
		}
	}
	for i := range b.Findings {
		s.Add(metrics.Findings, 1, metrics.Dimension{Name: metrics.DimAccount, Value: b.Findings[i].Account})
	}
}

// metricsScratch is what the EMF path of Deliver reuses from one batch to
// the next: the sets (which keep the metrics they have seen), the datums
// and the encoder's buffers.
type metricsScratch struct {
	set, byAccount metrics.Set
	ds             []metrics.Datum
	emf            metrics.EMF
}

// Deliver implements detector.Sink. Writing EMF, a warm sink allocates
// nothing for a batch whose metrics it has seen before: it reuses one
// scratch, and a call that finds the scratch in use by another runs on a
// new one rather than wait.
func (m *Metrics) Deliver(ctx context.Context, b *detector.Batch) error {
	if m.Putter != nil {
		// The Putter may keep the datums: they are the caller's.
		ds := Collect(b)
		if m.ByAccount {
			ds = append(ds, CollectByAccount(b)...)
		}
		return m.Put(ctx, ds)
	}
	if !m.mu.TryLock() {
		return m.deliverEMF(&metricsScratch{}, b)
	}
	defer m.mu.Unlock()
	return m.deliverEMF(&m.scratch, b)
}

// deliverEMF writes the batch's metrics as EMF lines with sc.
func (m *Metrics) deliverEMF(sc *metricsScratch, b *detector.Batch) error {
	sc.set.Reset()
	collect(&sc.set, b)
	sc.ds = sc.set.AppendDatums(sc.ds[:0])
	if m.ByAccount {
		sc.byAccount.Reset()
		collectByAccount(&sc.byAccount, b)
		sc.ds = sc.byAccount.AppendDatums(sc.ds)
	}
	err := m.writeEMF(&sc.emf, sc.ds)
	clear(sc.ds) // no datum outlives the batch but in the sets
	return err
}

// Put publishes ds as the sink publishes a batch's metrics: EMF lines, or
// PutMetricData (whose failure is logged, not returned).
func (m *Metrics) Put(ctx context.Context, ds []metrics.Datum) error {
	if m.Putter != nil {
		if err := m.Putter.Put(ctx, m.now(), ds); err != nil {
			log := m.Log
			if log == nil {
				log = slog.Default()
			}
			log.ErrorContext(ctx, "metrics not published", "datums", len(ds), "error", err.Error())
		}
		return nil
	}
	return m.writeEMF(nil, ds)
}

// writeEMF writes ds as EMF lines to Out with e (a new encoder when nil).
func (m *Metrics) writeEMF(e *metrics.EMF, ds []metrics.Datum) error {
	ns := m.Namespace
	if ns == "" {
		ns = metrics.DefaultNamespace
	}
	out := m.Out
	if out == nil {
		out = os.Stdout
	}
	var err error
	if e != nil {
		err = e.Write(out, ns, m.now(), ds)
	} else {
		err = metrics.WriteEMF(out, ns, m.now(), ds)
	}
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// now is the sink's clock.
func (m *Metrics) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Clients are optional client options, for tests that point the clients at
// a local peer speaking another protocol.
type Clients struct {
	SNS        []func(*sns.Options)
	DynamoDB   []func(*dynamodb.Options)
	CloudWatch []func(*cloudwatch.Options)
	KMS        []func(*kms.Options)
	// SecurityHub are the Security Hub client's options.
	SecurityHub []func(*securityhub.Options)
	// EMFOut receives EMF lines (stdout when nil).
	EMFOut io.Writer
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	Log *slog.Logger
}

// Outputs is what BuildSinks built.
type Outputs struct {
	// Alerter is nil when WARDEN_TOPIC_ARN or WARDEN_TABLE is unset.
	Alerter *Alerter
	Metrics *Metrics
	// Sinks are the detector sinks, alerts before metrics (metrics read
	// the alert counts).
	Sinks []detector.Sink
}

// BuildSinks reads the environment (see the Env* constants) and builds the
// alert and metrics sinks on cfg. Alerts need both WARDEN_TOPIC_ARN and
// WARDEN_TABLE; setting only one is an error.
func BuildSinks(ctx context.Context, cfg aws.Config, getenv func(string) string, p *policy.Policy, c Clients) (*Outputs, error) {
	out := &Outputs{}
	format, err := alerts.ParseFormat(getenv(EnvAlertFormat))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvAlertFormat, err)
	}
	topic, table := strings.TrimSpace(getenv(EnvTopicARN)), strings.TrimSpace(getenv(EnvTable))
	switch {
	case topic != "" && table != "":
		out.Alerter = &Alerter{
			Store:     dynamostore.New(dynamodb.NewFromConfig(cfg, c.DynamoDB...), table),
			Publisher: snspub.NewFromConfig(cfg, topic, c.SNS...),
			Policy:    p,
			Format:    format,
			Stack:     getenv(EnvStack),
			Now:       c.Now,
			Log:       c.Log,
		}
		if key := strings.TrimSpace(getenv(EnvFindingKey)); key != "" {
			out.Alerter.Sealer = seal.Findings{MAC: kmsmac.New(cfg, key, c.KMS...)}
		}
		switch hub := strings.ToLower(strings.TrimSpace(getenv(EnvSecurityHub))); hub {
		case "", "false":
		case "true":
			o, err := hubpub.OptionsFromTopic(getenv(EnvStack), topic)
			if err != nil {
				return nil, err
			}
			o.Now = c.Now
			out.Alerter.Hub = hubpub.New(cfg, o, c.SecurityHub...)
		default:
			return nil, fmt.Errorf("%s %q: want true or false", EnvSecurityHub, hub)
		}
		out.Sinks = append(out.Sinks, out.Alerter)
	case topic != "" || table != "":
		return nil, fmt.Errorf("alerts need both %s and %s (got topic %q, table %q)", EnvTopicARN, EnvTable, topic, table)
	}
	if out.Metrics, err = BuildMetrics(cfg, getenv, c); err != nil {
		return nil, err
	}
	if out.Metrics != nil {
		out.Sinks = append(out.Sinks, out.Metrics)
	}
	return out, nil
}

// BuildMetrics builds the metrics sink of WARDEN_METRICS_MODE and
// WARDEN_METRICS_NAMESPACE: nil when the mode is off.
func BuildMetrics(cfg aws.Config, getenv func(string) string, c Clients) (*Metrics, error) {
	ns := strings.TrimSpace(getenv(EnvMetricsNamespace))
	if ns == "" {
		ns = metrics.DefaultNamespace
	}
	switch mode := strings.ToLower(strings.TrimSpace(getenv(EnvMetricsMode))); mode {
	case "", MetricsEMF:
		return &Metrics{Namespace: ns, Out: c.EMFOut, Now: c.Now}, nil
	case MetricsAPI:
		return &Metrics{Namespace: ns, Putter: cwput.NewFromConfig(cfg, ns, c.CloudWatch...), Now: c.Now, Log: c.Log}, nil
	case MetricsOff:
		return nil, nil
	default:
		return nil, fmt.Errorf("%s %q: want %s, %s or %s", EnvMetricsMode, mode, MetricsEMF, MetricsAPI, MetricsOff)
	}
}
