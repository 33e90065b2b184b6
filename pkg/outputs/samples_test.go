package outputs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bedrock-warden/warden/internal/samples"
	"github.com/bedrock-warden/warden/pkg/alerts"
	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/detector"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
	"github.com/bedrock-warden/warden/pkg/state"
)

// Every public CloudTrail sample (partial records, odd timestamps,
// "[REDACTED]" fields) goes through the core and the alerter in both
// formats: no panic, every message within SNS's limits, every body parses
// back, and a second delivery alerts nothing.
func TestPublicSamplesAlert(t *testing.T) {
	files := samples.Files(t)
	// A strict policy, so most samples produce findings.
	p := &policy.Policy{
		Models:  policy.ModelRules{Allow: []string{"amazon.titan-text-lite*"}},
		Regions: policy.RegionRules{Allow: []string{"eu-central-1"}},
	}
	core := &detector.Core{Rules: rules.New(p)}
	total := 0
	for _, format := range []alerts.Format{alerts.FormatText, alerts.FormatChat} {
		pub := &fakePub{}
		a := &Alerter{Store: state.NewMemory(), Publisher: pub, Policy: p, Format: format, Now: (&clock{t: t0}).Now}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var fs []findings.Finding
			core.Each(decode.Bytes(filepath.Base(file), data), func(r *detector.Result, err error) {
				if r != nil {
					fs = append(fs, r.Findings...)
				}
			})
			for round := range 2 {
				before := pub.count()
				if err := a.Deliver(context.Background(), &detector.Batch{Findings: fs}); err != nil {
					t.Fatalf("%s (%s, round %d): %v", filepath.Base(file), format, round, err)
				}
				if round == 1 && pub.count() != before {
					t.Errorf("%s: the second delivery alerted again", filepath.Base(file))
				}
			}
		}
		for _, m := range pub.sent {
			if m.Size() > alerts.MaxMessageBytes || len(m.Subject) >= 100 || strings.ContainsAny(m.Subject, "\r\n") {
				t.Errorf("bad message: size %d subject %q", m.Size(), m.Subject)
			}
			for k, v := range m.Attributes {
				if v == "" {
					t.Errorf("empty attribute %s", k)
				}
			}
			if _, err := findings.ParseAlert(m.Body); err != nil {
				t.Errorf("%s body does not parse: %v\n%s", format, err, m.Body)
			}
		}
		total += pub.count()
	}
	if total == 0 {
		t.Fatal("no sample produced an alert; the test checks nothing")
	}
}
