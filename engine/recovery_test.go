package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/engine"
	"github.com/stewardhq/steward/engine/sandbox"
	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/internal/testutil/enginetest"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/secret"
)

// Worker processes for these tests are this test binary run again with
// helperEnv set: TestWorkerProcess then runs an engine on the database named
// by helperDBEnv until it is killed.
const (
	helperEnv   = "STEWARD_ENGINE_TEST_WORKER"
	helperDBEnv = "STEWARD_ENGINE_TEST_DB"
	// helperDataEnv is the worker's data dir, hidden from its steps; without
	// it the worker runs steps unisolated (they write to the test's folder).
	helperDataEnv = "STEWARD_ENGINE_TEST_DATA_DIR"
)

// TestWorkerProcess is not a test: it is the worker process of the tests
// below, and skips when run on its own.
func TestWorkerProcess(t *testing.T) {
	owner := os.Getenv(helperEnv)
	if owner == "" {
		t.Skip("only runs as a worker process of another test")
	}
	store := sharedStore(t, os.Getenv(helperDBEnv))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	e := &engine.Engine{Store: store, Log: store.Log, Owner: owner, WorkDir: t.TempDir(),
		// A lease long enough that a loaded 2-core machine does not lapse it
		// while the worker is alive, short enough that a killed one is
		// reaped quickly.
		Lease: 3 * time.Second, Tick: 50 * time.Millisecond, Grace: time.Second}
	if data := os.Getenv(helperDataEnv); data != "" {
		e.WorkDir = filepath.Join(data, "work")
		e.Sandbox = sandbox.Open(sandbox.Config{Mode: sandbox.Namespace, Hide: []string{data}})
	} else {
		enginetest.Unisolated(e)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Println("worker ready")
	e.Wait()
}

// sharedStore opens the test database at url as a process of its own would.
func sharedStore(t *testing.T, url string) *run.Store {
	t.Helper()
	store := run.New(model.NewStore(testutil.Open(t, url), testutil.Logger(t)), nil)
	store.Git = gitops.NewMirrors(filepath.Join(t.TempDir(), "mirrors"))
	store.Git.AllowLocal = true // the fixture's repository is a file:// remote
	// The key testutil's servers use, so every process opens the same secrets.
	var err error
	if store.Secrets, err = secret.New(bytes.Repeat([]byte{0x5e}, 32)); err != nil {
		t.Fatal(err)
	}
	return store
}

// startWorker starts a worker process on the database at url.
func startWorker(t *testing.T, url, owner string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerProcess$", "-test.count=1", "-test.v") // -v: its log shows when a test fails
	cmd.Env = append(append(os.Environ(), helperEnv+"="+owner, helperDBEnv+"="+url), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("worker %s output:\n%s", owner, out.String())
		}
	})
	return cmd
}

