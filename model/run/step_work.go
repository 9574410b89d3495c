package run

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/stewardhq/steward/model"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	steward "github.com/stewardhq/steward"
)

// The worker side of the queue. A queued run step is claimed by exactly one
// worker: on PostgreSQL with SELECT ... FOR UPDATE SKIP LOCKED (concurrent
// claimers take different rows and never wait on each other); on SQLite the
// claim's immediate transaction holds the one write lock. A claim is a lease
// (owner + expiry) the worker renews while the process runs; a lease that
// expires means the worker died, and ReapExpiredLeases ends the step as
// error instead of running it again.

// ClaimStep claims the oldest queued run step for owner: it becomes running
// with a lease of the given length. nil, nil, nil when nothing is queued.
func (s *Store) ClaimStep(ctx context.Context, owner string, lease time.Duration) (*Step, *Change, error) {
	if queued, err := s.AnyQueued(ctx); err != nil || !queued {
		return nil, nil, err
	}
	return s.ClaimQueuedStep(ctx, owner, lease)
}

// AnyQueued reports, reading only, whether a step is queued: the cheap look
// before a claim, so idle workers do not take SQLite's write lock.
func (s *Store) AnyQueued(ctx context.Context) (bool, error) {
	var ids []string
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Model(&Step{}).Where("status = ?", StatusQueued).Limit(1).Pluck("id", &ids).Error
	})
	return len(ids) > 0, err
}

// ClaimQueuedStep is ClaimStep without its first look: for a worker told
// that a step was just queued, which would find it there.
func (s *Store) ClaimQueuedStep(ctx context.Context, owner string, lease time.Duration) (*Step, *Change, error) {
	st, c, _, err := s.ClaimNext(ctx, owner, lease)
	return st, c, err
}

// ClaimNext is ClaimQueuedStep that also says whether more steps were
// queued when it claimed (a hint: another worker may take them first), so a
// worker with free slots claims again without looking first, and one
// without stops.
func (s *Store) ClaimNext(ctx context.Context, owner string, lease time.Duration) (*Step, *Change, bool, error) {
	var st Step
	var c Change
	var found, more bool
	err := s.Write(ctx, func(tx *gorm.DB) error {
		now := s.Now()
		expires := now.Add(lease)
		if s.postgres() {
			// One statement: the oldest queued step nobody holds becomes
			// ours; the count (of the statement's snapshot, which still
			// shows it queued) says whether others wait.
			type claimed struct {
				Step
				Queued int
			}
			var rows []claimed
			err := tx.Raw(`UPDATE steps SET status = ?, lease_owner = ?, lease_expires_at = ?, started_at = ?, updated_at = ?
WHERE id = (SELECT id FROM steps WHERE status = ? ORDER BY queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) AND status = ?
RETURNING steps.*, (SELECT count(*) FROM (SELECT 1 FROM steps WHERE status = ? LIMIT 2) AS q) AS queued`,
				StatusRunning, owner, expires, now, now, StatusQueued, StatusQueued, StatusQueued).Scan(&rows).Error
			if err != nil || len(rows) == 0 {
				return err
			}
			st, found, more = rows[0].Step, true, rows[0].Queued > 1
		} else {
			// The immediate transaction holds the write lock: what it reads
			// stays so until it commits.
			var rows []Step
			if err := tx.Where("status = ?", StatusQueued).Order("queued_at, id").Limit(2).Find(&rows).Error; err != nil || len(rows) == 0 {
				return err
			}
			st, found, more = rows[0], true, len(rows) > 1
			st.Status, st.LeaseOwner, st.LeaseExpiresAt, st.StartedAt, st.UpdatedAt = StatusRunning, &owner, &expires, &now, now
			if err := tx.Model(&Step{}).Where("id = ? AND status = ?", st.ID, StatusQueued).Updates(map[string]any{
				"status": st.Status, "lease_owner": owner, "lease_expires_at": expires, "started_at": now, "updated_at": now,
			}).Error; err != nil {
				return err
			}
		}
		if err := tx.Where("id = ?", st.ChangeID).Take(&c).Error; err != nil {
			return err
		}
		r := &changeRun{s: s, tx: tx, c: &c}
		_ = r.stepEvent(model.SystemActor, &st, "start", model.JSONMap{"worker": owner})
		return r.save()
	})
	if err != nil || !found {
		return nil, nil, false, err
	}
	return &st, &c, more, nil
}

