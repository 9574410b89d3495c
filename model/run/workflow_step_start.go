package run

import (
	"context"
	"errors"
	"fmt"

	"github.com/stewardhq/steward/pkg/authz"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
)

// startWorkflowStep creates the change (or child run) of a pending step
// and links it, in one transaction. What cannot start (a target that went
// away, an action missing at the commit, a nested cycle) ends the step as
// error with the reason in its event; the run then moves on as any failure
// does.
func (s *Store) startWorkflowStep(ctx context.Context, run *WorkflowRun, st *WorkflowRunStep) error {
	actor, err := s.runActor(ctx, run)
	if err != nil {
		return err
	}
	overrides := mergeOverrides(run.PropertyOverrides, st.PropertyOverrides)
	var insert func(tx *gorm.DB) (link map[string]any, err error)
	switch st.Kind {
	case WorkflowKindChange:
		node, err := s.NodeByPath(ctx, st.Target)
		if err != nil {
			return s.failWorkflowStep(ctx, st, fmt.Sprintf("target %s: %s", st.Target, steward.AsError(err).Detail))
		}
		name := st.Name
		p, err := s.PrepareChange(ctx, actor, node, ChangeInput{Action: st.Action, Name: &name,
			TemplateVersion: st.TemplateVersion, PropertyOverrides: overrides, Scheduled: run.Scheduled,
			WorkflowRunID: &run.ID})
		if err != nil {
			if steward.ErrorKind(err) == steward.KindInternal || steward.ErrorKind(err) == steward.KindUnavailable {
				return err // try again at the next advance
			}
			return s.failWorkflowStep(ctx, st, steward.AsError(err).Detail)
		}
		insert = func(tx *gorm.DB) (map[string]any, error) {
			if err := p.Insert(tx); err != nil {
				return nil, err
			}
			return map[string]any{"change_id": p.Change.ID}, nil
		}
	case WorkflowKindWorkflow:
		insert = func(tx *gorm.DB) (map[string]any, error) {
			project, wf, v, err := s.nestedWorkflow(tx, run, st)
			if err != nil {
				return nil, err
			}
			if err := actor.Authorise(authz.Execute, project.Path+"/workflows/"+wf.Code, "workflow", wf.Code); err != nil {
				return nil, err
			}
			child, _, err := s.InsertWorkflowRun(tx, actor, project, wf, v,
				WorkflowRunInput{PropertyOverrides: overrides, Scheduled: run.Scheduled}, st)
			if err != nil {
				return nil, err
			}
			return map[string]any{"child_run_id": child.ID, "child_workflow_version_id": v.ID}, nil
		}
	default:
		return nil
	}
	err = s.Write(ctx, func(tx *gorm.DB) error {
		link, err := insert(tx)
		if err != nil {
			return err
		}
		now := s.Now()
		link["status"], link["started_at"], link["updated_at"] = StatusRunning, now, now
		link["lock_version"] = gorm.Expr("lock_version + 1")
		res := tx.Model(&WorkflowRunStep{}).
			Where("id = ? AND status = ? AND change_id IS NULL AND child_run_id IS NULL", st.ID, StatusPending).Updates(link)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errStepTaken
		}
		return s.Record(tx, model.SystemActor, "api:workflow_steps:start", workflowStepEventSource(st, run.ProjectID),
			model.JSONMap{"workflow_run_id": st.RunID, "name": st.Name, "status": StatusRunning})
	})
	switch {
	case errors.Is(err, errStepTaken):
		return nil
	case err != nil && (steward.ErrorKind(err) == steward.KindInvalid || steward.ErrorKind(err) == steward.KindNotFound):
		return s.failWorkflowStep(ctx, st, steward.AsError(err).Detail)
	case err != nil:
		return err
	}
	s.Wake()
	return nil
}

// failWorkflowStep ends a pending step as error, saying why.
func (s *Store) failWorkflowStep(ctx context.Context, st *WorkflowRunStep, reason string) error {
	return s.Write(ctx, func(tx *gorm.DB) error {
		now := s.Now()
		res := tx.Model(&WorkflowRunStep{}).Where("id = ? AND status = ?", st.ID, StatusPending).Updates(map[string]any{
			"status": StatusError, "started_at": now, "finished_at": now, "updated_at": now,
			"lock_version": gorm.Expr("lock_version + 1")})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		projectID, err := runProject(tx, st.RunID)
		if err != nil {
			return err
		}
		return s.Record(tx, model.SystemActor, "api:workflow_steps:error", workflowStepEventSource(st, projectID),
			model.JSONMap{"workflow_run_id": st.RunID, "name": st.Name, "status": StatusError, "reason": reason})
	})
}

