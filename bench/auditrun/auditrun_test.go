package auditrun

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/bedrock-warden/warden/bench/awscalls"
)

// TestMeasureSmall runs the scenario on 40 roles: the audit judges them
// all, reads each managed policy version once, and the figures add up.
func TestMeasureSmall(t *testing.T) {
	if _, err := exec.LookPath("moto_server"); err != nil {
		t.Skip("moto_server not on PATH")
	}
	ctx := context.Background()
	m, err := awscalls.StartMoto(ctx, "MOTO_IAM_LOAD_MANAGED_POLICIES=true")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	cfg, err := awscalls.NewConfig(ctx, m.URL)
	if err != nil {
		t.Fatal(err)
	}
	n := 40
	if s := os.Getenv("AUDITRUN_ROLES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	r, err := Measure(ctx, cfg, Options{Roles: n, Pool: 10, Templates: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Calls["iam:GetPolicyVersion"] != r.DistinctManaged || r.Calls["iam:GetPolicy"] != r.DistinctManaged {
		t.Errorf("managed policy versions read %d times for %d distinct policies", r.Calls["iam:GetPolicyVersion"], r.DistinctManaged)
	}
	if r.Calls["iam:GetRole"] != n || r.Calls["iam:GetRolePolicy"] != n*InlinePerRole {
		t.Errorf("calls: %v", r.Calls)
	}
	if r.Summary.Principals == 0 || r.JudgeSerial <= 0 || r.Wall <= 0 || r.Errors != 0 {
		t.Errorf("result: %+v", r)
	}
	if r.Computed == 0 || r.Computed > 10 {
		t.Errorf("%d principals judged in full for 10 templates", r.Computed)
	}
	t.Logf("wall %s, %.1f calls/principal, serial evaluator %s (%.1f %% of the run, %d computed), summary %+v", r.Wall, r.CallsPerPrincipal(), r.JudgeSerial, 100*r.EvaluatorShare(), r.Computed, r.Summary)
}
