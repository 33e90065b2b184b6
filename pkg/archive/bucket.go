package archive

import (
	"context"
	"errors"
	"io"
	"strings"
)

// Bucket is the part of S3 the archive reads; package archive/s3src
// implements it over the SDK. It is declared here, where it is used.
type Bucket interface {
	// List returns one page of the keys under in.Prefix that sort after
	// in.StartAfter, in key order (ListObjectsV2), and with in.Delimiter
	// the common prefixes one level down.
	List(ctx context.Context, in ListInput) (*ListPage, error)
	// Open starts reading an object; its Body streams and must be closed.
	Open(ctx context.Context, bucket, key string) (*Object, error)
}

// ListInput is one ListObjectsV2 request.
type ListInput struct {
	Bucket, Prefix, Delimiter, StartAfter string
	// Token continues a listing (ListPage.Next).
	Token string
}

// ListPage is one ListObjectsV2 page.
type ListPage struct {
	Objects  []ObjectInfo
	Prefixes []string
	// Next is the continuation token, "" on the last page.
	Next string
}

// ObjectInfo is one key of a listing.
type ObjectInfo struct {
	Key  string
	Size int64
}

// Object is an object being read.
type Object struct {
	Body io.ReadCloser
	Size int64
	ETag string
}

// ErrNotFound reports a bucket or key that does not exist.
var ErrNotFound = errors.New("not found")

// AccessError is a request S3 (or KMS on its behalf) refused. Permission
// names what the caller lacks, so the message says what to grant.
type AccessError struct {
	// Op is the S3 operation ("ListObjectsV2", "GetObject").
	Op string
	// Resource is the s3:// URL of the bucket or object.
	Resource string
	// Permission is the missing permission and where it is granted.
	Permission string
	Err        error
}

func (e *AccessError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op + " " + e.Resource + ": access denied")
	if e.Permission != "" {
		b.WriteString(": " + e.Permission)
	}
	if e.Err != nil {
		b.WriteString(" (" + e.Err.Error() + ")")
	}
	return b.String()
}

func (e *AccessError) Unwrap() error { return e.Err }

// permanent reports whether retrying err cannot help: a refusal, or a key
// that is not there.
func permanent(err error) bool {
	var ae *AccessError
	return errors.As(err, &ae) || errors.Is(err, ErrNotFound) || errors.Is(err, context.Canceled)
}
