package run

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
)

// A workflow run has no worker of its own: the engine advances it. Each
// advance locks the run, reads its steps with the statuses of the changes
// and child runs they follow, and moves the tree as far as it can go in one
// transaction. Creating a step's change (or child run) needs Git reads, so
// it happens after, one step at a time: the change and the step's link to
// it commit together, and only while the step has none (change_id is
// unique), so a step creates its change exactly once whatever the number
// of replicas advancing the run.

var activeWorkflowRunStatuses = []string{StatusPending, StatusQueued, StatusRunning}

// workflowRunsToAdvance is the query of the unfinished runs, oldest first, an
// advance could move now: runs not started yet; runs with a step whose
// change or child run has ended, or whose start_time has come; and runs with
// nothing in flight (a step they reached could not be started yet). A run
// whose steps all wait on changes still running is left alone: loading its
// tree on every wake-up would cost each step of a long run the whole tree.
func (s *Store) workflowRunsToAdvance(db *gorm.DB, limit int) *gorm.DB {
	ended := []string{StatusSuccess, StatusError, StatusCancelled, StatusAborted, StatusRejected}
	return db.Model(&WorkflowRun{}).Where("status IN ?", activeWorkflowRunStatuses).Where(
		db.Where("status IN ?", []string{StatusPending, StatusQueued}).
			Or("EXISTS (SELECT 1 FROM workflow_steps ws JOIN changes c ON c.id = ws.change_id"+
				" WHERE ws.run_id = workflow_runs.id AND ws.status = ? AND c.status IN ?)", StatusRunning, ended).
			Or("EXISTS (SELECT 1 FROM workflow_steps ws JOIN workflow_runs cr ON cr.id = ws.child_run_id"+
				" WHERE ws.run_id = workflow_runs.id AND ws.status = ? AND cr.status IN ?)", StatusRunning, ended).
			Or("EXISTS (SELECT 1 FROM workflow_steps ws WHERE ws.run_id = workflow_runs.id AND ws.status = ?"+
				" AND ws.start_time IS NOT NULL AND ws.start_time <= ?)", StatusPending, s.Now()).
			Or("NOT EXISTS (SELECT 1 FROM workflow_steps ws WHERE ws.run_id = workflow_runs.id"+
				" AND ws.status IN ? AND ws.kind <> ?)", []string{StatusRunning, StatusWaiting}, WorkflowKindNoop),
	).Order("created_at, id").Limit(limit)
}

// AdvanceWorkflowRun moves run id as far as it can go now.
func (s *Store) AdvanceWorkflowRun(ctx context.Context, id string) error {
	for {
		var starts []*WorkflowRunStep
		var run *WorkflowRun
		err := s.moveWorkflowRun(ctx, id, func(r *wfRun) error {
			run = r.run
			r.progress()
			starts = r.starts
			return nil
		})
		if err != nil || len(starts) == 0 {
			return err
		}
		for _, st := range starts {
			if err := s.startWorkflowStep(ctx, run, st); err != nil {
				return err
			}
		}
		// The steps just started may have moved their stages on.
	}
}

// wfRun is one run loaded for a transition.
type wfRun struct {
	s      *Store
	tx     *gorm.DB
	now    time.Time
	run    *WorkflowRun
	steps  []*WorkflowRunStep
	byID   map[string]*WorkflowRunStep
	kids   map[string][]*WorkflowRunStep
	dirty  map[*WorkflowRunStep]bool
	runSet bool
	// followed holds the status of the change or child run each running
	// change or workflow step follows.
	followed map[string]string
	starts   []*WorkflowRunStep // pending change/workflow steps reached, to start after commit
	events   []func() error
}

// moveWorkflowRun locks run id, applies fn and saves what it changed, in one
// transaction.
func (s *Store) moveWorkflowRun(ctx context.Context, id string, fn func(r *wfRun) error) error {
	id, ok := steward.ParseID(id)
	if !ok {
		return steward.NotFound("workflow_run", id)
	}
	return s.Write(ctx, func(tx *gorm.DB) error {
		r, err := s.loadWorkflowRun(tx, id)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
		return r.save()
	})
}

