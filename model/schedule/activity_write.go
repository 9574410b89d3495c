package schedule

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/pkg/authz"
)

// Input is what a client sends to create a scheduled activity. A
// WorkflowCode makes it a workflow activity; otherwise it schedules Action.
type Input struct {
	Action                 *string
	WorkflowCode           *string
	WorkflowVersion        *int
	GitRemoteName, GitRev  *string
	CronSchedule           string
	Timezone               *string
	Repeat                 bool
	Enabled                *bool
	NewCommitsOnly         bool
	Misfire                *string
	MisfireDeadlineSeconds *int
	Metadata               model.JSONMap
	PropertyOverrides      model.JSONMap
}

// Update is what PATCH may change; nil fields stay as they are.
type Update struct {
	Enabled      *bool
	CronSchedule *string
	Timezone     *string
	Misfire      *string
}

const (
	ptrWorkflowCode    = "workflow_code"
	ptrMisfire         = "misfire"
	ptrMisfireDeadline = "misfire_deadline_seconds"
)

// ErrWorkflowsUnavailable is the answer to a workflow activity while no
// WorkflowRuns is wired.
func errWorkflowsUnavailable() error {
	return steward.Invalid(ptrWorkflowCode, "workflows_unavailable",
		"scheduled workflows are not available yet: this server has no workflows; schedule an action instead")
}

func validateMisfire(m *string, deadline *int) error {
	if m != nil {
		switch *m {
		case MisfireSkip, MisfireLatest, MisfireAll:
		default:
			return steward.Invalid(ptrMisfire, "invalid_misfire", "misfire must be skip, latest or all, not %s", steward.Echo(*m))
		}
	}
	if deadline != nil && (*deadline < 60 || *deadline > 31*24*3600) {
		return steward.Invalid(ptrMisfireDeadline, "out_of_range", "misfire_deadline_seconds must be between 60 and 2678400 (31 days)")
	}
	return nil
}

