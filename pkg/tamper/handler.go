package tamper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bedrock-warden/warden/pkg/decode"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// Notifier delivers findings (the SNS alerter in production).
type Notifier interface {
	Notify(ctx context.Context, fs []findings.Finding) error
}

// Handler is the sentinel Lambda's handler: it decodes the EventBridge
// event (or any shape decode accepts), runs Check on every record and
// hands the findings to Notifier.
type Handler struct {
	Policy *policy.Policy
	Stack  Stack
	// Notifier receives the findings; nil means they are only logged.
	Notifier Notifier
	// Marks remembers the self-test's temporary subscriptions, so that
	// their removal is not reported; nil reports every Unsubscribe.
	Marks SubscriptionMarks
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	Log *slog.Logger
}

// Handle processes one invocation. An undecodable record or a failed
// notification is an error, so Lambda retries the event and then sends it
// to the function's on-failure destination: nothing is dropped silently.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) error {
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	var (
		out  []findings.Finding
		errs []error
		seen int
	)
	for it := range decode.Bytes("eventbridge", payload) {
		if it.Err != nil {
			log.ErrorContext(ctx, "record rejected", "error", it.Err.Error())
			errs = append(errs, it.Err)
			continue
		}
		seen++
		if arn, ok := h.Stack.SelfTestSubscription(&it.Record); ok && h.Marks != nil {
			now := time.Now()
			if h.Now != nil {
				now = h.Now()
			}
			if err := h.Marks.Mark(ctx, arn, now.Add(MarkTTL)); err != nil {
				errs = append(errs, fmt.Errorf("remember self-test subscription %s: %w", arn, err))
			} else {
				log.InfoContext(ctx, "self-test subscription noted", "subscription", arn)
			}
			continue
		}
		f, ok := Check(h.Policy, h.Stack, &it.Record, it.Origin)
		if ok && h.Marks != nil {
			if arn := unsubscribed(&it.Record); arn != "" {
				marked, err := h.Marks.Marked(ctx, arn)
				if err != nil {
					// Unsure: report it (a false alarm beats a missed one).
					log.ErrorContext(ctx, "self-test marks not read", "subscription", arn, "error", err.Error())
				} else if marked {
					log.InfoContext(ctx, "self-test subscription removed", "subscription", arn)
					continue
				}
			}
		}
		if !ok {
			log.DebugContext(ctx, "not a change to the stack", "eventSource", it.Record.EventSource,
				"eventName", it.Record.EventName, "eventId", it.Record.EventID)
			continue
		}
		log.WarnContext(ctx, "finding", "finding", f) // the JSON contract of docs/findings.md
		out = append(out, f)
	}
	if len(out) > 0 && h.Notifier != nil {
		if err := h.Notifier.Notify(ctx, out); err != nil {
			errs = append(errs, fmt.Errorf("notify %d monitor-tampered findings: %w", len(out), err))
		}
	}
	log.InfoContext(ctx, "sentinel done", "records", seen, "findings", len(out), "rejected", len(errs))
	return errors.Join(errs...)
}
