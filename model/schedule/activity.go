// Package schedule holds the rules of scheduled activities: the records, their
// validation, the computation of fire times, and the firing itself, which
// writes a firing row and the change (or workflow run) it creates in one
// transaction so that a fire time fires exactly once whichever replica, and
// however many, evaluate it. The scheduler service only decides when to call
// RunDue; retention pruning is an internal activity on the same machinery.
package schedule

import (
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/pkg/listquery"
)

// Activity kinds. Change and workflow activities are the API's
// scheduled_change and scheduled_workflow; retention is internal.
const (
	KindChange    = "change"
	KindWorkflow  = "workflow"
	KindRetention = "retention"
)

// Misfire policies: what a firing evaluated later than MisfireGrace after
// its time (the scheduler was down, or the activity's turn came late) does.
const (
	MisfireSkip   = "skip"   // every late firing is missed
	MisfireLatest = "latest" // the latest late firing fires, the earlier ones are missed
	MisfireAll    = "all"    // every late firing within misfire_deadline fires, older ones are missed
)

// MisfireGrace is how late a firing may be and still count as on time.
const MisfireGrace = time.Minute

// DefaultMisfireDeadline bounds how far back misfire "all" catches up.
const DefaultMisfireDeadline = time.Hour

// Firing outcomes.
const (
	OutcomeFired   = "fired"
	OutcomeSkipped = "skipped" // overlap, or the change could not be made (reason says why)
	OutcomeMissed  = "missed"
	OutcomePruned  = "pruned" // the retention job ran
)

// Activity is a scheduled activity. NextRunAt is the first fire time not yet
// handled (nil while disabled); Last* remember the latest firing, for
// new_commits_only and the overlap rule.
type Activity struct {
	ID                     string `gorm:"primaryKey"`
	Kind                   string
	NodeID                 *string
	Action                 *string
	WorkflowCode           *string
	WorkflowVersion        *int
	GitRemoteID            *string
	GitRemoteName          *string
	GitRev                 *string
	CronSchedule           string
	Timezone               string
	Repeat                 bool
	Enabled                bool
	NewCommitsOnly         bool
	Misfire                string
	MisfireDeadlineSeconds int
	Metadata               model.JSONMap
	PropertyOverrides      model.JSONMap
	NextRunAt              *time.Time
	LastFiredAt            *time.Time
	LastCommitSHA          *string `gorm:"column:last_commit_sha"`
	LastRunID              *string
	CreatedBy              string
	CreatedAt              time.Time
	UpdatedAt              time.Time
}

// TableName is the activities table.
func (Activity) TableName() string { return "scheduled_activities" }

// Firing is one fire time of one activity and its outcome; its key
// (activity, fire time) is what makes a firing happen once.
type Firing struct {
	ActivityID string    `gorm:"primaryKey"`
	FireAt     time.Time `gorm:"primaryKey"`
	Outcome    string
	RunID      *string
	Reason     *string
	CreatedAt  time.Time
}

// TableName is the firings table.
func (Firing) TableName() string { return "scheduled_firings" }

// Lease is the row a replica holds while it evaluates schedules.
type Lease struct {
	Name      string `gorm:"primaryKey"`
	Owner     string
	ExpiresAt time.Time
	RenewedAt time.Time
}

// TableName is the leases table.
func (Lease) TableName() string { return "scheduler_leases" }

// Cron parses the activity's schedule (validated when stored).
func (a *Activity) Cron() (*Cron, error) { return ParseCron(a.CronSchedule, a.Timezone) }

// EventSource is how events link back to the activity.
func (a *Activity) EventSource() *model.EventSource {
	src := &model.EventSource{Type: "scheduled_activity", ID: a.ID, Path: "/scheduled_activities/" + a.ID}
	if a.NodeID != nil {
		src.NodeID = *a.NodeID
	}
	return src
}

