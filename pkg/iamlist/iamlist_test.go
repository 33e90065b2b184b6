package iamlist

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
)

func TestAll(t *testing.T) {
	pages := [][]int{{1, 2}, {3}, {4, 5}}
	var markers []string
	got, err := All(context.Background(), "ListThings", func(_ context.Context, m *string) ([]int, bool, *string, error) {
		i := 0
		if m != nil {
			markers = append(markers, *m)
			i, _ = strconv.Atoi(*m)
		}
		next := strconv.Itoa(i + 1)
		return pages[i], i+1 < len(pages), &next, nil
	})
	if err != nil || !slices.Equal(got, []int{1, 2, 3, 4, 5}) || !slices.Equal(markers, []string{"1", "2"}) {
		t.Fatalf("All = %v, %v (markers %v)", got, err, markers)
	}
	_, err = All(context.Background(), "ListThings", func(context.Context, *string) ([]int, bool, *string, error) {
		return nil, false, nil, errors.New("throttled")
	})
	if err == nil || err.Error() != "ListThings: throttled" {
		t.Errorf("error = %v", err)
	}
	_, err = All(context.Background(), "ListThings", func(context.Context, *string) ([]int, bool, *string, error) {
		return []int{1}, true, nil, nil
	})
	if err == nil {
		t.Error("a truncated page without a marker must not loop")
	}
}
