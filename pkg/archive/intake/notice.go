// Package intake is the S3 intake of organisation trails: a Lambda fed by
// an SQS queue that receives the trail bucket's ObjectCreated
// notifications — straight from S3, or through an EventBridge rule — and
// judges each new log file with the detector's pipeline, streaming it
// from S3 in bounded memory.
//
// Delivery is at least once at every step (S3 and EventBridge
// notifications, SQS): a log file judged once is marked in the state table
// (package intake/objectdb) and skipped when announced again, and the
// alert path alerts once per event id, so a file delivered twice — or an
// event already seen through EventBridge — alerts once. A message that
// fails (S3 or a sink unavailable, a file over the size limit, a file that
// cannot be decoded) comes back through SQS and, after the queue's
// maxReceiveCount, lands in the dead-letter queue, whose alarm pages.
package intake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ObjectRef names an object a notification announces.
type ObjectRef struct {
	Bucket, Key string
	// Size is the object's size as the notification gives it (0 when it
	// does not).
	Size int64
}

// URL is s3://BUCKET/KEY.
func (o ObjectRef) URL() string { return "s3://" + o.Bucket + "/" + o.Key }

// Notice is one SQS message's content.
type Notice struct {
	// Test is S3's s3:TestEvent, sent when a notification is configured.
	Test bool
	// Objects are the created objects announced.
	Objects []ObjectRef
	// Ignored counts records about something else than a created object
	// (a deletion, a restore).
	Ignored int
}

// ErrUnknownNotice is a message that is none of the notification shapes.
var ErrUnknownNotice = errors.New("not an S3 event notification, an S3 test event or an EventBridge Object Created event")

// s3Event is S3's event notification (to SQS, SNS or Lambda).
type s3Event struct {
	Records []struct {
		EventSource string `json:"eventSource"`
		EventName   string `json:"eventName"`
		S3          struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				// Key is URL-encoded, with '+' for a space.
				Key  string `json:"key"`
				Size int64  `json:"size"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
	// The test event S3 sends when a notification is configured.
	Service string `json:"Service"`
	Event   string `json:"Event"`
	Bucket  string `json:"Bucket"`
}

// eventBridgeEvent is an S3 event as EventBridge delivers it.
type eventBridgeEvent struct {
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
	Detail     struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			// Key is not URL-encoded.
			Key  string `json:"key"`
			Size int64  `json:"size"`
		} `json:"object"`
	} `json:"detail"`
}

// ParseNotice reads one SQS message body: an S3 event notification (keys
// URL-decoded), S3's test event, or an EventBridge "Object Created" event
// from aws.s3.
func ParseNotice(body []byte) (Notice, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return Notice{}, fmt.Errorf("%w: %v", ErrUnknownNotice, err)
	}
	switch {
	case probe["Records"] != nil:
		var ev s3Event
		if err := json.Unmarshal(body, &ev); err != nil {
			return Notice{}, fmt.Errorf("%w: S3 event: %v", ErrUnknownNotice, err)
		}
		var n Notice
		for i, r := range ev.Records {
			if r.EventSource != "aws:s3" {
				return Notice{}, fmt.Errorf("%w: record %d has eventSource %q", ErrUnknownNotice, i, r.EventSource)
			}
			if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
				n.Ignored++
				continue
			}
			key, err := url.QueryUnescape(r.S3.Object.Key)
			if err != nil || r.S3.Bucket.Name == "" || key == "" {
				return Notice{}, fmt.Errorf("%w: record %d names bucket %q key %q", ErrUnknownNotice, i, r.S3.Bucket.Name, r.S3.Object.Key)
			}
			n.Objects = append(n.Objects, ObjectRef{Bucket: r.S3.Bucket.Name, Key: key, Size: r.S3.Object.Size})
		}
		return n, nil
	case probe["Event"] != nil:
		var ev s3Event
		if err := json.Unmarshal(body, &ev); err != nil || ev.Event != "s3:TestEvent" {
			return Notice{}, fmt.Errorf("%w: Event %s", ErrUnknownNotice, probe["Event"])
		}
		return Notice{Test: true}, nil
	case probe["detail-type"] != nil:
		var ev eventBridgeEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			return Notice{}, fmt.Errorf("%w: EventBridge event: %v", ErrUnknownNotice, err)
		}
		if ev.Source != "aws.s3" {
			return Notice{}, fmt.Errorf("%w: EventBridge event from %q", ErrUnknownNotice, ev.Source)
		}
		if ev.DetailType != "Object Created" {
			return Notice{Ignored: 1}, nil
		}
		if ev.Detail.Bucket.Name == "" || ev.Detail.Object.Key == "" {
			return Notice{}, fmt.Errorf("%w: Object Created event without bucket or key", ErrUnknownNotice)
		}
		return Notice{Objects: []ObjectRef{{Bucket: ev.Detail.Bucket.Name, Key: ev.Detail.Object.Key, Size: ev.Detail.Object.Size}}}, nil
	}
	return Notice{}, ErrUnknownNotice
}
