package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/spikes"
	"github.com/bedrock-warden/warden/pkg/spikes/counterdb"
)

var spikeT0 = time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)

func spikeEvents(prefix string, n int, principal, model string, at time.Time) []normalize.Event {
	out := make([]normalize.Event, n)
	for i := range out {
		out[i] = normalize.Event{
			ID: fmt.Sprintf("%s-%04d", prefix, i), Name: "InvokeModel", Time: at,
			Account: "123456789012", Region: "us-east-1", Category: normalize.CategoryInvocation,
			Principal: normalize.Principal{Type: normalize.PrincipalAssumedRole, ARN: principal},
			Model:     normalize.Model{Kind: normalize.ModelFoundation, Raw: "us." + model, Base: model},
			Caller:    normalize.Caller{Raw: "AWS Internal", Internal: true},
		}
	}
	return out
}

// serialDoer sends one request at a time to moto. moto_server runs each
// request on its own thread without locking, and two UpdateItem calls that
// both create the same item can lose one write there (real DynamoDB applies
// ADD atomically). Serialising requests removes that moto artefact while
// keeping the handlers' calls interleaved: a client-side read-modify-write
// (GetItem then PutItem) would still lose updates under this interleaving;
// only a server-side ADD keeps the count exact.
type serialDoer struct {
	mu    *sync.Mutex
	inner *http.Client
}

