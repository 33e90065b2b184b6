// Package s3src is the archive's S3 adapter: ListObjectsV2 and a streaming
// GetObject, with S3's and KMS's refusals turned into archive.AccessError
// naming the permission to grant.
//
// SSE-S3 and SSE-KMS objects are decrypted by S3 itself: the reader needs
// s3:GetObject on the object and, for SSE-KMS, kms:Decrypt on the key that
// encrypted it (granted by the key policy; for a key in another account,
// by the key policy and the reader's identity policy).
package s3src

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/bedrock-warden/warden/pkg/archive"
)

// API is the part of the S3 client the adapter calls.
type API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Bucket implements archive.Bucket.
type Bucket struct {
	API API
}

var _ archive.Bucket = (*Bucket)(nil)

// New returns a Bucket over the S3 client built from cfg. With a custom
// endpoint (AWS_ENDPOINT_URL, a local S3) requests use path-style
// addressing, which every S3-compatible endpoint serves.
//
// Response checksums are validated only when a request asks for them: a
// log file is gzip, whose own CRC-32 the decoder checks, and an S3-
// compatible endpoint may send none (the SDK would log each one).
func New(cfg aws.Config, opts ...func(*s3.Options)) *Bucket {
	opts = append([]func(*s3.Options){func(o *s3.Options) {
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}}, opts...)
	if cfg.BaseEndpoint != nil {
		opts = append([]func(*s3.Options){func(o *s3.Options) { o.UsePathStyle = true }}, opts...)
	}
	return &Bucket{API: s3.NewFromConfig(cfg, opts...)}
}

// List implements archive.Bucket.
func (b *Bucket) List(ctx context.Context, in archive.ListInput) (*archive.ListPage, error) {
	req := &s3.ListObjectsV2Input{Bucket: aws.String(in.Bucket), Prefix: aws.String(in.Prefix)}
	if in.Delimiter != "" {
		req.Delimiter = aws.String(in.Delimiter)
	}
	if in.StartAfter != "" {
		req.StartAfter = aws.String(in.StartAfter)
	}
	if in.Token != "" {
		req.ContinuationToken = aws.String(in.Token)
	}
	out, err := b.API.ListObjectsV2(ctx, req)
	if err != nil {
		return nil, classify("ListObjectsV2", "s3://"+in.Bucket+"/"+in.Prefix, in.Bucket, "", err)
	}
	page := &archive.ListPage{}
	for _, o := range out.Contents {
		page.Objects = append(page.Objects, archive.ObjectInfo{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size)})
	}
	for _, p := range out.CommonPrefixes {
		page.Prefixes = append(page.Prefixes, aws.ToString(p.Prefix))
	}
	if aws.ToBool(out.IsTruncated) {
		page.Next = aws.ToString(out.NextContinuationToken)
		if page.Next == "" {
			return nil, fmt.Errorf("ListObjectsV2 s3://%s/%s: truncated page without a continuation token", in.Bucket, in.Prefix)
		}
	}
	return page, nil
}

// Open implements archive.Bucket.
func (b *Bucket) Open(ctx context.Context, bucket, key string) (*archive.Object, error) {
	out, err := b.API.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, classify("GetObject", "s3://"+bucket+"/"+key, bucket, key, err)
	}
	return &archive.Object{Body: out.Body, Size: aws.ToInt64(out.ContentLength), ETag: strings.Trim(aws.ToString(out.ETag), `"`)}, nil
}

// classify turns an S3 error into archive.ErrNotFound or an
// *archive.AccessError that says which permission is missing; anything
// else is wrapped as it is (and may be retried).
func classify(op, resource, bucket, key string, err error) error {
	var api smithy.APIError
	code, msg := "", ""
	if errors.As(err, &api) {
		code, msg = api.ErrorCode(), api.ErrorMessage()
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	switch {
	case code == "NoSuchKey" || code == "NoSuchBucket" || (status == http.StatusNotFound && op == "GetObject"):
		return fmt.Errorf("%s %s: %w (%v)", op, resource, archive.ErrNotFound, err)
	case strings.HasPrefix(code, "KMS.") || (status == http.StatusForbidden || code == "AccessDenied") && mentionsKMS(msg):
		return &archive.AccessError{Op: op, Resource: resource, Err: err,
			Permission: "the object is encrypted with a KMS key (SSE-KMS): grant kms:Decrypt on that key to the caller, in the key policy (and in the caller's identity policy when the key is in another account)"}
	case code == "AccessDenied" || code == "AllAccessDisabled" || status == http.StatusForbidden:
		if op == "GetObject" {
			return &archive.AccessError{Op: op, Resource: resource, Err: err,
				Permission: "grant s3:GetObject on arn:aws:s3:::" + bucket + "/" + key + " (identity policy, and the bucket policy when the bucket is in another account); for an SSE-KMS object also kms:Decrypt on its key"}
		}
		return &archive.AccessError{Op: op, Resource: resource, Err: err,
			Permission: "grant s3:ListBucket on arn:aws:s3:::" + bucket + " (identity policy, and the bucket policy when the bucket is in another account)"}
	}
	return fmt.Errorf("%s %s: %w", op, resource, err)
}

// mentionsKMS reports whether an access-denied message is KMS's.
func mentionsKMS(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "kms:") || strings.Contains(m, "kms key") || strings.Contains(m, "aws kms") || strings.Contains(m, "ciphertext")
}

// BucketRegion returns the Region of bucket, from S3's answer to HeadBucket
// (which names it even when it refuses or redirects), or "" when S3 does
// not say: requests for a bucket must go to its own Region.
func BucketRegion(ctx context.Context, cfg aws.Config, bucket string) string {
	b := New(cfg)
	c, ok := b.API.(*s3.Client)
	if !ok {
		return ""
	}
	out, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err == nil {
		return aws.ToString(out.BucketRegion)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.Header.Get("X-Amz-Bucket-Region")
	}
	return ""
}
