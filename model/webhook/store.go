package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"errors"

	"github.com/stewardhq/steward/model/run"
)

// Store is the run store with subscriptions, deliveries and hooks. Allow
// lists the private destinations a subscription may reach (nil: none).
type Store struct {
	*run.Store
	Allow *AllowList
	// KeepRequests bounds each hook's request log (DefaultKeepRequests when 0).
	KeepRequests int
}

// New returns the webhook store over rs.
func New(rs *run.Store, allow *AllowList) *Store { return &Store{Store: rs, Allow: allow} }

// newSecret is a Standard Webhooks secret: whsec_ and 24 random bytes in
// base64; the signing key is the decoded part.
func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

const secretPrefix = "whsec_"

// SecretKey is the HMAC key of a whsec_ secret.
func SecretKey(secret string) ([]byte, error) {
	if len(secret) <= len(secretPrefix) || secret[:len(secretPrefix)] != secretPrefix {
		return nil, errors.New("not a whsec_ secret")
	}
	return base64.StdEncoding.DecodeString(secret[len(secretPrefix):])
}

func (s *Store) seal(secret, binding string) (string, error) {
	if s.Secrets == nil {
		return "", errors.New("no secret key configured")
	}
	return s.Secrets.Seal(secret, binding)
}

func (s *Store) open(sealed, binding string) (string, error) {
	if s.Secrets == nil {
		return "", errors.New("no secret key configured")
	}
	return s.Secrets.Open(sealed, binding)
}
