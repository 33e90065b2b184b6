// Package iamsrc is the usage function's IAM source: for a role or user
// named in the invocation logs it reads the ARN with its path (an
// assumed-role session ARN has none, and the detector names roles with
// theirs) and the principal's tags (limits select on them), caching each
// answer so a busy principal costs one IAM call per TTL.
package iamsrc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/bedrock-warden/warden/pkg/usage"
)

// DefaultTTL is how long an answer is reused: a tag or path change is
// seen within it.
const DefaultTTL = 10 * time.Minute

// maxEntries bounds the cache; past it, the oldest answers go.
const maxEntries = 10_000

// API is the part of the IAM client the directory uses.
type API interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput, opts ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	GetUser(ctx context.Context, in *iam.GetUserInput, opts ...func(*iam.Options)) (*iam.GetUserOutput, error)
}

// Directory is a usage.Directory on IAM with a cache. Safe for concurrent
// use.
type Directory struct {
	client API
	TTL    time.Duration    // DefaultTTL when zero
	Now    func() time.Time // time.Now when nil

	mu    sync.Mutex
	cache map[string]entry
}

type entry struct {
	id  usage.Identity
	err error // usage.ErrNoPrincipal, cached too
	at  time.Time
}

var _ usage.Directory = (*Directory)(nil)

// New returns a Directory on cfg.
func New(cfg aws.Config, opts ...func(*iam.Options)) *Directory {
	return NewFromClient(iam.NewFromConfig(cfg, opts...))
}

// NewFromClient returns a Directory on client.
func NewFromClient(client API) *Directory {
	return &Directory{client: client, cache: map[string]entry{}}
}

func (d *Directory) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Directory) ttl() time.Duration {
	if d.TTL > 0 {
		return d.TTL
	}
	return DefaultTTL
}

// Lookup implements usage.Directory: GetRole or GetUser (both return the
// path and the tags), cached.
func (d *Directory) Lookup(ctx context.Context, kind, name string) (usage.Identity, error) {
	key := kind + "/" + name
	now := d.now()
	d.mu.Lock()
	if e, ok := d.cache[key]; ok && now.Sub(e.at) < d.ttl() {
		d.mu.Unlock()
		return e.id, e.err
	}
	d.mu.Unlock()

	var id usage.Identity
	var err error
	switch kind {
	case usage.KindRole:
		var out *iam.GetRoleOutput
		if out, err = d.client.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)}); err == nil && out.Role != nil {
			id = usage.Identity{ARN: aws.ToString(out.Role.Arn), Tags: tags(out.Role.Tags)}
		}
	case usage.KindUser:
		var out *iam.GetUserOutput
		if out, err = d.client.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(name)}); err == nil && out.User != nil {
			id = usage.Identity{ARN: aws.ToString(out.User.Arn), Tags: tags(out.User.Tags)}
		}
	default:
		return usage.Identity{}, fmt.Errorf("iamsrc: unknown principal kind %q", kind)
	}
	var nse *types.NoSuchEntityException
	switch {
	case errors.As(err, &nse):
		err = fmt.Errorf("iamsrc: %s %s: %w", kind, name, usage.ErrNoPrincipal)
	case err != nil:
		return usage.Identity{}, fmt.Errorf("iamsrc: get %s %s: %w", kind, name, err) // not cached: retry
	}
	d.mu.Lock()
	if len(d.cache) >= maxEntries {
		d.evict()
	}
	d.cache[key] = entry{id: id, err: err, at: now}
	d.mu.Unlock()
	return id, err
}

// evict drops the older half of the cache (called with mu held).
func (d *Directory) evict() {
	var oldest time.Time
	for _, e := range d.cache {
		if oldest.IsZero() || e.at.Before(oldest) {
			oldest = e.at
		}
	}
	cut := oldest.Add(d.now().Sub(oldest) / 2)
	for k, e := range d.cache {
		if !e.at.After(cut) {
			delete(d.cache, k)
		}
	}
}

func tags(ts []types.Tag) map[string]string {
	if len(ts) == 0 {
		return nil
	}
	out := make(map[string]string, len(ts))
	for _, t := range ts {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}
