package s3src_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bedrock-warden/warden/pkg/archive"
	"github.com/bedrock-warden/warden/pkg/archive/s3src"
)

// s3Error answers every request with S3's XML error document.
func s3Error(status int, code, message string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("x-amz-request-id", "4442587FB7D0A2F9")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>%s</Code><Message>%s</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>host</HostId></Error>`, code, message)
		}
	}))
}

func bucketAt(url string) *s3src.Bucket {
	return s3src.New(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
}

// TestRefusalsNameTheMissingPermission: S3's and KMS's refusals become
// an AccessError that says what to grant: kms:Decrypt for an SSE-KMS object
// whose key the reader may not use, s3:GetObject or s3:ListBucket
// otherwise; a missing key is ErrNotFound.
func TestRefusalsNameTheMissingPermission(t *testing.T) {
	const key = "AWSLogs/o-abcdef1234/111122223333/CloudTrail/us-east-1/2026/11/20/f.json.gz"
	ctx := context.Background()
	for _, c := range []struct {
		name          string
		status        int
		code, message string
		list          bool
		want          string
		notFound      bool
	}{
		{"KMS refuses", 403, "AccessDenied", "User: arn:aws:sts::111122223333:assumed-role/scanner/s is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:999988887777:key/1234 because no resource-based policy allows the kms:Decrypt action", false, "grant kms:Decrypt on that key", false},
		{"KMS key disabled", 400, "KMS.DisabledException", "arn:aws:kms:us-east-1:999988887777:key/1234 is disabled.", false, "kms:Decrypt", false},
		{"S3 refuses the object", 403, "AccessDenied", "Access Denied", false, "grant s3:GetObject on arn:aws:s3:::org-trail-logs/" + key, false},
		{"S3 refuses the listing", 403, "AccessDenied", "Access Denied", true, "grant s3:ListBucket on arn:aws:s3:::org-trail-logs", false},
		{"no such key", 404, "NoSuchKey", "The specified key does not exist.", false, "", true},
	} {
		srv := s3Error(c.status, c.code, c.message)
		b := bucketAt(srv.URL)
		var err error
		if c.list {
			_, err = b.List(ctx, archive.ListInput{Bucket: "org-trail-logs", Prefix: "AWSLogs/", Delimiter: "/"})
		} else {
			_, err = b.Open(ctx, "org-trail-logs", key)
		}
		srv.Close()
		if c.notFound {
			if !errors.Is(err, archive.ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", c.name, err)
			}
			continue
		}
		var ae *archive.AccessError
		if !errors.As(err, &ae) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "s3://org-trail-logs/") {
			t.Errorf("%s: %v\nwant an AccessError saying %q", c.name, err, c.want)
		}
	}
}