// Create validates in against node (the change it would make now is
// prepared, so an unknown action, remote or rev, an asset given a remote, an
// archived node are 422s), computes next_run_at and stores the activity with
// its event in one transaction.
func (s *Store) Create(ctx context.Context, actor *model.Actor, node *model.Node, in Input) (*Activity, error) {
	if err := actor.Authorise(authz.Update, node.Path+"/scheduled_activities", "node", node.Path); err != nil {
		return nil, err
	}
	tz := "UTC"
	if in.Timezone != nil && *in.Timezone != "" {
		tz = *in.Timezone
	}
	c, err := ParseCron(in.CronSchedule, tz)
	if err != nil {
		return nil, err
	}
	if err := validateMisfire(in.Misfire, in.MisfireDeadlineSeconds); err != nil {
		return nil, err
	}
	now := s.Now()
	a := &Activity{ID: model.NewID(), NodeID: &node.ID, CronSchedule: in.CronSchedule, Timezone: tz,
		Repeat: in.Repeat, Enabled: in.Enabled == nil || *in.Enabled, NewCommitsOnly: in.NewCommitsOnly,
		Misfire: MisfireSkip, Metadata: orEmpty(in.Metadata), PropertyOverrides: orEmpty(in.PropertyOverrides),
		CreatedBy: actor.Name(), CreatedAt: now, UpdatedAt: now}
	if in.Misfire != nil {
		a.Misfire = *in.Misfire
	}
	if in.MisfireDeadlineSeconds != nil {
		a.MisfireDeadlineSeconds = *in.MisfireDeadlineSeconds
	}
	if in.WorkflowCode != nil {
		if s.Workflows == nil {
			return nil, errWorkflowsUnavailable()
		}
		for _, f := range []struct {
			field string
			given bool
		}{{"action", in.Action != nil}, {"git_remote_name", in.GitRemoteName != nil}, {"git_rev", in.GitRev != nil}} {
			if f.given {
				return nil, steward.Invalid(f.field, "not_allowed", "a scheduled workflow names workflow_code (and version) only; leave %s out", f.field)
			}
		}
		a.Kind, a.WorkflowCode, a.WorkflowVersion = KindWorkflow, in.WorkflowCode, in.WorkflowVersion
		if err := s.Workflows.CheckWorkflow(ctx, node, a); err != nil {
			return nil, err
		}
	} else {
		if in.Action == nil {
			return nil, steward.Invalid("action", "required", "action is required: the action to run (or workflow_code for a workflow)")
		}
		a.Kind, a.Action = KindChange, in.Action
		if node.Kind != model.KindAsset {
			a.GitRemoteName, a.GitRev = in.GitRemoteName, in.GitRev
		}
		// The change this activity would make now must be valid: the same
		// checks as POST /changes, with every Git read.
		p, err := s.PrepareChange(ctx, actor, node, run.ChangeInput{Action: *in.Action, GitRemoteName: in.GitRemoteName,
			GitRev: in.GitRev, Metadata: a.Metadata, PropertyOverrides: a.PropertyOverrides, Scheduled: true})
		if err != nil {
			return nil, err
		}
		a.GitRemoteID = p.Change.GitRemoteID
	}
	if a.Enabled {
		if a.NextRunAt, err = firstRun(c, now); err != nil {
			return nil, err
		}
	}
	err = s.Write(ctx, func(tx *gorm.DB) error {
		if err := nodeOpen(tx, node); err != nil {
			return err
		}
		if err := tx.Create(a).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:scheduled_activities:create", a.EventSource(), model.JSONMap{
			"node": node.Path, "cron_schedule": a.CronSchedule, "timezone": a.Timezone, "kind": a.Kind})
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// firstRun is the first fire time after now; a schedule that never fires
// is refused rather than stored as a silent no-op.
func firstRun(c *Cron, now time.Time) (*time.Time, error) {
	next := c.Next(now)
	if next.IsZero() {
		return nil, steward.Invalid(ptrCron, "never_fires", "cron_schedule matches no date in the next five years")
	}
	return &next, nil
}

func orEmpty(m model.JSONMap) model.JSONMap {
	if m == nil {
		return model.JSONMap{}
	}
	return m
}

func nodeOpen(tx *gorm.DB, n *model.Node) error { return run.NodeOpen(tx, n) }

// Get loads activity id (API kinds only); 404 when missing.
func (s *Store) Get(ctx context.Context, id string) (*Activity, error) {
	var a Activity
	pid, ok := steward.ParseID(id)
	if !ok {
		return nil, steward.NotFound("scheduled activity", id)
	}
	err := s.Read(ctx, func(db *gorm.DB) error {
		return s.Readable(ctx, db.Model(&Activity{}), "scheduled_activities.node_id").Where("id = ? AND kind IN ?", pid, apiKinds).Take(&a).Error
	})
	if model.ModelNotFound(err) {
		return nil, steward.NotFound("scheduled activity", id)
	}
	return &a, err
}

// Modify applies a PATCH: enabled, cron_schedule, timezone, misfire.
// next_run_at is recomputed from now whenever the activity is (still)
// enabled and its schedule or state changed, so firings missed while it was
// disabled are not caught up: they were not due. Enabling an activity on an
// archived node is a 422.
func (s *Store) Modify(ctx context.Context, actor *model.Actor, id string, in Update) (*Activity, error) {
	a, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.authorise(ctx, actor, authz.Update, a); err != nil {
		return nil, err
	}
	if err := validateMisfire(in.Misfire, nil); err != nil {
		return nil, err
	}
	expr, tz := a.CronSchedule, a.Timezone
	if in.CronSchedule != nil {
		expr = *in.CronSchedule
	}
	if in.Timezone != nil {
		tz = *in.Timezone
		if tz == "" {
			tz = "UTC"
		}
	}
	c, err := ParseCron(expr, tz)
	if err != nil {
		return nil, err
	}
	enabled := a.Enabled
	if in.Enabled != nil {
		enabled = *in.Enabled
	}
	updates := map[string]any{"cron_schedule": expr, "timezone": tz, "enabled": enabled, "updated_at": s.Now()}
	if in.Misfire != nil {
		updates["misfire"] = *in.Misfire
	}
	rescheduled := expr != a.CronSchedule || tz != a.Timezone || enabled != a.Enabled
	switch {
	case !enabled:
		updates["next_run_at"] = nil
	case rescheduled || a.NextRunAt == nil:
		next, err := firstRun(c, s.Now())
		if err != nil {
			return nil, err
		}
		updates["next_run_at"] = *next
	}
	err = s.Write(ctx, func(tx *gorm.DB) error {
		if enabled && !a.Enabled && a.NodeID != nil {
			var n model.Node
			if err := tx.Where("id = ?", *a.NodeID).Take(&n).Error; err != nil {
				return err
			}
			if err := nodeOpen(tx, &n); err != nil {
				e := steward.AsError(err)
				e.Field = "enabled"
				return e
			}
		}
		if err := tx.Model(&Activity{}).Where("id = ?", a.ID).Updates(updates).Error; err != nil {
			return err
		}
		// A fresh struct: scanning NULL into a set pointer would keep it.
		var fresh Activity
		if err := tx.Where("id = ?", a.ID).Take(&fresh).Error; err != nil {
			return err
		}
		*a = fresh
		return s.Record(tx, actor, "api:scheduled_activities:update", a.EventSource(), model.JSONMap{
			"cron_schedule": a.CronSchedule, "timezone": a.Timezone, "enabled": a.Enabled})
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Delete removes activity id and its firings (the changes it made stay).
func (s *Store) Delete(ctx context.Context, actor *model.Actor, id string) error {
	a, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := s.authorise(ctx, actor, authz.Delete, a); err != nil {
		return err
	}
	return s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("activity_id = ?", a.ID).Delete(&Firing{}).Error; err != nil {
			return err
		}
		if err := tx.Where("id = ?", a.ID).Delete(&Activity{}).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:scheduled_activities:delete", a.EventSource(), nil)
	})
}

// authorise decides verb on a's node's scheduled_activities.
func (s *Store) authorise(ctx context.Context, actor *model.Actor, v authz.Verb, a *Activity) error {
	if a.NodeID == nil {
		return actor.RequireAdmin()
	}
	var path string
	if err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Model(&model.Node{}).Where("id = ?", *a.NodeID).Select("path").Scan(&path).Error
	}); err != nil {
		return err
	}
	return actor.Authorise(v, path+"/scheduled_activities", "scheduled activity", a.ID)
}

