// Package kmsmac computes and verifies seal MACs with a KMS HMAC key
// (KeySpec HMAC_256, KeyUsage GENERATE_VERIFY_MAC) through GenerateMac and
// VerifyMac with HMAC_SHA_256. The key never leaves KMS: who may seal and
// who may verify is the key policy's to say (see template.yaml).
package kmsmac

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/bedrock-warden/warden/pkg/seal"
)

// Algorithm is the MAC algorithm of every call.
const Algorithm = types.MacAlgorithmSpecHmacSha256

// API is the part of the KMS client the MAC calls; *kms.Client satisfies
// it.
type API interface {
	GenerateMac(ctx context.Context, in *kms.GenerateMacInput, opts ...func(*kms.Options)) (*kms.GenerateMacOutput, error)
	VerifyMac(ctx context.Context, in *kms.VerifyMacInput, opts ...func(*kms.Options)) (*kms.VerifyMacOutput, error)
}

// MAC implements seal.Generator and seal.Checker with one key.
type MAC struct {
	API API
	// KeyID is the key's ARN, id or alias.
	KeyID string
}

var (
	_ seal.Generator = MAC{}
	_ seal.Checker   = MAC{}
)

// New returns a MAC over the SDK client built from cfg.
func New(cfg aws.Config, keyID string, opts ...func(*kms.Options)) MAC {
	return MAC{API: kms.NewFromConfig(cfg, opts...), KeyID: keyID}
}

// GenerateMAC implements seal.Generator.
func (m MAC) GenerateMAC(ctx context.Context, message []byte) ([]byte, error) {
	out, err := m.API.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: aws.String(m.KeyID), MacAlgorithm: Algorithm, Message: message})
	if err != nil {
		return nil, fmt.Errorf("kms generate-mac with %s: %w", m.KeyID, err)
	}
	return out.Mac, nil
}

// VerifyMAC implements seal.Checker: KMS answers a MAC that does not match
// with KMSInvalidMacException, which is (false, nil) here.
func (m MAC) VerifyMAC(ctx context.Context, message, mac []byte) (bool, error) {
	out, err := m.API.VerifyMac(ctx, &kms.VerifyMacInput{KeyId: aws.String(m.KeyID), MacAlgorithm: Algorithm, Message: message, Mac: mac})
	var invalid *types.KMSInvalidMacException
	if errors.As(err, &invalid) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("kms verify-mac with %s: %w", m.KeyID, err)
	}
	return out.MacValid, nil
}
