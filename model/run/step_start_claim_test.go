package run_test

import (
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/model"
)

// TestStartWaitingClaims: the advance loop lists a new change (and no
// workflow run); starting it with a claim leaves its step running, leased to
// the claimer, with its start event, and wakes no worker; a second start
// changes nothing. A parallel change claims one step and queues the rest,
// which wakes the workers, and ClaimNext says whether more are queued.
func TestStartWaitingClaims(t *testing.T) {
	m := newMachine(t)
	remote, rev := "origin", "main"
	c, err := m.store.CreateChange(m.ctx, model.SystemActor, m.project, run.ChangeInput{Action: "one", GitRemoteName: &remote, GitRev: &rev})
	if err != nil {
		t.Fatal(err)
	}
	changes, runs, err := m.store.AdvanceWork(m.ctx, 10)
	if err != nil || len(changes) != 1 || changes[0].ID != c.ID || changes[0].Status != run.StatusInitializing ||
		changes[0].Templated || len(runs) != 0 {
		t.Fatalf("AdvanceWork: %+v %v %v", changes, runs, err)
	}
	queued, stopQueued := m.store.Queued().Subscribe()
	defer stopQueued()
	st, got, err := m.store.StartWaiting(m.ctx, changes[0], &run.Claim{Owner: "w", Lease: time.Minute})
	if err != nil || st == nil || got.ID != c.ID || got.Status != run.StatusRunning {
		t.Fatalf("StartWaiting: %+v %+v %v", st, got, err)
	}
	if notified(queued) {
		t.Fatal("a start that claimed its only step woke the workers")
	}
	var stored run.Step
	if err := m.store.DB.Where("id = ?", st.ID).Take(&stored).Error; err != nil {
		t.Fatal(err)
	}
	if stored.Status != run.StatusRunning || stored.LeaseOwner == nil || *stored.LeaseOwner != "w" ||
		stored.LeaseExpiresAt == nil || stored.StartedAt == nil || stored.QueuedAt == nil {
		t.Fatalf("claimed step stored as %+v", stored)
	}
	var n int64
	m.store.DB.Model(&model.Event{}).Where("type = ? AND source_id = ?", "api:steps:start", st.ID).Count(&n)
	if n != 1 {
		t.Fatalf("%d step start events, want 1", n)
	}
	if again, _, err := m.store.StartWaiting(m.ctx, changes[0], &run.Claim{Owner: "x", Lease: time.Minute}); err != nil || again != nil {
		t.Fatalf("second start claimed %+v (%v)", again, err)
	}
	if err := m.store.FinishChangeStep(m.ctx, c.ID, st.ID, "w", run.StepResult{OK: true}); err != nil {
		t.Fatal(err)
	}
	if s := m.change(t, c.ID).Status; s != run.StatusSuccess {
		t.Fatalf("change %s, want success", s)
	}

	fan, err := m.store.CreateChange(m.ctx, model.SystemActor, m.project, run.ChangeInput{Action: "fan", GitRemoteName: &remote, GitRev: &rev})
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := m.store.StartWaiting(m.ctx, run.WaitingChange{ID: fan.ID, Status: run.StatusInitializing}, &run.Claim{Owner: "w", Lease: time.Minute})
	if err != nil || first == nil {
		t.Fatalf("parallel start: %+v %v", first, err)
	}
	if !notified(queued) {
		t.Fatal("a start that left steps queued did not wake the workers")
	}
	for i := 0; i < 5; i++ {
		st, _, more, err := m.store.ClaimNext(m.ctx, "w", time.Minute)
		if err != nil || st == nil || st.ID == first.ID {
			t.Fatalf("claim %d: %+v %v", i, st, err)
		}
		if more != (i < 4) {
			t.Fatalf("claim %d said more=%v", i, more)
		}
	}
	if st, _, more, err := m.store.ClaimNext(m.ctx, "w", time.Minute); err != nil || st != nil || more {
		t.Fatalf("claim of an empty queue: %+v %v %v", st, more, err)
	}
}

// TestConcurrentStartsOnOneNode: starts of changes on one node, all at once
// (on PostgreSQL each on its own connection, serialised by the node's start
// lock taken with its lineage), start exactly one; the others wait pending.
func TestConcurrentStartsOnOneNode(t *testing.T) {
	m := newMachine(t)
	remote, rev := "origin", "main"
	var ids []string
	for i := 0; i < 6; i++ {
		c, err := m.store.CreateChange(m.ctx, model.SystemActor, m.project, run.ChangeInput{Action: "one", GitRemoteName: &remote, GitRev: &rev})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	errs := make(chan error, len(ids))
	for _, id := range ids {
		go func() {
			_, _, err := m.store.StartWaiting(m.ctx, run.WaitingChange{ID: id, Status: run.StatusInitializing}, nil)
			errs <- err
		}()
	}
	for range ids {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	count := map[string]int{}
	for _, id := range ids {
		count[m.change(t, id).Status]++
	}
	if count[run.StatusRunning] != 1 || count[run.StatusPending] != len(ids)-1 {
		t.Fatalf("statuses %v, want one running and the rest pending", count)
	}
	if s := m.change(t, ids[0]).Status; s != run.StatusRunning {
		t.Fatalf("the oldest change is %s, want running", s)
	}
}