// MisfireDeadline is how far back misfire "all" catches up.
func (a *Activity) MisfireDeadline() time.Duration {
	if a.MisfireDeadlineSeconds > 0 {
		return time.Duration(a.MisfireDeadlineSeconds) * time.Second
	}
	return DefaultMisfireDeadline
}

// Store is the run store with the operations on scheduled activities.
// Workflows prepares the runs of scheduled workflows.
type Store struct {
	*run.Store
	Workflows WorkflowRuns
}

// New returns the schedule store over runs; workflows nil means the run
// store's own workflow runs (RunWorkflows).
func New(runs *run.Store, workflows WorkflowRuns) *Store {
	if workflows == nil {
		workflows = RunWorkflows(runs)
	}
	return &Store{Store: runs, Workflows: workflows}
}

// The activity's project, environment and asset, as correlated subqueries
// (%s is code or name) for list filters.
const (
	activityProject     = "(SELECT p.%s FROM nodes n JOIN nodes p ON p.id = COALESCE(n.project_id, n.id) WHERE n.id = scheduled_activities.node_id)"
	activityEnvironment = "(SELECT e.%s FROM nodes n JOIN nodes e ON e.kind = 'environment' AND (e.id = n.id OR e.id = n.parent_id) WHERE n.id = scheduled_activities.node_id)"
	activityAsset       = "(SELECT a.%s FROM nodes a WHERE a.id = scheduled_activities.node_id AND a.kind = 'asset')"
)

func nodeColumn(tpl, attribute string) string { return strings.Replace(tpl, "%s", attribute, 1) }

// ActivityFilters are the attributes a list of scheduled activities may
// filter and sort by (attribute -> column).
var ActivityFilters = map[string]listquery.Field{
	"id":               {Column: "id", Kind: listquery.UUID},
	"action":           {Column: "action", Nullable: true},
	"workflow_code":    {Column: "workflow_code", Nullable: true},
	"cron_schedule":    {Column: "cron_schedule"},
	"timezone":         {Column: "timezone"},
	"repeat":           {Column: "repeat", Kind: listquery.Bool},
	"enabled":          {Column: "enabled", Kind: listquery.Bool},
	"new_commits_only": {Column: "new_commits_only", Kind: listquery.Bool},
	"git_remote_name":  {Column: "git_remote_name", Nullable: true},
	"git_rev":          {Column: "git_rev", Nullable: true},
	"created_by":       {Column: "created_by"},
	"created_at":       {Column: "created_at", Kind: listquery.Time},
	"next_run_at":      {Column: "next_run_at", Kind: listquery.Time, Nullable: true},
	"project_code":     {Column: nodeColumn(activityProject, "code")},
	"project_name":     {Column: nodeColumn(activityProject, "name")},
	"environment_code": {Column: nodeColumn(activityEnvironment, "code"), Nullable: true},
	"environment_name": {Column: nodeColumn(activityEnvironment, "name"), Nullable: true},
	"asset_code":       {Column: nodeColumn(activityAsset, "code"), Nullable: true},
	"asset_name":       {Column: nodeColumn(activityAsset, "name"), Nullable: true},
}

// apiKinds are the kinds the API shows; the retention job is not one.
var apiKinds = []string{KindChange, KindWorkflow}

// ActivityList is every scheduled activity, as a list source.
func (s *Store) ActivityList() model.Source[Activity] {
	return model.NewSource[Activity](s.Store.Store, "id", func(db *gorm.DB) *gorm.DB {
		return db.Model(&Activity{}).Where("kind IN ?", apiKinds)
	}).ByNode("scheduled_activities.node_id")
}

// NodeActivityList is the activities of node itself.
func (s *Store) NodeActivityList(node *model.Node) model.Source[Activity] {
	return model.NewSource[Activity](s.Store.Store, "id", func(db *gorm.DB) *gorm.DB {
		return db.Model(&Activity{}).Where("kind IN ? AND node_id = ?", apiKinds, node.ID)
	}).Guarded(node.Path + "/scheduled_activities")
}
