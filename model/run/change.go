package run

import (
	"database/sql/driver"
	"time"

	"github.com/stewardhq/steward/model"
)

// Change and step statuses (DESIGN.md §5). Terminal ones never change again.
const (
	StatusInitializing = "initializing"
	StatusPending      = "pending"
	StatusQueued       = "queued"
	StatusRunning      = "running"
	StatusWaiting      = "waiting"
	StatusSuccess      = "success"
	StatusError        = "error"
	StatusCancelled    = "cancelled"
	StatusAborted      = "aborted"
	StatusRejected     = "rejected"
)

// Terminal reports whether status is final.
func Terminal(status string) bool {
	switch status {
	case StatusSuccess, StatusError, StatusCancelled, StatusAborted, StatusRejected:
		return true
	}
	return false
}

// Step kinds: what the engine does with a step when it is reached.
const (
	StepRun   = "run"   // executes its `run` script, then its children
	StepWait  = "wait"  // waits for continue, or approve/reject when requires_approval_from is set
	StepGroup = "group" // only runs its children
)

// Child execution strategies.
const (
	Sequential = "sequential"
	Parallel   = "parallel"
)

// Change is one run of an action on a node at a pinned commit.
type Change struct {
	ID                   string `gorm:"primaryKey"`
	NodeID               string
	Action               string
	Name                 *string
	Status               string
	GitRemoteID          *string
	GitRemoteName        string
	GitRev               string
	CommitSHA            *string `gorm:"column:commit_sha"`
	TemplateVersionID    *string
	MintmodelID          *string
	Metadata             model.JSONMap
	PropertyOverrides    model.JSONMap
	Scheduled            bool
	RequiresApprovalFrom *string
	CreatedBy            string
	OriginalChangeID     *string
	WorkflowRunID        *string // the run whose step created it
	CreatedAt            time.Time
	StartedAt            *time.Time
	FinishedAt           *time.Time
	UpdatedAt            time.Time
}

// StepActor records who continued, approved or rejected a step, and why.
type StepActor struct {
	Username  string `json:"username"`
	Message   string `json:"message,omitempty"`
	CreatedAt string `json:"created_at"`
}

// JSONActors is a JSON array of step actors (approved_by, rejected_by, continued_by).
type JSONActors []StepActor

// Value stores the list as JSON text; nil becomes [].
func (l JSONActors) Value() (driver.Value, error) {
	return model.JSONValue(l == nil, "[]", []StepActor(l))
}

// Scan reads JSON text or bytes.
func (l *JSONActors) Scan(src any) error { return model.ScanJSON("JSONActors", src, l, JSONActors{}) }

// Step is one node of a change's step tree. The steps table is the work queue.
type Step struct {
	ID                     string `gorm:"primaryKey"`
	ChangeID               string
	ParentID               *string
	Position               int // order among siblings, and in the change (depth-first)
	Action                 string
	Name                   *string
	StepType               string
	Kind                   string
	Run                    *string
	Env                    model.JSONMap
	TimeoutSeconds         int
	ChildExecutionStrategy string
	RequiresApprovalFrom   *string
	Status                 string
	SkipOnRetry            bool
	ApprovedBy             JSONActors
	RejectedBy             JSONActors
	ContinuedBy            JSONActors
	LeaseOwner             *string
	LeaseExpiresAt         *time.Time
	QueuedAt               *time.Time
	CreatedAt              time.Time
	StartedAt              *time.Time
	FinishedAt             *time.Time
	UpdatedAt              time.Time
}

// LogLine is one line of a step's output.
type LogLine struct {
	ID       int64 `gorm:"primaryKey;autoIncrement"`
	ChangeID string
	StepID   string
	Message  string
	LoggedAt time.Time
}
