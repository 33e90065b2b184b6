// Package logsrc is the usage function's source: it decodes the payload a
// CloudWatch Logs subscription filter hands a Lambda function — the
// "awslogs" event, whose data is base64 of the gzip of a JSON document
// with messageType, owner, logGroup, logStream, subscriptionFilters and
// logEvents — into a usage.Batch, and runs the meter on it.
package logsrc

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/bedrock-warden/warden/pkg/usage"
)

// Message types CloudWatch Logs sends.
const (
	DataMessage    = "DATA_MESSAGE"
	ControlMessage = "CONTROL_MESSAGE" // sent when the subscription is created, to check the destination
)

// MaxDecoded bounds what one payload may decompress to. A Lambda payload
// is at most 1 MB, and log text compresses well, but not a thousand-fold:
// more is a gzip bomb.
const MaxDecoded = 64 << 20

// payload is the decoded awslogs document.
type payload struct {
	MessageType         string   `json:"messageType"`
	Owner               string   `json:"owner"`
	LogGroup            string   `json:"logGroup"`
	LogStream           string   `json:"logStream"`
	SubscriptionFilters []string `json:"subscriptionFilters"`
	LogEvents           []struct {
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"` // epoch milliseconds
		Message   string `json:"message"`
	} `json:"logEvents"`
}

// Decode reads an awslogs event. A control message gives an empty batch
// and control true. Anything that is not base64 of gzip of the document
// is an error naming what failed; message text is never quoted.
func Decode(ev events.CloudwatchLogsEvent) (b usage.Batch, control bool, err error) {
	if ev.AWSLogs.Data == "" {
		return b, false, errors.New("awslogs: no data (not a CloudWatch Logs subscription event)")
	}
	raw, err := base64.StdEncoding.DecodeString(ev.AWSLogs.Data)
	if err != nil {
		return b, false, fmt.Errorf("awslogs: data is not base64: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return b, false, fmt.Errorf("awslogs: data is not gzip: %w", err)
	}
	plain, err := io.ReadAll(io.LimitReader(zr, MaxDecoded+1))
	if err != nil {
		return b, false, fmt.Errorf("awslogs: gunzip: %w", err)
	}
	if len(plain) > MaxDecoded {
		return b, false, fmt.Errorf("awslogs: data decompresses to more than %d bytes", MaxDecoded)
	}
	var p payload
	if err := json.Unmarshal(plain, &p); err != nil {
		return b, false, fmt.Errorf("awslogs: data is not the subscription document: %w", err)
	}
	switch p.MessageType {
	case ControlMessage:
		return b, true, nil
	case DataMessage:
	default:
		return b, false, fmt.Errorf("awslogs: messageType %q is neither %s nor %s", clip(p.MessageType), DataMessage, ControlMessage)
	}
	b = usage.Batch{LogGroup: p.LogGroup, LogStream: p.LogStream, Events: make([]usage.Event, 0, len(p.LogEvents))}
	for _, e := range p.LogEvents {
		b.Events = append(b.Events, usage.Event{ID: e.ID, Time: time.UnixMilli(e.Timestamp).UTC(), Message: e.Message})
	}
	return b, false, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Handler is the usage Lambda's entry point: decode, then meter. A
// payload that cannot be decoded is an error (Lambda retries it, then it
// goes to the function's on-failure destination); a control message is
// acknowledged.
type Handler struct {
	Meter *usage.Meter
	Log   *slog.Logger // nil: slog.Default()
}

// Handle implements the Lambda handler for events.CloudwatchLogsEvent.
func (h Handler) Handle(ctx context.Context, ev events.CloudwatchLogsEvent) error {
	b, control, err := Decode(ev)
	if err != nil {
		return err
	}
	if control {
		log := h.Log
		if log == nil {
			log = slog.Default()
		}
		log.InfoContext(ctx, "usage: CloudWatch Logs control message acknowledged")
		return nil
	}
	_, err = h.Meter.Handle(ctx, b)
	return err
}

// Encode builds the awslogs event CloudWatch Logs hands a Lambda function
// for batch b, as a subscription filter named filter in account owner
// delivers it (the tests build their deliveries with it).
func Encode(b usage.Batch, messageType, owner, filter string) (events.CloudwatchLogsEvent, error) {
	p := payload{MessageType: messageType, Owner: owner, LogGroup: b.LogGroup, LogStream: b.LogStream, SubscriptionFilters: []string{filter}}
	for _, e := range b.Events {
		p.LogEvents = append(p.LogEvents, struct {
			ID        string `json:"id"`
			Timestamp int64  `json:"timestamp"`
			Message   string `json:"message"`
		}{e.ID, e.Time.UnixMilli(), e.Message})
	}
	doc, err := json.Marshal(p)
	if err != nil {
		return events.CloudwatchLogsEvent{}, err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(doc); err != nil {
		return events.CloudwatchLogsEvent{}, err
	}
	if err := zw.Close(); err != nil {
		return events.CloudwatchLogsEvent{}, err
	}
	return events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: base64.StdEncoding.EncodeToString(buf.Bytes())}}, nil
}
