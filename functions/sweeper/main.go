// Command sweeper is the scheduled Lambda that undoes remediations whose
// quarantineTTL has passed, exactly as `warden remediation undo` would,
// and records each undo in the ledger. An EventBridge schedule (e.g.
// rate(15 minutes)) invokes it; the event's content is ignored.
//
// Environment: WARDEN_TABLE (required), WARDEN_TOPIC_ARN (optional: an
// alert per undo).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/remediation"
	"github.com/bedrock-warden/warden/pkg/remediation/iamstate"
	"github.com/bedrock-warden/warden/pkg/remediation/ledgerdb"
	"github.com/bedrock-warden/warden/pkg/remediation/snsalert"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	table := os.Getenv("WARDEN_TABLE")
	if table == "" {
		log.Error("WARDEN_TABLE must be set")
		os.Exit(1)
	}
	cfg, err := awsconf.Load(context.Background(), "", "", nil)
	if err != nil {
		log.Error("aws config", "error", err.Error())
		os.Exit(1)
	}
	store := ledgerdb.New(cfg, table)
	u := remediation.Undoer{
		Applier: remediation.Applier{IAM: iamstate.New(cfg)},
		Ledger:  store,
		Claims:  store,
		Now:     time.Now,
		Log:     log,
	}
	if topic := os.Getenv("WARDEN_TOPIC_ARN"); topic != "" {
		u.Alerts = snsalert.New(cfg, topic)
	}
	actor := "lambda:" + os.Getenv("AWS_LAMBDA_FUNCTION_NAME")
	lambda.Start(func(ctx context.Context) error {
		res, err := u.Sweep(ctx, time.Now(), actor)
		log.Info("sweep", "undone", res.Undone, "failed", len(res.Failed))
		if err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		return nil
	})
}
