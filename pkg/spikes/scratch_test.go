package spikes

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// variedBatches returns a sequence of batches of sizes 1 to 2,000 and one
// past maxPooledEvents (its scratch is not kept): 40 principals, 6
// models, up to 30 windows and the clock's, sources with and without
// addresses, events redelivered within and across batches, and
// non-invocations.
func variedBatches(seed uint64) [][]normalize.Event {
	r := rand.New(rand.NewPCG(seed, 1))
	sizes := []int{1, 1, 2, 17, 1, 300, 1, 2000, 1, 40, maxPooledEvents + 1, 1, 2, 700, 1, 1, 1500, 3, 1}
	var all []normalize.Event
	var out [][]normalize.Event
	for b, n := range sizes {
		evs := make([]normalize.Event, 0, n)
		for i := range n {
			if len(all) > 0 && r.IntN(8) == 0 { // a redelivery
				evs = append(evs, all[r.IntN(len(all))])
				continue
			}
			principal := fmt.Sprintf("arn:aws:iam::123456789012:role/app-%d", r.IntN(40))
			if r.IntN(10) == 0 {
				principal = fmt.Sprintf("arn:aws:iam::123456789012:role/batch-%d", r.IntN(3))
			}
			model := fmt.Sprintf("model-%d", r.IntN(6))
			if r.IntN(20) == 0 {
				model = ""
			}
			at := t0.Add(time.Duration(r.IntN(4))*5*time.Minute + time.Duration(r.IntN(300))*time.Second)
			switch r.IntN(50) {
			case 0:
				at = time.Time{} // the clock's window
			case 1:
				at = t0.Add(time.Duration(r.IntN(30)) * 5 * time.Minute) // many windows in a batch
			}
			ip := fmt.Sprintf("198.51.100.%d", r.IntN(30))
			e := invocation(fmt.Sprintf("b%d-e%d", b, i), principal, model, at, "")
			switch r.IntN(10) {
			case 0:
				e.Caller.Service = "bedrock.amazonaws.com"
			case 1:
				e.Principal.ARN = "" // counted as UnknownPrincipal
			default:
				e.Caller.IP = netip.MustParseAddr(ip)
			}
			if r.IntN(4) == 0 {
				e.Account = "210987654321"
			}
			if r.IntN(30) == 0 {
				e.Category = normalize.CategoryControlPlane
			}
			evs = append(evs, e)
			all = append(all, e)
		}
		out = append(out, evs)
	}
	return out
}

func variedPolicy() *policy.Policy {
	return &policy.Policy{Spikes: policy.SpikeSettings{
		PerPrincipal: policy.SpikeThreshold{Max: 60, BaselineFactor: 3, BaselineWindows: 2, Floor: 20},
		PerModel:     policy.SpikeThreshold{Max: 900},
		Overrides:    []policy.SpikeOverride{{Principal: "arn:aws:iam::*:role/batch-*", Max: 15}},
	}}
}

// snapshot is a MemoryStore's contents, for comparison.
type snapshot map[windowKey]memState

type memState struct {
	events      []EventHash
	beyond      int64
	alerted     time.Time
	models, ips []Ranked
}

func snapshotOf(m *MemoryStore) snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := snapshot{}
	for k, c := range m.windows {
		hs := slices.Collect(maps.Keys(c.events))
		slices.SortFunc(hs, func(x, y EventHash) int { return slices.Compare(x[:], y[:]) })
		out[k] = memState{events: hs, beyond: c.beyond, alerted: c.alerted,
			models: slices.Clone(c.models), ips: slices.Clone(c.ips)}
	}
	return out
}

func cloneFindings(fs []findings.Finding) []findings.Finding {
	out := slices.Clone(fs)
	for i := range out {
		out[i].Details = maps.Clone(out[i].Details)
	}
	return out
}

