package datadir_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/steward/pkg/datadir"
)

func TestOneHolderAtATimeAndItsSuccessorKnowsIt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := datadir.Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.Previous() != "" {
		t.Errorf("a new data dir has a previous holder %q", first.Previous())
	}
	if err := first.Record("host:1:aaaa"); err != nil {
		t.Fatal(err)
	}
	// flock locks belong to the open file, so a second open in this
	// process conflicts just as another process would.
	if _, err := datadir.Acquire(dir); !errors.Is(err, datadir.ErrInUse) {
		t.Fatalf("a second holder got %v, want ErrInUse", err)
	} else if want := "process"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "STEWARD_DATA_DIR") {
		t.Errorf("the refusal does not say who holds it and what to do: %v", err)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	second, err := datadir.Acquire(dir)
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	defer second.Release()
	if second.Previous() != "host:1:aaaa" {
		t.Errorf("the successor sees previous holder %q", second.Previous())
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
}

func TestDataDirIsTightened(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := datadir.Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %v, want 0700", fi.Mode().Perm())
	}
}
