package recondb

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/recon"
	"github.com/bedrock-warden/warden/pkg/rules"
)

func TestStoreAgainstMoto(t *testing.T) {
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	s := New(dynamodb.NewFromConfig(srv.Config(t)), "warden")
	ctx := context.Background()
	w := time.Hour
	t0 := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	k := rules.MarkKey{Key: "key#AKIASTOLEN", Start: t0}
	exp := t0.Add(recon.Retention(w))

	// Nothing stored yet.
	if got, err := s.Marks(ctx, []rules.MarkKey{k}, w); err != nil || len(got) != 0 {
		t.Fatalf("empty Marks = %v, %v", got, err)
	}
	m := rules.Mark{MarkKey: k, First: t0.Add(10 * time.Minute), Last: t0.Add(12 * time.Minute),
		Calls: []string{"ListFoundationModels"}, Principal: "arn:aws:iam::123456789012:user/ci", EventID: "e2"}
	if err := s.Record(ctx, m, w, exp); err != nil {
		t.Fatal(err)
	}
	// A later batch widens both ends and adds a call; a replay of the
	// first changes nothing.
	if err := s.Record(ctx, rules.Mark{MarkKey: k, First: t0.Add(5 * time.Minute), Last: t0.Add(30 * time.Minute),
		Calls: []string{"GetFoundationModelAvailability"}, EventID: "e3"}, w, exp); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, m, w, exp); err != nil {
		t.Fatal(err)
	}
	other := rules.MarkKey{Key: "principal#arn:aws:iam::123456789012:user/x", Start: t0.Add(-w)}
	if err := s.Record(ctx, rules.Mark{MarkKey: other, First: t0.Add(-w), Last: t0.Add(-w)}, w, exp); err != nil {
		t.Fatal(err)
	}

	got, err := s.Marks(ctx, []rules.MarkKey{k, {Key: k.Key, Start: t0.Add(-w)}, other, k}, w)
	if err != nil || len(got) != 2 {
		t.Fatalf("Marks = %+v, %v", got, err)
	}
	slices.SortFunc(got, func(a, b rules.Mark) int { return strings.Compare(a.Key, b.Key) })
	g := got[0]
	if g.MarkKey != k || !g.First.Equal(t0.Add(5*time.Minute)) || !g.Last.Equal(t0.Add(30*time.Minute)) || g.EventID != "e3" ||
		g.Principal != m.Principal || !slices.Equal(sorted(g.Calls), []string{"GetFoundationModelAvailability", "ListFoundationModels"}) {
		t.Fatalf("mark = %+v", g)
	}
	if got[1].MarkKey != other || got[1].Principal != "" {
		t.Fatalf("other mark = %+v", got[1])
	}
	// Another window is another item.
	if got, _ := s.Marks(ctx, []rules.MarkKey{k}, 2*w); len(got) != 0 {
		t.Fatalf("window 2h read the 1h mark: %+v", got)
	}
	// More keys than one BatchGetItem takes.
	var many []rules.MarkKey
	for i := range 130 {
		many = append(many, rules.MarkKey{Key: fmt.Sprintf("key#AKIA%04d", i), Start: t0})
	}
	many = append(many, k)
	if got, err := s.Marks(ctx, many, w); err != nil || len(got) != 1 || got[0].MarkKey != k {
		t.Fatalf("Marks(131 keys) = %+v, %v", got, err)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestKeys(t *testing.T) {
	long := "principal#" + strings.Repeat("a", 3000)
	if pk := PK(long); len(pk) > 2048 || !strings.HasPrefix(pk, PKPrefix) || PK(long) != pk || PK(long+"b") == pk {
		t.Fatalf("PK(long) = %d bytes", len(pk))
	}
	if PK("key#AKIA1") != "RECON#key#AKIA1" {
		t.Fatal(PK("key#AKIA1"))
	}
	if sk := SK(time.Date(2026, 11, 20, 14, 0, 0, 0, time.FixedZone("x", 3600)), time.Hour); sk != "W3600#2026-11-20T13:00:00Z" {
		t.Fatal(sk)
	}
}