func (s *Store) loadWorkflowRun(tx *gorm.DB, id string) (*wfRun, error) {
	q := tx
	if s.postgres() {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var run WorkflowRun
	if err := q.Where("id = ?", id).Take(&run).Error; err != nil {
		if model.ModelNotFound(model.TranslateError(err)) {
			return nil, steward.NotFound("workflow_run", id)
		}
		return nil, err
	}
	var steps []*WorkflowRunStep
	if err := tx.Where("run_id = ?", id).Order("position, id").Find(&steps).Error; err != nil {
		return nil, err
	}
	r := &wfRun{s: s, tx: tx, now: s.Now(), run: &run, steps: steps, byID: map[string]*WorkflowRunStep{},
		kids: map[string][]*WorkflowRunStep{}, dirty: map[*WorkflowRunStep]bool{}, followed: map[string]string{}}
	var changeIDs, childIDs []string
	for _, st := range steps {
		r.byID[st.ID] = st
		if st.ParentID != nil {
			r.kids[*st.ParentID] = append(r.kids[*st.ParentID], st)
		}
		if st.Status == StatusRunning && st.ChangeID != nil {
			changeIDs = append(changeIDs, *st.ChangeID)
		}
		if st.Status == StatusRunning && st.ChildRunID != nil {
			childIDs = append(childIDs, *st.ChildRunID)
		}
	}
	status := map[string]string{}
	if len(changeIDs) > 0 {
		var rows []Change
		if err := tx.Select("id", "status").Where("id IN ?", changeIDs).Find(&rows).Error; err != nil {
			return nil, err
		}
		for _, c := range rows {
			status[c.ID] = c.Status
		}
	}
	if len(childIDs) > 0 {
		var rows []WorkflowRun
		if err := tx.Select("id", "status").Where("id IN ?", childIDs).Find(&rows).Error; err != nil {
			return nil, err
		}
		for _, c := range rows {
			status[c.ID] = c.Status
		}
	}
	for _, st := range steps {
		switch {
		case st.ChangeID != nil:
			r.followed[st.ID] = status[*st.ChangeID]
		case st.ChildRunID != nil:
			r.followed[st.ID] = status[*st.ChildRunID]
		}
	}
	return r, nil
}

// root is the run's first step: the stage every other step sits in.
func (r *wfRun) root() *WorkflowRunStep {
	for _, st := range r.steps {
		if st.ParentID == nil {
			return st
		}
	}
	return nil
}

// progress starts the run when its queue allows and moves its tree on.
func (r *wfRun) progress() {
	if Terminal(r.run.Status) {
		return
	}
	if r.run.Status == StatusPending || r.run.Status == StatusQueued {
		blockers, err := r.s.workflowRunBlockers(r.tx, r.run)
		if err != nil || len(blockers) > 0 {
			if r.run.Status != StatusQueued && err == nil {
				r.setRun(StatusQueued)
			}
			return
		}
		r.setRun(StatusRunning)
	}
	root := r.root()
	if root == nil {
		r.setRun(StatusSuccess)
		return
	}
	r.visit(root)
	if Terminal(root.Status) {
		r.setRun(root.Status)
	}
}

// visit moves st and what is below it as far as it can go now.
func (r *wfRun) visit(st *WorkflowRunStep) {
	if Terminal(st.Status) {
		return
	}
	switch st.Kind {
	case WorkflowKindNoop:
		r.start(st, StatusRunning)
		r.visitStage(st)
	case WorkflowKindWait:
		r.start(st, StatusWaiting)
	case WorkflowKindChange, WorkflowKindWorkflow:
		switch st.Status {
		case StatusPending:
			if st.StartTime == nil || !r.now.Before(*st.StartTime) {
				r.starts = append(r.starts, st)
			}
		case StatusRunning:
			if followed := r.followed[st.ID]; Terminal(followed) {
				r.finish(st, mirrored(followed))
			}
		}
	}
}

func (r *wfRun) visitStage(st *WorkflowRunStep) {
	kids := r.kids[st.ID]
	if st.ChildExecutionStrategy == Parallel {
		for _, k := range kids {
			r.visit(k)
		}
		worst := StatusSuccess
		for _, k := range kids {
			if !Terminal(k.Status) {
				return
			}
			if k.Status != StatusSuccess && worst == StatusSuccess {
				worst = k.Status
			}
		}
		r.finish(st, stageOutcome(worst))
		return
	}
	for i, k := range kids {
		r.visit(k)
		switch {
		case k.Status == StatusSuccess:
			continue
		case Terminal(k.Status):
			for _, rest := range kids[i+1:] {
				r.abort(rest)
			}
			r.finish(st, stageOutcome(k.Status))
		}
		return
	}
	r.finish(st, StatusSuccess)
}

// mirrored is a step's status for the final status of what it follows.
func mirrored(status string) string {
	if status == StatusAborted {
		return StatusError
	}
	return status
}

// stageOutcome is a stage's status for its first failed child's: a
// rejection or cancellation stays one, anything else is an error.
func stageOutcome(child string) string {
	switch child {
	case StatusSuccess, StatusRejected, StatusCancelled:
		return child
	}
	return StatusError
}

func (r *wfRun) start(st *WorkflowRunStep, status string) {
	if st.Status != StatusPending {
		return
	}
	st.Status, st.StartedAt = status, &r.now
	r.touch(st, "start")
}

func (r *wfRun) finish(st *WorkflowRunStep, status string) {
	st.Status = status
	if st.StartedAt == nil {
		st.StartedAt = &r.now
	}
	st.FinishedAt = &r.now
	verb := status
	if status == StatusSuccess {
		verb = "finish"
	}
	r.touch(st, verb)
}

// abort marks a step that will not run, and what is below it.
func (r *wfRun) abort(st *WorkflowRunStep) {
	if Terminal(st.Status) {
		return
	}
	st.Status, st.FinishedAt = StatusAborted, &r.now
	r.touch(st, "")
	for _, k := range r.kids[st.ID] {
		r.abort(k)
	}
}

// touch marks st to be saved and, for a verb, records its event.
func (r *wfRun) touch(st *WorkflowRunStep, verb string) {
	st.UpdatedAt = r.now
	st.LockVersion++
	r.dirty[st] = true
	if verb == "" {
		return
	}
	actor := model.SystemActor
	r.events = append(r.events, func() error {
		return r.s.Record(r.tx, actor, "api:workflow_steps:"+verb, workflowStepEventSource(st, r.run.ProjectID), model.JSONMap{
			"workflow_run_id": st.RunID, "name": st.Name, "status": st.Status})
	})
}

func (r *wfRun) setRun(status string) {
	if r.run.Status == status {
		return
	}
	r.run.Status, r.run.UpdatedAt = status, r.now
	verb := status
	switch {
	case status == StatusRunning:
		r.run.StartedAt, verb = &r.now, "start"
	case status == StatusSuccess:
		verb = "finish"
	}
	if Terminal(status) {
		r.run.FinishedAt = &r.now
		if r.run.StartedAt == nil {
			r.run.StartedAt = &r.now
		}
	}
	r.runSet = true
	r.events = append(r.events, func() error {
		return r.s.Record(r.tx, model.SystemActor, "api:workflow_runs:"+verb, workflowRunEventSource(r.run),
			model.JSONMap{"status": status})
	})
}

// save writes the run and the steps that changed, then their events.
func (r *wfRun) save() error {
	if r.runSet {
		if err := r.tx.Model(&WorkflowRun{}).Where("id = ?", r.run.ID).Updates(map[string]any{
			"status": r.run.Status, "started_at": r.run.StartedAt, "finished_at": r.run.FinishedAt,
			"updated_at": r.run.UpdatedAt}).Error; err != nil {
			return err
		}
	}
	for _, st := range r.steps {
		if !r.dirty[st] {
			continue
		}
		if err := r.tx.Model(&WorkflowRunStep{}).Where("id = ?", st.ID).Updates(map[string]any{
			"status": st.Status, "started_at": st.StartedAt, "finished_at": st.FinishedAt, "updated_at": st.UpdatedAt,
			"lock_version": st.LockVersion, "approved_by": st.ApprovedBy, "rejected_by": st.RejectedBy,
			"continued_by": st.ContinuedBy}).Error; err != nil {
			return err
		}
	}
	for _, ev := range r.events {
		if err := ev(); err != nil {
			return err
		}
	}
	return nil
}

// errStepTaken rolls back a start another advance made first.
var errStepTaken = errors.New("the step was started by another advance")