// RenewLease extends owner's lease on a running step. stillRunning is false
// when the step is no longer owner's to run (cancelled, or reaped after the
// lease lapsed): the worker must kill its process.
func (s *Store) RenewLease(ctx context.Context, stepID, owner string, lease time.Duration) (stillRunning bool, err error) {
	var n int64
	err = s.Write(ctx, func(tx *gorm.DB) error {
		now := s.Now()
		res := tx.Model(&Step{}).Where("id = ? AND status = ? AND lease_owner = ?", stepID, StatusRunning, owner).
			Updates(map[string]any{"lease_expires_at": now.Add(lease), "updated_at": now})
		n = res.RowsAffected
		return res.Error
	})
	return n == 1, err
}

// StepHeld reports, reading only, whether owner still holds the step (and
// its status): the cheap check a worker makes whenever it is nudged (a
// cancel in this process), between lease renewals.
func (s *Store) StepHeld(ctx context.Context, stepID, owner string) (held bool, status string, err error) {
	var rows []Step
	err = s.Read(ctx, func(db *gorm.DB) error {
		return db.Select("status", "lease_owner").Where("id = ?", stepID).Limit(1).Find(&rows).Error
	})
	if err != nil || len(rows) == 0 {
		return false, "", err
	}
	st := rows[0]
	return st.Status == StatusRunning && st.LeaseOwner != nil && *st.LeaseOwner == owner, st.Status, nil
}

// FinishStep records the end of owner's run of a step. On success the
// step's property patch is applied in the same transaction; then the step's
// children are reached, or it finishes and the change moves on. A patch that
// does not apply fails the step: nothing of it is written, the step's log
// says why, then the step ends as error (log first, so whoever sees the step
// finished reads a complete log). A step that was cancelled meanwhile stays
// cancelled (nil); one owner no longer holds is a conflict.
func (s *Store) FinishStep(ctx context.Context, stepID, owner string, result StepResult) error {
	return s.finishStep(ctx, "", stepID, owner, result)
}

// FinishChangeStep is FinishStep for a worker that knows the step's change
// (it claimed it with the step): one lookup fewer.
func (s *Store) FinishChangeStep(ctx context.Context, changeID, stepID, owner string, result StepResult) error {
	return s.finishStep(ctx, changeID, stepID, owner, result)
}

func (s *Store) finishStep(ctx context.Context, ofChange, stepID, owner string, result StepResult) error {
	var refused *steward.Error
	var changeID, released string
	move := func(r *changeRun) error {
		st := r.byID[stepID]
		if st == nil {
			return steward.NotFound("step", stepID)
		}
		if st.Status == StatusCancelled {
			if st.LeaseOwner != nil && *st.LeaseOwner == owner {
				st.LeaseOwner, st.LeaseExpiresAt, r.dirty[st] = nil, nil, true
				released = r.c.ID
			}
			return nil
		}
		if st.Status != StatusRunning || st.LeaseOwner == nil || *st.LeaseOwner != owner {
			return &steward.Error{Kind: steward.KindConflict, Code: "step_not_held",
				Detail: fmt.Sprintf("step %s is %s and not held by worker %s", st.ID, st.Status, owner)}
		}
		if result.OK && len(bytes.TrimSpace(result.PropertyPatch)) > 0 {
			if err := r.applyPropertyPatch(st, result.PropertyPatch); err != nil {
				if steward.ErrorKind(err) == steward.KindInvalid {
					refused, changeID = steward.AsError(err), r.c.ID
				}
				return err // rolls back; a refused patch is reported below
			}
		}
		if !result.OK {
			if err := r.finish(model.SystemActor, st, StatusError, "error", model.JSONMap{"reason": result.Reason}); err != nil {
				return err
			}
			return r.progress()
		}
		// Its own script is done: release the lease, then its children run
		// (or, having none, it succeeds as progress drives it).
		st.LeaseOwner, st.LeaseExpiresAt, r.dirty[st] = nil, nil, true
		return r.progress()
	}
	var err error
	if ofChange != "" {
		_, err = s.moveChange(ctx, ofChange, move)
	} else {
		_, err = s.moveChangeOfStep(ctx, stepID, move)
	}
	if refused != nil {
		s.logStepLine(ctx, changeID, stepID, "the properties patch was not applied, so the step failed: "+refused.Detail)
		return s.finishStep(ctx, ofChange, stepID, owner, StepResult{Reason: "properties patch not applied"})
	}
	if err == nil && released != "" {
		// The cancelled step's last lines are stored: live streams may end.
		_ = s.NotifyLogFollowers(ctx, released)
	}
	return err
}

