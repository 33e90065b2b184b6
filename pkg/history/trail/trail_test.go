package trail

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bedrock-warden/warden/pkg/history"
)

type fakeAPI struct {
	in  *cloudtrail.LookupEventsInput
	out *cloudtrail.LookupEventsOutput
	err error
}

func (f *fakeAPI) LookupEvents(_ context.Context, in *cloudtrail.LookupEventsInput, _ ...func(*cloudtrail.Options)) (*cloudtrail.LookupEventsOutput, error) {
	f.in = in
	return f.out, f.err
}

func TestLookupMapsQueryAndPage(t *testing.T) {
	start := time.Date(2026, 11, 24, 11, 0, 0, 0, time.UTC)
	end := start.Add(time.Hour)
	at := start.Add(30 * time.Minute)
	api := &fakeAPI{out: &cloudtrail.LookupEventsOutput{
		Events: []types.Event{{EventId: aws.String("e1"), EventName: aws.String("InvokeModel"), EventSource: aws.String("bedrock.amazonaws.com"),
			EventTime: aws.Time(at.In(time.FixedZone("x", 3600))), CloudTrailEvent: aws.String(`{"eventID":"e1"}`)}, {}},
		NextToken: aws.String("tok-2"),
	}}
	c := &Client{api: api, region: "eu-west-1"}
	page, err := c.Lookup(context.Background(), history.Query{Source: "bedrock-mantle.amazonaws.com", Start: start, End: end, Token: "tok-1"})
	if err != nil {
		t.Fatal(err)
	}
	in := api.in
	if len(in.LookupAttributes) != 1 || in.LookupAttributes[0].AttributeKey != types.LookupAttributeKeyEventSource ||
		aws.ToString(in.LookupAttributes[0].AttributeValue) != "bedrock-mantle.amazonaws.com" ||
		!in.StartTime.Equal(start) || !in.EndTime.Equal(end) || aws.ToInt32(in.MaxResults) != 50 || aws.ToString(in.NextToken) != "tok-1" {
		t.Fatalf("input %+v", in)
	}
	if page.NextToken != "tok-2" || len(page.Events) != 2 {
		t.Fatalf("page %+v", page)
	}
	e := page.Events[0]
	if e.ID != "e1" || e.Region != "eu-west-1" || e.Record != `{"eventID":"e1"}` || !e.Time.Equal(at) || e.Time.Location() != time.UTC {
		t.Fatalf("event %+v", e)
	}
	if !page.Events[1].Time.IsZero() || page.Events[1].ID != "" {
		t.Fatalf("empty event not kept empty: %+v", page.Events[1])
	}
	// First page: no token sent.
	if _, err := c.Lookup(context.Background(), history.Query{Source: "s", Start: start, End: end}); err != nil || api.in.NextToken != nil {
		t.Fatalf("first page token %v, err %v", api.in.NextToken, err)
	}
}

func TestLookupClassifiesErrors(t *testing.T) {
	c := &Client{api: &fakeAPI{}, region: "us-east-1"}
	for name, tc := range map[string]struct {
		err       error
		throttled bool
		transient bool
	}{
		"throttling":    {err: &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}, throttled: true},
		"server error":  {err: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 503}}, Err: errors.New("unavailable")}, transient: true},
		"bad token":     {err: &types.InvalidNextTokenException{Message: aws.String("bad")}},
		"access denied": {err: &smithy.GenericAPIError{Code: "AccessDeniedException"}},
		"cancelled":     {err: context.Canceled},
	} {
		c.api.(*fakeAPI).err = tc.err
		_, err := c.Lookup(context.Background(), history.Query{Source: "s"})
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if errors.Is(err, history.ErrThrottled) != tc.throttled || errors.Is(err, history.ErrTransient) != tc.transient {
			t.Errorf("%s: %v throttled=%v transient=%v", name, err, errors.Is(err, history.ErrThrottled), errors.Is(err, history.ErrTransient))
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: original error not wrapped: %v", name, err)
		}
	}
}

func TestNewTurnsSDKRetriesOff(t *testing.T) {
	c := New(aws.Config{Region: "us-east-1", RetryMaxAttempts: 5}, "ap-south-1")
	opts := c.api.(*cloudtrail.Client).Options()
	if opts.Region != "ap-south-1" || opts.Retryer.MaxAttempts() != 1 {
		t.Fatalf("region %q, max attempts %d", opts.Region, opts.Retryer.MaxAttempts())
	}
}
