package model

import (
	"database/sql/driver"
	"time"
)

// Workflow is a project's workflow: a code, and versions that hold its
// content. The latest version is what the workflow document shows; only
// published versions (Draft false) run.
type Workflow struct {
	ID        string `gorm:"primaryKey"`
	ProjectID string
	Code      string
	Archived  bool
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// WorkflowVersion is one version of a workflow. A draft is edited in place;
// a published version that Ran (or that a schedule names) is immutable.
type WorkflowVersion struct {
	ID          string `gorm:"primaryKey"`
	WorkflowID  string
	Version     int
	Name        string
	Description *string
	Draft       bool
	Archived    bool
	Ran         bool
	SourceYAML  string `gorm:"column:source_yaml"`
	Steps       WorkflowSteps
	CreatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Workflow step kinds, as a definition's `type` names them. A stage (a step
// with children) has no type.
const (
	WorkflowStepChange   = "change"
	WorkflowStepWait     = "wait"
	WorkflowStepWorkflow = "workflow"
)

// WorkflowStep is one step of a workflow definition, in its canonical form:
// the form the API shows in `steps` (each step matches exactly one of the
// reference's step bodies) and the form runs are built from. A stage has
// RunAs and Children and no Type; a `targets` list given by a client is
// stored fanned out as a stage of change steps.
type WorkflowStep struct {
	Type                 string         `json:"type,omitempty"`
	Name                 string         `json:"name,omitempty"`
	Target               string         `json:"target,omitempty"`                 // change: a node path; workflow: /projects/p/workflows/code
	Action               string         `json:"action,omitempty"`                 // change
	TemplateVersion      *string        `json:"template_version,omitempty"`       // change
	StartTime            *string        `json:"start_time,omitempty"`             // change, workflow: not before (RFC 3339)
	PropertyOverrides    JSONMap        `json:"property_overrides,omitempty"`     // change, workflow
	RequiresApprovalFrom *string        `json:"requires_approval_from,omitempty"` // wait: a group, or user names
	Version              *int           `json:"version,omitempty"`                // workflow: nil = latest published
	RunAs                string         `json:"run_as,omitempty"`                 // stage: sequential | parallel
	Children             []WorkflowStep `json:"children,omitempty"`               // stage
}

// IsStage reports whether the step groups children.
func (s *WorkflowStep) IsStage() bool { return s.Type == "" }

// WorkflowSteps is a JSON column of workflow steps.
type WorkflowSteps []WorkflowStep

// Value stores the steps as JSON text; nil becomes [].
func (l WorkflowSteps) Value() (driver.Value, error) {
	return JSONValue(l == nil, "[]", []WorkflowStep(l))
}

// Scan reads JSON text or bytes.
func (l *WorkflowSteps) Scan(src any) error {
	return ScanJSON("WorkflowSteps", src, l, WorkflowSteps{})
}
