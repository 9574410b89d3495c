package client

import (
	"encoding/json"
	"time"
)

// The resources as google/jsonapi reads them. Times use its rfc3339 tag,
// which keeps the server's microseconds when reading (Go's time.Parse takes a
// fraction the layout lacks). Free-form maps (metadata, property_overrides)
// read numbers as float64. Relationships whose members differ in type (a
// change's parents) are not declared: the library types each relation with
// one type. Links and Meta are not tagged: google/jsonapi drops both, so the
// client fills them from the same document with encoding/json.

// Project is a project node.
type Project struct {
	ID          string  `jsonapi:"primary,project"`
	Code        string  `jsonapi:"attr,code"`
	Name        string  `jsonapi:"attr,name"`
	Description *string `jsonapi:"attr,description"`
	Archived    bool    `jsonapi:"attr,archived"`
	ProjectType string  `jsonapi:"attr,project_type"`

	Links map[string]string
	Meta  map[string]any
}

// Environment is an environment node of a project.
type Environment struct {
	ID          string  `jsonapi:"primary,environment"`
	Code        string  `jsonapi:"attr,code"`
	Name        string  `jsonapi:"attr,name"`
	Description *string `jsonapi:"attr,description"`
	Archived    bool    `jsonapi:"attr,archived"`

	Project *Project `jsonapi:"relation,project"` // its id only, unless included

	Links map[string]string
	Meta  map[string]any
}

// GitRemote is a project's Git remote; credentials are never sent back.
type GitRemote struct {
	ID        string    `jsonapi:"primary,git_remote"`
	Name      string    `jsonapi:"attr,name"`
	URL       string    `jsonapi:"attr,url"`
	Archived  bool      `jsonapi:"attr,archived"`
	Disabled  bool      `jsonapi:"attr,disabled"`
	CreatedAt time.Time `jsonapi:"attr,created_at,rfc3339"`
	UpdatedAt time.Time `jsonapi:"attr,updated_at,rfc3339"`

	Links map[string]string
}

// Change is a run of an action on a node. Steps and RootStep hold ids only
// unless the change was read with its steps (GetChange with steps, which
// includes them).
type Change struct {
	ID                   string         `jsonapi:"primary,change"`
	CreatedBy            string         `jsonapi:"attr,created_by"`
	Name                 *string        `jsonapi:"attr,name"`
	Action               string         `jsonapi:"attr,action"`
	Metadata             map[string]any `jsonapi:"attr,metadata"`
	PropertyOverrides    map[string]any `jsonapi:"attr,property_overrides"`
	Scheduled            bool           `jsonapi:"attr,scheduled"`
	ApprovedBy           []StepActor    `jsonapi:"attr,approved_by"`
	RejectedBy           []StepActor    `jsonapi:"attr,rejected_by"`
	Status               string         `jsonapi:"attr,status_code"`
	CreatedAt            time.Time      `jsonapi:"attr,created_at,rfc3339"`
	StartedAt            *time.Time     `jsonapi:"attr,started_at,rfc3339"`
	FinishedAt           *time.Time     `jsonapi:"attr,finished_at,rfc3339"`
	UpdatedAt            time.Time      `jsonapi:"attr,updated_at,rfc3339"`
	ProjectName          string         `jsonapi:"attr,project_name"`
	EnvironmentName      string         `jsonapi:"attr,environment_name"`
	AssetName            *string        `jsonapi:"attr,asset_name"`
	GitRemoteName        string         `jsonapi:"attr,git_remote_name"`
	GitRev               string         `jsonapi:"attr,git_rev"`
	CommitSHA            *string        `jsonapi:"attr,commit_sha"`
	RequiresApprovalFrom *string        `jsonapi:"attr,requires_approval_from"`

	Steps    []*Step `jsonapi:"relation,steps"`
	RootStep *Step   `jsonapi:"relation,root_step"`

	Links map[string]string // "parent" is the API path of the node it runs on
	Meta  map[string]any    // queue facts while it has not started
	// Document is the JSON:API document the change was read from, when it
	// was the primary data of one (for printing it as the server sent it).
	Document json.RawMessage
}

// NodePath is the path of the node the change runs on, such as
// /projects/opc/environments/dev ("" when the document did not say).
func (c *Change) NodePath() string {
	p := c.Links["parent"]
	if len(p) > len("/api") && p[:len("/api")] == "/api" {
		return p[len("/api"):]
	}
	return p
}

// Step is one step of a change's tree. Its change is ChangeID, not a
// relation: declaring the back-reference would let google/jsonapi follow
// change -> steps -> change without end.
type Step struct {
	ID                     string      `jsonapi:"primary,step"`
	ChangeID               string      `jsonapi:"attr,change_id"`
	Action                 string      `jsonapi:"attr,action"`
	Name                   *string     `jsonapi:"attr,name"`
	StepType               string      `jsonapi:"attr,step_type"`
	ChildExecutionStrategy string      `jsonapi:"attr,child_execution_strategy"`
	Status                 string      `jsonapi:"attr,status_code"`
	RequiresApprovalFrom   *string     `jsonapi:"attr,requires_approval_from"`
	ApprovedBy             []StepActor `jsonapi:"attr,approved_by"`
	RejectedBy             []StepActor `jsonapi:"attr,rejected_by"`
	ContinuedBy            []StepActor `jsonapi:"attr,continued_by"`
	SkipOnRetry            bool        `jsonapi:"attr,skip_on_retry"`
	CreatedAt              time.Time   `jsonapi:"attr,created_at,rfc3339"`
	StartedAt              *time.Time  `jsonapi:"attr,started_at,rfc3339"`
	FinishedAt             *time.Time  `jsonapi:"attr,finished_at,rfc3339"`
	UpdatedAt              time.Time   `jsonapi:"attr,updated_at,rfc3339"`

	Children []*Step `jsonapi:"relation,children"`

	Links    map[string]string // "continue", "approve", "reject" while it waits for one
	Document json.RawMessage
}

// Label is the step's name, or its action when it has none.
func (s *Step) Label() string {
	if s.Name != nil && *s.Name != "" {
		return *s.Name
	}
	return s.Action
}

// StepActor is one approved_by, rejected_by or continued_by entry.
type StepActor struct {
	Username  string  `jsonapi:"attr,username"`
	Message   *string `jsonapi:"attr,message"`
	CreatedAt string  `jsonapi:"attr,created_at"`
}

// LogLine is one line a step wrote. Its id is its sequence number in the
// log, a decimal string; a live follow resumes after it.
type LogLine struct {
	ID       string    `jsonapi:"primary,log_line"`
	ChangeID string    `jsonapi:"attr,change_id"`
	StepID   string    `jsonapi:"attr,step_id"`
	Message  string    `jsonapi:"attr,message"`
	LoggedAt time.Time `jsonapi:"attr,logged_at,rfc3339"`

	// Resource is the line's resource object as JSON (what `-o json` prints).
	Resource json.RawMessage
}

// Terminal reports whether a change or step status is final.
func Terminal(status string) bool {
	switch status {
	case StatusSuccess, StatusError, StatusCancelled, StatusAborted, StatusRejected:
		return true
	}
	return false
}

// Change and step statuses.
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
