package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runs "github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/config"
	"github.com/stewardhq/steward/pkg/datadir"
	"github.com/stewardhq/steward/pkg/secret"
)

// TestCLIServeHoldsItsDataDir: a second server on a data dir in use
// refuses to start, saying why and what to do.
func TestCLIServeHoldsItsDataDir(t *testing.T) {
	t.Parallel()
	c := newCLIInstance(t)
	s := c.serve(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), c.args("serve", "--listen", "127.0.0.1:0"), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "another steward serve") || !strings.Contains(err.Error(), "STEWARD_DATA_DIR") {
		t.Fatalf("a second serve on the same data dir: %v", err)
	}
	if strings.Contains(stdout.String(), "listening") {
		t.Fatalf("the second serve listened:\n%s", stdout.String())
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestCLIServeEndsItsPredecessorsSteps: a server that died hard leaves a
// step running with a long lease; the next server on its data dir ends
// it at start, without waiting for the lease.
func TestCLIServeEndsItsPredecessorsSteps(t *testing.T) {
	t.Parallel()
	c := newCLIInstance(t)
	if err := c.serve(t).stop(); err != nil { // schema and admin
		t.Fatal(err)
	}
	url := c.dbURL
	if url == "" {
		url = "sqlite://" + filepath.Join(c.dataDir, "steward.db")
	}
	store := runs.New(model.NewStore(testutil.Open(t, url), testutil.Logger(t)), nil)
	store.Git = gitops.NewMirrors(t.TempDir())
	store.Git.AllowLocal = true
	key, _, err := (&config.Config{DataDir: c.dataDir}).Key()
	if err != nil {
		t.Fatal(err)
	}
	if store.Secrets, err = secret.New(key); err != nil {
		t.Fatal(err)
	}
	repo := testgit.New(t)
	repo.Commit("actions", map[string]string{"actions.yaml": "actions:\n  slow:\n    run: sleep 300\n"})
	ctx := context.Background()
	p, err := store.CreateNode(ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "p", Name: "P"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateGitRemote(ctx, model.SystemActor, p, model.GitRemoteInput{Name: "origin", URL: repo.URL()}); err != nil {
		t.Fatal(err)
	}
	remote, rev := "origin", "main"
	ch, err := store.CreateChange(ctx, model.SystemActor, p, runs.ChangeInput{Action: "slow", GitRemoteName: &remote, GitRev: &rev})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.AdvanceChange(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	const crashed = "crashed-host:1:dead"
	st, _, err := store.ClaimStep(ctx, crashed, time.Hour)
	if err != nil || st == nil {
		t.Fatalf("claim: %v %v", st, err)
	}
	lock, err := datadir.Acquire(c.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := lock.Record(crashed); err != nil {
		t.Fatal(err)
	}
	lock.Release() // as the kernel does when a process dies

	s := c.serve(t, "--allow-local-remotes")
	defer s.stop()
	// Ended before the server listened: no waiting on the hour-long lease.
	var got runs.Step
	if err := store.DB.Where("id = ?", st.ID).Take(&got).Error; err != nil {
		t.Fatal(err)
	}
	if got.Status != runs.StatusError {
		t.Fatalf("the predecessor's step is %s after the restart, want error", got.Status)
	}
	var lines []runs.LogLine
	if err := store.DB.Where("step_id = ?", st.ID).Find(&lines).Error; err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || !strings.Contains(lines[0].Message, crashed) || !strings.Contains(lines[0].Message, "stopped before it finished") {
		t.Fatalf("the step's log does not say once why it ended: %+v", lines)
	}
}
