package run

import (
	"context"
	"errors"
	"time"

	"github.com/stewardhq/steward/model"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/converge"
)

// QueueInfo says whether a change may run beside others on its node and,
// when it waits, which changes are ahead of it.
type QueueInfo struct {
	ParallelChangesAllowed, BlockedByChangeInSameParent bool
	BlockedByQueue                                      []string
}

// activeChangeStatuses are the statuses of changes that hold or queue for
// their node.
var activeChangeStatuses = []string{StatusInitializing, StatusPending, StatusRunning}

// queueFor lists the changes that keep c from starting, oldest first: with
// allow_parallel.changes false every active change on the node that is
// running or was created before c; with runs_of_same_change false, those of
// them running the same action. sameNode reports a blocker of the first
// kind. Earlier changes block later ones even while they wait themselves,
// which is what makes blocked changes start in creation order.
func queueFor(db *gorm.DB, c *Change, set model.Settings) (blockers []string, sameNode bool, err error) {
	if set.AllowParallelChanges && set.AllowParallelRunsOfSameChange {
		return nil, false, nil
	}
	var rows []Change
	if err := queueQuery(db, c, set).Select("id").Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, false, err
	}
	for _, o := range rows {
		blockers = append(blockers, o.ID)
	}
	return blockers, !set.AllowParallelChanges && len(rows) > 0, nil
}

// queueQuery selects the changes queueFor lists.
func queueQuery(db *gorm.DB, c *Change, set model.Settings) *gorm.DB {
	q := db.Model(&Change{}).
		Where("node_id = ? AND id <> ? AND status IN ?", c.NodeID, c.ID, activeChangeStatuses).
		Where("status = ? OR created_at < ? OR (created_at = ? AND id < ?)", StatusRunning, c.CreatedAt, c.CreatedAt, c.ID)
	if set.AllowParallelChanges {
		q = q.Where("action = ?", c.Action)
	}
	return q
}

// openQueueFor is nodeOpen and queueFor in one statement: what a new
// change's transaction checks once its rows are written (a refused node
// rolls them back).
func openQueueFor(db *gorm.DB, n *model.Node, c *Change, set model.Settings) (blockers []string, sameNode bool, err error) {
	if set.AllowParallelChanges && set.AllowParallelRunsOfSameChange {
		return nil, false, nodeOpen(db, n)
	}
	closed := db.Session(&gorm.Session{NewDB: true}).Model(&model.Node{}).Select("'archived' AS kind, id, created_at").
		Where("path IN ? AND archived = ?", model.Lineage(n.Path), true)
	queue := queueQuery(db.Session(&gorm.Session{NewDB: true}), c, set).Select("'blocker' AS kind, id, created_at")
	var rows []struct{ Kind, ID string }
	if err := db.Raw("SELECT kind, id FROM (? UNION ALL ?) AS q ORDER BY kind, created_at, id", closed, queue).Scan(&rows).Error; err != nil {
		return nil, false, err
	}
	for _, r := range rows {
		if r.Kind == "archived" {
			return nil, false, nodeOpen(db, n) // names the archived node
		}
		blockers = append(blockers, r.ID)
	}
	return blockers, !set.AllowParallelChanges && len(blockers) > 0, nil
}

// ChangeQueueInfo explains c's place in its node's queue (the meta of a
// change document). Only initializing and pending changes can be blocked.
func (s *Store) ChangeQueueInfo(ctx context.Context, c *Change) (QueueInfo, error) {
	out := QueueInfo{BlockedByQueue: []string{}}
	err := s.Read(ctx, func(db *gorm.DB) error {
		var node model.Node
		if err := db.Where("id = ?", c.NodeID).Take(&node).Error; err != nil {
			return err
		}
		set, err := parallelSettings(db, &node)
		if err != nil {
			return err
		}
		out.ParallelChangesAllowed = set.AllowParallelChanges
		if c.Status != StatusInitializing && c.Status != StatusPending {
			return nil
		}
		blockers, sameNode, err := queueFor(db, c, set)
		if blockers != nil {
			out.BlockedByQueue = blockers
		}
		out.BlockedByChangeInSameParent = sameNode
		return err
	})
	return out, err
}

