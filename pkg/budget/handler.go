package budget

import (
	"context"
	"encoding/json"
	"fmt"
)

// scheduled is the part of an EventBridge scheduled event the handler reads.
type scheduled struct {
	Account string `json:"account"`
	Region  string `json:"region"`
}

// Handle is the Lambda entry point for the scheduled budget run: it runs the
// checker once. The payload is the EventBridge scheduled event; its account
// and region fill the findings' Account and Region when the checker has
// none. A payload that is not a JSON object is an error (the schedule sends
// one; anything else is a misconfigured trigger).
func (c *Checker) Handle(ctx context.Context, payload json.RawMessage) error {
	var ev scheduled
	if len(payload) > 0 {
		if err := json.Unmarshal(payload, &ev); err != nil {
			return fmt.Errorf("budget: scheduled event: %w", err)
		}
	}
	run := *c
	if run.Account == "" {
		run.Account = ev.Account
	}
	if run.Region == "" {
		run.Region = ev.Region
	}
	fs, err := run.Run(ctx)
	run.log().InfoContext(ctx, "budget run", "findings", len(fs), "budgets", len(c.Policy.Budgets), "error", errString(err))
	return err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
