package rules

import (
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
)

// selfTest judges the synthetic event of `warden selftest`: one finding
// of rule selftest and nothing else, whatever the event names, so that a
// self-test never raises a real rule's finding (and never reaches the
// remediator: the rule cannot carry a remediation action). The incident is
// the event itself, so every run alerts.
func (e *Engine) selfTest(ev *normalize.Event, out []findings.Finding) []findings.Finding {
	enabled, sev := e.p.Rule(findings.RuleSelfTest)
	if !enabled {
		return out
	}
	f := newFinding(findings.RuleSelfTest, sev, ev, incident{what: ev.ID, where: ev.Region},
		"Self-test: the synthetic event "+orUnknown(ev.ID)+" reached the detector in "+orUnknown(ev.Region)+" (no action needed)",
		"eventType "+findings.SelfTestEventType+": a synthetic event sent by warden selftest, not an API call")
	f.Details = map[string]string{findings.DetailSynthetic: "true"}
	return append(out, f)
}
