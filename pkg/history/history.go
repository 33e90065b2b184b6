// Package history looks back over CloudTrail's event history (the
// LookupEvents API) for Bedrock events: the `warden scan` command and the
// reconciler use it to find what the EventBridge path may have missed.
//
// The scanner is pure Go over a small Lookup interface; package
// history/trail adapts the CloudTrail SDK client to it. LookupEvents accepts
// one lookup attribute per call, so every Bedrock event source is its own
// query series, paginated with NextToken (same parameters on every page).
// CloudTrail allows two LookupEvents requests per second per account and
// region: a Limiter per region spaces requests, and throttling errors are
// retried with jittered exponential backoff.
//
// LookupEvents returns management events only, for the last 90 days.
package history

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sources are the Bedrock event sources the scanner queries, one query
// series each.
var Sources = []string{"bedrock.amazonaws.com", "bedrock-mantle.amazonaws.com"}

// Retention is how far back LookupEvents can see.
const Retention = 90 * 24 * time.Hour

// Regions are the commercial AWS Regions where Amazon Bedrock is offered
// (its bedrock-runtime endpoint), from the Bedrock user guide's "Regional
// availability by endpoints" page. `--region all` scans these; name any
// other Region explicitly.
var Regions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2",
	"ca-central-1", "ca-west-1",
	"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2",
	"eu-west-1", "eu-west-2", "eu-west-3",
	"ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-south-1", "ap-south-2",
	"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
	"ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
}

// ParseRegions turns a --region value into a list: "all" gives Regions, a
// comma list gives its members (deduplicated, in order), and "" gives
// fallback alone (the configured Region). Names are checked for shape only
// ("xx-name-1"), not against Regions.
func ParseRegions(value, fallback string) ([]string, error) {
	value = strings.TrimSpace(value)
	if strings.EqualFold(value, "all") {
		return append([]string(nil), Regions...), nil
	}
	if value == "" {
		if fallback == "" {
			return nil, errors.New("no region: pass --region or set AWS_REGION")
		}
		value = fallback
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range strings.Split(value, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !validRegion(r) {
			return nil, fmt.Errorf("region %q: not a region name like us-east-1", r)
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("region list %q names no region", value)
	}
	return out, nil
}

// validRegion accepts lower-case letters, digits and dashes, with at least
// two dashes and a trailing digit ("us-east-1", "us-gov-west-1").
func validRegion(r string) bool {
	if strings.Count(r, "-") < 2 || len(r) > 32 {
		return false
	}
	for _, c := range r {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	last := r[len(r)-1]
	return last >= '0' && last <= '9'
}

// Query is one LookupEvents call: one event source, a time range and the
// page token ("" for the first page).
type Query struct {
	Region string
	Source string
	Start  time.Time
	End    time.Time
	Token  string
}

// Event is one event as LookupEvents returns it.
type Event struct {
	ID     string
	Name   string
	Source string
	Time   time.Time
	Region string // the Region whose history returned it
	// Record is the CloudTrailEvent field: the full CloudTrail record as
	// JSON text.
	Record string
}

// Page is one LookupEvents response.
type Page struct {
	Events    []Event
	NextToken string
}

// Lookup makes one LookupEvents call in q.Region. Implementations return
// an error wrapping ErrThrottled when CloudTrail throttled the call, and
// one wrapping ErrTransient for other failures worth retrying.
type Lookup interface {
	Lookup(ctx context.Context, q Query) (Page, error)
}

// Errors a Lookup classifies its failures with.
var (
	ErrThrottled = errors.New("throttled")
	ErrTransient = errors.New("transient failure")
)
