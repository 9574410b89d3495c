package gitops_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/internal/testgit"
)

// Inside the freshness window a use of a local remote lists its refs in
// this process: a new commit, branch or tag (annotated included) is seen at
// once, and a remote that is gone fails the use (not found) instead of
// being answered from the mirror.
func TestLocalRemoteListedInProcess(t *testing.T) {
	t.Parallel()
	repo := testgit.New(t)
	repo.Commit("one", map[string]string{"a.txt": "1"})
	m := gitops.NewMirrors(t.TempDir())
	m.AllowLocal = true
	m.Freshness = time.Hour // every use below proves access by listing only
	remote := gitops.Remote{URL: repo.URL()}
	ctx := context.Background()
	if _, err := m.Resolve(ctx, remote, "main"); err != nil {
		t.Fatal(err)
	}
	two := repo.Commit("two", map[string]string{"a.txt": "2"})
	repo.Git("branch", "side")
	repo.Git("tag", "-a", "v1", "-m", "v1")
	repo.Git("pack-refs", "--all") // packed refs are listed too
	for _, rev := range []string{"main", "side", "v1"} {
		if got, err := m.Resolve(ctx, remote, rev); err != nil || got != two {
			t.Fatalf("Resolve(%s) = %q, %v; want %q", rev, got, err, two)
		}
	}
	if err := os.RemoveAll(repo.Dir); err != nil {
		t.Fatal(err)
	}
	_, err := m.Resolve(ctx, remote, "main")
	var ge *gitops.Error
	if !errors.As(err, &ge) || ge.Kind != gitops.ErrNotFound {
		t.Fatalf("a removed remote: %v, want not_found", err)
	}
}
