// Package iamlist pages through IAM's list operations. IAM paginates with
// Marker and IsTruncated (not NextToken): a page says whether more follow
// and gives the marker to ask for them. Every IAM adapter (remediation's
// iamstate, the audit's iamsrc) collects its listings here.
package iamlist

import (
	"context"
	"fmt"
)

// Page is one call of a listing: the items, whether the listing is
// truncated, and the marker of the next page.
type Page[T any] func(ctx context.Context, marker *string) (items []T, truncated bool, next *string, err error)

// All collects every page of list. what names the operation in errors
// ("ListRoles"). A truncated page without a marker is an error rather than
// a loop.
func All[T any](ctx context.Context, what string, list Page[T]) ([]T, error) {
	var all []T
	var marker *string
	for {
		page, more, next, err := list(ctx, marker)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		all = append(all, page...)
		if !more {
			return all, nil
		}
		if next == nil || *next == "" {
			return nil, fmt.Errorf("%s: truncated page without a marker", what)
		}
		marker = next
	}
}
