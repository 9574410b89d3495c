package run_test

import (
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/model"
)

// notified reports whether ch holds a wake-up, and takes it.
func notified(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestMovesWakeOnlyWhatCanAct: starting a change queues its step, which
// wakes the workers (Queued) and not the advance loop (Work); a finish that
// ends the change wakes the advance loop (others on its node may start) and
// queues nothing. FinishChangeStep refuses a step of another change.
func TestMovesWakeOnlyWhatCanAct(t *testing.T) {
	m := newMachine(t)
	remote, rev := "origin", "main"
	c, err := m.store.CreateChange(m.ctx, model.SystemActor, m.project, run.ChangeInput{Action: "one", GitRemoteName: &remote, GitRev: &rev})
	if err != nil {
		t.Fatal(err)
	}
	work, stopWork := m.store.Work().Subscribe()
	defer stopWork()
	queued, stopQueued := m.store.Queued().Subscribe()
	defer stopQueued()

	if err := m.store.AdvanceChange(m.ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if !notified(queued) || notified(work) {
		t.Fatal("a start should wake the workers only")
	}
	st, claimed, err := m.store.ClaimQueuedStep(m.ctx, "w", time.Minute)
	if err != nil || st == nil || claimed.ID != c.ID {
		t.Fatalf("claim without a look first: %v, %v", st, err)
	}
	other := m.start(t, "one")
	_ = notified(queued)
	_ = notified(work)
	if err := m.store.FinishChangeStep(m.ctx, other.ID, st.ID, "w", run.StepResult{OK: true}); err == nil {
		t.Fatal("finishing a step under another change's id was accepted")
	}
	if err := m.store.FinishChangeStep(m.ctx, c.ID, st.ID, "w", run.StepResult{OK: true}); err != nil {
		t.Fatal(err)
	}
	if notified(queued) || !notified(work) {
		t.Fatal("a change that ended should wake the advance loop only")
	}
	if got := m.change(t, c.ID).Status; got != run.StatusSuccess {
		t.Fatalf("change %s, want success", got)
	}
}
