// Command echo is a Lambda function for the harness test: it answers an
// event with {"got": <event>}, or fails at init when ECHO_FAIL_INIT is set.
package main

import (
	"context"
	"encoding/json"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	if os.Getenv("ECHO_FAIL_INIT") != "" {
		os.Exit(3)
	}
	lambda.Start(func(_ context.Context, ev json.RawMessage) (map[string]json.RawMessage, error) {
		return map[string]json.RawMessage{"got": ev}, nil
	})
}
