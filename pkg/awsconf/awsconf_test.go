package awsconf

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// TestRecorderNamesEveryService checks the recorder sees the service and
// operation of clients that set their metadata at different points of the
// middleware stack (cloudtrail does it late), and counts an operation once
// however often the SDK retries it.
func TestRecorderNamesEveryService(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if strings.Contains(r.Header.Get("X-Amz-Target"), "LookupEvents") {
			if hits == 1 {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.WriteHeader(500)
				w.Write([]byte(`{"__type":"InternalFailure","message":"try again"}`))
				return
			}
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			json.NewEncoder(w).Encode(map[string]any{"Events": []any{}})
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		w.Write([]byte(`<PublishResponse><PublishResult><MessageId>m</MessageId></PublishResult></PublishResponse>`))
	}))
	defer srv.Close()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""), BaseEndpoint: aws.String(srv.URL)}
	rec := NewRecorder()
	rec.Attach(&cfg)
	ctx := context.Background()
	if _, err := cloudtrail.NewFromConfig(cfg).LookupEvents(ctx, &cloudtrail.LookupEventsInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:1:t"), Message: aws.String("m")}); err != nil {
		t.Fatal(err)
	}
	got := rec.Calls()
	if got["cloudtrail:LookupEvents"] != 1 || got["sns:Publish"] != 1 || len(got) != 2 {
		t.Fatalf("calls = %v (server hits %d)", got, hits)
	}
	if hits != 3 {
		t.Fatalf("expected one retried LookupEvents: %d hits", hits)
	}
}
