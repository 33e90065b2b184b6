package iamsrc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/bedrock-warden/warden/internal/motoserver"
	"github.com/bedrock-warden/warden/pkg/usage"
)

const trust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

func TestLookupAgainstMoto(t *testing.T) {
	srv := motoserver.Start(t)
	client := iam.NewFromConfig(srv.Config(t))
	ctx := context.Background()
	if _, err := client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("team-a-app"), Path: aws.String("/apps/"),
		AssumeRolePolicyDocument: aws.String(trust), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dheeraj"), Path: aws.String("/dev/")}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	d := NewFromClient(client)
	d.Now = func() time.Time { return now }
	id, err := d.Lookup(ctx, usage.KindRole, "team-a-app")
	if err != nil || id.ARN != "arn:aws:iam::123456789012:role/apps/team-a-app" || id.Tags["team"] != "a" {
		t.Fatalf("role = %+v %v", id, err)
	}
	if id, err := d.Lookup(ctx, usage.KindUser, "dheeraj"); err != nil || id.ARN != "arn:aws:iam::123456789012:user/dev/dheeraj" || id.Tags != nil {
		t.Fatalf("user = %+v %v", id, err)
	}
	if _, err := d.Lookup(ctx, usage.KindRole, "gone"); !errors.Is(err, usage.ErrNoPrincipal) {
		t.Fatalf("missing role: %v", err)
	}
	// Cached: a tag change shows after the TTL.
	if _, err := client.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String("team-a-app"), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("b")}}}); err != nil {
		t.Fatal(err)
	}
	if id, _ := d.Lookup(ctx, usage.KindRole, "team-a-app"); id.Tags["team"] != "a" {
		t.Errorf("cache not used: %+v", id)
	}
	now = now.Add(DefaultTTL + time.Second)
	if id, _ := d.Lookup(ctx, usage.KindRole, "team-a-app"); id.Tags["team"] != "b" {
		t.Errorf("stale after the TTL: %+v", id)
	}
}

type failing struct{ calls int }

func (f *failing) GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	f.calls++
	return nil, errors.New("Throttling")
}
func (f *failing) GetUser(context.Context, *iam.GetUserInput, ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	f.calls++
	return nil, errors.New("Throttling")
}

func TestErrorsAreNotCached(t *testing.T) {
	f := &failing{}
	d := NewFromClient(f)
	for range 2 {
		if _, err := d.Lookup(context.Background(), usage.KindRole, "x"); err == nil || errors.Is(err, usage.ErrNoPrincipal) {
			t.Fatalf("err = %v", err)
		}
	}
	if f.calls != 2 {
		t.Errorf("calls = %d: an outage must not be cached", f.calls)
	}
	if _, err := d.Lookup(context.Background(), "group", "x"); err == nil {
		t.Error("unknown kind accepted")
	}
}
