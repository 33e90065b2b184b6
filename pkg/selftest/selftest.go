// Package selftest proves that a deployed Bedrock Warden stack works, hop
// by hop, without a Bedrock call: it invokes the detector with a
// synthetic, clearly marked event, waits for the alert on the stack's
// topic (through a temporary SQS subscription, removed afterwards), checks
// the alert's seal, the state table, the metrics, the Security Hub finding
// and self-protection, and says for every hop whether it worked and how to
// fix it when it did not.
//
// The synthetic event can never be remediated: its eventType is one
// CloudTrail never writes (findings.SelfTestEventType), so the rules
// engine gives it one info finding of rule selftest, which no policy may
// map to a remediation action and whose alert is never marked remediable;
// and its principal is a role under the path /bedrock-warden/, which the
// remediator's guard refuses in any case.
//
// The package is pure: every AWS service sits behind a small interface
// (adapters in lambdainv, sqstap and cwcount; the CLI wires the rest).
package selftest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
)

// Target is the deployment under test, from the stack's outputs and
// parameters.
type Target struct {
	Stack, Region, Account, Partition string
	// Detector is the detector function's name (DetectorFunctionName).
	Detector string
	// Topic is the alert topic's ARN (AlertTopicArn).
	Topic string
	// Metrics is false when the stack runs with MetricsMode=off.
	Metrics bool
	// SecurityHub is true when the stack mirrors alerts into Security Hub.
	SecurityHub bool
}

// Principal is the synthetic event's principal: a role under the path
// /bedrock-warden/<stack>/ (which the remediator never touches); the role
// need not exist.
func Principal(partition, account, stack string) string {
	if partition == "" {
		partition = "aws"
	}
	return "arn:" + partition + ":iam::" + account + ":role/bedrock-warden/" + stack + "/bedrock-warden-selftest"
}

// Fingerprint is the incident fingerprint of the selftest finding for
// eventID, as the rules engine computes it.
func Fingerprint(t Target, eventID string) string {
	return findings.Fingerprint(findings.RuleSelfTest, Principal(t.Partition, t.Account, t.Stack), eventID, t.Region)
}

// Event returns the synthetic EventBridge event: a CloudTrail record of
// eventType findings.SelfTestEventType from the self-test principal.
func Event(t Target, eventID string, at time.Time) ([]byte, error) {
	principal := Principal(t.Partition, t.Account, t.Stack)
	record := map[string]any{
		"eventVersion": "1.09",
		"userIdentity": map[string]any{
			"type":        "AssumedRole",
			"principalId": "AROASELFTEST00000000:warden-selftest",
			"arn":         "arn:" + partitionOr(t.Partition) + ":sts::" + t.Account + ":assumed-role/bedrock-warden-selftest/warden-selftest",
			"accountId":   t.Account,
			"sessionContext": map[string]any{
				"sessionIssuer": map[string]any{"type": "Role", "principalId": "AROASELFTEST00000000", "arn": principal,
					"accountId": t.Account, "userName": "bedrock-warden-selftest"},
			},
		},
		"eventTime":          at.UTC().Format(time.RFC3339),
		"eventSource":        "bedrock.amazonaws.com",
		"eventName":          "SelfTest",
		"awsRegion":          t.Region,
		"sourceIPAddress":    "bedrock-warden-selftest",
		"userAgent":          "bedrock-warden-selftest",
		"requestParameters":  map[string]any{"note": "synthetic event sent by warden selftest; not an API call"},
		"responseElements":   nil,
		"requestID":          eventID,
		"eventID":            eventID,
		"readOnly":           true,
		"eventType":          findings.SelfTestEventType,
		"managementEvent":    true,
		"recipientAccountId": t.Account,
		"eventCategory":      "Management",
	}
	envelope := map[string]any{
		"version":     "0",
		"id":          eventID,
		"detail-type": "AWS API Call via CloudTrail",
		"source":      "aws.bedrock",
		"account":     t.Account,
		"time":        at.UTC().Format(time.RFC3339),
		"region":      t.Region,
		"resources":   []string{},
		"detail":      record,
	}
	return json.Marshal(envelope)
}

func partitionOr(p string) string {
	if p == "" {
		return "aws"
	}
	return p
}

// Invoker runs the detector synchronously. functionError is Lambda's
// X-Amz-Function-Error ("Unhandled") with the payload, when the function
// failed.
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) (functionError string, body []byte, err error)
}

// Message is one alert as the temporary subscription received it.
type Message struct {
	Subject    string
	Body       string
	Attributes map[string]string
}

