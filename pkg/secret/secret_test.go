package secret_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stewardhq/steward/pkg/secret"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	box, err := secret.New(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := box.Seal("hunter2", "row-1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "hunter2") {
		t.Fatalf("sealed value contains the plaintext: %s", sealed)
	}
	again, _ := box.Seal("hunter2", "row-1")
	if again == sealed {
		t.Fatal("two seals of one value are identical: nonce reuse")
	}
	if got, err := box.Open(sealed, "row-1"); err != nil || got != "hunter2" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := box.Open(sealed, "row-2"); !errors.Is(err, secret.ErrUndecryptable) {
		t.Fatalf("value moved to another row decrypted: %v", err)
	}
	other, _ := secret.New(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(sealed, "row-1"); !errors.Is(err, secret.ErrUndecryptable) {
		t.Fatalf("value opened with another key: %v", err)
	}
	if got, err := box.Open("", "row-1"); err != nil || got != "" {
		t.Fatalf("empty value: %q, %v", got, err)
	}
	if _, err := secret.New([]byte("short")); err == nil {
		t.Fatal("a short key was accepted")
	}
}
