// Package sealtest is an in-process HMAC-SHA-256 key for the unit tests of
// packages that seal and verify (integration tests use KMS through
// package kmsmac against moto_server).
package sealtest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"sync/atomic"
)

// Key is an HMAC key that counts its calls.
type Key struct {
	Secret []byte
	// Fail, when set, is returned by every call (a KMS outage).
	Fail error

	generated, verified atomic.Int64
}

// NewKey returns a key with secret s.
func NewKey(s string) *Key { return &Key{Secret: []byte(s)} }

// GenerateMAC implements seal.Generator.
func (k *Key) GenerateMAC(_ context.Context, message []byte) ([]byte, error) {
	k.generated.Add(1)
	if k.Fail != nil {
		return nil, k.Fail
	}
	m := hmac.New(sha256.New, k.Secret)
	m.Write(message)
	return m.Sum(nil), nil
}

// VerifyMAC implements seal.Checker.
func (k *Key) VerifyMAC(ctx context.Context, message, mac []byte) (bool, error) {
	k.verified.Add(1)
	if k.Fail != nil {
		return false, k.Fail
	}
	m := hmac.New(sha256.New, k.Secret)
	m.Write(message)
	return hmac.Equal(m.Sum(nil), mac), nil
}

// Generated and Verified count the calls made.
func (k *Key) Generated() int64 { return k.generated.Load() }

// Verified counts VerifyMAC calls.
func (k *Key) Verified() int64 { return k.verified.Load() }
