package metrics_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/bedrock-warden/warden/pkg/metrics"
)

// addition is one Set.Add call.
type addition struct {
	name string
	v    float64
	dims []metrics.Dimension
}

// randomBatch draws a batch of additions: names and values from small
// alphabets (so that metrics repeat within and across batches), empty and
// blank values (which become "unknown"), dimensions in either order, and
// now and then a flood of distinct values or more than 100 metrics
// sharing one dimension set.
func randomBatch(r *rand.Rand, batch int) []addition {
	names := []string{metrics.EventsProcessed, metrics.Invocations, metrics.Findings, "<&>", "é"}
	values := []string{"m1", "m2", "us-east-1", "", " ", "a\"b", "\u2028"}
	var as []addition
	for range r.IntN(40) {
		a := addition{name: names[r.IntN(len(names))], v: float64(r.IntN(5))}
		for _, dim := range []string{metrics.DimRule, metrics.DimModel, metrics.DimSeverity}[:r.IntN(3)] {
			a.dims = append(a.dims, metrics.Dimension{Name: dim, Value: values[r.IntN(len(values))]})
		}
		if len(a.dims) == 2 && r.IntN(2) == 0 {
			a.dims[0], a.dims[1] = a.dims[1], a.dims[0]
		}
		as = append(as, a)
	}
	switch r.IntN(6) {
	case 0: // more distinct metrics than a Set keeps across Reset
		for i := range 700 + r.IntN(700) {
			as = append(as, addition{name: metrics.Invocations, v: 1, dims: []metrics.Dimension{{Name: metrics.DimModel, Value: fmt.Sprintf("flood-%d-%d", batch, i)}}})
		}
	case 1: // more than 100 metrics in one dimension set: several EMF lines
		for i := range 101 + r.IntN(150) {
			as = append(as, addition{name: fmt.Sprintf("M%d", i%200), v: 2, dims: []metrics.Dimension{{Name: metrics.DimRegion, Value: "eu-west-1"}}})
		}
	}
	r.Shuffle(len(as), func(i, j int) { as[i], as[j] = as[j], as[i] })
	return as
}

// deepCopy copies ds and the dimensions they point to.
func deepCopy(ds []metrics.Datum) []metrics.Datum {
	out := slices.Clone(ds)
	for i := range out {
		out[i].Dimensions = slices.Clone(out[i].Dimensions)
	}
	return out
}

// A Set reset batch after batch, and an encoder kept from one Write to
// the next, give what a new Set and WriteEMF give for each batch, byte for
// byte; data returned for an earlier batch is never changed by a later one.
func TestResetSetAndEMFMatchFreshOnes(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 1))
	ts := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	var (
		reused  metrics.Set
		enc     metrics.EMF
		ds      []metrics.Datum
		earlier [][]metrics.Datum // returned by the reused Set
		copies  [][]metrics.Datum // their deep copies when returned
		floods  int
	)
	for batch := range 300 {
		as := randomBatch(r, batch)
		if len(as) > 600 {
			floods++
		}
		var fresh metrics.Set
		reused.Reset()
		for _, a := range as {
			fresh.Add(a.name, a.v, a.dims...)
			reused.Add(a.name, a.v, a.dims...)
		}
		want := fresh.Datums()
		if got := reused.Datums(); !reflect.DeepEqual(got, want) {
			t.Fatalf("batch %d: reused Set.Datums\n%+v\nnew Set\n%+v", batch, got, want)
		}
		ds = reused.AppendDatums(ds[:0])
		if !reflect.DeepEqual(ds, want) && len(ds)+len(want) > 0 {
			t.Fatalf("batch %d: AppendDatums\n%+v\nwant\n%+v", batch, ds, want)
		}
		var got, wantEMF bytes.Buffer
		if err := metrics.WriteEMF(&wantEMF, "NS", ts, want); err != nil {
			t.Fatal(err)
		}
		if err := enc.Write(&got, "NS", ts, ds); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), wantEMF.Bytes()) {
			t.Fatalf("batch %d: reused encoder wrote\n%s\nWriteEMF\n%s", batch, got.Bytes(), wantEMF.Bytes())
		}
		kept := reused.Datums()
		earlier, copies = append(earlier, kept), append(copies, deepCopy(kept))
	}
	for i := range earlier {
		if !reflect.DeepEqual(earlier[i], copies[i]) {
			t.Fatalf("batch %d's data changed after later batches:\n%+v\nwas\n%+v", i, earlier[i], copies[i])
		}
	}
	if floods == 0 {
		t.Fatal("no batch crossed the retained-metrics bound; the test misses that case")
	}
}

// The Set copies what it keeps: a dimension value pointing into a buffer
// the caller reuses (as the decoder's strings do) is not changed by it.
func TestSetOwnsItsStrings(t *testing.T) {
	buf := []byte("us-east-1 Invocations")
	value := unsafe.String(&buf[0], 9)
	name := unsafe.String(&buf[10], 11)
	var s metrics.Set
	s.Add(name, 1, metrics.Dimension{Name: metrics.DimRegion, Value: value})
	copy(buf, "xxxxxxxxxxxxxxxxxxxxx")
	s.Reset()
	s.Add(metrics.Invocations, 2, metrics.Dimension{Name: metrics.DimRegion, Value: "us-east-1"})
	ds := s.Datums()
	if len(ds) != 1 || ds[0].Name != metrics.Invocations || ds[0].Dimensions[0].Value != "us-east-1" || ds[0].Value != 2 {
		t.Fatalf("datums = %+v", ds)
	}
}

// A warm Set and encoder allocate nothing for a batch of metrics seen
// before.
func TestWarmSetAndEMFAllocateNothing(t *testing.T) {
	var (
		s   metrics.Set
		enc metrics.EMF
		ds  []metrics.Datum
		buf bytes.Buffer
	)
	ts := time.Now()
	batch := func() {
		s.Reset()
		s.Add(metrics.EventsProcessed, 1)
		s.Add(metrics.DecodeErrors, 0)
		s.Add(metrics.Invocations, 1, metrics.Dimension{Name: metrics.DimModel, Value: "m1"})
		s.Add(metrics.Invocations, 1, metrics.Dimension{Name: metrics.DimRegion, Value: "us-east-1"})
		s.Add(metrics.Findings, 1, metrics.Dimension{Name: metrics.DimRule, Value: "r"}, metrics.Dimension{Name: metrics.DimSeverity, Value: "high"})
		ds = s.AppendDatums(ds[:0])
		buf.Reset()
		if err := enc.Write(&buf, "NS", ts, ds); err != nil {
			t.Fatal(err)
		}
	}
	batch()
	if allocs := testing.AllocsPerRun(100, batch); allocs != 0 {
		t.Errorf("%v allocations per warm batch, want 0", allocs)
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 4 {
		t.Errorf("%d lines, want 4:\n%s", n, buf.Bytes())
	}
}