// Target resolves where a new activity runs from the codes a client may
// send instead of parent_path: project_code, then environment_code and/or
// asset_code. Errors point at the code that names no node.
func (s *Store) Target(ctx context.Context, project, environment, asset string) (*model.Node, error) {
	if project == "" {
		return nil, steward.Invalid("project_code", "required", "give parent_path, or project_code (with environment_code and/or asset_code)")
	}
	n, err := s.ChangeTarget(ctx, model.NodePath(project, environment, asset))
	if err != nil {
		e := steward.AsError(err)
		if e.Field == "parent_path" {
			e.Field = "project_code"
			switch {
			case asset != "":
				e.Field = "asset_code"
			case environment != "":
				e.Field = "environment_code"
			}
		}
		return nil, e
	}
	return n, nil
}

// NextRuns is the next n fire times of a, for meta.next_runs: from its
// next_run_at (nil when disabled: it will not run).
func NextRuns(a *Activity, n int) []time.Time {
	if a.NextRunAt == nil {
		return []time.Time{}
	}
	c, err := a.Cron()
	if err != nil {
		return []time.Time{}
	}
	return append([]time.Time{a.NextRunAt.UTC()}, c.NextN(*a.NextRunAt, n-1)...)
}

// ErrNotHandled is returned inside a firing transaction when another
// replica already handled the fire time: the transaction rolls back.
var errNotHandled = fmt.Errorf("fire time already handled")
