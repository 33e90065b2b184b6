// Package trailtest is a fake CloudTrail endpoint for tests: an httptest
// server that speaks the LookupEvents operation of the CloudTrail JSON 1.1
// wire protocol (POST /, X-Amz-Target CloudTrail_20131101.LookupEvents),
// so the real SDK client can be driven against it. moto does not implement
// LookupEvents.
//
// It checks what CloudTrail checks — exactly one lookup attribute, a page
// token reused with the same parameters — pages results newest first, can
// throttle, and records every request with its Region (read from the SigV4
// credential scope) and the time on a caller-supplied clock.
package trailtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Target is the X-Amz-Target of LookupEvents.
const Target = "CloudTrail_20131101.LookupEvents"

// Request is one LookupEvents call as the server saw it.
type Request struct {
	Region    string
	Source    string // the EventSource attribute value
	Start     time.Time
	End       time.Time
	Token     string
	At        time.Time // on Server.Now
	Throttled bool
	Status    int
}

type stored struct {
	id, name, source string
	at               time.Time
	record           string
}

// Server is the fake endpoint. Set fields before the first request.
type Server struct {
	*httptest.Server
	// PageSize caps events per page (default 50, CloudTrail's maximum);
	// a request's MaxResults lowers it.
	PageSize int
	// Now stamps requests; default time.Now.
	Now func() time.Time

	mu       sync.Mutex
	events   map[string][]stored // by Region
	throttle map[string]int      // Region → throttles still to answer
	requests []Request
}

// New starts a Server, closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{events: map[string][]stored{}, throttle: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Add stores CloudTrail records (JSON text) in region's history. The
// event id, name, source and time are read from the record; a record
// without eventID, eventSource or a parseable eventTime is a test bug.
func (s *Server) Add(t testing.TB, region string, records ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range records {
		var head struct {
			ID     string `json:"eventID"`
			Name   string `json:"eventName"`
			Source string `json:"eventSource"`
			Time   string `json:"eventTime"`
		}
		if err := json.Unmarshal([]byte(r), &head); err != nil {
			t.Fatalf("trailtest: record is not JSON: %v", err)
		}
		at, err := time.Parse(time.RFC3339Nano, head.Time)
		if err != nil || head.ID == "" || head.Source == "" {
			t.Fatalf("trailtest: record needs eventID, eventSource and an RFC 3339 eventTime: %.200s", r)
		}
		s.events[region] = append(s.events[region], stored{head.ID, head.Name, head.Source, at.UTC(), r})
	}
}

// Throttle makes the next n requests in region fail with
// ThrottlingException.
func (s *Server) Throttle(region string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle[region] = n
}

// Requests returns a copy of every request so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

type lookupInput struct {
	LookupAttributes []struct {
		AttributeKey   string
		AttributeValue string
	}
	StartTime  *float64
	EndTime    *float64
	MaxResults *int
	NextToken  *string
}

type token struct {
	Source string  `json:"s"`
	Start  float64 `json:"a"`
	End    float64 `json:"b"`
	Offset int     `json:"o"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	req := Request{Region: regionOf(r.Header.Get("Authorization")), At: now()}
	record := func(status int) {
		req.Status = status
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
	}
	fail := func(status int, typ, msg string) {
		record(status)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", typ)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":%q}`, typ, msg)
	}
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != Target {
		fail(400, "UnknownOperationException", "only "+Target+" is implemented")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		fail(400, "SerializationException", "content type "+ct)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		fail(400, "SerializationException", err.Error())
		return
	}
	var in lookupInput
	if err := json.Unmarshal(body, &in); err != nil {
		fail(400, "SerializationException", err.Error())
		return
	}
	if len(in.LookupAttributes) != 1 {
		fail(400, "InvalidLookupAttributesException", "exactly one lookup attribute is supported")
		return
	}
	if in.LookupAttributes[0].AttributeKey != "EventSource" {
		fail(400, "InvalidLookupAttributesException", "this fake filters on EventSource only")
		return
	}
	if in.StartTime == nil || in.EndTime == nil {
		fail(400, "InvalidTimeRangeException", "StartTime and EndTime are required by this fake")
		return
	}
	req.Source = in.LookupAttributes[0].AttributeValue
	req.Start, req.End = epoch(*in.StartTime), epoch(*in.EndTime)
	if req.End.Before(req.Start) {
		fail(400, "InvalidTimeRangeException", "end before start")
		return
	}
	tok := token{Source: req.Source, Start: *in.StartTime, End: *in.EndTime}
	if in.NextToken != nil {
		req.Token = *in.NextToken
		var got token
		raw, err := base64.StdEncoding.DecodeString(*in.NextToken)
		if err != nil || json.Unmarshal(raw, &got) != nil {
			fail(400, "InvalidNextTokenException", "malformed token")
			return
		}
		if got.Source != tok.Source || got.Start != tok.Start || got.End != tok.End {
			fail(400, "InvalidNextTokenException", "the token must be passed with the same parameters as the original call")
			return
		}
		tok.Offset = got.Offset
	}
	s.mu.Lock()
	if s.throttle[req.Region] > 0 {
		s.throttle[req.Region]--
		s.mu.Unlock()
		req.Throttled = true
		fail(400, "ThrottlingException", "Rate exceeded")
		return
	}
	var match []stored
	for _, e := range s.events[req.Region] {
		if e.source == req.Source && !e.at.Before(req.Start) && !e.at.After(req.End) {
			match = append(match, e)
		}
	}
	s.mu.Unlock()
	sort.SliceStable(match, func(i, j int) bool { return match[i].at.After(match[j].at) })
	size := s.PageSize
	if size <= 0 || size > 50 {
		size = 50
	}
	if in.MaxResults != nil && *in.MaxResults > 0 && *in.MaxResults < size {
		size = *in.MaxResults
	}
	type outEvent struct {
		EventId, EventName, EventSource, CloudTrailEvent string
		EventTime                                        float64
	}
	out := struct {
		Events    []outEvent
		NextToken string `json:",omitempty"`
	}{Events: []outEvent{}}
	end := min(tok.Offset+size, len(match))
	for _, e := range match[min(tok.Offset, len(match)):end] {
		out.Events = append(out.Events, outEvent{e.id, e.name, e.source, e.record, float64(e.at.UnixMilli()) / 1000})
	}
	if end < len(match) {
		tok.Offset = end
		raw, _ := json.Marshal(tok)
		out.NextToken = base64.StdEncoding.EncodeToString(raw)
	}
	record(200)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func epoch(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC()
}

// regionOf reads the Region from a SigV4 Authorization header:
// "... Credential=AKID/20260101/us-east-1/cloudtrail/aws4_request, ...".
func regionOf(auth string) string {
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return ""
	}
	parts := strings.Split(strings.SplitN(auth[i+len("Credential="):], ",", 2)[0], "/")
	if len(parts) < 3 {
		return ""
	}
	return parts[2]
}