// startChange starts an initializing or pending change unless its queue
// blocks it (then it waits pending). An asset change whose template
// version has a MintModel renders it first, outside the transaction (it
// reads Git), and stores it as the change starts; a MintModel that cannot
// be rendered fails the change.
func (s *Store) startChange(ctx context.Context, c *Change) error {
	var node model.Node
	var set model.Settings
	var blocked bool
	err := s.Read(ctx, func(db *gorm.DB) error {
		if err := db.Where("id = ?", c.NodeID).Take(&node).Error; err != nil {
			return err
		}
		var err error
		if set, err = parallelSettings(db, &node); err != nil {
			return err
		}
		b, _, err := queueFor(db, c, set)
		blocked = len(b) > 0
		return err
	})
	if err != nil {
		return err
	}
	if blocked {
		if c.Status == StatusPending {
			return nil // the common case: nothing to write
		}
		_, err := s.moveChange(ctx, c.ID, func(r *changeRun) error { return r.startIfFree(&node, set, nil) })
		return err
	}
	var mm *converge.Rendered
	mmErr := error(nil)
	if c.MintmodelID == nil && c.TemplateVersionID != nil {
		mm, mmErr = s.renderChangeMintModel(ctx, c, &node)
	}
	if mmErr != nil && steward.ErrorKind(mmErr) != steward.KindInvalid {
		return mmErr // a database or Git outage: try again on the next pass
	}
	if mmErr != nil {
		// Said in the log of its first step before the change ends, so
		// the log is complete when the change is seen finished.
		s.logStepLine(ctx, c.ID, s.firstStepID(ctx, c.ID), "the change could not start: "+steward.AsError(mmErr).Detail)
	}
	_, err = s.moveChange(ctx, c.ID, func(r *changeRun) error {
		if mmErr != nil {
			return r.failStart(mmErr)
		}
		return r.startIfFree(&node, set, mm)
	})
	return err
}

// errStartOutside: the change needs a MintModel rendered from Git before it
// starts, which its transaction cannot do.
var errStartOutside = errors.New("start outside the transaction")

// Claim asks a start to claim the step it queues for a worker of owner's
// with a free slot, in the same transaction: the step is running (leased)
// when the change's start commits, with no hop through the queue.
type Claim struct {
	Owner string
	Lease time.Duration
}

// StartWaiting moves a change the advance loop listed: an initializing one
// is started (or left pending) in one transaction, its queue read only under
// the lock, and with claim its first queued step is claimed in it (returned
// with its change; nil when none was). A pending one, which usually stays
// blocked, is first checked reading only (AdvanceChange), so it costs no
// write lock.
func (s *Store) StartWaiting(ctx context.Context, w WaitingChange, claim *Claim) (*Step, *Change, error) {
	if w.Status != StatusInitializing || w.Templated {
		return nil, nil, s.AdvanceChange(ctx, w.ID)
	}
	var claimed *Step
	r, err := s.moveChange(ctx, w.ID, func(r *changeRun) error {
		if r.c.Status != StatusInitializing && r.c.Status != StatusPending {
			return r.progress()
		}
		if r.c.TemplateVersionID != nil && r.c.MintmodelID == nil {
			return errStartOutside
		}
		node, l, err := lockLineage(r.tx, r.s.postgres(), r.c.NodeID)
		if err != nil {
			return err
		}
		if err := r.startLocked(node, l.parallel(), nil); err != nil || claim == nil {
			return err
		}
		claimed, err = r.claimQueued(claim)
		return err
	})
	if errors.Is(err, errStartOutside) {
		return nil, nil, s.AdvanceChange(ctx, w.ID)
	}
	if err != nil || claimed == nil {
		return nil, nil, err
	}
	st := *claimed
	return &st, r.c, nil
}

// claimQueued claims the first step this move queued for claim's owner, as
// ClaimNext would once it committed; the workers are woken only for the
// steps still queued.
func (r *changeRun) claimQueued(claim *Claim) (*Step, error) {
	var st *Step
	r.queued = false
	for _, s := range r.steps {
		if s.Status != StatusQueued || !r.dirty[s] {
			continue
		}
		if st != nil {
			r.queued = true
			continue
		}
		st = s
	}
	if st == nil {
		return nil, nil
	}
	expires := r.now.Add(claim.Lease)
	owner := claim.Owner
	st.Status, st.LeaseOwner, st.LeaseExpiresAt, st.StartedAt = StatusRunning, &owner, &expires, &r.now
	return st, r.stepEvent(model.SystemActor, st, "start", model.JSONMap{"worker": owner})
}

