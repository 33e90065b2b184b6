package counterdb

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/spikes"
)

func TestStoreAgainstMoto(t *testing.T) {
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	s := New(dynamodb.NewFromConfig(srv.Config(t)), "warden")
	ctx := context.Background()
	k := spikes.Key{Kind: spikes.KindPrincipal, ID: "arn:aws:iam::123456789012:role/r"}
	w := 5 * time.Minute
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	c, err := s.Add(ctx, spikes.Increment{Key: k, WindowStart: t0, Window: w, Count: 3, Slot: 1,
		Models: map[string]int64{"m1": 3}, IPs: map[string]int64{"10.0.0.1": 2, "10.0.0.2": 1}, Expires: t0.Add(time.Hour)})
	if err != nil || c.Count != 3 || c.Alerted {
		t.Fatalf("first Add = %+v, %v", c, err)
	}
	c, err = s.Add(ctx, spikes.Increment{Key: k, WindowStart: t0, Window: w, Count: 4, Slot: 6,
		Models: map[string]int64{"m1": 1, "m2": 3}, IPs: map[string]int64{"10.0.0.1": 4}, Expires: t0.Add(time.Hour)})
	if err != nil || c.Count != 7 {
		t.Fatalf("second Add = %+v, %v", c, err)
	}
	if c.Models["m1"] != 4 || c.Models["m2"] != 3 || c.IPs["10.0.0.1"] != 6 {
		t.Fatalf("merged snapshots = %v / %v", c.Models, c.IPs)
	}
	// A replay of the first batch rewrites slot 1, it does not add one.
	c, _ = s.Add(ctx, spikes.Increment{Key: k, WindowStart: t0, Window: w, Count: 0, Slot: 1,
		Models: map[string]int64{"m1": 3}, IPs: map[string]int64{}, Expires: t0.Add(time.Hour)})
	if c.Models["m1"] != 4 {
		t.Fatalf("slot rewrite changed the merge: %v", c.Models)
	}
	if _, err := s.Add(ctx, spikes.Increment{Key: k, WindowStart: t0.Add(-2 * w), Window: w, Count: 9, Expires: t0}); err != nil {
		t.Fatal(err)
	}

	got, err := s.Counts(ctx, k, []time.Time{t0.Add(-w), t0.Add(-2 * w), t0})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 0 || got[1] != 9 || got[2] != 7 {
		t.Fatalf("Counts = %v, want [0 9 7] in the order asked", got)
	}

	first, err := s.MarkAlerted(ctx, k, t0, t0.Add(time.Minute))
	if err != nil || !first {
		t.Fatalf("first mark = %v, %v", first, err)
	}
	first, err = s.MarkAlerted(ctx, k, t0, t0.Add(2*time.Minute))
	if err != nil || first {
		t.Fatalf("second mark = %v, %v; want false", first, err)
	}
	c, _ = s.Add(ctx, spikes.Increment{Key: k, WindowStart: t0, Window: w, Count: 1, Expires: t0.Add(time.Hour)})
	if !c.Alerted {
		t.Fatal("Add does not report the alert marker")
	}

	// UnmarkAlerted removes only the marker written at the given time.
	if err := s.UnmarkAlerted(ctx, k, t0, t0.Add(5*time.Minute)); err != nil {
		t.Fatalf("unmark with another time: %v", err)
	}
	if c, _ = s.Add(ctx, spikes.Increment{Key: k, WindowStart: t0, Window: w, Expires: t0.Add(time.Hour)}); !c.Alerted {
		t.Fatal("a marker written at another time was removed")
	}
	if err := s.UnmarkAlerted(ctx, k, t0, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if c, _ = s.Add(ctx, spikes.Increment{Key: k, WindowStart: t0, Window: w, Expires: t0.Add(time.Hour)}); c.Alerted {
		t.Fatal("marker not removed")
	}
	if first, err := s.MarkAlerted(ctx, k, t0, t0.Add(time.Minute)); err != nil || !first {
		t.Fatalf("re-mark = %v, %v", first, err)
	}

	// Tokens: the same token in the same token slot is counted once; the
	// replay returns the current item, marked Replayed.
	tok := spikes.Increment{Key: k, WindowStart: t0, Window: w, Count: 5, Token: "0123456789abcdef", TokenSlot: 3, Expires: t0.Add(time.Hour)}
	c, err = s.Add(ctx, tok)
	if err != nil || c.Count != 13 || c.Replayed {
		t.Fatalf("token add = %+v, %v", c, err)
	}
	c, err = s.Add(ctx, tok)
	if err != nil || c.Count != 13 || !c.Replayed || !c.Alerted {
		t.Fatalf("replayed token = %+v, %v; want count 13, Replayed, Alerted", c, err)
	}
	other := tok
	other.Token = "fedcba9876543210"
	if c, err = s.Add(ctx, other); err != nil || c.Count != 18 || c.Replayed {
		t.Fatalf("new token in the same slot = %+v, %v", c, err)
	}

	entries, err := s.Window(ctx, t0)
	if err != nil || len(entries) != 1 || entries[0].Key != k || entries[0].Count != 18 || entries[0].AlertedAt != "2026-01-01T00:01:00Z" {
		t.Fatalf("Window = %+v, %v", entries, err)
	}
	if _, err := s.Add(ctx, spikes.Increment{Key: k, WindowStart: t0, Slot: spikes.Slots}); err == nil {
		t.Fatal("out-of-range slot accepted")
	}
}
