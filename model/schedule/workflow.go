package schedule

import (
	"context"

	"gorm.io/gorm"

	"github.com/stewardhq/steward/model"
)

// Prepared is a run checked against its node and commit (every read done,
// nothing written), inserted in the firing's transaction so that the firing
// row and the run exist together or not at all.
type Prepared interface {
	RunID() string
	CommitSHA() string // the commit it runs ("" when it has none), for new_commits_only
	Insert(tx *gorm.DB) error
}

// WorkflowRuns is what workflow activities need from the workflow runs. It
// is nil until workflows exist; then a workflow activity is a 422.
type WorkflowRuns interface {
	// CheckWorkflow validates a.WorkflowCode and a.WorkflowVersion on node
	// (422s at workflow_code / version).
	CheckWorkflow(ctx context.Context, node *model.Node, a *Activity) error
	// PrepareWorkflowRun does every read a run of a's workflow needs.
	PrepareWorkflowRun(ctx context.Context, actor *model.Actor, node *model.Node, a *Activity) (Prepared, error)
	// RunActive reports, inside tx, whether run id has not ended (overlap).
	RunActive(tx *gorm.DB, id string) (bool, error)
}
