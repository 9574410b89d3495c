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

// Retryable reports whether a change in status may be retried: it ended
// without succeeding.
func Retryable(status string) bool {
	return status == StatusError || status == StatusCancelled || status == StatusRejected
}

// RetryChange creates a new change from change id, which must have ended
// error, cancelled or rejected: same node, action, remote and commit (never
// re-resolved), metadata with original_change_id. The step tree is copied:
// steps that succeeded keep their outcome, steps flagged skip_on_retry (and
// everything below them) are marked success without running and say so in
// their log; every other step starts again.
func (s *Store) RetryChange(ctx context.Context, actor *model.Actor, id string) (*Change, error) {
	id, ok := steward.ParseID(id)
	if !ok {
		return nil, steward.NotFound("change", id)
	}
	var out *Change
	err := s.Write(ctx, func(tx *gorm.DB) error {
		var orig Change
		if err := tx.Where("id = ?", id).Take(&orig).Error; err != nil {
			if model.ModelNotFound(model.TranslateError(err)) {
				return steward.NotFound("change", id)
			}
			return err
		}
		if err := authoriseChange(tx, actor, authz.Execute, &orig); err != nil {
			return err
		}
		if !Retryable(orig.Status) {
			return &steward.Error{Kind: steward.KindInvalid, Code: "not_retryable", Meta: map[string]any{"status_code": orig.Status},
				Detail: fmt.Sprintf("change %s is %s; only changes that ended error, cancelled or rejected can be retried", orig.ID, orig.Status)}
		}
		var node model.Node
		if err := tx.Where("id = ?", orig.NodeID).Take(&node).Error; err != nil {
			return err
		}
		if err := nodeOpen(tx, &node); err != nil {
			return err
		}
		if err := remoteUsable(tx, orig.GitRemoteID); err != nil {
			return err
		}
		var steps []Step
		if err := tx.Where("change_id = ?", orig.ID).Order("position").Find(&steps).Error; err != nil {
			return err
		}
		now := s.Now()
		c := orig
		c.ID, c.Status, c.OriginalChangeID, c.MintmodelID = model.NewID(), StatusInitializing, &orig.ID, nil
		c.CreatedBy, c.CreatedAt, c.UpdatedAt, c.StartedAt, c.FinishedAt = actor.Name(), now, now, nil, nil
		c.Scheduled = false
		c.Metadata = model.JSONMap{}
		for k, v := range orig.Metadata {
			c.Metadata[k] = v
		}
		c.Metadata["original_change_id"] = orig.ID
		retried, skipped := retrySteps(steps, c.ID, now)
		if err := tx.Create(&c).Error; err != nil {
			return err
		}
		if len(retried) > 0 {
			if err := tx.CreateInBatches(retried, 200).Error; err != nil {
				return err
			}
		}
		for _, st := range skipped {
			line := &LogLine{ChangeID: c.ID, StepID: st.ID, LoggedAt: now,
				Message: fmt.Sprintf("skipped on retry: skip_on_retry was set on this step (or a parent) in change %s", orig.ID)}
			if err := tx.Create(line).Error; err != nil {
				return err
			}
		}
		out = &c
		return s.Record(tx, actor, "api:changes:retry", changeEventSource(&c), model.JSONMap{
			"original_change_id": orig.ID, "action": c.Action, "node": node.Path, "commit_sha": c.CommitSHA,
			"kept_steps": len(retried) - len(skipped) - countStatus(retried, StatusInitializing), "skipped_steps": len(skipped)})
	})
	if err != nil {
		return nil, err
	}
	s.Wake()
	return out, nil
}

