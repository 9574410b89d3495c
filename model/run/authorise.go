package run

import (
	"context"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/authz"
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
	return s.ofChangesOn(db, "steps.change_id", nodes, all)
}

// readableLogLines: log lines follow their change's node and its
// /log_lines rule.
func (s *Store) readableLogLines(ctx context.Context, db *gorm.DB) *gorm.DB {
	nodes, all := s.ReadableLogNodes(ctx)
	return s.ofChangesOn(db, "log_lines.change_id", nodes, all)
}

// ofChangesOn narrows db to the rows whose change (column) runs on one of
// nodes (a subquery of ids), unless all.
func (s *Store) ofChangesOn(db *gorm.DB, column string, nodes *gorm.DB, all bool) *gorm.DB {
	if all {
		return db
	}
	return db.Where(column+" IN (?)", s.fresh().Model(&Change{}).Select("id").Where("node_id IN (?)", nodes))
}

func (s *Store) readableRuns(ctx context.Context, db *gorm.DB) *gorm.DB {
	return s.ReadableWorkflows(ctx, s.Readable(ctx, db, "workflow_runs.project_id"), "workflow_runs.workflow_id")
}

func (s *Store) readableWorkflowSteps(ctx context.Context, db *gorm.DB) *gorm.DB {
	nodes, all := s.ReadableNodes(ctx)
	if all && !model.ActorOf(ctx).HidesWorkflows() {
		return db
	}
	runs := s.fresh().Model(&WorkflowRun{}).Select("id")
	if !all {
		runs = runs.Where("project_id IN (?)", nodes)
	}
	return db.Where("workflow_steps.run_id IN (?)", s.ReadableWorkflows(ctx, runs, "workflow_runs.workflow_id"))
}

// fresh is a statement of its own on the store's database, for subqueries.
func (s *Store) fresh() *gorm.DB { return s.DB.Session(&gorm.Session{NewDB: true}) }

// authoriseChange decides verb on change c: its action at its node. Run in
// the operation's transaction, after c is loaded.
func authoriseChange(tx *gorm.DB, actor *model.Actor, v authz.Verb, c *Change) error {
	if actor.IsSystem() {
		return nil
	}
	var path string
	if err := tx.Model(&model.Node{}).Where("id = ?", c.NodeID).Select("path").Scan(&path).Error; err != nil {
		return err
	}
	return actor.Authorise(v, path+"/actions/"+c.Action, "change", c.ID)
}

// authoriseRun decides verb on workflow run r: its workflow in its project.
func authoriseRun(tx *gorm.DB, actor *model.Actor, v authz.Verb, r *WorkflowRun) error {
	if actor.IsSystem() {
		return nil
	}
	var row struct{ Path, Code string }
	if err := tx.Table("workflows").Select("nodes.path AS path, workflows.code AS code").
		Joins("JOIN nodes ON nodes.id = workflows.project_id").Where("workflows.id = ?", r.WorkflowID).Scan(&row).Error; err != nil {
		return err
	}
	return actor.Authorise(v, row.Path+"/workflows/"+row.Code, "workflow_run", r.ID)
}
