package lambdaenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Serve runs h under the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API) until
// the process ends: the loop lambda.Start runs for a lambda.Handler, with
// one difference that matters for large payloads. aws-lambda-go reads each
// payload into a pooled bytes.Buffer that doubles as it fills, so a 21 MB
// SQS batch briefly holds 16 + 32 MB and its peak RSS is above 64 MB
// before the handler even starts (BENCHMARKS.md measures it). Serve hands
// a handler that implements ReaderHandler the Runtime API's response body
// itself, to decode as it reads, so the payload is never held whole; any
// other handler gets the payload read into one buffer, of the size the
// Runtime API announces (Content-Length) or grown by a quarter at a time.
//
// As with lambda.Start: the context carries the invocation's deadline and
// its lambdacontext; a returned error is reported as the invocation's
// error (Lambda retries it, then sends it to the failure destination); a
// panic is reported with its stack and ends the process, so that Lambda
// starts a fresh one.
func Serve(ctx context.Context, h lambda.Handler) error {
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	if api == "" {
		return errors.New("AWS_LAMBDA_RUNTIME_API is not set: not running in Lambda")
	}
	c := &runtimeClient{
		base: "http://" + api + "/2018-06-01/runtime/invocation/",
		http: &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1}},
	}
	for {
		if err := c.once(ctx, h); err != nil {
			return err
		}
	}
}

// ReaderHandler is a lambda.Handler that can also take its payload as a
// stream: Serve calls InvokeReader with the invocation's body as the
// Runtime API sends it. A read error (the connection failed) reaches the
// handler through payload and must make the invocation fail.
type ReaderHandler interface {
	lambda.Handler
	InvokeReader(ctx context.Context, payload io.Reader) ([]byte, error)
}

// runtimeClient talks to the Runtime API.
type runtimeClient struct {
	base string
	http *http.Client
}

// Runtime API headers.
const (
	hdrRequestID   = "Lambda-Runtime-Aws-Request-Id"
	hdrDeadline    = "Lambda-Runtime-Deadline-Ms"
	hdrFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	hdrTraceID     = "Lambda-Runtime-Trace-Id"
	hdrErrorType   = "Lambda-Runtime-Function-Error-Type"
)

// maxPayload bounds a payload read without Content-Length (Lambda's limit
// for a synchronous invocation is 6 MB; this is a guard, not the limit).
const maxPayload = 256 << 20

// once serves one invocation; it returns an error only when the loop must
// end (the Runtime API failed, or the handler panicked).
func (c *runtimeClient) once(ctx context.Context, h lambda.Handler) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"next", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("runtime API: next invocation: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("runtime API: next invocation: HTTP %d", resp.StatusCode)
	}
	rh, stream := h.(ReaderHandler)
	var payload []byte
	if !stream {
		if payload, err = readPayload(resp); err != nil {
			return fmt.Errorf("runtime API: read the invocation: %w", err)
		}
	}
	id := resp.Header.Get(hdrRequestID)
	ictx := ctx
	if ms, err := strconv.ParseInt(resp.Header.Get(hdrDeadline), 10, 64); err == nil {
		var cancel context.CancelFunc
		ictx, cancel = context.WithDeadline(ctx, time.UnixMilli(ms))
		defer cancel()
	}
	ictx = lambdacontext.NewContext(ictx, &lambdacontext.LambdaContext{
		AwsRequestID: id, InvokedFunctionArn: resp.Header.Get(hdrFunctionARN),
	})
	if trace := resp.Header.Get(hdrTraceID); trace != "" {
		os.Setenv("_X_AMZN_TRACE_ID", trace)
	}
	var (
		out      []byte
		panicked []byte
	)
	if stream {
		out, err, panicked = invoke(ictx, func(ctx context.Context) ([]byte, error) { return rh.InvokeReader(ctx, resp.Body) })
		// What the handler left unread (it stopped early) is drained, so
		// the connection is reused.
		_, _ = io.Copy(io.Discard, resp.Body)
	} else {
		out, err, panicked = invoke(ictx, func(ctx context.Context) ([]byte, error) { return h.Invoke(ctx, payload) })
	}
	if err != nil {
		typ := "Runtime.HandlerError"
		if panicked != nil {
			typ = "Runtime.Panic"
		}
		if perr := c.post(ctx, id+"/error", errorBody(err, typ, panicked), typ); perr != nil {
			return perr
		}
		if panicked != nil {
			return fmt.Errorf("handler panicked: %w", err)
		}
		return nil
	}
	return c.post(ctx, id+"/response", out, "")
}

// readPayload reads the response body into a buffer of exactly its
// announced length, or, when the Runtime API streams it without one (as
// Lambda's does), into a buffer grown by a quarter at a time: a doubling
// buffer holds up to three times the payload while it copies.
func readPayload(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 {
		if n > maxPayload {
			return nil, fmt.Errorf("payload of %d bytes", n)
		}
		buf := make([]byte, n)
		_, err := io.ReadFull(resp.Body, buf)
		return buf, err
	}
	buf := make([]byte, 0, 1<<20)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxPayload {
				return nil, fmt.Errorf("payload of more than %d bytes", maxPayload)
			}
			grown := make([]byte, len(buf), cap(buf)+cap(buf)/4)
			copy(grown, buf)
			buf = grown
		}
		n, err := resp.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// invoke calls fn, turning a panic into an error with its stack.
func invoke(ctx context.Context, fn func(context.Context) ([]byte, error)) (out []byte, err error, stack []byte) {
	defer func() {
		if p := recover(); p != nil {
			out, err, stack = nil, fmt.Errorf("%v", p), debug.Stack()
		}
	}()
	out, err = fn(ctx)
	return out, err, nil
}

// errorBody is the Runtime API's error document.
func errorBody(err error, typ string, stack []byte) []byte {
	doc := struct {
		Message string   `json:"errorMessage"`
		Type    string   `json:"errorType"`
		Trace   []string `json:"stackTrace,omitempty"`
	}{Message: err.Error(), Type: typ}
	if stack != nil {
		doc.Trace = []string{string(stack)}
	}
	b, _ := json.Marshal(doc)
	return b
}

func (c *runtimeClient) post(ctx context.Context, path string, body []byte, errType string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if errType != "" {
		req.Header.Set(hdrErrorType, errType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("runtime API: post %s: %w", path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("runtime API: post %s: HTTP %d", path, resp.StatusCode)
	}
	return nil
}
