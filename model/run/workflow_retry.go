package run

import (
	"context"
	"fmt"

	"github.com/stewardhq/steward/pkg/authz"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
)

// RetryWorkflowRun starts a new run of a run that failed, was rejected or was
// cancelled: the same version, metadata and property overrides, with every
// change or nested workflow step that succeeded the first time (and every
// step flagged skip_on_retry) kept as succeeded, so only the rest runs
// again. Waits and approvals are reset: they are asked again. Stages are left to the
// engine, which finds them done when all their steps are. A run that
// succeeded or has not finished is a 422. Records api:workflow_runs:retry.
func (s *Store) RetryWorkflowRun(ctx context.Context, actor *model.Actor, id string) (*WorkflowRun, error) {
	orig, err := s.GetWorkflowRun(ctx, id, nil)
	if err != nil {
		return nil, err
	}
	if !Terminal(orig.Status) || orig.Status == StatusSuccess {
		return nil, &steward.Error{Kind: steward.KindInvalid, Code: "not_retryable", Meta: map[string]any{"status": orig.Status},
			Detail: fmt.Sprintf("workflow run %s is %s; only a run that ended error, rejected or cancelled can be retried", orig.ID, orig.Status)}
	}
	var retried *WorkflowRun
	err = s.Write(ctx, func(tx *gorm.DB) error {
		if err := authoriseRun(tx, actor, authz.Execute, orig); err != nil {
			return err
		}
		var project model.Node
		var wf model.Workflow
		var v model.WorkflowVersion
		var old []WorkflowRunStep
		if err := tx.Where("id = ?", orig.ProjectID).Take(&project).Error; err != nil {
			return err
		}
		if err := tx.Where("id = ?", orig.WorkflowID).Take(&wf).Error; err != nil {
			return err
		}
		if err := tx.Where("id = ?", orig.WorkflowVersionID).Take(&v).Error; err != nil {
			return err
		}
		if err := tx.Where("run_id = ?", orig.ID).Order("position").Find(&old).Error; err != nil {
			return err
		}
		run, steps, err := s.InsertWorkflowRun(tx, actor, &project, &wf, &v,
			WorkflowRunInput{Metadata: orig.Metadata, PropertyOverrides: orig.PropertyOverrides, Scheduled: orig.Scheduled}, nil)
		if err != nil {
			return err
		}
		// The same version builds the same tree, so positions match.
		now := s.Now()
		var kept []string
		skipped := skippedOnRetry(old)
		for i, st := range steps {
			if st.Kind == WorkflowKindNoop || i >= len(old) {
				continue
			}
			// A wait or approval is asked again (reset on retry): it was
			// given for the run that failed. skip_on_retry keeps a plain
			// wait, never an approval (even under a flagged stage).
			approval := st.Kind == WorkflowKindWait && st.RequiresApprovalFrom != nil
			if (old[i].Status == StatusSuccess && st.Kind != WorkflowKindWait) || (skipped[old[i].ID] && !approval) {
				kept = append(kept, st.ID)
			}
		}
		if len(kept) > 0 {
			if err := tx.Model(&WorkflowRunStep{}).Where("id IN ?", kept).Updates(map[string]any{
				"status": StatusSuccess, "started_at": now, "finished_at": now, "updated_at": now}).Error; err != nil {
				return err
			}
		}
		retried = run
		return s.Record(tx, actor, "api:workflow_runs:retry", workflowRunEventSource(run), model.JSONMap{
			"original_run_id": orig.ID, "kept_steps": len(kept)})
	})
	if err != nil {
		return nil, err
	}
	s.Wake()
	return retried, nil
}

// skippedOnRetry is the set of steps flagged skip_on_retry or below one that
// is (steps are in tree order, so a parent comes before its children).
func skippedOnRetry(steps []WorkflowRunStep) map[string]bool {
	out := map[string]bool{}
	for _, st := range steps {
		if st.SkipOnRetry || (st.ParentID != nil && out[*st.ParentID]) {
			out[st.ID] = true
		}
	}
	return out
}
