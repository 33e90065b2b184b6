package selftest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/bedrock-warden/warden/pkg/alerts"
	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
)

var target = Target{Stack: "bw", Region: "us-east-1", Account: "111122223333", Detector: "bw-detector", Topic: "arn:aws:sns:us-east-1:111122223333:t", Metrics: true}

// TestSyntheticEventIsNeverRemediable: whatever the policy maps, the
// synthetic event gives the selftest finding only, under a /bedrock-warden/
// principal, and a policy cannot make the rule remediable.
func TestSyntheticEventIsNeverRemediable(t *testing.T) {
	raw, err := Event(target, "selftest-1", time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Load("p", []byte("models: {allow: [\"x\"]}\nprincipals: {allow: [\"arn:aws:iam::*:role/none\"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []findings.Finding
	(&detector.Core{Rules: rules.New(p)}).Each(decode.Bytes("t", raw), func(r *detector.Result, err error) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Findings...)
	})
	if len(got) != 1 || got[0].Rule != findings.RuleSelfTest || got[0].Severity != findings.Info || got[0].Details[findings.DetailSynthetic] != "true" ||
		!strings.Contains(got[0].Principal, ":role/bedrock-warden/bw/") || got[0].Fingerprint != Fingerprint(target, "selftest-1") {
		t.Fatalf("findings = %+v", got)
	}
	if _, err := policy.Load("p", []byte("remediation: {actions: {selftest: quarantine}}\n")); err == nil {
		t.Fatal("a policy mapped the selftest rule to an action")
	}
	m, err := alerts.Build(got[0], alerts.Options{Remediable: false})
	if err != nil || m.Attributes[findings.AttrRemediable] != "false" {
		t.Fatalf("alert attributes: %v %v", m.Attributes, err)
	}
}

type fakeSub struct {
	msgs   []Message
	closed bool
}

func (f *fakeSub) ARN() string { return "arn:aws:sns:us-east-1:111122223333:t:1" }
func (f *fakeSub) Receive(context.Context, time.Duration) ([]Message, error) {
	m := f.msgs
	f.msgs = nil
	return m, nil
}
func (f *fakeSub) Close(context.Context) error { f.closed = true; return nil }

type fakeTap struct {
	sub *fakeSub
	err error
}

func (f *fakeTap) Open(context.Context, string, string) (Subscription, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.sub, nil
}

// fakeDetector answers the invocation by putting the alert the real one
// would publish into the subscription.
type fakeDetector struct {
	sub *fakeSub
	err string
}

func (d fakeDetector) Invoke(_ context.Context, _ string, payload []byte) (string, []byte, error) {
	if d.err != "" {
		return "Unhandled", []byte(`{"errorMessage":"` + d.err + `"}`), nil
	}
	var f findings.Finding
	(&detector.Core{Rules: rules.New(policy.Default())}).Each(decode.Bytes("t", payload), func(r *detector.Result, _ error) { f = r.Findings[0] })
	m, _ := alerts.Build(f, alerts.Options{})
	d.sub.msgs = append(d.sub.msgs, Message{Subject: m.Subject, Body: m.Body, Attributes: m.Attributes})
	return "", []byte("null"), nil
}

type denyVerify struct{}

func (denyVerify) Verify(context.Context, []byte, map[string]string) error {
	return &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not allowed"}
}

type noMetrics struct{}

func (noMetrics) FindingCount(context.Context, string, string, time.Time, time.Time) (float64, error) {
	return 0, nil
}

func statuses(r Report) map[string]Status {
	out := map[string]Status{}
	for _, h := range r.Hops {
		out[h.Name] = h.Status
	}
	return out
}

func newRunner(tap Tap, inv Invoker) *Runner {
	clock := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	return &Runner{Tap: tap, Invoker: inv, AlertWait: time.Minute, SettleWait: time.Minute, Poll: 10 * time.Second,
		Now:   func() time.Time { return clock },
		Sleep: func(context.Context, time.Duration) error { clock = clock.Add(10 * time.Second); return nil },
		NewID: func() string { return "00000000-0000-4000-8000-000000000000" }}
}

func TestRunnerReportsEveryHop(t *testing.T) {
	sub := &fakeSub{}
	r := newRunner(&fakeTap{sub: sub}, fakeDetector{sub: sub})
	r.Verifier, r.Metrics = denyVerify{}, noMetrics{}
	rep := r.Run(context.Background(), target)
	st := statuses(rep)
	if st["detector"] != Passed || st["alert on the topic"] != Passed || st["alert seal"] != Skipped || st["metrics"] != Failed ||
		st["state table"] != Skipped || st["cleanup"] != Passed || !sub.closed || rep.OK {
		t.Fatalf("hops = %+v", rep.Hops)
	}
	for _, h := range rep.Hops {
		if h.Status == Failed && h.Fix == "" {
			t.Errorf("failed hop %q has no fix", h.Name)
		}
	}
}

func TestRunnerStopsAtTheFirstBrokenLink(t *testing.T) {
	rep := newRunner(&fakeTap{err: errors.New("AccessDenied: sqs:CreateQueue")}, fakeDetector{}).Run(context.Background(), target)
	if len(rep.Hops) != 1 || rep.Hops[0].Status != Failed || !strings.Contains(rep.Hops[0].Fix, "sqs:CreateQueue") || rep.OK {
		t.Fatalf("tap failure: %+v", rep.Hops)
	}
	sub := &fakeSub{}
	rep = newRunner(&fakeTap{sub: sub}, fakeDetector{sub: sub, err: "boom"}).Run(context.Background(), target)
	st := statuses(rep)
	if st["detector"] != Failed || st["cleanup"] != Passed || len(rep.Hops) != 3 || !sub.closed {
		t.Fatalf("detector failure: %+v", rep.Hops)
	}
	long := target
	long.Stack = strings.Repeat("s", 70)
	if rep := newRunner(&fakeTap{sub: &fakeSub{}}, fakeDetector{}).Run(context.Background(), long); rep.OK || !strings.Contains(rep.Hops[0].Detail, "longer than SQS allows") {
		t.Fatalf("long stack name: %+v", rep.Hops)
	}
}