// startIfFree re-checks the queue under the lock (serialised per node on
// PostgreSQL by lockStarts, so two changes on one node cannot both see the
// other as not yet running) and starts the change or leaves it pending.
func (r *changeRun) startIfFree(node *model.Node, set model.Settings, mm *converge.Rendered) error {
	if r.c.Status != StatusInitializing && r.c.Status != StatusPending {
		return r.progress()
	}
	if err := lockStarts(r.tx, r.s.postgres(), node.ID); err != nil {
		return err
	}
	return r.startLocked(node, set, mm)
}

// startLocked is startIfFree once the node is locked.
func (r *changeRun) startLocked(node *model.Node, set model.Settings, mm *converge.Rendered) error {
	if r.c.Status != StatusInitializing && r.c.Status != StatusPending {
		return r.progress()
	}
	blockers, _, err := queueFor(r.tx, r.c, set)
	if err != nil {
		return err
	}
	if len(blockers) > 0 {
		if r.c.Status != StatusPending {
			r.c.Status, r.cDirty = StatusPending, true
		}
		return r.pendSteps()
	}
	if mm != nil {
		m, _, _, err := r.s.RecordMintModel(r.tx, node, mm, r.c.ID)
		if err != nil {
			return err
		}
		r.c.MintmodelID = &m.ID
	}
	r.c.Status, r.c.StartedAt, r.cDirty = StatusRunning, &r.now, true
	if err := r.pendSteps(); err != nil {
		return err
	}
	if err := r.changeEvent(model.SystemActor, "start", nil); err != nil {
		return err
	}
	return r.progress()
}

// pendSteps moves the steps of a change out of initializing: they wait to
// be reached.
func (r *changeRun) pendSteps() error {
	for _, st := range r.steps {
		if st.Status == StatusInitializing {
			st.Status, r.dirty[st] = StatusPending, true
		}
	}
	return nil
}

// failStart ends a change that cannot start (its MintModel does not
// render): error, every step aborted.
func (r *changeRun) failStart(cause error) error {
	if Terminal(r.c.Status) || r.c.Status == StatusRunning {
		return nil
	}
	r.c.StartedAt = &r.now
	return r.endChange(model.SystemActor, StatusError, model.JSONMap{"reason": steward.AsError(cause).Detail})
}

// firstStepID is the id of the change's first step ("" when it has none).
func (s *Store) firstStepID(ctx context.Context, changeID string) string {
	var ids []string
	_ = s.Read(ctx, func(db *gorm.DB) error {
		return db.Model(&Step{}).Where("change_id = ?", changeID).Order("position").Limit(1).Pluck("id", &ids).Error
	})
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// renderChangeMintModel renders the MintModel of an asset change's template
// version (nil when it has none) with the asset's converged properties and
// the change's overrides.
func (s *Store) renderChangeMintModel(ctx context.Context, c *Change, asset *model.Node) (*converge.Rendered, error) {
	var tv model.TemplateVersion
	var tpl model.Template
	err := s.Read(ctx, func(db *gorm.DB) error { return model.TakeVersion(db, *c.TemplateVersionID, &tv, &tpl) })
	if err != nil {
		return nil, err
	}
	if tv.HasMintmodel == nil || !*tv.HasMintmodel {
		return nil, nil
	}
	rc, err := s.ChangeRunContext(ctx, c)
	if err != nil {
		return nil, err
	}
	return s.RenderMintModel(ctx, &tpl, rc.Source, rc.Properties)
}

// logStepLine appends one line to a step's log, best effort: the line
// explains a transition that is already committed.
func (s *Store) logStepLine(ctx context.Context, changeID, stepID, msg string) {
	if stepID == "" {
		return
	}
	line := LogLine{ChangeID: changeID, StepID: stepID, Message: msg, LoggedAt: s.Now()}
	if err := s.AppendLogLines(context.WithoutCancel(ctx), []LogLine{line}); err != nil {
		s.Log.Error("writing a step log line failed", "change", changeID, "step", stepID, "err", err)
	}
}