// Subscription is the temporary subscription to the alert topic.
type Subscription interface {
	// ARN is the subscription's ARN.
	ARN() string
	// Receive waits up to wait for messages.
	Receive(ctx context.Context, wait time.Duration) ([]Message, error)
	// Close unsubscribes and deletes what Open created.
	Close(ctx context.Context) error
}

// Tap opens temporary subscriptions.
type Tap interface {
	Open(ctx context.Context, topic, name string) (Subscription, error)
}

// Metrics counts the selftest findings the detector published.
type Metrics interface {
	FindingCount(ctx context.Context, rule, severity string, since, until time.Time) (float64, error)
}

// State reads the state table.
type State interface {
	// Handled reports whether the event is marked handled.
	Handled(ctx context.Context, eventID string) (bool, error)
	// Alerted reports whether the fingerprint's alert window says sent.
	Alerted(ctx context.Context, fingerprint string) (bool, error)
}

// Verifier checks an alert's seal.
type Verifier interface {
	Verify(ctx context.Context, findingJSON []byte, attrs map[string]string) error
}

// Sentinel reports whether self-protection saw the temporary
// subscription (the sentinel marks self-test subscriptions, so that their
// removal is not reported as tampering).
type Sentinel interface {
	Seen(ctx context.Context, subscriptionARN string) (bool, error)
}

// Hub reports whether the finding reached Security Hub.
type Hub interface {
	Imported(ctx context.Context, fingerprint string) (bool, error)
}

// Hop is one link of the pipeline, checked.
type Hop struct {
	Name   string        `json:"name"`
	Status Status        `json:"status"`
	Detail string        `json:"detail"`
	Fix    string        `json:"fix"`
	Took   time.Duration `json:"tookNanos"`
}

// Status is a hop's outcome.
type Status string

// Statuses.
const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	Skipped Status = "skipped"
)

// Report is what a run found.
type Report struct {
	Stack       string `json:"stack"`
	Region      string `json:"region"`
	EventID     string `json:"eventId"`
	Fingerprint string `json:"fingerprint"`
	Hops        []Hop  `json:"hops"`
	OK          bool   `json:"ok"`
}