// The analyzer that reuses its working arrays and one that takes new
// ones per call see the same counts, store calls, findings and store
// contents; findings handed out stay intact after later calls; and the
// counts are the distinct events per key and window.
func TestReusedScratchMatchesFresh(t *testing.T) {
	for _, perAccount := range []bool{false, true} {
		t.Run(fmt.Sprintf("perAccountModels=%v", perAccount), func(t *testing.T) {
			ctx := context.Background()
			pooledStore, freshStore := newMemStore(), newMemStore()
			quiet := slog.New(slog.DiscardHandler)
			pooled := New(pooledStore, variedPolicy(), fixedClock, quiet)
			fresh := New(freshStore, variedPolicy(), fixedClock, quiet)
			fresh.fresh = true
			pooled.PerAccountModels, fresh.PerAccountModels = perAccount, perAccount
			type handed struct {
				got  []findings.Finding // as returned
				want []findings.Finding // copied at once
			}
			var kept []handed
			distinct := map[windowKey]map[string]bool{}
			total := 0
			for bi, evs := range variedBatches(7) {
				// Each analyzer gets its own copy of the batch, so that
				// neither can see the other's.
				a, b := slices.Clone(evs), slices.Clone(evs)
				fa, errA := pooled.Analyze(ctx, a)
				fb, errB := fresh.Analyze(ctx, b)
				if errA != nil || errB != nil {
					t.Fatalf("batch %d: errors %v, %v", bi, errA, errB)
				}
				if !reflect.DeepEqual(fa, fb) {
					t.Fatalf("batch %d (%d events): reused scratch found\n%+v\nfresh found\n%+v", bi, len(evs), fa, fb)
				}
				kept = append(kept, handed{got: fa, want: cloneFindings(fa)})
				total += len(fa)
				for _, e := range evs {
					if e.Category != normalize.CategoryInvocation {
						continue
					}
					at := e.Time
					if at.IsZero() {
						at = t0
					}
					start := WindowStart(at, WindowLength(variedPolicy().Spikes)).Unix()
					principal := e.Principal.ARN
					if principal == "" {
						principal = UnknownPrincipal
					}
					keys := []Key{{Kind: KindPrincipal, ID: principal}}
					if e.Model.ID() != "" {
						k := Key{Kind: KindModel, ID: e.Model.ID()}
						if perAccount {
							k.Account = e.Account
						}
						keys = append(keys, k)
					}
					for _, k := range keys {
						wk := windowKey{k, start}
						if distinct[wk] == nil {
							distinct[wk] = map[string]bool{}
						}
						distinct[wk][e.ID] = true
					}
				}
			}
			if total == 0 || pooledStore.reads == 0 {
				t.Fatalf("%d findings, %d baseline reads: the sequence does not exercise judging", total, pooledStore.reads)
			}
			for i, h := range kept {
				if !reflect.DeepEqual(h.got, h.want) {
					t.Fatalf("findings of batch %d changed after later calls:\n%+v\nwere\n%+v", i, h.got, h.want)
				}
			}
			if pooledStore.adds != freshStore.adds || pooledStore.reads != freshStore.reads || pooledStore.marks != freshStore.marks {
				t.Fatalf("store calls differ: adds %d/%d reads %d/%d marks %d/%d", pooledStore.adds, freshStore.adds,
					pooledStore.reads, freshStore.reads, pooledStore.marks, freshStore.marks)
			}
			sp, sf := snapshotOf(pooledStore.MemoryStore), snapshotOf(freshStore.MemoryStore)
			if !reflect.DeepEqual(sp, sf) {
				t.Fatal("store contents differ between reused and fresh scratch")
			}
			if len(sp) != len(distinct) {
				t.Fatalf("store holds %d counters, want %d", len(sp), len(distinct))
			}
			for wk, ids := range distinct {
				if got := int64(len(sp[wk].events)) + sp[wk].beyond; got != int64(len(ids)) {
					t.Fatalf("%s window %d: count %d, want %d distinct events", wk.key, wk.start, got, len(ids))
				}
			}
		})
	}
}

// MemoryStore neither keeps an Add's arrays nor hands out its own.
func TestMemoryStoreCopiesSnapshots(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore()
	key := Key{Kind: KindPrincipal, ID: role}
	models := []Ranked{{"m1", 3}, {"m2", 1}}
	ips := []Ranked{{"198.51.100.1", 4}}
	add := func(models, ips []Ranked, id byte) Counter {
		t.Helper()
		cs, err := m.Add(ctx, WindowBatch{Start: t0, Window: DefaultWindow, Keys: []Increment{{Key: key, Events: []EventHash{{id}}, Models: models, IPs: ips}}})
		if err != nil || len(cs) != 1 {
			t.Fatalf("Add = %v, %v", cs, err)
		}
		return cs[0]
	}
	add(models, ips, 1)
	models[0].Name, ips[0].Count = "changed", 99 // the caller reuses its arrays
	c2 := add([]Ranked{{"m3", 2}}, nil, 2)
	if want := []Ranked{{"m1", 3}, {"m2", 1}}; !reflect.DeepEqual(c2.Models, want) || !reflect.DeepEqual(c2.IPs, []Ranked{{"198.51.100.1", 4}}) {
		t.Fatalf("snapshot %v %v, want the first batch's as given", c2.Models, c2.IPs)
	}
	c3 := add([]Ranked{{"m4", 5}}, []Ranked{{"198.51.100.2", 1}}, 3)
	if !reflect.DeepEqual(c2.Models, []Ranked{{"m1", 3}, {"m2", 1}}) {
		t.Fatalf("a returned snapshot changed with the next Add: %v", c2.Models)
	}
	if !reflect.DeepEqual(c3.Models, []Ranked{{"m3", 2}}) || c3.IPs != nil || c3.Count != 3 || c3.New != 1 {
		t.Fatalf("third Add = %+v", c3)
	}
}

// A warm analyzer judges a benign one-event batch on a MemoryStore with
// at most one allocation (the store's output), whatever came before.
func TestWarmAnalyzeOfOneEventAllocatesAtMostOnce(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops pooled scratch at random")
	}
	ctx := context.Background()
	p := &policy.Policy{Spikes: policy.SpikeSettings{
		PerPrincipal: policy.SpikeThreshold{Max: 10000, BaselineFactor: 5, BaselineWindows: 12, Floor: 1000},
		PerModel:     policy.SpikeThreshold{Max: 10000},
	}}
	a := New(NewMemoryStore(), p, fixedClock, nil)
	// A large batch first: the one-event batches after it must not pay for
	// its size.
	if _, err := a.Analyze(ctx, batch("big", 1000, role, "anthropic.claude-3-haiku-20240307-v1:0", t0)); err != nil {
		t.Fatal(err)
	}
	const runs = 200
	evs := batch("one", runs+1, role, "anthropic.claude-3-haiku-20240307-v1:0", t0.Add(time.Hour))
	for i := range evs {
		evs[i].Caller.IP = netip.MustParseAddr(fmt.Sprintf("198.51.100.%d", i%3))
	}
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		fs, err := a.Analyze(ctx, evs[i:i+1])
		if err != nil || len(fs) != 0 {
			t.Fatalf("Analyze = %v, %v; want a benign batch", fs, err)
		}
		i++
	})
	t.Logf("%v allocations per call", allocs)
	if allocs > 1 {
		t.Fatalf("a warm Analyze of one benign event allocates %v times, want ≤ 1", allocs)
	}
}
