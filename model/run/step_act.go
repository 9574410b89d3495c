package run

import (
	"context"
	"fmt"
	"time"

	"github.com/stewardhq/steward/pkg/authz"

	"github.com/stewardhq/steward/model"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
)

// Step verbs a person can use on a waiting step.
const (
	VerbContinue = "continue"
	VerbApprove  = "approve"
	VerbReject   = "reject"
)

// maxActMessage bounds the message stored with a continue, approve or reject.
const maxActMessage = 10000

// ActOnStep continues, approves or rejects a waiting step. A wait step
// without requires_approval_from is continued; one with it is approved or
// rejected by a member of that group, and the change's creator cannot
// approve their own change. Refusals are 403s recorded as
// audit:steps:<verb>:denied events; a step that is not waiting is a 422.
// Approve and continue succeed the step; reject rejects it, aborts what
// was still to run and ends the change rejected.
func (s *Store) ActOnStep(ctx context.Context, actor *model.Actor, stepID, verb, message string) (*Step, error) {
	if verb != VerbContinue && verb != VerbApprove && verb != VerbReject {
		return nil, steward.Errorf(steward.KindNotFound, "steps have no %q action; use continue, approve or reject", verb)
	}
	if len(message) > maxActMessage {
		return nil, steward.Invalid("message", "too_long", "message must be at most %d characters", maxActMessage)
	}
	var denied error
	var out Step
	_, err := s.moveChangeOfStep(ctx, stepID, func(r *changeRun) error {
		st := r.byID[stepID]
		err := authoriseChange(r.tx, actor, authz.Execute, r.c)
		if err == nil {
			err = canAct(r.c, st, actor, verb)
		}
		if err != nil {
			if steward.ErrorKind(err) != steward.KindForbidden {
				return err
			}
			// The refusal is committed (as an audit event) and the
			// step left as it was.
			denied = err
			return r.s.Record(r.tx, actor, "audit:steps:"+verb+":denied", stepEventSource(st, r.c.NodeID),
				model.JSONMap{"change_id": st.ChangeID, "reason": steward.AsError(err).Detail})
		}
		status := recordAct(&st.ApprovedBy, &st.RejectedBy, &st.ContinuedBy, actor, verb, message, r.now)
		extra := model.JSONMap{}
		if message != "" {
			extra["message"] = message
		}
		if err := r.finish(actor, st, status, verb, extra); err != nil {
			return err
		}
		if err := r.progress(); err != nil {
			return err
		}
		out = *st
		return nil
	})
	if err != nil {
		return nil, err
	}
	if denied != nil {
		return nil, denied
	}
	return &out, nil
}

// canAct checks that actor may use verb on st now.
func canAct(c *Change, st *Step, actor *model.Actor, verb string) error {
	if st.Kind != StepWait || st.Status != StatusWaiting {
		what := "a " + st.Kind + " step"
		if st.Kind == StepWait {
			what = "a wait step that is " + st.Status
		}
		return &steward.Error{Kind: steward.KindInvalid, Code: "step_not_waiting", Meta: map[string]any{"status": st.Status},
			Detail: fmt.Sprintf("step %s is %s; only waiting wait steps can be continued, approved or rejected", st.ID, what)}
	}
	if st.RequiresApprovalFrom == nil {
		if verb != VerbContinue {
			return &steward.Error{Kind: steward.KindInvalid, Code: "no_approval_required",
				Detail: fmt.Sprintf("step %s waits to be continued and needs no approval; use continue", st.ID)}
		}
		return nil
	}
	group := *st.RequiresApprovalFrom
	switch {
	case verb == VerbContinue:
		return &steward.Error{Kind: steward.KindInvalid, Code: "approval_required",
			Detail: fmt.Sprintf("step %s needs an approval from group %q: approve or reject it", st.ID, group)}
	case actor.IsSystem():
		return nil
	case !actor.InGroup(group):
		return steward.Errorf(steward.KindForbidden, "only members of group %q may %s step %s; %s is not one", group, verb, st.ID, actor.Name())
	case verb == VerbApprove && actor.Name() == c.CreatedBy:
		return steward.Errorf(steward.KindForbidden, "%s created change %s and cannot approve it; another member of group %q must", actor.Name(), c.ID, group)
	}
	return nil
}

