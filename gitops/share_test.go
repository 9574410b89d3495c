package gitops_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/internal/testgit"
)

// TestConcurrentUsesShareOnlyTheirOwnListing: uses queued behind one
// listing of the remote may share the next, but only with the same
// credentials: among many concurrent uses, every good one resolves, every
// one with a wrong password is refused, and a use after they all ended
// still reaches the server.
func TestConcurrentUsesShareOnlyTheirOwnListing(t *testing.T) {
	t.Parallel()
	repo := testgit.New(t)
	sha := repo.Commit("one", map[string]string{"actions.yaml": "actions: {}\n"})
	srv := testgit.NewHTTPServer(t, repo, map[string]string{"bob": "right"})
	m := gitops.NewMirrors(t.TempDir())
	m.Freshness = time.Hour
	ctx := context.Background()
	good := gitops.Remote{URL: srv.RepoURL, Auth: gitops.Credentials{User: "bob", Password: "right"}}
	wrong := gitops.Remote{URL: srv.RepoURL, Auth: gitops.Credentials{User: "bob", Password: "wrong"}}
	if _, err := m.Resolve(ctx, good, "main"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 40)
	for i := 0; i < 20; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if got, err := m.Resolve(ctx, good, "main"); err != nil || got != sha {
				errs <- "good use: " + got
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := m.Resolve(ctx, wrong, "main"); err == nil {
				errs <- "a wrong password resolved"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	before := srv.Requests("bob", "right")
	if _, err := m.Resolve(ctx, good, "main"); err != nil {
		t.Fatal(err)
	}
	if srv.Requests("bob", "right") == before {
		t.Fatal("a use after the others ended never reached the server")
	}
}
