// Command reconciler is the scheduled Lambda (default every 15 minutes)
// that reads CloudTrail event history for Bedrock events EventBridge may
// have dropped, sends them through the detector pipeline (alerting once:
// events already handled are skipped), and runs the pipeline-silent
// heartbeat (see docs/history.md).
//
// Environment: WARDEN_RECONCILE_WINDOW, WARDEN_RECONCILE_OVERLAP,
// WARDEN_RECONCILE_REGIONS (package reconcile); WARDEN_TOPIC_ARN,
// WARDEN_TABLE, WARDEN_ALERT_FORMAT, WARDEN_STACK, WARDEN_METRICS_MODE,
// WARDEN_METRICS_NAMESPACE (package outputs); the policy variables
// (package lambdaenv: re-read within a minute of a change).
package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/heartbeat"
	"github.com/bedrock-warden/warden/pkg/heartbeat/cwmetric"
	"github.com/bedrock-warden/warden/pkg/heartbeat/statedb"
	"github.com/bedrock-warden/warden/pkg/history"
	"github.com/bedrock-warden/warden/pkg/history/trail"
	"github.com/bedrock-warden/warden/pkg/lambdaenv"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/reconcile"
	"github.com/bedrock-warden/warden/pkg/rules"
)

func main() {
	ctx := context.Background()
	env := lambdaenv.MustLoad(ctx)
	log, cfg, fatal := env.Log, env.AWS, env.Fatal
	conf, err := reconcile.ConfigFromEnv(os.Getenv, cfg.Region)
	if err != nil {
		fatal("reconcile config", err)
	}
	r, err := lambdaenv.Rebuild(env, func(p *policy.Policy) (*reconcile.Reconciler, error) {
		out, err := outputs.BuildSinks(ctx, cfg, env.Getenv, p, outputs.Clients{Log: log})
		if err != nil {
			return nil, err
		}
		// Only the alert sink: the detector's EventsProcessed metric must
		// count EventBridge deliveries alone, or the heartbeat could not see
		// a silent pipeline. No analyzers: re-read events must not count
		// twice towards spikes.
		var sinks []detector.Sink
		if out.Alerter != nil {
			sinks = append(sinks, out.Alerter)
			env.ReportRejectedPolicies(ctx, out.Alerter)
		} else {
			log.Warn("alerts disabled: WARDEN_TOPIC_ARN and WARDEN_TABLE unset; findings are only logged")
		}
		r := &reconcile.Reconciler{
			Config:   conf,
			History:  &history.Scanner{Lookup: trail.Factory(cfg), Backoff: history.Backoff{Rand: rand.Float64}},
			Pipeline: &detector.Handler{Core: &detector.Core{Rules: rules.New(p)}, Sinks: sinks, Log: log},
			Log:      log,
		}
		table := strings.TrimSpace(os.Getenv(outputs.EnvTable))
		if out.Metrics != nil && table != "" {
			m := &heartbeat.Monitor{
				Policy:  p,
				Metrics: cwmetric.NewFromConfig(cfg, out.Metrics.Namespace),
				Store:   statedb.New(dynamodb.NewFromConfig(cfg), table),
				Region:  cfg.Region,
				Grace:   conf.HeartbeatGrace,
				Log:     log,
			}
			if out.Alerter != nil {
				m.Notifier = out.Alerter
			}
			r.Heartbeat = m
		} else {
			log.Warn("heartbeat disabled: it needs the detector's metrics (WARDEN_METRICS_MODE not off) and WARDEN_TABLE")
		}
		return r, nil
	})
	if err != nil {
		fatal("outputs", err)
	}
	lambda.Start(func(ctx context.Context, payload json.RawMessage) error {
		return r.Get(ctx).Handle(ctx, payload)
	})
}
