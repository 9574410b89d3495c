package run

import (
	"context"
	"fmt"
	"strings"

	"github.com/stewardhq/steward/pkg/authz"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
)

// ActOnWorkflowStep continues, approves or rejects a waiting wait step of a
// run. A wait step without requires_approval_from is continued; one with it
// is approved or rejected by a member of the group it names or a user it
// names (a comma-separated list may name several), never by the run's
// creator. Refusals are 403s committed as audit:workflow_steps:<verb>:denied
// events; a step that is not waiting is a 422. The run then moves on in the
// same transaction.
func (s *Store) ActOnWorkflowStep(ctx context.Context, actor *model.Actor, stepID, verb, message string) (*WorkflowRunStep, error) {
	if verb != VerbContinue && verb != VerbApprove && verb != VerbReject {
		return nil, steward.Errorf(steward.KindNotFound, "workflow steps have no %q action; use continue, approve or reject", verb)
	}
	if len(message) > maxActMessage {
		return nil, steward.Invalid("message", "too_long", "message must be at most %d characters", maxActMessage)
	}
	st, err := s.GetWorkflowStep(ctx, stepID)
	if err != nil {
		return nil, err
	}
	var denied error
	var out WorkflowRunStep
	var starts []*WorkflowRunStep
	err = s.moveWorkflowRun(ctx, st.RunID, func(r *wfRun) error {
		st := r.byID[st.ID]
		err := authoriseRun(r.tx, actor, authz.Execute, r.run)
		if err == nil {
			err = canActOnWorkflowStep(r.run, st, actor, verb)
		}
		if err != nil {
			if steward.ErrorKind(err) != steward.KindForbidden {
				return err
			}
			denied = err
			return r.s.Record(r.tx, actor, "audit:workflow_steps:"+verb+":denied", workflowStepEventSource(st, r.run.ProjectID),
				model.JSONMap{"workflow_run_id": st.RunID, "reason": steward.AsError(err).Detail})
		}
		status := recordAct(&st.ApprovedBy, &st.RejectedBy, &st.ContinuedBy, actor, verb, message, r.now)
		st.Status, st.FinishedAt, st.UpdatedAt = status, &r.now, r.now
		st.LockVersion++
		r.dirty[st] = true
		attrs := model.JSONMap{"workflow_run_id": st.RunID, "name": st.Name, "status": status}
		if message != "" {
			attrs["message"] = message
		}
		if err := r.s.Record(r.tx, actor, "api:workflow_steps:"+verb, workflowStepEventSource(st, r.run.ProjectID), attrs); err != nil {
			return err
		}
		r.progress()
		starts = r.starts
		out = *st
		return nil
	})
	if err != nil {
		return nil, err
	}
	if denied != nil {
		return nil, denied
	}
	if len(starts) > 0 {
		s.Wake() // the engine creates what the run reached
	}
	return &out, nil
}

// canActOnWorkflowStep checks that actor may use verb on st now.
func canActOnWorkflowStep(run *WorkflowRun, st *WorkflowRunStep, actor *model.Actor, verb string) error {
	if st.Kind != WorkflowKindWait || st.Status != StatusWaiting {
		return &steward.Error{Kind: steward.KindInvalid, Code: "step_not_waiting", Meta: map[string]any{"status": st.Status},
			Detail: fmt.Sprintf("workflow step %s is a %s step that is %s; only waiting wait steps can be continued, approved or rejected", st.ID, st.Kind, st.Status)}
	}
	if st.RequiresApprovalFrom == nil {
		if verb != VerbContinue {
			return &steward.Error{Kind: steward.KindInvalid, Code: "no_approval_required",
				Detail: fmt.Sprintf("workflow step %s waits to be continued and needs no approval; use continue", st.ID)}
		}
		return nil
	}
	who := *st.RequiresApprovalFrom
	switch {
	case verb == VerbContinue:
		return &steward.Error{Kind: steward.KindInvalid, Code: "approval_required",
			Detail: fmt.Sprintf("workflow step %s needs an approval from %q: approve or reject it", st.ID, who)}
	case actor.IsSystem():
		return nil
	case !mayApprove(actor, who):
		return steward.Errorf(steward.KindForbidden, "only members of group %q or the users it names may %s workflow step %s; %s is neither",
			who, verb, st.ID, actor.Name())
	case verb == VerbApprove && actor.Name() == run.CreatedBy:
		return steward.Errorf(steward.KindForbidden, "%s started workflow run %s and cannot approve it; someone else from %q must",
			actor.Name(), run.ID, who)
	}
	return nil
}

