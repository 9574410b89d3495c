package testutil

import (
	"fmt"
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"
)

// Waiting on the engine (see package enginetest for a server running one):
// tests poll for a condition with a bound instead of sleeping.

// WaitTimeout bounds every WaitFor: generous, since a loaded 2-core machine
// runs many test processes at once.
const WaitTimeout = 30 * time.Second

// WaitFor polls cond until it holds, failing the test after WaitTimeout
// with what (and the last detail cond returned).
func WaitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	delay := 2 * time.Millisecond
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last: %s)", WaitTimeout, what, detail)
		}
		time.Sleep(delay)
		delay = min(delay*2, 50*time.Millisecond)
	}
}

// WaitChange waits until change id has one of statuses and returns it.
func WaitChange(t testing.TB, store *run.Store, id string, statuses ...string) *run.Change {
	t.Helper()
	var c run.Change
	WaitFor(t, fmt.Sprintf("change %s to be %v", id, statuses), func() (bool, string) {
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
	var found *run.Step
	WaitFor(t, fmt.Sprintf("a step of change %s to be %v", changeID, statuses), func() (bool, string) {
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