// nestedWorkflow finds the published version a workflow step runs and
// refuses a cycle: a workflow that is already running further up this run's
// chain of parents.
func (s *Store) nestedWorkflow(tx *gorm.DB, run *WorkflowRun, st *WorkflowRunStep) (*model.Node, *model.Workflow, *model.WorkflowVersion, error) {
	projectCode, code, ok := model.ParseWorkflowTarget(st.Target)
	if !ok {
		return nil, nil, nil, steward.Invalid("target", "invalid_target", "%q does not name a workflow (/projects/<project>/workflows/<code>)", st.Target)
	}
	project, wf, v, err := model.RunnableVersionIn(tx, projectCode, code, st.WorkflowVersion)
	if err != nil {
		return nil, nil, nil, err
	}
	for cur := run; ; {
		if cur.WorkflowID == wf.ID {
			return nil, nil, nil, steward.Invalid("target", "workflow_cycle",
				"workflow %s is already running further up this run's nesting: it would run itself", st.Target)
		}
		if cur.ParentStepID == nil {
			break
		}
		var parent WorkflowRunStep
		if err := tx.Where("id = ?", *cur.ParentStepID).Take(&parent).Error; err != nil {
			return nil, nil, nil, err
		}
		var next WorkflowRun
		if err := tx.Where("id = ?", parent.RunID).Take(&next).Error; err != nil {
			return nil, nil, nil, err
		}
		cur = &next
	}
	return project, wf, v, nil
}

// mergeOverrides lays the step's overrides over the run's, key by key.
func mergeOverrides(run, step model.JSONMap) model.JSONMap {
	out := model.JSONMap{}
	for k, v := range run {
		out[k] = v
	}
	for k, v := range step {
		out[k] = v
	}
	return out
}

// workflowRunBlockers lists the runs that keep run from starting: with
// allow_parallel.runs_of_same_workflow false (the default) in its project's
// settings, every run of the same workflow that is running or was created
// before it. Nested runs never queue: their parent holds the place.
func (s *Store) workflowRunBlockers(tx *gorm.DB, run *WorkflowRun) ([]string, error) {
	if run.ParentStepID != nil {
		return nil, nil
	}
	var project model.Node
	if err := tx.Where("id = ?", run.ProjectID).Take(&project).Error; err != nil {
		return nil, err
	}
	var set model.PropertySet
	if err := tx.Where("id = ?", project.SettingsID).Take(&set).Error; err != nil {
		return nil, err
	}
	if ap, _ := set.Data["allow_parallel"].(map[string]any); ap["runs_of_same_workflow"] == true {
		return nil, nil
	}
	var ids []string
	err := tx.Model(&WorkflowRun{}).Where("workflow_id = ? AND id <> ? AND parent_step_id IS NULL", run.WorkflowID, run.ID).
		Where("status = ? OR (status IN ? AND (created_at < ? OR (created_at = ? AND id < ?)))", StatusRunning,
			[]string{StatusPending, StatusQueued}, run.CreatedAt, run.CreatedAt, run.ID).
		Order("created_at, id").Pluck("id", &ids).Error
	return ids, err
}

// runActor is who a run's steps act as: the run's creator with their rules
// as they are now, so a workflow runs nothing its creator could not run by
// hand (a step they may not execute fails with the reason). A creator who
// no longer exists holds no rules.
func (s *Store) runActor(ctx context.Context, run *WorkflowRun) (*model.Actor, error) {
	u, err := s.UserByName(ctx, run.CreatedBy)
	if model.ModelNotFound(err) {
		if run.CreatedBy == model.SystemActor.Name() {
			return model.SystemActor, nil // Steward's own run ("system" is no user's name)
		}
		return &model.Actor{Username: run.CreatedBy}, nil
	}
	if err != nil {
		return nil, err
	}
	return s.ActorFor(ctx, u)
}
