package run

import (
	"context"

	"gorm.io/gorm"
)

// What a request may read of runs: changes and steps follow the node the
// change runs on, workflow runs and their steps the run's project. Each
// narrows a query in SQL (see model.Store.Readable); Steward's own work and
// callers who may read everything get the query unchanged.

func (s *Store) readableChanges(ctx context.Context, db *gorm.DB) *gorm.DB {
	return s.Readable(ctx, db, "changes.node_id")
}

func (s *Store) readableSteps(ctx context.Context, db *gorm.DB) *gorm.DB {
	nodes, all := s.ReadableNodes(ctx)
	if all {
		return db
	}
	return db.Where("steps.change_id IN (?)", s.fresh().Model(&Change{}).Select("id").Where("node_id IN (?)", nodes))
}

func (s *Store) readableRuns(ctx context.Context, db *gorm.DB) *gorm.DB {
	return s.Readable(ctx, db, "workflow_runs.project_id")
}

func (s *Store) readableWorkflowSteps(ctx context.Context, db *gorm.DB) *gorm.DB {
	nodes, all := s.ReadableNodes(ctx)
	if all {
		return db
	}
	return db.Where("workflow_steps.run_id IN (?)", s.fresh().Model(&WorkflowRun{}).Select("id").Where("project_id IN (?)", nodes))
}

// fresh is a statement of its own on the store's database, for subqueries.
func (s *Store) fresh() *gorm.DB { return s.DB.Session(&gorm.Session{NewDB: true}) }