// Runner runs the self-test. Required: Invoker, Tap. The others, when
// nil, skip their hop with the reason.
type Runner struct {
	Invoker  Invoker
	Tap      Tap
	State    State
	Metrics  Metrics
	Verifier Verifier
	Sentinel Sentinel
	Hub      Hub
	// AlertWait bounds the wait for the alert (2 minutes when zero);
	// SettleWait bounds the wait for metrics, Security Hub and the
	// sentinel, which lag (3 minutes when zero).
	AlertWait, SettleWait time.Duration
	// Poll is the polling interval (5 s when zero).
	Poll time.Duration
	// Subscribed, when set, runs right after the subscription exists
	// (tests play the sentinel there).
	Subscribed func(ctx context.Context, s Subscription)
	// Progress, when set, sees each hop as it completes.
	Progress func(Hop)
	Now      func() time.Time
	Sleep    func(ctx context.Context, d time.Duration) error
	// NewID returns the synthetic event's id (a random UUID in the CLI).
	NewID func() string
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) sleep(ctx context.Context, d time.Duration) error {
	if r.Sleep != nil {
		return r.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Run checks t hop by hop. It always removes the temporary subscription
// it made.
func (r *Runner) Run(ctx context.Context, t Target) (rep Report) {
	rep = Report{Stack: t.Stack, Region: t.Region}
	add := func(h Hop) Hop {
		rep.Hops = append(rep.Hops, h)
		if r.Progress != nil {
			r.Progress(h)
		}
		return h
	}
	timed := func(start time.Time, h Hop) Hop {
		h.Took = r.now().Sub(start)
		return add(h)
	}
	eventID := "selftest-" + r.NewID()
	rep.EventID, rep.Fingerprint = eventID, Fingerprint(t, eventID)
	defer func() {
		rep.OK = true
		for _, h := range rep.Hops {
			if h.Status == Failed {
				rep.OK = false
			}
		}
	}()

	// 1. The temporary subscription.
	start := r.now()
	queue := t.Stack + "-selftest-" + shortID(eventID)
	if len(queue) > maxQueueName {
		timed(start, Hop{Name: "temporary subscription to the alert topic", Status: Failed,
			Detail: fmt.Sprintf("the queue name %q is longer than SQS allows (%d characters)", queue, maxQueueName),
			Fix:    "the stack name is too long for a self-test queue; check the deployment by hand (docs/deploy.md)"})
		return rep
	}
	sub, err := r.Tap.Open(ctx, t.Topic, queue)
	if err != nil {
		timed(start, Hop{Name: "temporary subscription to the alert topic", Status: Failed, Detail: err.Error(),
			Fix: "the caller needs sqs:CreateQueue, sqs:SetQueueAttributes, sqs:GetQueueAttributes, sqs:ReceiveMessage, sqs:DeleteQueue and sns:Subscribe, sns:Unsubscribe on " + t.Topic})
		return rep
	}
	timed(start, Hop{Name: "temporary subscription to the alert topic", Status: Passed, Detail: sub.ARN()})
	if r.Subscribed != nil {
		r.Subscribed(ctx, sub)
	}
	defer func() {
		start := r.now()
		if err := sub.Close(context.WithoutCancel(ctx)); err != nil {
			timed(start, Hop{Name: "cleanup", Status: Failed, Detail: err.Error(),
				Fix: "remove the subscription " + sub.ARN() + " and its queue by hand"})
			return
		}
		timed(start, Hop{Name: "cleanup", Status: Passed, Detail: "unsubscribed and deleted the queue"})
	}()

	// 2. The detector.
	start = r.now()
	payload, err := Event(t, eventID, start)
	if err != nil {
		timed(start, Hop{Name: "detector", Status: Failed, Detail: err.Error()})
		return rep
	}
	fnErr, body, err := r.Invoker.Invoke(ctx, t.Detector, payload)
	switch {
	case err != nil:
		timed(start, Hop{Name: "detector", Status: Failed, Detail: err.Error(),
			Fix: "the caller needs lambda:InvokeFunction on " + t.Detector + " (the stack's DetectorFunctionName output)"})
		return rep
	case fnErr != "":
		timed(start, Hop{Name: "detector", Status: Failed, Detail: "the function failed (" + fnErr + "): " + clip(string(body), 400),
			Fix: "read the detector's log group /aws/lambda/" + t.Detector + " for the error"})
		return rep
	}
	timed(start, Hop{Name: "detector", Status: Passed, Detail: "invoked " + t.Detector + " with synthetic event " + eventID})

	// 3. The alert on the topic.
	start = r.now()
	msg, err := r.awaitAlert(ctx, sub, rep.Fingerprint, durationOr(r.AlertWait, 2*time.Minute))
	if err != nil {
		timed(start, Hop{Name: "alert on the topic", Status: Failed, Detail: err.Error(),
			Fix: "read the detector's log group for \"alert published\" or \"alert not published\"; check WARDEN_TOPIC_ARN and WARDEN_TABLE, and that nothing denies the detector sns:Publish (a fresh subscription can also take a moment: run selftest again)"})
	} else {
		timed(start, Hop{Name: "alert on the topic", Status: Passed, Detail: "received \"" + clip(msg.Subject, 120) + "\""})
		r.checkSeal(ctx, msg, timed)
	}

	// 4. State, metrics, Security Hub and the sentinel, which may lag.
	r.settle(ctx, t, rep.EventID, rep.Fingerprint, sub, timed)
	return rep
}

// awaitAlert waits for the alert carrying the self-test finding.
func (r *Runner) awaitAlert(ctx context.Context, sub Subscription, fingerprint string, wait time.Duration) (Message, error) {
	deadline := r.now().Add(wait)
	seen := 0
	for {
		left := deadline.Sub(r.now())
		if left <= 0 {
			return Message{}, fmt.Errorf("no alert for the synthetic event within %s (%d other messages arrived)", wait, seen)
		}
		msgs, err := sub.Receive(ctx, min(left, 20*time.Second))
		if err != nil {
			return Message{}, fmt.Errorf("read the temporary queue: %w", err)
		}
		for _, m := range msgs {
			f, err := findings.ParseAlert(m.Body)
			if err == nil && f.Fingerprint == fingerprint {
				return m, nil
			}
			seen++
		}
		if ctx.Err() != nil {
			return Message{}, ctx.Err()
		}
	}
}

// checkSeal verifies the alert's seal.
func (r *Runner) checkSeal(ctx context.Context, m Message, timed func(time.Time, Hop) Hop) {
	start := r.now()
	name := "alert seal"
	_, raw, err := findings.ParseAlertJSON(m.Body)
	switch {
	case err != nil:
		timed(start, Hop{Name: name, Status: Failed, Detail: err.Error()})
		return
	case r.Verifier == nil:
		timed(start, Hop{Name: name, Status: Skipped, Detail: "no finding key to verify with (the stack has no FindingKeyArn output)"})
		return
	}
	err = r.Verifier.Verify(ctx, raw, m.Attributes)
	switch {
	case err == nil:
		timed(start, Hop{Name: name, Status: Passed, Detail: "sealed with the stack's finding key: the remediator would admit it"})
	case isAccessDenied(err):
		timed(start, Hop{Name: name, Status: Skipped, Detail: "this caller may not use kms:VerifyMac on the finding key",
			Fix: "run selftest as the stack's OnCallRoleArn role to check the seal too"})
	default:
		timed(start, Hop{Name: name, Status: Failed, Detail: err.Error(),
			Fix: "alerts that do not verify are refused by the remediator: check the detector's WARDEN_FINDING_KEY and the FindingKey key policy (OriginatorsSeal)"})
	}
}

// settle polls the lagging hops together until each passed or the wait
// is over.
func (r *Runner) settle(ctx context.Context, t Target, eventID, fingerprint string, sub Subscription, timed func(time.Time, Hop) Hop) {
	type check struct {
		name, fix, done string
		skip            string
		try             func() (bool, error)
		last            error
	}
	since := r.now().Add(-10 * time.Minute)
	var checks []*check
	if r.State == nil {
		checks = append(checks, &check{name: "state table", skip: "no state reader"})
	} else {
		checks = append(checks, &check{name: "state table", done: "the event is marked handled and the alert window is sent",
			fix: "the caller needs dynamodb:GetItem on the state table; when it has it, the detector did not commit the alert: read its log group",
			try: func() (bool, error) {
				h, err := r.State.Handled(ctx, eventID)
				if err != nil || !h {
					return false, err
				}
				return r.State.Alerted(ctx, fingerprint)
			}})
	}
	switch {
	case !t.Metrics:
		checks = append(checks, &check{name: "metrics", skip: "the stack runs with MetricsMode=off"})
	case r.Metrics == nil:
		checks = append(checks, &check{name: "metrics", skip: "no metrics reader"})
	default:
		checks = append(checks, &check{name: "metrics", done: "BedrockWarden Findings{Rule=selftest} counted the finding",
			fix: "EMF metrics appear a minute or two after the detector's log line: run selftest again; if they never do, check MetricsMode and the detector's log group; the caller needs cloudwatch:GetMetricData",
			try: func() (bool, error) {
				n, err := r.Metrics.FindingCount(ctx, findings.RuleSelfTest, string(findings.Info), since, r.now().Add(time.Minute))
				return n >= 1, err
			}})
	}
	switch {
	case !t.SecurityHub:
		checks = append(checks, &check{name: "Security Hub", skip: "the stack runs with EnableSecurityHub=false"})
	case r.Hub == nil:
		checks = append(checks, &check{name: "Security Hub", skip: "no Security Hub reader"})
	default:
		checks = append(checks, &check{name: "Security Hub", done: "the finding was imported (archived at once: it is synthetic)",
			fix: "enable Security Hub in this account and Region; the caller needs securityhub:GetFindings; the detector logs \"findings not imported into Security Hub\" with the reason",
			try: func() (bool, error) { return r.Hub.Imported(ctx, fingerprint) }})
	}
	if r.Sentinel == nil {
		checks = append(checks, &check{name: "self-protection", skip: "no sentinel reader"})
	} else {
		checks = append(checks, &check{name: "self-protection", done: "the sentinel saw the temporary subscription (its removal is not reported as tampering)",
			fix: "the sentinel did not record the subscription in time: removing it will raise a monitor-tampered alert; check the MonitorEventsRule rule and the sentinel's log group",
			try: func() (bool, error) { return r.Sentinel.Seen(ctx, sub.ARN()) }})
	}
	start := r.now()
	deadline := start.Add(durationOr(r.SettleWait, 3*time.Minute))
	pending := 0
	for _, c := range checks {
		if c.skip != "" {
			timed(start, Hop{Name: c.name, Status: Skipped, Detail: c.skip})
			continue
		}
		pending++
	}
	for pending > 0 {
		for _, c := range checks {
			if c.skip != "" || c.try == nil {
				continue
			}
			ok, err := c.try()
			c.last = err
			if ok {
				timed(start, Hop{Name: c.name, Status: Passed, Detail: c.done})
				c.try = nil
				pending--
			}
		}
		if pending == 0 || !r.now().Before(deadline) || ctx.Err() != nil {
			break
		}
		if err := r.sleep(ctx, durationOr(r.Poll, 5*time.Second)); err != nil {
			break
		}
	}
	for _, c := range checks {
		if c.try == nil || c.skip != "" {
			continue
		}
		detail := "not seen within " + durationOr(r.SettleWait, 3*time.Minute).String()
		if c.last != nil {
			detail += ": " + c.last.Error()
		}
		timed(start, Hop{Name: c.name, Status: Failed, Detail: detail, Fix: c.fix})
	}
}

// maxQueueName is SQS's limit on a queue name.
const maxQueueName = 80

func isAccessDenied(err error) bool {
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) {
		return strings.Contains(coded.ErrorCode(), "AccessDenied")
	}
	return strings.Contains(err.Error(), "AccessDenied")
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "selftest-")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
