// Package heartbeat implements rule pipeline-silent: it notices when Bedrock
// events stop reaching the detector — the EventBridge rule, the trail or the
// delivery is broken — from data that already exists, so that benign events
// cost nothing extra:
//
//   - when the detector last processed events: its EventsProcessed metric
//     (namespace BedrockWarden), read from CloudWatch;
//   - the latest Bedrock activity CloudTrail shows: the reconciler's
//     LookupEvents scan.
//
// Decide is the pure judgement; Monitor runs it with a metric reader, a
// state store (one alert per outage, one "cleared" when it ends) and a
// notifier.
package heartbeat

import (
	"fmt"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// Grace is how old CloudTrail activity must be before its absence from the
// detector counts: EventBridge delivers within seconds to minutes, so
// younger events may simply still be on their way.
const Grace = 5 * time.Minute

// S3Grace is Grace for a stack that reads an organisation trail's log
// files (Intake=s3): CloudTrail delivers a file about every 5 minutes and
// an event may wait for the next one, so activity younger than this may
// still be on its way to S3.
const S3Grace = 20 * time.Minute

// Default thresholds, used when the policy leaves them zero.
const (
	DefaultSilentAfter = 30 * time.Minute
	DefaultIdleAfter   = 24 * time.Hour
)

// Kinds of outage.
const (
	// KindSilent: CloudTrail shows Bedrock activity the detector has not
	// seen for longer than heartbeat.silentAfter. High confidence.
	KindSilent = "silent"
	// KindIdle: nothing reached the detector for longer than
	// heartbeat.idleAfter and CloudTrail shows no activity either: the
	// account may be idle, or the trail itself may be off. Lower
	// confidence.
	KindIdle = "idle"
)

// Observation is what one heartbeat check knows.
type Observation struct {
	Now time.Time
	// LastProcessed is the end of the latest metric period in which the
	// detector processed at least one event; zero when none in the
	// lookback.
	LastProcessed time.Time
	// LastActivity is the time of the newest Bedrock event CloudTrail
	// shows; zero when none.
	LastActivity time.Time
	// Region is where the check runs (goes into the finding).
	Region string
	// Account is the AWS account, when known.
	Account string
	// Grace overrides the package's Grace (S3Grace for a stack whose
	// events come from S3); zero means Grace.
	Grace time.Duration
}

// State is what the monitor remembers between checks. The zero State means
// "no outage open".
type State struct {
	// OutageStart is LastProcessed when the outage was first alerted (zero
	// time when the detector had processed nothing in the lookback).
	OutageStart time.Time `json:"outageStart"`
	Kind        string    `json:"kind,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	AlertedAt   time.Time `json:"alertedAt"`
	// Watching is when the monitor first checked. While the metric shows
	// no processing at all in its lookback, silence is counted from here,
	// so a freshly deployed stack is not reported idle on its first run.
	Watching time.Time `json:"watching"`
	// Version counts saves, for conditional writes.
	Version int64 `json:"version"`
}

// Open reports whether an outage alert is open.
func (s State) Open() bool { return s.Kind != "" }

// Decision is Decide's verdict.
type Decision struct {
	// Alert is the pipeline-silent finding to send, if any.
	Alert *findings.Finding
	// Cleared is the "pipeline delivering again" finding (severity info),
	// if the open outage ended.
	Cleared *findings.Finding
	// Next is the state to save (Version is the caller's business).
	Next State
	// Status says in a word what Decide saw: "ok", "silent", "idle",
	// "still-silent", "still-idle", "cleared", "disabled".
	Status string
}

// principal is the finding's principal: the pipeline itself.
const principal = "bedrock-warden:pipeline"

// Decide judges obs against the policy's heartbeat settings and the open
// outage st:
//
//   - silent: nothing processed for more than silentAfter while CloudTrail
//     shows activity newer than the last processed event (and older than
//     Grace) → alert, severity from the policy;
//   - idle: nothing processed for more than idleAfter → alert one
//     severity lower, with wording that admits the account may be idle;
//   - one alert per outage: the outage is identified by its start (the
//     last processed time), fixed in the fingerprint; an idle outage that
//     turns out silent (activity appears) alerts once more;
//   - cleared: an open outage ends only when the detector processed
//     something after the outage start — never merely because the
//     activity stopped — and is reported once, at severity info.
func Decide(p *policy.Policy, obs Observation, st State) Decision {
	d := decide(p, obs, st)
	d.Next.Watching = st.Watching
	if d.Next.Watching.IsZero() {
		d.Next.Watching = obs.Now
	}
	d.Next.Version = st.Version
	return d
}

func decide(p *policy.Policy, obs Observation, st State) Decision {
	enabled, severity := p.Rule(findings.RulePipelineSilent)
	if !enabled {
		return Decision{Status: "disabled"}
	}
	silentAfter, idleAfter := p.Heartbeat.SilentAfter.D(), p.Heartbeat.IdleAfter.D()
	if silentAfter <= 0 {
		silentAfter = DefaultSilentAfter
	}
	if idleAfter <= 0 {
		idleAfter = DefaultIdleAfter
	}

	if st.Open() && obs.LastProcessed.After(st.OutageStart) {
		f := clearedFinding(obs, st)
		return Decision{Cleared: &f, Status: "cleared"}
	}

	// Silence is counted from the last processed event or, when the
	// lookback holds none, from when the monitor started watching.
	since := obs.LastProcessed
	if since.IsZero() {
		since = st.Watching
	}
	if since.IsZero() {
		since = obs.Now // the first check: start counting now
	}
	silentFor := obs.Now.Sub(since)
	unseen := !obs.LastActivity.IsZero() && obs.LastActivity.After(since) &&
		!obs.LastActivity.After(obs.Now.Add(-obs.grace()))
	kind := ""
	switch {
	case silentFor > silentAfter && unseen:
		kind = KindSilent
	case silentFor > idleAfter:
		kind = KindIdle
	}
	if kind == "" {
		if st.Open() {
			// Activity stopped, but nothing was processed either: the
			// outage stays open until the detector processes again.
			return Decision{Next: st, Status: "still-" + st.Kind}
		}
		return Decision{Next: st, Status: "ok"}
	}
	// Not cleared above, so the detector processed nothing since the open
	// outage began: it is the same outage (even when the last processed
	// time has since fallen out of the metric lookback).
	outageStart := obs.LastProcessed
	if st.Open() {
		if st.Kind == kind || st.Kind == KindSilent {
			return Decision{Next: st, Status: "still-" + st.Kind}
		}
		outageStart = st.OutageStart // idle turned silent: same outage
	}
	sev := severity
	threshold := silentAfter
	if kind == KindIdle {
		sev = lower(severity)
		threshold = idleAfter
	}
	f := findings.Finding{
		Rule:        findings.RulePipelineSilent,
		Severity:    sev,
		EventName:   "Heartbeat",
		EventTime:   obs.Now,
		Account:     obs.Account,
		Region:      obs.Region,
		Principal:   principal,
		Fingerprint: Fingerprint(outageStart, obs.Region),
		Details: map[string]string{
			"kind":          kind,
			"lastProcessed": stamp(obs.LastProcessed),
			"lastActivity":  stamp(obs.LastActivity),
			"threshold":     threshold.String(),
		},
	}
	sinceText := "for " + silentFor.Round(time.Minute).String()
	f.Details["silentFor"] = silentFor.Round(time.Second).String()
	if obs.LastProcessed.IsZero() {
		sinceText += " (nothing processed since monitoring began)"
	}
	if kind == KindSilent {
		f.Title = fmt.Sprintf("Bedrock Warden pipeline silent: no Bedrock event reached the detector %s, but CloudTrail shows activity at %s",
			sinceText, obs.LastActivity.UTC().Format(time.RFC3339))
		f.Reason = fmt.Sprintf("no EventsProcessed %s (heartbeat.silentAfter %s) while CloudTrail recorded Bedrock events: the EventBridge rule, its target or the trail is broken",
			sinceText, silentAfter)
	} else {
		f.Title = fmt.Sprintf("Bedrock Warden pipeline possibly silent: no Bedrock event reached the detector %s, and CloudTrail shows none either", sinceText)
		f.Reason = fmt.Sprintf("no EventsProcessed %s (heartbeat.idleAfter %s): the account may simply be idle, or the trail or the EventBridge rule is off (lower confidence)",
			sinceText, idleAfter)
	}
	if kind == KindSilent && st.Open() {
		// A second alert for one outage: keep it apart from the first.
		f.Fingerprint = findings.Fingerprint(findings.RulePipelineSilent, principal, "outage:"+stamp(outageStart)+":silent", obs.Region)
	}
	return Decision{Alert: &f, Next: State{OutageStart: outageStart, Kind: kind, Fingerprint: f.Fingerprint, AlertedAt: obs.Now}, Status: kind}
}

// Fingerprint identifies an outage: the rule, the pipeline, the outage
// start and the Region. Every check during one outage computes the same.
func Fingerprint(outageStart time.Time, region string) string {
	return findings.Fingerprint(findings.RulePipelineSilent, principal, "outage:"+stamp(outageStart), region)
}

func clearedFinding(obs Observation, st State) findings.Finding {
	lasted := obs.LastProcessed.Sub(st.OutageStart)
	f := findings.Finding{
		Rule:        findings.RulePipelineSilent,
		Severity:    findings.Info,
		EventName:   "Heartbeat",
		EventTime:   obs.Now,
		Account:     obs.Account,
		Region:      obs.Region,
		Principal:   principal,
		Fingerprint: findings.Fingerprint(findings.RulePipelineSilent, principal, "cleared:"+stamp(st.OutageStart), obs.Region),
		Title:       "Bedrock Warden pipeline delivering again: the detector processed Bedrock events at " + obs.LastProcessed.UTC().Format(time.RFC3339),
		Reason:      fmt.Sprintf("the %s outage alerted at %s has ended", st.Kind, st.AlertedAt.UTC().Format(time.RFC3339)),
		Details: map[string]string{
			"cleared":       "true",
			"kind":          st.Kind,
			"outageStart":   stamp(st.OutageStart),
			"lastProcessed": stamp(obs.LastProcessed),
			"outageAlert":   st.Fingerprint,
		},
	}
	if !st.OutageStart.IsZero() {
		f.Details["silentFor"] = lasted.Round(time.Second).String()
	}
	return f
}

func lower(s findings.Severity) findings.Severity {
	switch s {
	case findings.Critical:
		return findings.High
	case findings.High:
		return findings.Medium
	case findings.Medium, findings.Low:
		return findings.Low
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339)
}

// grace is the observation's Grace, or the package's.
func (o Observation) grace() time.Duration {
	if o.Grace > 0 {
		return o.Grace
	}
	return Grace
}
