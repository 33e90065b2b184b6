// Command raw is the floor of an aws-lambda-go function that takes its
// payload as bytes (lambda.Handler) and does nothing with it: the peak RSS
// and init time any such bootstrap pays, for the benchmark to set the
// detector's beside.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

type nothing struct{}

// Invoke answers null.
func (nothing) Invoke(context.Context, []byte) ([]byte, error) { return []byte("null"), nil }

func main() { lambda.Start(nothing{}) }
