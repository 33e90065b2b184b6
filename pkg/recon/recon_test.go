package recon

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/normalize"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/rules"
)

var t0 = time.Date(2026, 11, 20, 14, 20, 0, 0, time.UTC)

func ev(name string, cat normalize.Category, key string, at time.Time) normalize.Event {
	return normalize.Event{ID: name + at.Format("150405") + key, Name: name, Source: normalize.SourceBedrock, Category: cat,
		Region: "us-east-1", Account: "123456789012", Time: at,
		Principal: normalize.Principal{Type: normalize.PrincipalIAMUser, ARN: "arn:aws:iam::123456789012:user/ci", AccessKeyID: key, LongTermKey: key[:4] == "AKIA"},
		Model:     normalize.ParseModelID("anthropic.claude-3-5-sonnet-20240620-v1:0")}
}

// TestAcrossBatches: recon in one batch, the invocation in a later one;
// the read budget holds: no read for a recon-only or benign batch, one for
// a batch with a suspect invocation.
func TestAcrossBatches(t *testing.T) {
	store := &MemoryStore{}
	a := New(rules.New(policy.Default()), store, nil)
	ctx := context.Background()

	fs, err := a.Analyze(ctx, []normalize.Event{ev("ListFoundationModels", normalize.CategoryRecon, "AKIASTOLEN", t0),
		ev("GetFoundationModelAvailability", normalize.CategoryRecon, "AKIASTOLEN", t0.Add(time.Second))})
	if err != nil || len(fs) != 0 || store.Reads != 0 || store.Writes != 1 {
		t.Fatalf("recon batch: %v %v reads=%d writes=%d", fs, err, store.Reads, store.Writes)
	}
	// A benign batch: session keys of a role (allowed: the default policy
	// allows every principal).
	benign := ev("Converse", normalize.CategoryInvocation, "ASIAAPP", t0.Add(time.Minute))
	benign.Principal = normalize.Principal{Type: normalize.PrincipalAssumedRole, ARN: "arn:aws:iam::123456789012:role/app-chat", AccessKeyID: "ASIAAPP"}
	if fs, err := a.Analyze(ctx, []normalize.Event{benign, benign}); err != nil || len(fs) != 0 || store.Reads != 0 || store.Writes != 1 {
		t.Fatalf("benign batch: %v %v reads=%d writes=%d", fs, err, store.Reads, store.Writes)
	}
	// The stolen key invokes 40 minutes later (next bucket): one read.
	fs, err = a.Analyze(ctx, []normalize.Event{ev("InvokeModel", normalize.CategoryInvocation, "AKIASTOLEN", t0.Add(40*time.Minute)),
		ev("InvokeModel", normalize.CategoryInvocation, "AKIASTOLEN", t0.Add(41*time.Minute)), benign})
	if err != nil || len(fs) != 1 || store.Reads != 1 {
		t.Fatalf("invoke batch: %v %v reads=%d", fs, err, store.Reads)
	}
	f := fs[0]
	if f.Rule != findings.RuleReconThenInvoke || f.Details["reconCalls"] != "GetFoundationModelAvailability,ListFoundationModels" ||
		f.Details["reconAt"] != t0.Add(time.Second).Format(time.RFC3339) {
		t.Fatalf("finding %+v", f)
	}
	// A replay of that batch gives the same incident.
	again, _ := a.Analyze(ctx, []normalize.Event{ev("InvokeModel", normalize.CategoryInvocation, "AKIASTOLEN", t0.Add(40*time.Minute))})
	if len(again) != 1 || again[0].Fingerprint != f.Fingerprint {
		t.Fatalf("replay: %+v", again)
	}
	// Two hours later the recon is stale.
	if fs, _ := a.Analyze(ctx, []normalize.Event{ev("InvokeModel", normalize.CategoryInvocation, "AKIASTOLEN", t0.Add(2*time.Hour))}); len(fs) != 0 {
		t.Fatalf("stale: %+v", fs)
	}
}

func TestStoreErrorFailsTheBatch(t *testing.T) {
	store := &MemoryStore{FailErr: errors.New("throttled")}
	a := New(rules.New(policy.Default()), store, nil)
	fs, err := a.Analyze(context.Background(), []normalize.Event{ev("ListFoundationModels", normalize.CategoryRecon, "AKIASTOLEN", t0),
		ev("InvokeModel", normalize.CategoryInvocation, "AKIASTOLEN", t0.Add(time.Minute))})
	if err == nil || fs != nil {
		t.Fatalf("Analyze = %v, %v; want the store error and no finding", fs, err)
	}
}
