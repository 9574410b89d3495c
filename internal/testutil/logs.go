package testutil

import (
	"context"
	"testing"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/model"
)

// LogFixture is a running change with steps, inserted directly (no Git, no
// engine): enough for tests of log lines.
type LogFixture struct {
	Change *run.Change
	Steps  []*run.Step
}

// InsertLogFixture creates project code (when missing) and a running change
// on it with the given number of running steps.
func InsertLogFixture(t testing.TB, store *run.Store, code string, steps int) *LogFixture {
	t.Helper()
	ctx := context.Background()
	node, err := store.CreateNode(ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: code, Name: code})
	if err != nil {
		t.Fatalf("create project %s: %v", code, err)
	}
	now := store.Now()
	c := &run.Change{ID: model.NewID(), NodeID: node.ID, Action: "deploy", Status: run.StatusRunning,
		GitRemoteName: "origin", GitRev: "main", Metadata: model.JSONMap{}, PropertyOverrides: model.JSONMap{},
		CreatedBy: "admin", CreatedAt: now, UpdatedAt: now, StartedAt: &now}
	if err := store.DB.Create(c).Error; err != nil {
		t.Fatalf("insert change: %v", err)
	}
	f := &LogFixture{Change: c}
	for i := 0; i < steps; i++ {
		s := &run.Step{ID: model.NewID(), ChangeID: c.ID, Position: i, Action: "deploy", StepType: "standard",
			Kind: run.StepRun, Env: model.JSONMap{}, ChildExecutionStrategy: run.Sequential,
			Status: run.StatusRunning, CreatedAt: now, UpdatedAt: now, StartedAt: &now}
		if err := store.DB.Create(s).Error; err != nil {
			t.Fatalf("insert step: %v", err)
		}
		f.Steps = append(f.Steps, s)
	}
	return f
}

// Finish marks the change terminal with status and wakes its log followers.
func (f *LogFixture) Finish(t testing.TB, store *run.Store, status string) {
	t.Helper()
	if err := store.DB.Model(f.Change).Update("status", status).Error; err != nil {
		t.Fatalf("finish change: %v", err)
	}
	if err := store.NotifyLogFollowers(context.Background(), f.Change.ID); err != nil {
		t.Fatalf("notify followers: %v", err)
	}
}
