package outputs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/seal"
	"github.com/bedrock-warden/warden/pkg/seal/sealtest"
	"github.com/bedrock-warden/warden/pkg/state"
)

// TestAlertsAreSealedOncePerAlert: every published alert carries a seal
// that verifies over the finding JSON it carries; repeats folded into the
// window cost no MAC call.
func TestAlertsAreSealedOncePerAlert(t *testing.T) {
	a, _, pub, c := newAlerter()
	key := sealtest.NewKey("finding-key")
	a.Sealer = seal.Findings{MAC: key}
	ctx := context.Background()
	var fs []findings.Finding
	for i := 0; i < 5; i++ { // one incident, five events: one alert
		fs = append(fs, finding(findings.RuleUnauthorizedModel, "evt-"+string(rune('a'+i)), "arn:aws:iam::111122223333:role/app"))
	}
	fs = append(fs, finding(findings.RuleUnauthorizedModel, "evt-z", "arn:aws:iam::111122223333:role/other"))
	if err := a.Notify(ctx, fs); err != nil {
		t.Fatal(err)
	}
	if pub.count() != 2 || key.Generated() != 2 {
		t.Fatalf("published %d, sealed %d; want 2 and 2", pub.count(), key.Generated())
	}
	v := seal.FindingVerifier{MAC: key, Now: c.Now}
	for _, m := range pub.sent {
		if _, err := v.Verify(ctx, m.FindingJSON, m.Attributes); err != nil {
			t.Errorf("seal of %s does not verify: %v", m.Fingerprint, err)
		}
		f, raw, err := findings.ParseAlertJSON(m.Body)
		if err != nil || string(raw) != string(m.FindingJSON) || f.Fingerprint != m.Fingerprint {
			t.Errorf("body JSON is not what was sealed: %v", err)
		}
	}
	// A repeat inside the window: counted, not alerted, not sealed.
	c.add(time.Minute)
	if err := a.Notify(ctx, []findings.Finding{finding(findings.RuleUnauthorizedModel, "evt-y", "arn:aws:iam::111122223333:role/app")}); err != nil {
		t.Fatal(err)
	}
	if key.Generated() != 2 {
		t.Errorf("a suppressed repeat cost a MAC call (%d)", key.Generated())
	}
}

// TestSealingFailureDoesNotBlockTheAlert: KMS down, the alert still goes
// out (unsealed) and the event is done.
func TestSealingFailureDoesNotBlockTheAlert(t *testing.T) {
	a, _, pub, _ := newAlerter()
	key := sealtest.NewKey("k")
	key.Fail = errors.New("KMSInternalException")
	a.Sealer = seal.Findings{MAC: key}
	st, err := a.NotifyStats(context.Background(), []findings.Finding{finding(findings.RuleUnauthorizedModel, "evt-1", "arn:aws:iam::111122223333:role/app")})
	if err != nil {
		t.Fatal(err)
	}
	if pub.count() != 1 || st.Unsealed != 1 {
		t.Fatalf("published %d unsealed %d", pub.count(), st.Unsealed)
	}
	if _, ok := pub.sent[0].Attributes[seal.AttrMAC]; ok {
		t.Error("a failed seal left a MAC attribute")
	}
}

// TestCrashBetweenClaimAndPublishIsAlertedByTheFirstRetry: direct intake
// gets Lambda's asynchronous retries about one and three minutes after a
// failed attempt. An invocation that died after claiming an alert (before
// publishing) must not make those retries fail until the event lands in
// the dead-letter queue unalerted: the lease (state.DefaultLease) runs out
// before the first retry, but not before the function timeout, so a live
// invocation keeps its claim.
func TestCrashBetweenClaimAndPublishIsAlertedByTheFirstRetry(t *testing.T) {
	const (
		functionTimeout = 30 * time.Second // template.yaml, DetectorFunction
		firstRetry      = time.Minute      // Lambda async invocation: first retry
	)
	if !(functionTimeout < state.DefaultLease && state.DefaultLease < firstRetry) {
		t.Fatalf("lease %s must lie between the function timeout %s and the first retry %s", state.DefaultLease, functionTimeout, firstRetry)
	}
	a, st, pub, c := newAlerter()
	ctx := context.Background()
	f := finding(findings.RuleUnauthorizedModel, "evt-crash", "arn:aws:iam::111122223333:role/app")
	// The first attempt claims, then dies: no publish, no release.
	if _, err := st.Claim(ctx, state.Claim{Fingerprint: f.Fingerprint, Rule: f.Rule, Owner: state.OwnerKey(f.EventID, "", time.Time{}),
		Token: "dead", Now: c.Now(), Window: time.Hour}); err != nil {
		t.Fatal(err)
	}
	// While the first attempt could still be running, a duplicate waits.
	c.add(functionTimeout - time.Second)
	if err := a.Notify(ctx, []findings.Finding{f}); err == nil || pub.count() != 0 {
		t.Fatalf("inside the function timeout: err %v, %d published; want a retry error and nothing published", err, pub.count())
	}
	// Lambda's first retry, a minute after the failure, takes over.
	c.add(firstRetry - functionTimeout + time.Second)
	if err := a.Notify(ctx, []findings.Finding{f}); err != nil {
		t.Fatalf("first retry: %v", err)
	}
	if pub.count() != 1 {
		t.Fatalf("first retry published %d alerts, want 1", pub.count())
	}
	// The second retry (or any redelivery) does not alert again.
	c.add(2 * time.Minute)
	if err := a.Notify(ctx, []findings.Finding{f}); err != nil || pub.count() != 1 {
		t.Fatalf("second retry: %v, %d published", err, pub.count())
	}
}
