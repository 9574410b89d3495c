package schedule_test

import (
	"context"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/schedule"
)

const schedActions = "actions:\n  hello:\n    run: echo hello\n  other:\n    run: echo other\n"

// schedFixture is project opc with environment dev and remote origin on a
// repository whose main branch has schedActions, on a settable clock that
// starts 30 s into a minute.
type schedFixture struct {
	store *schedule.Store
	clock *testutil.Clock
	ctx   context.Context
	proj  *model.Node
	env   *model.Node
	repo  *testgit.GitRepo
	sha   string
}

var schedStart = time.Date(2025, 6, 2, 10, 0, 30, 0, time.UTC)

func schedSetup(t *testing.T) *schedFixture {
	t.Helper()
	runs := testutil.NewStore(t)
	f := &schedFixture{store: schedule.New(runs, nil), clock: testutil.NewClock(schedStart), ctx: context.Background(), repo: testgit.New(t)}
	runs.Now, runs.Git.Now = f.clock.Now, f.clock.Now
	f.sha = f.repo.Commit("actions", map[string]string{"actions.yaml": schedActions})
	var err error
	if f.proj, err = runs.CreateNode(f.ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "opc", Name: "OpsChain"}); err != nil {
		t.Fatal(err)
	}
	if _, err := runs.CreateGitRemote(f.ctx, model.SystemActor, f.proj, model.GitRemoteInput{Name: "origin", URL: f.repo.URL()}); err != nil {
		t.Fatal(err)
	}
	if f.env, err = runs.CreateNode(f.ctx, model.SystemActor, f.proj, model.KindEnvironment, model.NodeInput{Code: "dev", Name: "Development"}); err != nil {
		t.Fatal(err)
	}
	return f
}

func str(s string) *string { return &s }

// input is an activity running hello from origin/main on cron.
func (f *schedFixture) input(cron string) schedule.Input {
	return schedule.Input{Action: str("hello"), GitRemoteName: str("origin"), GitRev: str("main"), CronSchedule: cron, Repeat: true}
}

func (f *schedFixture) create(t *testing.T, in schedule.Input) *schedule.Activity {
	t.Helper()
	a, err := f.store.Create(f.ctx, &model.Actor{Username: "alice", Rules: testutil.Everywhere}, f.env, in)
	if err != nil {
		t.Fatalf("create activity: %v", err)
	}
	return a
}

// runAt moves the clock to at and evaluates what is due.
func (f *schedFixture) runAt(t *testing.T, at time.Time) schedule.Result {
	t.Helper()
	f.clock.Advance(at.Sub(f.clock.Now()))
	res, err := f.store.RunDue(f.ctx, f.clock.Now(), schedule.DueOptions{})
	if err != nil {
		t.Fatalf("RunDue: %v", err)
	}
	return res
}

func (f *schedFixture) count(t *testing.T, table string) int64 {
	t.Helper()
	return testutil.Count(t, f.store.DB, table)
}

func (f *schedFixture) get(t *testing.T, id string) *schedule.Activity {
	t.Helper()
	a, err := f.store.Get(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// setSettings replaces node's settings document.
func (f *schedFixture) setSettings(t *testing.T, n *model.Node, data model.JSONMap) {
	t.Helper()
	if _, err := f.store.UpdatePropertySet(f.ctx, model.SystemActor, model.KindSettings, n.SettingsID, model.PropertySetUpdate{Data: data}); err != nil {
		t.Fatal(err)
	}
}

// minute is schedStart's minute plus n minutes, plus extra.
func minute(n int, extra time.Duration) time.Time {
	return schedStart.Truncate(time.Minute).Add(time.Duration(n)*time.Minute + extra)
}
