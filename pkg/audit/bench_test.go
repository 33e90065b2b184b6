package audit

import (
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/export"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// BenchmarkJudge measures judging one principal (reading excluded), for a
// broad AWS managed grant and for one capped by the exported boundary.
func BenchmarkJudge(b *testing.B) {
	p := policy.Default()
	pl, err := newPlan(p, acct, "", SCPs{}, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	if err != nil {
		b.Fatal(err)
	}
	t := &testing.T{}
	full := role("app", awsManaged(t, "AmazonBedrockFullAccess", bedrockFullAccess))
	bd, err := export.Export(p, export.Boundary, export.Options{Account: acct})
	if err != nil {
		b.Fatal(err)
	}
	bounded := full
	bounded.Boundary = &Document{Name: "boundary", Source: SourceManaged, Policy: bd}
	for _, c := range []struct {
		name string
		pr   Principal
	}{{"full-access", full}, {"exported-boundary", bounded}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				pl.report(c.pr)
			}
		})
	}
}
