package run

import (
	"context"
	"time"

	"github.com/stewardhq/steward/model"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	steward "github.com/stewardhq/steward"
)

// The step state machine. Every operation that moves a change (start,
// finish, approve, cancel, reap) runs as one transaction that first locks the
// change row (PostgreSQL; SQLite transactions are immediate, so writers are
// serialised anyway), loads all its steps, changes them in memory through a
// changeRun, then drives the tree as far as it can go and writes what
// changed. Driving is idempotent: AdvanceChange on a settled change writes
// nothing. Two workers finishing sibling steps at once therefore queue on the
// change lock and the second sees the first's result; no transition is lost.

// StepResult is what a worker reports when a step's process ends.
type StepResult struct {
	OK     bool
	Reason string // why it failed, for the event (the log already says it)
	// PropertyPatch is what the step wrote to $STEWARD_PROPERTIES_PATCH:
	// RFC 6902 patch arrays, applied to the node's properties on success.
	PropertyPatch []byte
}

// changeRun is one locked change and its step tree, being moved.
type changeRun struct {
	s       *Store
	tx      *gorm.DB
	now     time.Time
	c       *Change
	steps   []*Step
	kids    map[string][]*Step // parent id ("" for the roots) -> children by position
	byID    map[string]*Step
	dirty   map[*Step]bool
	cDirty  bool
	changed bool   // anything written
	from    string // the change's status when it was locked
	// events are the move's, written with its rows by save.
	events []*model.Event
	// queued: steps were queued (the engine's workers look); stopped: a
	// step ended otherwise than in success (a running worker may have to
	// stop it: the engine nudges them).
	queued, stopped bool
}

