package testutil

import (
	"testing"

	"github.com/stewardhq/steward/model/run"

	"gorm.io/gorm"

	"github.com/stewardhq/steward/model"
)

// InsertFinishedChange stores a finished change on node that used remote, as
// if it had run: for tests of rules that depend on a remote's history.
func InsertFinishedChange(t testing.TB, g *gorm.DB, nodeID, remoteID string) *run.Change {
	t.Helper()
	now := model.NewStore(g, nil).Now()
	sha := "0123456789abcdef0123456789abcdef01234567"
	c := &run.Change{ID: model.NewID(), NodeID: nodeID, Action: "build", Status: run.StatusSuccess,
		GitRemoteID: &remoteID, GitRemoteName: "origin", GitRev: "main", CommitSHA: &sha,
		Metadata: model.JSONMap{}, PropertyOverrides: model.JSONMap{}, CreatedBy: "admin",
		CreatedAt: now, UpdatedAt: now, StartedAt: &now, FinishedAt: &now}
	if err := g.Create(c).Error; err != nil {
		t.Fatalf("insert change: %v", err)
	}
	return c
}