// CancelChange cancels a change that has not finished: its unfinished steps
// become cancelled (workers running one see it on their next lease check and
// kill the process group) and the change ends cancelled. A finished change
// is a 422.
func (s *Store) CancelChange(ctx context.Context, actor *model.Actor, changeID string) (*Change, error) {
	r, err := s.moveChange(ctx, changeID, func(r *changeRun) error {
		if err := authoriseChange(r.tx, actor, authz.Execute, r.c); err != nil {
			return err
		}
		if Terminal(r.c.Status) {
			return &steward.Error{Kind: steward.KindInvalid, Code: "change_finished", Meta: map[string]any{"status": r.c.Status},
				Detail: fmt.Sprintf("change %s has already finished (%s) and cannot be cancelled", r.c.ID, r.c.Status)}
		}
		return r.endChange(actor, StatusCancelled, nil)
	})
	if err != nil {
		return nil, err
	}
	return r.c, nil
}

// StepStatuses maps the ids of a change's steps to their status: a cheap
// read for whoever waits on a change.
func (s *Store) StepStatuses(ctx context.Context, changeID string) (map[string]string, error) {
	var rows []Step
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Select("id", "status").Where("change_id = ?", changeID).Find(&rows).Error
	})
	out := make(map[string]string, len(rows))
	for _, st := range rows {
		out[st.ID] = st.Status
	}
	return out, err
}

// WaitingChange is a change that has not started (initializing or
// pending), as the engine's advance loop lists it.
type WaitingChange struct {
	ID, Status string
	// Templated: an asset change whose MintModel may have to be rendered
	// (from Git, outside the transaction) before it starts.
	Templated bool
}

// AdvanceWork lists, oldest first and in one statement, what the advance
// loop walks: the changes that have not started (initializing or pending) and
// the workflow runs that can move (workflowRunsToAdvance), at most limit of
// each.
func (s *Store) AdvanceWork(ctx context.Context, limit int) (changes []WaitingChange, runs []string, err error) {
	type row struct {
		Kind, ID, Status string
		Templated        bool
	}
	var rows []row
	err = s.Read(ctx, func(db *gorm.DB) error {
		cq := db.Model(&Change{}).Select("'c' AS kind, id, status, created_at,"+
			" (template_version_id IS NOT NULL AND mintmodel_id IS NULL) AS templated").
			Where("status IN ?", []string{StatusInitializing, StatusPending}).Order("created_at, id").Limit(limit)
		rq := s.workflowRunsToAdvance(db, limit).Select("'r' AS kind, id, status, created_at, " + sqlFalse(db) + " AS templated")
		return db.Raw("SELECT kind, id, status, templated, created_at FROM (?) AS c"+
			" UNION ALL SELECT kind, id, status, templated, created_at FROM (?) AS r"+
			" ORDER BY kind, created_at, id", cq, rq).Scan(&rows).Error
	})
	for _, r := range rows {
		if r.Kind == "c" {
			changes = append(changes, WaitingChange{ID: r.ID, Status: r.Status, Templated: r.Templated})
		} else {
			runs = append(runs, r.ID)
		}
	}
	return changes, runs, err
}

func sqlFalse(db *gorm.DB) string {
	if db.Dialector.Name() == "postgres" {
		return "false"
	}
	return "0"
}

// FinishedChangeIDs returns those of ids whose change has finished (or
// does not exist): their work trees can go.
func (s *Store) FinishedChangeIDs(ctx context.Context, ids []string) ([]string, error) {
	valid := ids[:0:0]
	for _, id := range ids {
		if steward.IsID(id) {
			valid = append(valid, id)
		}
	}
	if len(valid) == 0 {
		return nil, nil
	}
	ids = valid
	var live []string
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Model(&Change{}).Where("id IN ? AND status IN ?", ids, activeChangeStatuses).Pluck("id", &live).Error
	})
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, id := range live {
		keep[id] = true
	}
	var out []string
	for _, id := range ids {
		if !keep[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

// recordAct adds who continued, approved or rejected a wait step (of a
// change or a workflow run) to the list verb names, and returns the status
// the step ends with.
func recordAct(approved, rejected, continued *JSONActors, actor *model.Actor, verb, message string, now time.Time) string {
	by := StepActor{Username: actor.Name(), Message: message, CreatedAt: now.UTC().Format("2006-01-02T15:04:05.000000Z")}
	switch verb {
	case VerbApprove:
		*approved = append(*approved, by)
	case VerbReject:
		*rejected = append(*rejected, by)
		return StatusRejected
	default:
		*continued = append(*continued, by)
	}
	return StatusSuccess
}