// moveChangeOfStep is moveChange for the change that step belongs to.
func (s *Store) moveChangeOfStep(ctx context.Context, stepID string, fn func(r *changeRun) error) (*changeRun, error) {
	stepID, ok := steward.ParseID(stepID)
	if !ok {
		return nil, steward.NotFound("step", stepID)
	}
	var ids []string
	if err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Model(&Step{}).Where("id = ?", stepID).Pluck("change_id", &ids).Error
	}); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, steward.NotFound("step", stepID)
	}
	return s.moveChange(ctx, ids[0], fn)
}

// ReapExpiredLeases ends every running step whose lease has lapsed (its
// worker died or lost the database) as error, with a log line saying so,
// and lets its change go on (a sequential parent's next children are
// aborted, the change errors). The step is not run again: its script may
// have had side effects. Each step ends in one transaction with its log
// line, so a crash or a second reaper never logs it twice.
func (s *Store) ReapExpiredLeases(ctx context.Context) (int, error) {
	return s.endLostSteps(ctx, "lease_expires_at < ?", []any{s.Now()},
		func(st *Step, now time.Time) bool { return st.LeaseExpiresAt != nil && st.LeaseExpiresAt.Before(now) },
		func(owner string, st *Step) string {
			return fmt.Sprintf("the worker running this step (%s) was lost: its lease expired at %s without the step finishing; the step is marked error and was not run again",
				owner, st.LeaseExpiresAt.UTC().Format(time.RFC3339))
		})
}

// EndStepsOf ends at once, as ReapExpiredLeases would once their leases
// lapsed, the running steps leased to owner: a process known to be gone
// (its successor holds the data dir lock it held).
func (s *Store) EndStepsOf(ctx context.Context, owner string) (int, error) {
	if owner == "" {
		return 0, nil
	}
	return s.endLostSteps(ctx, "lease_owner = ?", []any{owner},
		func(st *Step, _ time.Time) bool { return *st.LeaseOwner == owner },
		func(owner string, _ *Step) string {
			return fmt.Sprintf("the server running this step (%s) stopped before it finished; the server now holding its data dir ended it: the step is marked error and was not run again", owner)
		})
}

// endLostSteps ends the running steps matching where (re-checked with
// still under the change's lock: the worker may have finished or renewed
// meanwhile) as error, each with the log line message gives.
func (s *Store) endLostSteps(ctx context.Context, where string, args []any, still func(*Step, time.Time) bool,
	message func(owner string, st *Step) string) (int, error) {
	type lost struct{ ID, ChangeID string }
	var rows []lost
	if err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Model(&Step{}).Select("id", "change_id").
			Where("status = ? AND lease_owner IS NOT NULL", StatusRunning).Where(where, args...).
			Order("lease_expires_at").Find(&rows).Error
	}); err != nil {
		return 0, err
	}
	n := 0
	for _, e := range rows {
		ended := false
		_, err := s.moveChange(ctx, e.ChangeID, func(r *changeRun) error {
			st := r.byID[e.ID]
			if st == nil || st.Status != StatusRunning || st.LeaseOwner == nil || !still(st, r.now) {
				return nil
			}
			owner := *st.LeaseOwner
			line := LogLine{ChangeID: e.ChangeID, StepID: e.ID, Message: message(owner, st), LoggedAt: r.now}
			if err := s.appendLogLineTx(r.tx, line); err != nil {
				return err
			}
			if err := r.finish(model.SystemActor, st, StatusError, "error", model.JSONMap{"reason": "worker_lost", "worker": owner}); err != nil {
				return err
			}
			ended = true
			return r.progress()
		})
		if err != nil {
			return n, err
		}
		if ended {
			s.Logs.Publish(e.ChangeID)
			n++
		}
	}
	return n, nil
}