func (d serialDoer) Do(req *http.Request) (*http.Response, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	resp, err := d.inner.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// Two handlers (separate clients, as two Lambda instances) analyse batches
// for the same keys in parallel: the counters end exact and the window
// alerts exactly once.
func TestSpikeCountersConcurrentBatches(t *testing.T) {
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	const (
		principal = "arn:aws:iam::123456789012:role/app-batch"
		model     = "anthropic.claude-3-5-sonnet-20240620-v1:0"
		batches   = 8 // per handler
		perBatch  = 25
	)
	pol := &policy.Policy{Spikes: policy.SpikeSettings{
		PerPrincipal: policy.SpikeThreshold{Max: 300},
		PerModel:     policy.SpikeThreshold{Max: 100000},
	}}
	clock := func() time.Time { return spikeT0 }
	rec := awsconf.NewRecorder()

	var mu sync.Mutex
	var got []findings.Finding
	var wg sync.WaitGroup
	var serial sync.Mutex
	errs := make(chan error, 2*batches)
	for h := range 2 {
		cfg := srv.ConfigFor(t, "detector")
		cfg.HTTPClient = serialDoer{mu: &serial, inner: &http.Client{}}
		rec.Attach(&cfg)
		a := spikes.New(counterdb.New(dynamodb.NewFromConfig(cfg), "warden"), pol, clock, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				fs, err := a.Analyze(context.Background(), spikeEvents(fmt.Sprintf("h%d-b%d", h, b), perBatch, principal, model, spikeT0.Add(time.Minute)))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				got = append(got, fs...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	store := counterdb.New(dynamodb.NewFromConfig(srv.Config(t)), "warden")
	entries, err := store.Window(context.Background(), spikeT0)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[spikes.Key]int64{}
	for _, e := range entries {
		counts[e.Key] = e.Count
	}
	want := int64(2 * batches * perBatch)
	if c := counts[spikes.Key{Kind: spikes.KindPrincipal, ID: principal}]; c != want {
		t.Errorf("principal count = %d, want %d", c, want)
	}
	if c := counts[spikes.Key{Kind: spikes.KindModel, ID: model}]; c != want {
		t.Errorf("model count = %d, want %d", c, want)
	}
	if len(got) != 1 {
		t.Fatalf("findings = %d, want exactly 1: %+v", len(got), got)
	}
	f := got[0]
	if f.Rule != findings.RuleInvocationSpike || f.Principal != principal || f.Details["thresholdKind"] != "max" || f.Details["threshold"] != "300" {
		t.Fatalf("finding = %+v", f)
	}
	if !strings.HasPrefix(f.Details["topModels"], model+"=") || !strings.HasPrefix(f.Details["topIPs"], "AWS Internal=") {
		t.Fatalf("top lists = %q / %q", f.Details["topModels"], f.Details["topIPs"])
	}
	// One UpdateItem per batch (both keys share the window's counts
	// item), plus the alert marker: written once, and tried at most once
	// more by the other handler before it learns the window alerted; no
	// baseline reads (baseline off).
	calls := rec.Calls()
	adds := 2 * batches
	if calls["dynamodb:UpdateItem"] < adds+1 || calls["dynamodb:UpdateItem"] > adds+2 {
		t.Errorf("UpdateItem calls = %d, want %d counter updates plus the alert marker(s)", calls["dynamodb:UpdateItem"], adds)
	}
	if calls["dynamodb:BatchGetItem"] != 0 {
		t.Errorf("BatchGetItem calls = %d, want 0 with the baseline off", calls["dynamodb:BatchGetItem"])
	}
}

// The baseline test reads the previous windows from DynamoDB with one
// BatchGetItem, and only for keys above the floor.
func TestSpikeBaselineFromDynamoDB(t *testing.T) {
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	const principal = "arn:aws:iam::123456789012:user/alice"
	pol := &policy.Policy{Spikes: policy.SpikeSettings{
		PerPrincipal: policy.SpikeThreshold{BaselineFactor: 4, BaselineWindows: 4, Floor: 20},
	}}
	cfg := srv.ConfigFor(t, "detector")
	rec := awsconf.NewRecorder()
	rec.Attach(&cfg)
	a := spikes.New(counterdb.New(dynamodb.NewFromConfig(cfg), "warden"), pol, func() time.Time { return spikeT0 }, nil)
	ctx := context.Background()
	// Four quiet windows of 10.
	for i := 1; i <= 4; i++ {
		if _, err := a.Analyze(ctx, spikeEvents(fmt.Sprintf("q%d", i), 10, principal, "meta.llama3-8b-instruct-v1:0", spikeT0.Add(-time.Duration(i)*5*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if n := rec.Calls()["dynamodb:BatchGetItem"]; n != 0 {
		t.Fatalf("quiet windows below the floor made %d baseline reads", n)
	}
	// 40 = 4 × mean 10: not above; then one more trips.
	fs, err := a.Analyze(ctx, spikeEvents("s", 40, principal, "meta.llama3-8b-instruct-v1:0", spikeT0))
	if err != nil || len(fs) != 0 {
		t.Fatalf("at 4× baseline: %d findings, %v", len(fs), err)
	}
	fs, err = a.Analyze(ctx, spikeEvents("t", 1, principal, "meta.llama3-8b-instruct-v1:0", spikeT0.Add(time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Details["thresholdKind"] != "baseline" || fs[0].Details["baseline"] != "10" || fs[0].Details["count"] != "41" {
		t.Fatalf("findings = %+v", fs)
	}
	if n := rec.Calls()["dynamodb:BatchGetItem"]; n != 2 {
		t.Fatalf("BatchGetItem calls = %d, want 2 (one per batch above the floor)", n)
	}

	// A Lambda retry of the same batch changes no count.
	before, err := counterdb.New(dynamodb.NewFromConfig(srv.Config(t)), "warden").Window(ctx, spikeT0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Analyze(ctx, spikeEvents("s", 40, principal, "meta.llama3-8b-instruct-v1:0", spikeT0)); err != nil {
		t.Fatal(err)
	}
	after, err := counterdb.New(dynamodb.NewFromConfig(srv.Config(t)), "warden").Window(ctx, spikeT0)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 2 || len(after) != 2 || before[0].Count != after[0].Count || before[1].Count != after[1].Count || after[1].Count != 41 {
		t.Fatalf("replay changed the counts: %+v → %+v", before, after)
	}

	// The items carry the TTLs and the layout the docs describe: the
	// window's counts item (a set of event hashes per key) and the alert
	// marker.
	get := func(sk string) map[string]types.AttributeValue {
		t.Helper()
		out, err := dynamodb.NewFromConfig(srv.Config(t)).GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String("warden"),
			Key: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: "SPIKE#2026-05-04T09:00:00Z"},
				"sk": &types.AttributeValueMemberS{Value: sk},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return out.Item
	}
	counts := get(counterdb.CountsSK)
	ttl, ok := counts["ttl"].(*types.AttributeValueMemberN)
	if !ok {
		t.Fatalf("counts item has no numeric ttl: %v", counts)
	}
	if want := fmt.Sprint(spikeT0.Add(5*time.Minute + 24*time.Hour).Unix()); ttl.Value != want {
		t.Fatalf("ttl = %s, want %s", ttl.Value, want)
	}
	if set, ok := counts["e:principal#"+principal].(*types.AttributeValueMemberBS); !ok || len(set.Value) != 41 || len(set.Value[0]) != 8 {
		t.Fatalf("counts item holds no set of 41 event hashes: %v", counts)
	}
	marker := get("principal#" + principal)
	if _, ok := marker["alertedAt"]; !ok {
		t.Fatal("alerted window has no alertedAt marker")
	}
	if ttl, ok := marker["ttl"].(*types.AttributeValueMemberN); !ok || ttl.Value != fmt.Sprint(spikeT0.Add(counterdb.MarkerTTL).Unix()) {
		t.Fatalf("marker ttl = %v", marker["ttl"])
	}
}

// The black-box case on DynamoDB: ten distinct events by one
// principal (exactly the maximum) delivered one by one, then each
// redelivered after the others (Lambda's async retries), then regrouped
// into other batches (SQS redelivery): the counter stays 10 and no alert
// goes out; an eleventh event trips the window once.
func TestSpikeRedeliveryCountsOnce(t *testing.T) {
	srv := motoserver.Start(t)
	srv.CreateTable(t, "warden")
	const principal = "arn:aws:iam::123456789012:role/app-chat"
	pol := &policy.Policy{Spikes: policy.SpikeSettings{PerPrincipal: policy.SpikeThreshold{Max: 10}}}
	store := counterdb.New(dynamodb.NewFromConfig(srv.Config(t)), "warden")
	a := spikes.New(store, pol, func() time.Time { return spikeT0 }, nil)
	ctx := context.Background()
	evs := spikeEvents("ev", 10, principal, "amazon.nova-pro-v1:0", spikeT0.Add(time.Minute))
	var found []findings.Finding
	deliver := func(b []normalize.Event) {
		t.Helper()
		fs, err := a.Analyze(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, fs...)
	}
	for i := range evs {
		deliver(evs[i : i+1])
	}
	for i := len(evs) - 1; i >= 0; i-- {
		deliver(evs[i : i+1])
	}
	deliver([]normalize.Event{evs[0], evs[3], evs[6], evs[9], evs[1]})
	deliver([]normalize.Event{evs[2], evs[4], evs[5], evs[7], evs[8], evs[2]})
	entries, err := store.Window(ctx, spikeT0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Count != 10 {
			t.Errorf("%s counted %d, want 10", e.Key, e.Count)
		}
	}
	if len(found) != 0 || len(entries) != 2 {
		t.Fatalf("%d findings, %d counters; want none and 2", len(found), len(entries))
	}
	deliver(append(evs[:2:2], spikeEvents("eleventh", 1, principal, "amazon.nova-pro-v1:0", spikeT0.Add(2*time.Minute))...))
	if len(found) != 1 || found[0].Details["count"] != "11" {
		t.Fatalf("eleventh event: %+v", found)
	}
}
