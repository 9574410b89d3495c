package run

import (
	"time"

	"github.com/stewardhq/steward/model"
)

// WorkflowRun is one run of a published workflow version. Its status uses
// the change vocabulary. ParentStepID is the workflow step that nested it.
type WorkflowRun struct {
	ID                string `gorm:"primaryKey"`
	WorkflowID        string
	WorkflowVersionID string
	ProjectID         string
	ParentStepID      *string
	Status            string
	Scheduled         bool
	Metadata          model.JSONMap
	PropertyOverrides model.JSONMap
	CreatedBy         string
	CreatedAt         time.Time
	StartedAt         *time.Time
	FinishedAt        *time.Time
	UpdatedAt         time.Time
}

// Workflow run step kinds: the rendered types are workflow_<kind>_step.
const (
	WorkflowKindNoop     = "noop" // a stage, or the root
	WorkflowKindChange   = "change"
	WorkflowKindWait     = "wait"
	WorkflowKindWorkflow = "workflow"
)

// WorkflowRunStep is one node of a run's step tree. A change step creates
// its change exactly once (ChangeID is unique) and mirrors its status; a
// workflow step its child run (ChildRunID is unique).
type WorkflowRunStep struct {
	ID                     string `gorm:"primaryKey"`
	RunID                  string
	ParentID               *string
	Position               int
	Kind                   string
	Name                   string
	ChildExecutionStrategy string
	Status                 string
	Target                 string
	Action                 string
	TemplateVersion        *string
	WorkflowVersion        *int
	PropertyOverrides      model.JSONMap
	StartTime              *time.Time
	RequiresApprovalFrom   *string
	ApprovedBy             JSONActors
	RejectedBy             JSONActors
	ContinuedBy            JSONActors
	ChangeID               *string
	ChildRunID             *string
	ChildWorkflowVersionID *string
	SkipOnRetry            bool
	LockVersion            int
	CreatedBy              string
	CreatedAt              time.Time
	StartedAt              *time.Time
	FinishedAt             *time.Time
	UpdatedAt              time.Time
}

// TableName keeps the table's name short: workflow_steps.
func (WorkflowRunStep) TableName() string { return "workflow_steps" }
