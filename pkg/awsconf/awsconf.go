// Package awsconf builds the aws.Config every Bedrock Warden adapter uses,
// with an optional endpoint override (tests, LocalStack-style peers) and an
// optional Recorder that notes every AWS operation a client calls.
package awsconf

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/middleware"
)

// Load returns the default AWS configuration (environment, shared config,
// instance role), with the endpoint and region overridden when given.
// AWS_ENDPOINT_URL in the environment is honoured by the SDK itself.
func Load(ctx context.Context, region, endpoint string, rec *Recorder) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(endpoint))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	if rec != nil {
		rec.Attach(&cfg)
	}
	return cfg, nil
}

// Recorder counts the AWS operations called through a config it is attached
// to, as "service:Operation" in IAM's spelling of the service prefix
// (e.g. "sns:Publish", "dynamodb:UpdateItem", "monitoring" is reported as
// "cloudwatch:PutMetricData"). Safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex
	calls map[string]int
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{calls: map[string]int{}} }

// Attach adds the recording middleware to cfg's API options.
func (r *Recorder) Attach(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		// Serialize runs once per operation (retries happen later, in
		// Finalize), after every client has stored its service metadata.
		return stack.Serialize.Add(middleware.SerializeMiddlewareFunc("wardenCallRecorder",
			func(ctx context.Context, in middleware.SerializeInput, next middleware.SerializeHandler) (middleware.SerializeOutput, middleware.Metadata, error) {
				r.add(IAMAction(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)))
				return next.HandleSerialize(ctx, in)
			}), middleware.Before)
	})
}

func (r *Recorder) add(action string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls == nil {
		r.calls = map[string]int{}
	}
	r.calls[action]++
}

// Calls returns a copy of the counts by "service:Operation".
func (r *Recorder) Calls() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.calls))
	for k, v := range r.calls {
		out[k] = v
	}
	return out
}

// Actions returns the recorded "service:Operation" names, sorted.
func (r *Recorder) Actions() []string {
	calls := r.Calls()
	out := make([]string, 0, len(calls))
	for k := range calls {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Reset forgets every recorded call.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = map[string]int{}
}

// IAMAction maps an SDK service id and operation to the IAM action that
// authorises it, e.g. ("CloudWatch", "PutMetricData") → "cloudwatch:PutMetricData".
func IAMAction(serviceID, operation string) string {
	prefix, ok := iamPrefix[serviceID]
	if !ok {
		prefix = serviceID
	}
	return prefix + ":" + operation
}

var iamPrefix = map[string]string{
	"CloudWatch":     "cloudwatch",
	"CloudTrail":     "cloudtrail",
	"DynamoDB":       "dynamodb",
	"IAM":            "iam",
	"SNS":            "sns",
	"SQS":            "sqs",
	"SSM":            "ssm",
	"STS":            "sts",
	"CloudWatchLogs": "logs",
	"Lambda":         "lambda",
	"EventBridge":    "events",
	"Bedrock":        "bedrock",
	"Organizations":  "organizations",
}