// lockChange loads change id and its steps for update. The change row lock
// serialises every transition of one change across replicas; the step rows
// are locked too so a worker's concurrent claim (which skips locked rows)
// either lands before this reads them or waits for the next pass.
func (s *Store) lockChange(tx *gorm.DB, id string) (*changeRun, error) {
	id, ok := steward.ParseID(id)
	if !ok {
		return nil, steward.NotFound("change", id)
	}
	var c Change
	q := tx
	if s.postgres() {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := q.Where("id = ?", id).Take(&c).Error; err != nil {
		if model.ModelNotFound(model.TranslateError(err)) {
			return nil, steward.NotFound("change", id)
		}
		return nil, err
	}
	var steps []*Step
	q = tx
	if s.postgres() {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := q.Where("change_id = ?", id).Order("position, id").Find(&steps).Error; err != nil {
		return nil, err
	}
	r := &changeRun{s: s, tx: tx, now: s.Now(), c: &c, steps: steps, from: c.Status,
		kids: map[string][]*Step{}, byID: map[string]*Step{}, dirty: map[*Step]bool{}}
	for _, st := range steps {
		r.byID[st.ID] = st
		parent := ""
		if st.ParentID != nil {
			parent = *st.ParentID
		}
		r.kids[parent] = append(r.kids[parent], st)
	}
	return r, nil
}

// moveChange runs fn on the locked change and saves what it changed, in one
// transaction; the engine is woken when anything moved.
func (s *Store) moveChange(ctx context.Context, id string, fn func(r *changeRun) error) (*changeRun, error) {
	var out *changeRun
	err := s.Write(ctx, func(tx *gorm.DB) error {
		r, err := s.lockChange(tx, id)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
		out = r
		return r.save()
	})
	if err != nil {
		return nil, err
	}
	out.wake()
	if out.ended() {
		// Live log followers end their streams now rather than at their
		// next poll (on PostgreSQL, save sent the NOTIFY for other replicas).
		s.Logs.Publish(out.c.ID)
	}
	return out, nil
}

// wake tells the engine what a committed move needs, and no more: each
// wake-up costs its loops statements. Queued steps wake the workers; a
// change that ended (or stopped otherwise than by starting) lets others on
// its node start and its workflow run move, and a step that stopped other
// than in success may be running here: those wake the whole engine. A start
// or a success only reached or queued steps.
func (r *changeRun) wake() {
	if !r.changed {
		return
	}
	if r.queued {
		r.s.queued.Notify()
	}
	moved := r.c.Status != r.from && r.c.Status != StatusRunning && r.c.Status != StatusPending
	if moved || r.stopped {
		r.s.Wake()
	}
}

// changeEventSource and stepEventSource link events to what they are about.
func changeEventSource(c *Change) *model.EventSource {
	return &model.EventSource{Type: "change", ID: c.ID, Path: "/changes/" + c.ID, NodeID: c.NodeID}
}

func stepEventSource(st *Step, nodeID string) *model.EventSource {
	return &model.EventSource{Type: "step", ID: st.ID, Path: "/steps/" + st.ID, NodeID: nodeID}
}

func (r *changeRun) stepEvent(actor *model.Actor, st *Step, verb string, extra model.JSONMap) error {
	attrs := model.JSONMap{"change_id": st.ChangeID, "action": st.Action, "status": st.Status}
	if st.Name != nil {
		attrs["name"] = *st.Name
	}
	for k, v := range extra {
		attrs[k] = v
	}
	r.events = append(r.events, r.s.NewEvent(actor, "api:steps:"+verb, stepEventSource(st, r.c.NodeID), attrs))
	return nil
}

func (r *changeRun) changeEvent(actor *model.Actor, verb string, extra model.JSONMap) error {
	attrs := model.JSONMap{"action": r.c.Action, "node_id": r.c.NodeID, "status": r.c.Status}
	for k, v := range extra {
		attrs[k] = v
	}
	r.events = append(r.events, r.s.NewEvent(actor, "api:changes:"+verb, changeEventSource(r.c), attrs))
	return nil
}

// setStep changes a step's status, stamping start and finish times.
func (r *changeRun) setStep(st *Step, status string) {
	st.Status = status
	r.queued = r.queued || status == StatusQueued
	r.stopped = r.stopped || (Terminal(status) && status != StatusSuccess)
	switch {
	case status == StatusQueued:
		st.QueuedAt = &r.now
	case status == StatusRunning || status == StatusWaiting:
		if st.StartedAt == nil {
			st.StartedAt = &r.now
		}
	case Terminal(status):
		st.FinishedAt = &r.now
		// A cancelled step's worker keeps its lease until its process has
		// ended and its last lines are stored (FinishStep releases it): a
		// live log stream ends only then.
		if status != StatusCancelled {
			st.LeaseOwner, st.LeaseExpiresAt = nil, nil
		}
	}
	r.dirty[st] = true
}

// notStarted reports whether a step has not been reached yet.
func notStarted(st *Step) bool {
	return st.Status == StatusInitializing || st.Status == StatusPending
}

// inChildPhase reports whether a running step is running its children: a
// group always, a run step once its own script has finished (its lease is
// released then).
func inChildPhase(st *Step) bool {
	return st.Status == StatusRunning && (st.Kind == StepGroup || (st.Kind == StepRun && st.LeaseOwner == nil))
}

// activate reaches a step: run steps join the queue, wait steps wait,
// groups start (their children are driven by the caller).
func (r *changeRun) activate(st *Step) error {
	switch st.Kind {
	case StepRun:
		if st.Run == nil || *st.Run == "" {
			// Nothing to execute: straight to its children.
			r.setStep(st, StatusRunning)
			return r.stepEvent(model.SystemActor, st, "start", nil)
		}
		r.setStep(st, StatusQueued)
		return nil
	case StepWait:
		r.setStep(st, StatusWaiting)
		return r.stepEvent(model.SystemActor, st, "start", nil)
	default:
		r.setStep(st, StatusRunning)
		return r.stepEvent(model.SystemActor, st, "start", nil)
	}
}

// finish ends a step. A failed step's unreached descendants are aborted.
func (r *changeRun) finish(actor *model.Actor, st *Step, status, verb string, extra model.JSONMap) error {
	r.setStep(st, status)
	if err := r.stepEvent(actor, st, verb, extra); err != nil {
		return err
	}
	if status != StatusSuccess {
		for _, k := range r.kids[st.ID] {
			if err := r.abortTree(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// abortTree marks an unreached step and its descendants aborted.
func (r *changeRun) abortTree(st *Step) error {
	if notStarted(st) {
		r.setStep(st, StatusAborted)
		if err := r.stepEvent(model.SystemActor, st, "abort", nil); err != nil {
			return err
		}
	}
	for _, k := range r.kids[st.ID] {
		if err := r.abortTree(k); err != nil {
			return err
		}
	}
	return nil
}

// drive moves the children of parent ("" for the change's roots, which run
// in sequence) and returns their joint outcome: "" while some are unfinished,
// else StatusSuccess or StatusError.
func (r *changeRun) drive(parent, strategy string) (string, error) {
	kids := r.kids[parent]
	if strategy == Parallel {
		done, ok := true, true
		for _, k := range kids {
			if err := r.reach(k); err != nil {
				return "", err
			}
			done = done && Terminal(k.Status)
			ok = ok && k.Status == StatusSuccess
		}
		switch {
		case !done:
			return "", nil
		case ok:
			return StatusSuccess, nil
		}
		return StatusError, nil
	}
	for i, k := range kids {
		if err := r.reach(k); err != nil {
			return "", err
		}
		switch {
		case k.Status == StatusSuccess:
			continue
		case Terminal(k.Status):
			for _, rest := range kids[i+1:] {
				if err := r.abortTree(rest); err != nil {
					return "", err
				}
			}
			return StatusError, nil
		}
		return "", nil // k is queued, running or waiting
	}
	return StatusSuccess, nil
}

// reach activates a step if it was not started and, when it is running its
// children, drives them and finishes it once they are done.
func (r *changeRun) reach(st *Step) error {
	if notStarted(st) {
		if err := r.activate(st); err != nil {
			return err
		}
	}
	if !inChildPhase(st) {
		return nil
	}
	out, err := r.drive(st.ID, st.ChildExecutionStrategy)
	if err != nil || out == "" {
		return err
	}
	verb := "success"
	if out != StatusSuccess {
		verb = "error"
	}
	return r.finish(model.SystemActor, st, out, verb, nil)
}

// progress drives a running change's tree and ends the change when every
// root has finished: rejected when a step was rejected, error when any
// failed, success otherwise.
func (r *changeRun) progress() error {
	if r.c.Status != StatusRunning {
		return nil
	}
	out, err := r.drive("", Sequential)
	if err != nil || out == "" {
		return err
	}
	status := StatusSuccess
	if out != StatusSuccess {
		status = StatusError
		for _, st := range r.steps {
			if st.Status == StatusRejected {
				status = StatusRejected
			}
		}
	}
	return r.endChange(model.SystemActor, status, nil)
}

// endChange finishes the change; steps still unfinished (only possible when
// a change is cancelled or fails to start) are cancelled or aborted.
func (r *changeRun) endChange(actor *model.Actor, status string, extra model.JSONMap) error {
	for _, st := range r.steps {
		if Terminal(st.Status) {
			continue
		}
		if status == StatusCancelled {
			r.setStep(st, StatusCancelled)
			if err := r.stepEvent(actor, st, "cancel", nil); err != nil {
				return err
			}
		} else if err := r.abortTree(st); err != nil {
			return err
		}
	}
	r.c.Status, r.c.FinishedAt, r.cDirty = status, &r.now, true
	verb := map[string]string{StatusSuccess: "success", StatusCancelled: "cancel"}[status]
	if verb == "" {
		verb = "error" // error and rejected
	}
	return r.changeEvent(actor, verb, extra)
}

// AdvanceChange moves a change as far as it can go: an initializing or
// pending change starts when the allow_parallel settings of its node let it
// (else it waits pending, in creation order), then its steps are reached.
// Calling it again changes nothing.
func (s *Store) AdvanceChange(ctx context.Context, changeID string) error {
	var c Change
	if err := s.Read(ctx, func(db *gorm.DB) error { return db.Where("id = ?", changeID).Take(&c).Error }); err != nil {
		if model.ModelNotFound(err) {
			return steward.NotFound("change", changeID)
		}
		return err
	}
	switch {
	case Terminal(c.Status):
		return nil
	case c.Status == StatusRunning:
		_, err := s.moveChange(ctx, changeID, func(r *changeRun) error { return r.progress() })
		return err
	}
	return s.startChange(ctx, &c)
}
