package pushpull

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/policy/live"
)

// TestLivePolicyOverSSM drives the functions' policy provider over the
// real SSM client against moto: a push takes effect after the TTL, a
// hand-written invalid version is ignored (and reported once) while the
// last good policy stays, and a cold start that meets the invalid version
// runs with the newest valid one from the parameter's history.
func TestLivePolicyOverSSM(t *testing.T) {
	srv := motoserver.Start(t)
	ctx := context.Background()
	client := ssm.NewFromConfig(srv.Config(t))
	store := Store{API: client}
	const name = "/bedrock-warden/s/policy"
	if _, err := client.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Type: ssmtypes.ParameterTypeString,
		Value: aws.String("# blank: the default\n")}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(ctx, "/nope"); !errors.Is(err, live.ErrNotFound) {
		t.Fatalf("missing parameter: %v", err)
	}
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	var rejected []live.Rejection
	p := &live.Provider{Name: name, Store: store, Now: func() time.Time { return now },
		OnReject: func(_ context.Context, r live.Rejection) { rejected = append(rejected, r) }}
	first, err := p.Policy(ctx)
	if err != nil || first != policy.Default() {
		t.Fatalf("blank parameter: %v (default: %v)", err, first == policy.Default())
	}
	if v, err := store.Put(ctx, name, "regions: {allow: [eu-west-1]}\n"); err != nil || v != 2 {
		t.Fatalf("put: %d %v", v, err)
	}
	if got, _ := p.Policy(ctx); got != first {
		t.Fatal("re-read before the TTL")
	}
	now = now.Add(live.MaxTTL)
	second, _ := p.Policy(ctx)
	if !second.RegionAllowed("eu-west-1") || second.RegionAllowed("us-east-1") || p.Version() != 2 {
		t.Fatalf("after the TTL: %v (version %d)", second.Regions.Allow, p.Version())
	}
	// By hand, not through push: invalid.
	client.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true),
		Value: aws.String("regions: {allow: [eu-wset-1]}\n")})
	for range 3 {
		now = now.Add(live.MaxTTL)
		if got, _ := p.Policy(ctx); got != second {
			t.Fatal("an invalid version replaced the policy in force")
		}
	}
	if len(rejected) != 1 || rejected[0].Parameter.Version != 3 || rejected[0].InForce != "version 2 of "+name {
		t.Fatalf("rejections: %+v", rejected)
	}
	// A cold start now: version 2 from the history.
	cold := &live.Provider{Name: name, Store: store}
	got, err := cold.Policy(ctx)
	if err != nil || !got.RegionAllowed("eu-west-1") || cold.Version() != 2 {
		t.Fatalf("cold start: %v %v (version %d)", err, got, cold.Version())
	}
	hist, err := store.History(ctx, name)
	if err != nil || len(hist) != 3 {
		t.Fatalf("history: %d %v", len(hist), err)
	}
}