// mayApprove reports whether actor is in the group or among the user names
// that who lists (comma-separated).
func mayApprove(actor *model.Actor, who string) bool {
	for _, name := range strings.Split(who, ",") {
		name = strings.TrimSpace(name)
		if name != "" && (actor.InGroup(name) || actor.Name() == name) {
			return true
		}
	}
	return false
}

// CancelWorkflowRun cancels a run that has not finished: its unfinished
// steps and the run end cancelled, then the changes and child runs its steps
// follow are cancelled too. A finished run is a 422.
func (s *Store) CancelWorkflowRun(ctx context.Context, actor *model.Actor, id string) (*WorkflowRun, error) {
	var changes, children []string
	var run WorkflowRun
	err := s.moveWorkflowRun(ctx, id, func(r *wfRun) error {
		if err := authoriseRun(r.tx, actor, authz.Execute, r.run); err != nil {
			return err
		}
		if Terminal(r.run.Status) {
			return &steward.Error{Kind: steward.KindInvalid, Code: "run_finished", Meta: map[string]any{"status": r.run.Status},
				Detail: fmt.Sprintf("workflow run %s has finished (%s) and cannot be cancelled", r.run.ID, r.run.Status)}
		}
		for _, st := range r.steps {
			if Terminal(st.Status) {
				continue
			}
			if st.ChangeID != nil {
				changes = append(changes, *st.ChangeID)
			}
			if st.ChildRunID != nil {
				children = append(children, *st.ChildRunID)
			}
			st.Status, st.FinishedAt, st.UpdatedAt = StatusCancelled, &r.now, r.now
			st.LockVersion++
			r.dirty[st] = true
		}
		r.run.Status, r.run.FinishedAt, r.run.UpdatedAt = StatusCancelled, &r.now, r.now
		r.runSet = true
		run = *r.run
		return r.s.Record(r.tx, actor, "api:workflow_runs:cancel", workflowRunEventSource(r.run), model.JSONMap{"status": StatusCancelled})
	})
	if err != nil {
		return nil, err
	}
	for _, cid := range changes {
		if _, err := s.CancelChange(ctx, actor, cid); err != nil && steward.ErrorKind(err) != steward.KindInvalid {
			return nil, err
		}
	}
	for _, rid := range children {
		if _, err := s.CancelWorkflowRun(ctx, actor, rid); err != nil && steward.ErrorKind(err) != steward.KindInvalid {
			return nil, err
		}
	}
	s.Wake()
	return &run, nil
}

// SetWorkflowStepSkipOnRetry sets whether a retry of the run skips the step.
func (s *Store) SetWorkflowStepSkipOnRetry(ctx context.Context, actor *model.Actor, stepID string, skip bool) (*WorkflowRunStep, error) {
	st, err := s.GetWorkflowStep(ctx, stepID)
	if err != nil {
		return nil, err
	}
	if skip && st.RequiresApprovalFrom != nil {
		return nil, approvalNotSkippable(st.ID)
	}
	err = s.Write(ctx, func(tx *gorm.DB) error {
		var run WorkflowRun
		if err := tx.Where("id = ?", st.RunID).Take(&run).Error; err != nil {
			return err
		}
		if err := authoriseRun(tx, actor, authz.Execute, &run); err != nil {
			return err
		}
		now := s.Now()
		if err := tx.Model(&WorkflowRunStep{}).Where("id = ?", st.ID).Updates(map[string]any{
			"skip_on_retry": skip, "updated_at": now, "lock_version": gorm.Expr("lock_version + 1")}).Error; err != nil {
			return err
		}
		st.SkipOnRetry, st.UpdatedAt = skip, now
		st.LockVersion++
		projectID, err := runProject(tx, st.RunID)
		if err != nil {
			return err
		}
		return s.Record(tx, actor, "api:workflow_steps:update", workflowStepEventSource(st, projectID),
			model.JSONMap{"workflow_run_id": st.RunID, "skip_on_retry": skip})
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}