// crashFixture is a project with remote origin on a database other
// processes can open.
func crashFixture(t *testing.T, files map[string]string) (string, *run.Store, *model.Node) {
	t.Helper()
	url := testutil.DatabaseURL(t)
	store := sharedStore(t, url)
	repo := testgit.New(t)
	repo.Commit("actions", files)
	ctx := context.Background()
	p, err := store.CreateNode(ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "p", Name: "P"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateGitRemote(ctx, model.SystemActor, p, model.GitRemoteInput{Name: "origin", URL: repo.URL()}); err != nil {
		t.Fatal(err)
	}
	return url, store, p
}

func createChange(t *testing.T, store *run.Store, node *model.Node, action string) *run.Change {
	t.Helper()
	remote, rev := "origin", "main"
	c, err := store.CreateChange(context.Background(), model.SystemActor, node, run.ChangeInput{Action: action, GitRemoteName: &remote, GitRev: &rev})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCrashRecovery kills a worker process (SIGKILL) while its step runs.
// The step's process dies with it; once the lease lapses another engine ends
// the step as error, says so in its log, and the change moves on. The step
// is never run again.
func TestCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	url, store, project := crashFixture(t, actions(fmt.Sprintf(`
  victim:
    run: echo $$ >> %[1]s/runs; exec sleep 300
  after:
    run: echo after
  crash:
    steps: [victim, after]
`, dir)))
	worker := startWorker(t, url, "doomed-worker")
	c := createChange(t, store, project, "crash")
	victim := testutil.WaitStepElsewhere(t, store, c.ID, func(st *run.Step) bool { return st.Action == "victim" }, run.StatusRunning)
	if victim.LeaseOwner == nil || *victim.LeaseOwner != "doomed-worker" {
		t.Fatalf("victim is held by %v", victim.LeaseOwner)
	}
	pid := waitPid(t, filepath.Join(dir, "runs"))
	if err := worker.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = worker.Wait()
	testutil.WaitFor(t, "the step's process to die with its worker", func() (bool, string) { return !alive(pid), "alive" })

	enginetest.Start(t, store, enginetest.Unisolated)
	got := testutil.WaitChange(t, store, c.ID, run.StatusError)
	var steps []run.Step
	if err := store.DB.Where("change_id = ?", c.ID).Order("position").Find(&steps).Error; err != nil {
		t.Fatal(err)
	}
	if steps[1].Status != run.StatusError || steps[2].Status != run.StatusAborted || got.FinishedAt == nil {
		t.Errorf("after the crash: victim %s, after %s, change %s", steps[1].Status, steps[2].Status, got.Status)
	}
	var lines []run.LogLine
	if err := store.DB.Where("step_id = ?", victim.ID).Order("id").Find(&lines).Error; err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 || !strings.Contains(lines[len(lines)-1].Message, "the worker running this step (doomed-worker) was lost") {
		t.Errorf("the victim's log does not say its worker was lost: %+v", lines)
	}
	if runs := strings.Fields(readFile(t, filepath.Join(dir, "runs"))); len(runs) != 1 {
		t.Errorf("the victim ran %d times", len(runs))
	}
}

// TestExactlyOnceAcrossProcesses runs many changes with two processes (this
// one and a worker process) claiming from one database: every step runs
// exactly once.
func TestExactlyOnceAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	url, store, project := crashFixture(t, actions(fmt.Sprintf(`
  count:
    run: echo $STEWARD_STEP_ID >> %[1]s/runs; sleep 0.2
  three:
    run_as: parallel
    steps: [count, count, count]
`, dir)))
	// Changes of one action on one node queue by default; these may all run at once.
	settings := model.JSONMap{"allow_parallel": map[string]any{"runs_of_same_change": true}}
	if _, err := store.UpdatePropertySet(context.Background(), model.SystemActor, model.KindSettings, project.SettingsID,
		model.PropertySetUpdate{Data: settings}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var changes []*run.Change
	for i := 0; i < n; i++ {
		changes = append(changes, createChange(t, store, project, "three"))
	}
	// Both start with all the work waiting: 60 steps of 0.2s are 3s for
	// four workers, so the other process (slower to start) gets its share.
	started := time.Now()
	startWorker(t, url, "other-process")
	enginetest.Start(t, store, enginetest.Unisolated)
	for _, c := range changes {
		testutil.WaitChangeElsewhere(t, store, c.ID, run.StatusSuccess)
	}
	runs := strings.Fields(readFile(t, filepath.Join(dir, "runs")))
	seen := map[string]bool{}
	for _, id := range runs {
		if seen[id] {
			t.Errorf("step %s ran twice", id)
		}
		seen[id] = true
	}
	if len(runs) != 3*n {
		t.Errorf("%d step runs, want %d", len(runs), 3*n)
	}
	var starts []model.Event
	if err := store.DB.Where("type = ?", "api:steps:start").Find(&starts).Error; err != nil {
		t.Fatal(err)
	}
	byWorker := map[string]int{}
	for _, e := range starts {
		if w, ok := e.Attributes["worker"].(string); ok {
			byWorker[w]++
		}
	}
	t.Logf("steps claimed per worker: %v; all done in %s", byWorker, time.Since(started))
	if len(byWorker) != 2 || byWorker["other-process"] == 0 {
		t.Errorf("steps claimed per worker: %v; want both processes", byWorker)
	}
}