// retrySteps copies a finished change's steps (in position order, so a
// parent comes before its children) for its retry changeID.
func retrySteps(steps []Step, changeID string, now time.Time) (all, skipped []*Step) {
	newID := make(map[string]string, len(steps))
	skip := map[string]bool{}
	for i := range steps {
		old := steps[i]
		st := &Step{ID: model.NewID(), ChangeID: changeID, Position: old.Position, Action: old.Action, Name: old.Name,
			StepType: old.StepType, Kind: old.Kind, Run: old.Run, Env: old.Env, TimeoutSeconds: old.TimeoutSeconds,
			ChildExecutionStrategy: old.ChildExecutionStrategy, RequiresApprovalFrom: old.RequiresApprovalFrom,
			Status: StatusInitializing, ApprovedBy: JSONActors{}, RejectedBy: JSONActors{}, ContinuedBy: JSONActors{},
			CreatedAt: now, UpdatedAt: now}
		newID[old.ID] = st.ID
		if old.ParentID != nil {
			p := newID[*old.ParentID]
			st.ParentID = &p
			skip[old.ID] = skip[*old.ParentID]
		}
		skip[old.ID] = skip[old.ID] || old.SkipOnRetry
		switch {
		case old.Status == StatusSuccess:
			st.Status, st.StartedAt, st.FinishedAt = StatusSuccess, old.StartedAt, old.FinishedAt
			st.ApprovedBy, st.ContinuedBy = old.ApprovedBy, old.ContinuedBy
		case skip[old.ID] && old.RequiresApprovalFrom == nil:
			// An approval is never skipped: skip_on_retry (even a parent's)
			// would otherwise let anyone pass a gate nobody approved.
			st.Status, st.StartedAt, st.FinishedAt = StatusSuccess, &now, &now
			skipped = append(skipped, st)
		}
		all = append(all, st)
	}
	// A skipped parent over an approval would end before the approval is
	// asked: such parents run again instead.
	byOld := make(map[string]*Step, len(steps))
	parent := make(map[string]*string, len(steps))
	for i := range steps {
		byOld[steps[i].ID], parent[steps[i].ID] = all[i], steps[i].ParentID
	}
	rerun := map[*Step]bool{}
	for i := range steps {
		if steps[i].RequiresApprovalFrom == nil || !skip[steps[i].ID] {
			continue
		}
		for p := steps[i].ParentID; p != nil; {
			st := byOld[*p]
			if st.Status == StatusSuccess && skip[*p] {
				st.Status, st.StartedAt, st.FinishedAt = StatusInitializing, nil, nil
				rerun[st] = true
			}
			p = parent[*p]
		}
	}
	if len(rerun) > 0 {
		kept := skipped[:0]
		for _, st := range skipped {
			if !rerun[st] {
				kept = append(kept, st)
			}
		}
		skipped = kept
	}
	return all, skipped
}

func countStatus(steps []*Step, status string) int {
	n := 0
	for _, st := range steps {
		if st.Status == status {
			n++
		}
	}
	return n
}

// remoteUsable refuses a retry whose git remote was archived or disabled
// since: the engine could not fetch the commit through it.
func remoteUsable(tx *gorm.DB, remoteID *string) error {
	if remoteID == nil {
		return nil
	}
	var g model.GitRemote
	if err := tx.Where("id = ?", *remoteID).Take(&g).Error; err != nil {
		return err
	}
	if g.Archived || g.Disabled {
		return &steward.Error{Kind: steward.KindInvalid, Code: "git_remote_unavailable",
			Detail: fmt.Sprintf("git remote %q is archived or disabled; the change cannot be retried through it", g.Name)}
	}
	return nil
}

// SetSkipOnRetry flags (or unflags) step id to be skipped when its change
// is retried; records api:steps:update.
func (s *Store) SetSkipOnRetry(ctx context.Context, actor *model.Actor, stepID string, skip bool) (*Step, error) {
	stepID, ok := steward.ParseID(stepID)
	if !ok {
		return nil, steward.NotFound("step", stepID)
	}
	var st Step
	err := s.Write(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("id = ?", stepID).Take(&st).Error; err != nil {
			if model.ModelNotFound(model.TranslateError(err)) {
				return steward.NotFound("step", stepID)
			}
			return err
		}
		var c Change
		if err := tx.Where("id = ?", st.ChangeID).Take(&c).Error; err != nil {
			return err
		}
		if err := authoriseChange(tx, actor, authz.Execute, &c); err != nil {
			return err
		}
		if skip && st.RequiresApprovalFrom != nil {
			return approvalNotSkippable(st.ID)
		}
		q := tx.Model(&Step{}).Where("id = ?", stepID).Updates(map[string]any{"skip_on_retry": skip, "updated_at": s.Now()})
		if q.Error != nil {
			return q.Error
		}
		if q.RowsAffected == 0 {
			return steward.NotFound("step", stepID)
		}
		if err := tx.Where("id = ?", stepID).Take(&st).Error; err != nil {
			return err
		}
		var nodeID string
		if err := tx.Model(&Change{}).Where("id = ?", st.ChangeID).Select("node_id").Scan(&nodeID).Error; err != nil {
			return err
		}
		return s.Record(tx, actor, "api:steps:update", stepEventSource(&st, nodeID),
			model.JSONMap{"skip_on_retry": skip, "change_id": st.ChangeID, "action": st.Action})
	})
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// approvalNotSkippable refuses skip_on_retry on an approval step: a retry
// asks for the approval again.
func approvalNotSkippable(id string) error {
	return steward.Invalid("skip_on_retry", "approval_not_skippable",
		"step %s is an approval; a retry asks for it again, so it cannot be skipped on retry", id)
}
