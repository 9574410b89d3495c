package testutil

import (
	"bytes"
	"testing"

	"github.com/stewardhq/steward/pkg/secret"
)

// testSecrets is a fixed-key box: tests may compare sealed values across restarts.
func testSecrets(t testing.TB) *secret.Box {
	t.Helper()
	box, err := secret.New(bytes.Repeat([]byte{0x5e}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return box
}
