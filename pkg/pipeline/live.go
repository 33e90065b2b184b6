package pipeline

import (
	"context"
	"encoding/json"
	"io"

	"github.com/aws/aws-lambda-go/events"

	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/lambdaenv"
	"github.com/bedrock-warden/warden/pkg/outputs"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// LiveDetector is the detector handler kept current with the policy in
// force: when `warden policy push` changes the policy parameter, the next
// invocation after the functions' re-read (within a minute) judges with
// the new policy, without a redeploy or a cold start.
type LiveDetector struct {
	live *lambdaenv.Live[*detector.Handler]
}

// NewLiveDetector builds the detector (Detector) from env's policy, and
// reports invalid policy versions through its alerter.
func NewLiveDetector(ctx context.Context, env *lambdaenv.Env, c outputs.Clients) (*LiveDetector, error) {
	l, err := lambdaenv.Rebuild(env, func(p *policy.Policy) (*detector.Handler, error) {
		return Detector(ctx, env.AWS, env.Getenv, p, c)
	})
	if err != nil {
		return nil, err
	}
	for _, s := range l.Get(ctx).Sinks {
		if a, ok := s.(*outputs.Alerter); ok {
			env.ReportRejectedPolicies(ctx, a)
		}
	}
	return &LiveDetector{live: l}, nil
}

// Handle is detector.Handler.Handle with the policy in force.
func (d *LiveDetector) Handle(ctx context.Context, payload json.RawMessage) (*events.SQSEventResponse, error) {
	return d.live.Get(ctx).Handle(ctx, payload)
}

// Invoke is detector.Handler.Invoke (the lambda.Handler entry point: the
// payload's bytes, so that a payload which is not JSON reaches the
// decoder) with the policy in force.
func (d *LiveDetector) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return d.live.Get(ctx).Invoke(ctx, payload)
}

// InvokeReader is detector.Handler.InvokeReader (lambdaenv.ReaderHandler:
// the payload decoded as the Runtime API streams it) with the policy in
// force.
func (d *LiveDetector) InvokeReader(ctx context.Context, payload io.Reader) ([]byte, error) {
	return d.live.Get(ctx).InvokeReader(ctx, payload)
}
