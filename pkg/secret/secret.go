// Package secret encrypts credentials at rest with AES-256-GCM. Each value is
// bound to the row it belongs to (associated data), so a ciphertext copied to
// another row does not decrypt.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// Hidden is how every secret is rendered in API responses.
const Hidden = "{{hidden}}"

// version prefixes stored values so the format can change later.
const version = "v1:"

// Box seals and opens secrets with one key.
type Box struct{ aead cipher.AEAD }

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext for the row identified by rowID; "" stays "".
func (b *Box) Seal(plaintext, rowID string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := b.aead.Seal(nonce, nonce, []byte(plaintext), []byte(rowID))
	return version + base64.RawStdEncoding.EncodeToString(sealed), nil
}

// ErrUndecryptable means the value was sealed with another key or for another row.
var ErrUndecryptable = errors.New("secret cannot be decrypted: wrong key or tampered value")

// Open decrypts a value sealed for rowID; "" stays "".
func (b *Box) Open(stored, rowID string) (string, error) {
	if stored == "" {
		return "", nil
	}
	if len(stored) < len(version) || stored[:len(version)] != version {
		return "", ErrUndecryptable
	}
	raw, err := base64.RawStdEncoding.DecodeString(stored[len(version):])
	if err != nil || len(raw) < b.aead.NonceSize() {
		return "", ErrUndecryptable
	}
	nonce, ct := raw[:b.aead.NonceSize()], raw[b.aead.NonceSize():]
	pt, err := b.aead.Open(nil, nonce, ct, []byte(rowID))
	if err != nil {
		return "", ErrUndecryptable
	}
	return string(pt), nil
}
