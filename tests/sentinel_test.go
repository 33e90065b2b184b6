package tests

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/tamper"
)

// TestSentinelFlagsMonitorSamples runs the sentinel's rule over the samples
// the monitor pattern matches: each is a monitor-tampered finding for the
// stack the template describes (names as in stackValues).
func TestSentinelFlagsMonitorSamples(t *testing.T) {
	env := map[string]string{
		tamper.EnvStack:         stackValues["AWS::StackName"],
		tamper.EnvTopicARN:      stackValues["AlertTopic"],
		tamper.EnvTable:         stackValues["StateTable"],
		tamper.EnvParameterPath: "/bedrock-warden/" + stackValues["AWS::StackName"],
		tamper.EnvFunctionNames: "bedrock-warden-detector,bedrock-warden-sentinel",
		tamper.EnvTableARN:      stackValues["StateTable.Arn"],
		tamper.EnvKeyARNs:       stackValues["FindingKey.Arn"] + "," + stackValues["AlertKey.Arn"] + "," + stackValues["LedgerKey.Arn"],
		tamper.EnvLogGroups:     stackValues["InvocationLogGroupName"],
	}
	stack, err := tamper.StackFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../events/monitor/*.json")
	if len(files) == 0 {
		t.Fatal("no monitor samples")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for it := range decode.Bytes(f, data) {
			if it.Err != nil {
				t.Fatalf("%s: %v", f, it.Err)
			}
			n++
			fnd, ok := tamper.Check(policy.Default(), stack, &it.Record, it.Origin)
			if !ok || fnd.Rule != findings.RuleMonitorTampered || fnd.Severity != findings.Critical {
				t.Errorf("%s: finding = %+v, %v; want a critical monitor-tampered finding", f, fnd, ok)
			}
		}
		if n != 1 {
			t.Errorf("%s: %d records", f, n)
		}
	}
}
