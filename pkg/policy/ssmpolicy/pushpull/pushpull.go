// Package pushpull reads and writes the policy parameter with the SSM SDK,
// for `warden policy push` and `pull` (PutParameter, GetParameterHistory).
// The Lambdas re-read the parameter through package ssmpolicy's SDK-less
// client instead: the SSM SDK's initialisation would cost each cold start.
package pushpull

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/bedrock-warden/warden/pkg/policy/live"
)

// Size limits of a String parameter: the standard tier (free) holds 4 KB,
// the advanced tier 8 KB.
const (
	MaxStandardBytes = 4096
	MaxAdvancedBytes = 8192
)

// StoreAPI is the part of the SSM client Store calls; *ssm.Client
// satisfies it.
type StoreAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	GetParameterHistory(ctx context.Context, in *ssm.GetParameterHistoryInput, opts ...func(*ssm.Options)) (*ssm.GetParameterHistoryOutput, error)
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, opts ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
}

// Store reads and writes the policy parameter: the functions' re-reads
// (it implements live.Store) and `warden policy push` and `pull`.
type Store struct {
	API StoreAPI
}

var _ live.Store = Store{}

// NewStore returns a Store over the SDK client built from cfg.
func NewStore(cfg aws.Config, opts ...func(*ssm.Options)) Store {
	return Store{API: ssm.NewFromConfig(cfg, opts...)}
}

// Get implements live.Store. A missing parameter wraps live.ErrNotFound.
func (s Store) Get(ctx context.Context, name string) (live.Parameter, error) {
	out, err := s.API.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	var nf *types.ParameterNotFound
	if errors.As(err, &nf) {
		return live.Parameter{}, fmt.Errorf("ssm parameter %s: %w", name, live.ErrNotFound)
	}
	if err != nil {
		return live.Parameter{}, fmt.Errorf("ssm GetParameter %s: %w", name, err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return live.Parameter{}, fmt.Errorf("ssm parameter %s has no value", name)
	}
	p := out.Parameter
	return live.Parameter{Name: name, Value: aws.ToString(p.Value), Version: p.Version, Modified: aws.ToTime(p.LastModifiedDate)}, nil
}

// History implements live.Store: every version SSM keeps (the last 100),
// with who wrote each.
func (s Store) History(ctx context.Context, name string) ([]live.Parameter, error) {
	var out []live.Parameter
	in := &ssm.GetParameterHistoryInput{Name: aws.String(name), WithDecryption: aws.Bool(true), MaxResults: aws.Int32(50)}
	for page := 0; page < 10; page++ {
		res, err := s.API.GetParameterHistory(ctx, in)
		var nf *types.ParameterNotFound
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("ssm parameter %s: %w", name, live.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("ssm GetParameterHistory %s: %w", name, err)
		}
		for _, h := range res.Parameters {
			out = append(out, live.Parameter{Name: name, Value: aws.ToString(h.Value), Version: h.Version,
				Modified: aws.ToTime(h.LastModifiedDate), ModifiedBy: aws.ToString(h.LastModifiedUser)})
		}
		if aws.ToString(res.NextToken) == "" {
			break
		}
		in.NextToken = res.NextToken
	}
	return out, nil
}

// Put writes a new version of an existing parameter and returns its
// version. Intelligent-Tiering lets SSM keep a document of up to 4 KB in
// the free standard tier and move a larger one (up to 8 KB) to the
// advanced tier.
func (s Store) Put(ctx context.Context, name, value string) (int64, error) {
	out, err := s.API.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(value), Type: types.ParameterTypeString,
		Overwrite: aws.Bool(true), Tier: types.ParameterTierIntelligentTiering,
	})
	if err != nil {
		return 0, fmt.Errorf("ssm PutParameter %s: %w", name, err)
	}
	return out.Version, nil
}
