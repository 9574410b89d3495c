package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stewardhq/steward/engine/sandbox"
	"github.com/stewardhq/steward/model"
)

// TestWriteFilesStaysInTheCheckout: opschain.files are written as the
// server, into a folder the step owns; a link the step put in place of its
// actions folder, or inside it, never takes the write outside the checkout.
func TestWriteFilesStaysInTheCheckout(t *testing.T) {
	e := &Engine{Sandbox: sandbox.Open(sandbox.Config{Mode: sandbox.None})}
	src, outside := t.TempDir(), t.TempDir()
	files := func(name string) model.JSONMap {
		return model.JSONMap{"opschain": map[string]any{"files": map[string]any{name: "written\n"}}}
	}
	if err := os.MkdirAll(filepath.Join(src, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := e.writeFiles(src, "real", files("conf/app.ini")); err != nil {
		t.Fatalf("a plain write failed: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(src, "real", "conf", "app.ini")); err != nil || string(b) != "written\n" {
		t.Fatalf("the plain write is not there: %q %v", b, err)
	}
	// An earlier step swapped its actions folder for a link (asset changes
	// run in <checkout>/<template code>).
	if err := os.Symlink(outside, filepath.Join(src, "tpl")); err != nil {
		t.Fatal(err)
	}
	if err := e.writeFiles(src, "tpl", files("pwned")); err == nil {
		t.Error("a write through a linked actions folder was accepted")
	}
	// And a link inside the folder.
	if err := os.Symlink(outside, filepath.Join(src, "real", "out")); err != nil {
		t.Fatal(err)
	}
	if err := e.writeFiles(src, "real", files("out/pwned")); err == nil {
		t.Error("a write through a link inside the actions folder was accepted")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("files were written outside the checkout: %v", entries)
	}
}
