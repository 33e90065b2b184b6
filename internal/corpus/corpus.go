// Package corpus generates seeded, realistic corpora of EventBridge envelopes
// around Bedrock CloudTrail records, for benchmarks and tests that need many
// events rather than a handful of samples.
//
// A corpus is mostly benign invocations spread over principals (IAM users,
// assumed roles, IAM Identity Center roles, break-glass roles), models (bare
// ids, geography profiles, foundation-model and inference-profile ARNs),
// regions (with and without a rerouted inferenceRegion) and callers (IPv4,
// IPv6, VPC endpoints, AWS service callers), plus a share of violations of
// every event rule and a few control-plane events. Each event carries the
// Kind the generator meant, so a test can check a detector against it.
//
// The same seed, size and mix always give the same bytes.
package corpus

import (
	"bufio"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Kind is what a generated event was built to be. The violation kinds are
// named after the rule they trigger.
type Kind string

// Kinds. Every violation kind triggers exactly its rule under the embedded
// default policy, except KindSourceIP and KindPrincipal: the default policy
// restricts neither sources nor principals, so those two trigger their
// rules only under a policy that does (events/strict-policy.yaml) and are
// benign under the default.
const (
	// KindBenign is an allowed invocation.
	KindBenign Kind = "benign"
	// KindReadOnly is a benign read of the control plane (Get*, List*).
	KindReadOnly Kind = "read-only"

	KindModel     Kind = "unauthorized-model"
	KindRegion    Kind = "unauthorized-region"
	KindSourceIP  Kind = "unauthorized-source-ip"
	KindPrincipal Kind = "unauthorized-principal"
	KindAPIKey    Kind = "api-key-used"
	KindDenied    Kind = "denied-invocation"
	KindLogging   Kind = "invocation-logging-disabled"
	KindGuardrail Kind = "guardrail-changed"
	KindAccess    Kind = "model-access-changed"
	KindCostly    Kind = "costly-resource-created"
)

// InvocationViolations are the invocation kinds a Mix's Violations share is
// spread over, in order.
var InvocationViolations = []Kind{KindModel, KindRegion, KindSourceIP, KindPrincipal, KindAPIKey, KindDenied}

// ControlPlaneKinds are the kinds a Mix's ControlPlane share is spread over:
// the four control-plane rules and benign reads.
var ControlPlaneKinds = []Kind{KindLogging, KindGuardrail, KindAccess, KindCostly, KindReadOnly}

// Mix says what share of a corpus is not a benign invocation. Shares are
// fractions of the corpus size; counts are rounded to the nearest event and
// split evenly (remainders to the first kinds) over InvocationViolations
// and ControlPlaneKinds.
type Mix struct {
	// Violations is the share of invocations that break a rule, spread over
	// InvocationViolations.
	Violations float64
	// ControlPlane is the share of control-plane events, spread over
	// ControlPlaneKinds.
	ControlPlane float64
}

// Benign is a mix of benign invocations only.
var Benign = Mix{}

// Standard is the benchmark mix: 5 % violations of every invocation rule and
// 1 % control-plane events; the rest (94 %) benign invocations.
var Standard = Mix{Violations: 0.05, ControlPlane: 0.01}

// Event is one generated EventBridge envelope.
type Event struct {
	// Kind is what the event was built to be.
	Kind Kind
	// JSON is the envelope: compact JSON, no trailing newline.
	JSON []byte
}

// Counts returns how many events of each kind a corpus of n events with mix
// m holds. It fails when a share is negative, above 1, or the shares add up
// to more than 1.
func Counts(n int, m Mix) (map[Kind]int, error) {
	if n < 0 {
		return nil, fmt.Errorf("corpus: negative size %d", n)
	}
	if m.Violations < 0 || m.ControlPlane < 0 || m.Violations+m.ControlPlane > 1 {
		return nil, fmt.Errorf("corpus: invalid mix %+v: shares must be in [0,1] and add up to at most 1", m)
	}
	out := map[Kind]int{}
	spread := func(total int, kinds []Kind) {
		for i, k := range kinds {
			c := total / len(kinds)
			if i < total%len(kinds) {
				c++
			}
			if c > 0 {
				out[k] += c
			}
		}
	}
	viol := int(float64(n)*m.Violations + 0.5)
	cp := int(float64(n)*m.ControlPlane + 0.5)
	if viol+cp > n {
		cp = n - viol
	}
	spread(viol, InvocationViolations)
	spread(cp, ControlPlaneKinds)
	if b := n - viol - cp; b > 0 {
		out[KindBenign] = b
	}
	return out, nil
}

// Generate returns n events for seed and mix, in a seeded random order. The
// same arguments always give the same bytes.
func Generate(seed int64, n int, m Mix) ([]Event, error) {
	return GenerateAt(seed, n, m, baseTime, defaultGap)
}

// defaultGap is the longest pause between two events of Generate.
const defaultGap = 1500 * time.Millisecond

// GenerateAt is Generate with the first event at start and events following
// each other by a seeded pause of up to maxGap (at least a millisecond),
// for corpora that span days.
func GenerateAt(seed int64, n int, m Mix, start time.Time, maxGap time.Duration) ([]Event, error) {
	if maxGap < time.Millisecond {
		return nil, fmt.Errorf("corpus: gap %s below a millisecond", maxGap)
	}
	counts, err := Counts(n, m)
	if err != nil {
		return nil, err
	}
	kinds := make([]Kind, 0, n)
	for _, k := range append([]Kind{KindBenign}, append(append([]Kind{}, InvocationViolations...), ControlPlaneKinds...)...) {
		for range counts[k] {
			kinds = append(kinds, k)
		}
	}
	g := newGen(seed)
	g.now, g.gap = start, maxGap
	g.rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	out := make([]Event, 0, n)
	for i, k := range kinds {
		env := g.event(i, k)
		b, err := json.Marshal(env)
		if err != nil {
			return nil, fmt.Errorf("corpus: marshal event %d (%s): %w", i, k, err)
		}
		out = append(out, Event{Kind: k, JSON: b})
	}
	return out, nil
}

// Payloads returns the events' JSON, in order.
func Payloads(events []Event) [][]byte {
	out := make([][]byte, len(events))
	for i := range events {
		out[i] = events[i].JSON
	}
	return out
}

// WriteJSONL writes the events one envelope a line.
func WriteJSONL(w io.Writer, events []Event) error {
	bw := bufio.NewWriter(w)
	for i := range events {
		if _, err := bw.Write(events[i].JSON); err != nil {
			return fmt.Errorf("corpus: write event %d: %w", i, err)
		}
		if err := bw.WriteByte('\n'); err != nil {
			return fmt.Errorf("corpus: write event %d: %w", i, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("corpus: flush: %w", err)
	}
	return nil
}

// SQSBatch wraps the events in one SQS event, as Lambda delivers a batch
// from an SQS queue that an EventBridge rule targets: each message body is
// an envelope. Message ids are derived from the index, so the same events
// give the same bytes.
func SQSBatch(events []Event) ([]byte, error) {
	type attrs struct {
		ApproximateReceiveCount          string `json:"ApproximateReceiveCount"`
		SentTimestamp                    string `json:"SentTimestamp"`
		SenderID                         string `json:"SenderId"`
		ApproximateFirstReceiveTimestamp string `json:"ApproximateFirstReceiveTimestamp"`
	}
	type message struct {
		MessageID         string            `json:"messageId"`
		ReceiptHandle     string            `json:"receiptHandle"`
		Body              string            `json:"body"`
		Attributes        attrs             `json:"attributes"`
		MessageAttributes map[string]string `json:"messageAttributes"`
		MD5OfBody         string            `json:"md5OfBody"`
		EventSource       string            `json:"eventSource"`
		EventSourceARN    string            `json:"eventSourceARN"`
		AWSRegion         string            `json:"awsRegion"`
	}
	batch := struct {
		Records []message `json:"Records"`
	}{Records: make([]message, len(events))}
	for i := range events {
		id := fmt.Sprintf("5f1c0a2e-0000-4000-8000-%012d", i)
		batch.Records[i] = message{
			MessageID:     id,
			ReceiptHandle: "AQEB" + strconv.Itoa(i),
			Body:          string(events[i].JSON),
			Attributes: attrs{
				ApproximateReceiveCount:          "1",
				SentTimestamp:                    "1795701791000",
				SenderID:                         "AIDAIENQZJOLO23YVJ4VO",
				ApproximateFirstReceiveTimestamp: "1795701791050",
			},
			MessageAttributes: map[string]string{},
			MD5OfBody:         fmt.Sprintf("%x", md5.Sum(events[i].JSON)),
			EventSource:       "aws:sqs",
			EventSourceARN:    "arn:aws:sqs:us-east-1:111122223333:bedrock-warden-events",
			AWSRegion:         "us-east-1",
		}
	}
	b, err := json.Marshal(batch)
	if err != nil {
		return nil, fmt.Errorf("corpus: marshal SQS batch: %w", err)
	}
	return b, nil
}

// baseTime is when every corpus starts; events follow at seeded intervals.
var baseTime = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
