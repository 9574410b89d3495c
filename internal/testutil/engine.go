package testutil

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"
)

// Waiting on the engine (see package enginetest for a server running one):
// WaitChange and WaitStep re-read when the store's Moved signal says a run
// moved in this process, never on a timer. What only the operating system or
// another process can move (a process ending, a worker in a child process)
// is waited for with WaitFor or the Elsewhere waits, which poll: nothing in
// this process can announce it.

// WaitTimeout bounds every wait: generous, since a loaded 2-core machine
// runs many test processes at once.
const WaitTimeout = 30 * time.Second

// WaitFor polls cond until it holds, failing the test after WaitTimeout
// with what (and the last detail cond returned).
func WaitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	waitUntil(t, what, nil, cond)
}

// waitUntil checks cond whenever wake fires (or, with wake nil, polls with
// a growing pause) until it holds or WaitTimeout passes.
func waitUntil(t testing.TB, what string, wake <-chan struct{}, cond func() (bool, string)) {
	t.Helper()
	deadline := time.NewTimer(WaitTimeout)
	defer deadline.Stop()
	delay := 2 * time.Millisecond
	for {
		ok, detail := cond()
		if ok {
			return
		}
		var poll <-chan time.Time
		if wake == nil {
			poll = time.After(delay)
			delay = min(delay*2, 50*time.Millisecond)
		}
		select {
		case <-wake:
		case <-poll:
		case <-deadline.C:
			if ok, detail = cond(); ok {
				return
			}
			t.Fatalf("timed out after %s waiting for %s (last: %s)", WaitTimeout, what, detail)
		}
	}
}

// moved subscribes to the store's Moved signal for the rest of the test.
func moved(t testing.TB, store *run.Store) <-chan struct{} {
	wake, stop := store.Moved().Subscribe()
	t.Cleanup(stop)
	return wake
}

// WaitChange waits until change id has one of statuses and returns it.
func WaitChange(t testing.TB, store *run.Store, id string, statuses ...string) *run.Change {
	t.Helper()
	return waitChange(t, store, moved(t, store), id, statuses)
}

// WaitChangeElsewhere is WaitChange for a change another process moves.
func WaitChangeElsewhere(t testing.TB, store *run.Store, id string, statuses ...string) *run.Change {
	t.Helper()
	return waitChange(t, store, nil, id, statuses)
}

func waitChange(t testing.TB, store *run.Store, wake <-chan struct{}, id string, statuses []string) *run.Change {
	t.Helper()
	var c run.Change
	waitUntil(t, fmt.Sprintf("change %s to be %v", id, statuses), wake, func() (bool, string) {
		if err := store.DB.Where("id = ?", id).Take(&c).Error; err != nil {
			return false, err.Error()
		}
		for _, s := range statuses {
			if c.Status == s {
				return true, ""
			}
		}
		return false, c.Status
	})
	return &c
}

// WaitStep waits until the step of change id matching pick has one of
// statuses and returns it.
func WaitStep(t testing.TB, store *run.Store, changeID string, pick func(*run.Step) bool, statuses ...string) *run.Step {
	t.Helper()
	return waitStep(t, store, moved(t, store), changeID, pick, statuses)
}

// WaitStepElsewhere is WaitStep for a step another process moves.
func WaitStepElsewhere(t testing.TB, store *run.Store, changeID string, pick func(*run.Step) bool, statuses ...string) *run.Step {
	t.Helper()
	return waitStep(t, store, nil, changeID, pick, statuses)
}

func waitStep(t testing.TB, store *run.Store, wake <-chan struct{}, changeID string, pick func(*run.Step) bool, statuses []string) *run.Step {
	t.Helper()
	var found *run.Step
	waitUntil(t, fmt.Sprintf("a step of change %s to be %v", changeID, statuses), wake, func() (bool, string) {
		var steps []run.Step
		if err := store.DB.Where("change_id = ?", changeID).Order("position").Find(&steps).Error; err != nil {
			return false, err.Error()
		}
		seen := ""
		for i := range steps {
			if !pick(&steps[i]) {
				continue
			}
			seen += steps[i].Action + ":" + steps[i].Status + " "
			for _, s := range statuses {
				if steps[i].Status == s {
					found = &steps[i]
					return true, ""
				}
			}
		}
		return false, seen
	})
	return found
}

// WaitWorkflowRun waits until run id has one of statuses and returns it.
func WaitWorkflowRun(t testing.TB, store *run.Store, id string, statuses ...string) *run.WorkflowRun {
	t.Helper()
	return waitWorkflowRun(t, store, moved(t, store), id, statuses)
}

// WaitWorkflowRunElsewhere is WaitWorkflowRun for a run other processes move.
func WaitWorkflowRunElsewhere(t testing.TB, store *run.Store, id string, statuses ...string) *run.WorkflowRun {
	t.Helper()
	return waitWorkflowRun(t, store, nil, id, statuses)
}

func waitWorkflowRun(t testing.TB, store *run.Store, wake <-chan struct{}, id string, statuses []string) *run.WorkflowRun {
	t.Helper()
	var r run.WorkflowRun
	waitUntil(t, fmt.Sprintf("workflow run %s to be %v", id, statuses), wake, func() (bool, string) {
		if err := store.DB.Where("id = ?", id).Take(&r).Error; err != nil {
			return false, err.Error()
		}
		return slices.Contains(statuses, r.Status), r.Status
	})
	return &r
}

// WaitWorkflowStep waits until the step of run id named name has one of
// statuses and returns it.
func WaitWorkflowStep(t testing.TB, store *run.Store, runID, name string, statuses ...string) *run.WorkflowRunStep {
	t.Helper()
	return waitWorkflowStep(t, store, moved(t, store), runID, name, statuses)
}

// WaitWorkflowStepElsewhere is WaitWorkflowStep for a step other processes move.
func WaitWorkflowStepElsewhere(t testing.TB, store *run.Store, runID, name string, statuses ...string) *run.WorkflowRunStep {
	t.Helper()
	return waitWorkflowStep(t, store, nil, runID, name, statuses)
}

func waitWorkflowStep(t testing.TB, store *run.Store, wake <-chan struct{}, runID, name string, statuses []string) *run.WorkflowRunStep {
	t.Helper()
	var st run.WorkflowRunStep
	waitUntil(t, fmt.Sprintf("step %q of workflow run %s to be %v", name, runID, statuses), wake, func() (bool, string) {
		if err := store.DB.Where("run_id = ? AND name = ?", runID, name).Take(&st).Error; err != nil {
			return false, err.Error()
		}
		return slices.Contains(statuses, st.Status), st.Status
	})
	return &st
}
