// Command sweeper is the scheduled Lambda that undoes remediations whose
// quarantineTTL has passed, exactly as `warden remediation undo` would:
// only from ledger records whose seal verifies, and records each undo in
// the ledger. An EventBridge schedule (e.g. rate(15 minutes)) invokes it;
// the event's content is ignored.
//
// Environment: see assemble.Sweeper.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/remediation/assemble"
)

func main() {
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	fatal := func(msg string, err error) {
		log.Error(msg, "error", err.Error())
		os.Exit(1)
	}
	cfg, err := awsconf.Load(ctx, "", "", nil)
	if err != nil {
		fatal("aws config", err)
	}
	u, err := assemble.Sweeper(ctx, cfg, os.Getenv, log)
	if err != nil {
		fatal("sweeper", err)
	}
	actor := "lambda:" + os.Getenv(assemble.EnvFunction)
	lambda.Start(func(ctx context.Context) error {
		res, err := u.Sweep(ctx, time.Now(), actor)
		log.Info("sweep", "undone", res.Undone, "failed", len(res.Failed))
		if err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		return nil
	})
}
