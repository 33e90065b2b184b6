package outputs

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/metrics"
	"github.com/bedrock-warden/warden/pkg/normalize"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestBuildSinksFromEnvironment(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1"}
	ctx := context.Background()
	out, err := BuildSinks(ctx, cfg, env(map[string]string{EnvTopicARN: "arn:t", EnvTable: "warden", EnvAlertFormat: "chat", EnvStack: "s"}), nil, Clients{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Alerter == nil || out.Alerter.Format != "chat" || out.Alerter.Stack != "s" || out.Metrics == nil || out.Metrics.Putter != nil {
		t.Fatalf("outputs = %+v", out)
	}
	if len(out.Sinks) != 2 || out.Sinks[0] != detector.Sink(out.Alerter) {
		t.Errorf("sinks must be alerts then metrics: %v", out.Sinks)
	}
	out, err = BuildSinks(ctx, cfg, env(map[string]string{EnvMetricsMode: "api", EnvMetricsNamespace: "NS"}), nil, Clients{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Alerter != nil || out.Metrics.Putter == nil || out.Metrics.Namespace != "NS" || len(out.Sinks) != 1 {
		t.Errorf("api mode outputs = %+v", out)
	}
	out, err = BuildSinks(ctx, cfg, env(map[string]string{EnvMetricsMode: "off"}), nil, Clients{})
	if err != nil || len(out.Sinks) != 0 {
		t.Errorf("off: %+v, %v", out, err)
	}
	for name, bad := range map[string]map[string]string{
		"topic without table": {EnvTopicARN: "arn:t"},
		"table without topic": {EnvTable: "warden"},
		"bad format":          {EnvAlertFormat: "html"},
		"bad metrics mode":    {EnvMetricsMode: "statsd"},
	} {
		if _, err := BuildSinks(ctx, cfg, env(bad), nil, Clients{}); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestMetricsSinkCollectsBatch(t *testing.T) {
	b := &detector.Batch{
		Events: []normalize.Event{
			{Category: normalize.CategoryInvocation, Region: "us-east-1", Model: normalize.Model{Raw: "us.m", Base: "m"}},
			{Category: normalize.CategoryInvocation, Region: "us-west-2", Model: normalize.Model{Raw: "arn:x"}},
			{Category: normalize.CategoryControlPlane, Region: "us-east-1"},
		},
		Findings:         []findings.Finding{{Rule: "r", Severity: findings.High}, {Rule: "r", Severity: findings.High}},
		AlertsSent:       1,
		AlertsSuppressed: 1,
	}
	var buf bytes.Buffer
	m := &Metrics{Out: &buf, Now: func() time.Time { return time.Unix(0, 0) }}
	if err := m.Deliver(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, d := range Collect(b) {
		k := d.Name
		for _, dim := range d.Dimensions {
			k += " " + dim.Name + "=" + dim.Value
		}
		got[k] = d.Value
	}
	want := map[string]float64{
		metrics.EventsProcessed: 3, metrics.DecodeErrors: 0, metrics.AlertsSent: 1, metrics.AlertsSuppressed: 1,
		"Invocations Model=m": 1, "Invocations Model=arn:x": 1, "Invocations Region=us-east-1": 1, "Invocations Region=us-west-2": 1,
		"Findings Rule=r Severity=high": 2,
	}
	if len(got) != len(want) {
		t.Errorf("metrics = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if !strings.Contains(buf.String(), `"Namespace":"BedrockWarden"`) {
		t.Errorf("EMF output lacks the default namespace: %s", buf.String())
	}
}