// maxPropertyPatch bounds what a step may ask to change in one run.
const maxPropertyPatch = 1 << 20

// applyPropertyPatch applies the RFC 6902 patches a step wrote (one JSON
// array, or several one after another) to the properties of the change's
// node, as a new version linked to the step. A patch that does not apply
// is a 422 saying why; nothing is written then.
func (r *changeRun) applyPropertyPatch(st *Step, raw []byte) error {
	if len(raw) > maxPropertyPatch {
		return steward.Errorf(steward.KindInvalid, "the patch is %d bytes; at most %d are accepted", len(raw), maxPropertyPatch)
	}
	var node model.Node
	if err := r.tx.Where("id = ?", r.c.NodeID).Take(&node).Error; err != nil {
		return err
	}
	var ps model.PropertySet
	q := r.tx
	if r.s.postgres() {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := q.Where("id = ?", node.PropertiesID).Take(&ps).Error; err != nil {
		return err
	}
	doc, err := json.Marshal(map[string]any(ps.Data))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	for i := 1; ; i++ {
		var ops json.RawMessage
		if err := dec.Decode(&ops); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return steward.Errorf(steward.KindInvalid, "patch %d is not JSON: %v", i, err)
		}
		patch, err := jsonpatch.DecodePatch(ops)
		if err != nil {
			return steward.Errorf(steward.KindInvalid, "patch %d is not an RFC 6902 JSON patch (an array of operations): %v", i, err)
		}
		if doc, err = patch.Apply(doc); err != nil {
			return steward.Errorf(steward.KindInvalid, "patch %d does not apply to the properties of %s: %v", i, node.Path, err)
		}
	}
	// Numbers stay exact: the patch library keeps their text, and so does this.
	data, err := model.DecodeJSONObject(doc)
	if e := (*steward.Error)(nil); errors.As(err, &e) {
		return steward.Errorf(steward.KindInvalid, "the patched properties of %s cannot be stored: %s", node.Path, e.Detail)
	} else if err != nil {
		return steward.Errorf(steward.KindInvalid, "the patched properties of %s are not a JSON object", node.Path)
	}
	res := r.tx.Model(&model.PropertySet{}).Where("id = ?", ps.ID).
		Updates(map[string]any{"version": gorm.Expr("version + 1"), "data": data, "updated_at": r.now})
	if res.Error != nil {
		return res.Error
	}
	version := ps.Version + 1
	v := &model.PropertySetVersion{ID: model.NewID(), PropertySetID: ps.ID, Version: version, Data: data, StepID: &st.ID,
		CreatedBy: r.c.CreatedBy, CreatedAt: r.now}
	if err := r.tx.Create(v).Error; err != nil {
		return err
	}
	return r.s.Record(r.tx, model.SystemActor, "api:properties:update", node.EventSource(),
		model.JSONMap{"properties_id": ps.ID, "version": version, "step_id": st.ID, "change_id": r.c.ID})
}

// StepsNotRunning returns those of ids that name steps which exist and are
// not running: processes still carrying such an id are leftovers.
func (s *Store) StepsNotRunning(ctx context.Context, ids []string) ([]string, error) {
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if steward.IsID(id) {
			valid = append(valid, id)
		}
	}
	if len(valid) == 0 {
		return nil, nil
	}
	var out []string
	err := s.Read(ctx, func(db *gorm.DB) error {
		return db.Model(&Step{}).Where("id IN ? AND status <> ?", valid, StatusRunning).Pluck("id", &out).Error
	})
	return out, err
}
