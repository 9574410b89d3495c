package engine

import (
	"context"
	"time"

	"github.com/stewardhq/steward/model/run"

	steward "github.com/stewardhq/steward"
)

// dispatchLoop claims queued steps while this process has free workers and
// runs each in its own goroutine. It sleeps until woken (a step was queued
// here, a worker came free while all were busy) or the tick (steps queued by
// another replica).
func (e *Engine) dispatchLoop(ctx context.Context) {
	t := time.NewTicker(e.Tick)
	defer t.Stop()
	slots := e.slots
	full := false   // the last pass stopped for want of a free worker
	queued := false // the pass was woken because a step was queued here
	for {
	claim:
		for ctx.Err() == nil {
			select {
			case slots <- struct{}{}:
			default:
				full = true
				break claim // all workers busy: a finishing one wakes us
			}
			// A cheap look first, unless a step is there (we were told, or
			// the last claim saw more).
			var err error
			if !queued {
				queued, err = e.Store.AnyQueued(ctx)
			}
			var st *run.Step
			var c *run.Change
			if queued && err == nil {
				st, c, queued, err = e.Store.ClaimNext(ctx, e.Owner, e.Lease)
			}
			if err != nil || st == nil {
				<-slots
				full = false
				if err != nil && ctx.Err() == nil {
					e.Log.Error("claiming a step failed", "err", err)
				}
				break
			}
			if st.QueuedAt != nil {
				e.Metrics.StepClaimed(e.Store.Now().Sub(*st.QueuedAt))
			} else {
				e.Metrics.StepClaimed(0)
			}
			e.launch(ctx, st, c)
			if !queued {
				break // the claim saw no other step queued
			}
		}
		queued = false
	wait:
		select {
		case <-ctx.Done():
			return
		case <-e.wakeDispatch:
			queued = true
		case <-e.slotFreed:
			if !full {
				goto wait // nothing was left waiting for a worker
			}
		case <-t.C:
		}
	}
}

// launch runs a claimed step in its own goroutine, which frees its worker
// slot (taken by the caller) when the step is done.
func (e *Engine) launch(ctx context.Context, st *run.Step, c *run.Change) {
	run := e.register(st, c)
	e.wg.Add(1)
	go func() {
		defer func() {
			e.unregister(st.ID)
			<-e.slots
			poke(e.slotFreed)
			e.wg.Done()
		}()
		e.runStep(ctx, st, c, run)
	}()
}

func (e *Engine) register(st *run.Step, c *run.Change) *runningStep {
	r := &runningStep{changeID: c.ID, nudge: make(chan struct{}, 1)}
	e.mu.Lock()
	e.running[st.ID] = r
	e.mu.Unlock()
	return r
}

func (e *Engine) unregister(stepID string) {
	e.mu.Lock()
	delete(e.running, stepID)
	e.mu.Unlock()
}

// runStep executes a claimed step and reports the outcome. The report is
// retried for a while (the database may blink); if it never lands, the
// lease lapses and the step is ended as lost.
func (e *Engine) runStep(ctx context.Context, st *run.Step, c *run.Change, run *runningStep) {
	log := e.Log.With("change", c.ID, "step", st.ID, "action", st.Action)
	started := e.Store.Now()
	lw := NewLogWriter(e.Store, c.ID, st.ID)
	res := e.execute(ctx, st, c, lw, run.nudge)
	if err := lw.Close(); err != nil {
		log.Error("storing the step's log failed", "err", err)
	}
	e.Metrics.LogLinesStored(lw.Stored())
	fctx := context.WithoutCancel(ctx)
	for attempt, delay := 0, 100*time.Millisecond; ; attempt, delay = attempt+1, delay*2 {
		err := e.Store.FinishChangeStep(fctx, c.ID, st.ID, e.Owner, res)
		switch {
		case err == nil:
			log.Debug("step finished", "ok", res.OK, "reason", res.Reason)
			status := "error"
			if res.OK {
				status = "success"
			}
			e.Metrics.StepFinished(status, e.Store.Now().Sub(started))
			return
		case steward.ErrorKind(err) == steward.KindConflict || steward.ErrorKind(err) == steward.KindNotFound:
			// Reaped after a lapsed lease (or deleted): its outcome is
			// already recorded.
			log.Warn("step result not recorded: the step is no longer ours", "err", err)
			return
		case attempt >= 6:
			log.Error("recording the step's result failed; its lease will lapse", "err", err)
			return
		}
		log.Warn("recording the step's result failed; retrying", "err", err)
		time.Sleep(delay)
	}
}
