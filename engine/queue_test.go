package engine_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/internal/testutil/enginetest"
	"github.com/stewardhq/steward/model"
)

const queueActions = `
  held:
    steps:
      - wait: { name: Hold }
      - record
  record:
    run: echo $STEWARD_CHANGE_ID >> %s/order
`

// TestQueueing checks per-node queues: with allow_parallel.changes false
// one change runs at a time on the node and the others start in creation
// order; by default (runs_of_same_change false) only changes of the same
// action queue. Waiting changes are pending and say what they wait for.
func TestQueueing(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, actions(fmt.Sprintf(queueActions, dir)), enginetest.Unisolated)

	t.Run("one change at a time", func(t *testing.T) {
		serial, other := f.node("serial"), f.node("other")
		f.settings(serial, model.JSONMap{"allow_parallel": map[string]any{"changes": false}})
		c1 := f.run(serial, "held", nil, nil)
		w1 := testutil.WaitStep(t, f.store, c1.ID, isWait, run.StatusWaiting)
		c2, c3 := f.run(serial, "record", nil, nil), f.run(serial, "held", nil, nil)
		c4 := f.run(other, "record", nil, nil) // another node is not blocked
		f.wait(c4, run.StatusSuccess)
		testutil.WaitChange(t, f.store, c2.ID, run.StatusPending)
		testutil.WaitChange(t, f.store, c3.ID, run.StatusPending)
		f.expectQueue(c2, run.QueueInfo{ParallelChangesAllowed: false, BlockedByChangeInSameParent: true, BlockedByQueue: []string{c1.ID}})
		f.expectQueue(c3, run.QueueInfo{ParallelChangesAllowed: false, BlockedByChangeInSameParent: true, BlockedByQueue: []string{c1.ID, c2.ID}})
		f.cont(w1)
		f.wait(c1, run.StatusSuccess)
		f.wait(c2, run.StatusSuccess)
		w3 := testutil.WaitStep(t, f.store, c3.ID, isWait, run.StatusWaiting)
		f.expectQueue(c3, run.QueueInfo{ParallelChangesAllowed: false, BlockedByQueue: []string{}})
		f.cont(w3)
		f.wait(c3, run.StatusSuccess)
		f.expectOrder(dir, c4, c1, c2, c3)
	})

	t.Run("one run of an action at a time", func(t *testing.T) {
		env := f.node("default")
		c1 := f.run(env, "held", nil, nil)
		w1 := testutil.WaitStep(t, f.store, c1.ID, isWait, run.StatusWaiting)
		c2, c3 := f.run(env, "held", nil, nil), f.run(env, "held", nil, nil)
		other := f.run(env, "record", nil, nil) // another action runs beside it
		f.wait(other, run.StatusSuccess)
		testutil.WaitChange(t, f.store, c2.ID, run.StatusPending)
		f.expectQueue(c2, run.QueueInfo{ParallelChangesAllowed: true, BlockedByQueue: []string{c1.ID}})
		// A cancelled change leaves the queue without running.
		if _, err := f.store.CancelChange(f.ctx, f.admin, c2.ID); err != nil {
			t.Fatal(err)
		}
		f.cont(w1)
		f.wait(c1, run.StatusSuccess)
		w3 := testutil.WaitStep(t, f.store, c3.ID, isWait, run.StatusWaiting)
		f.cont(w3)
		f.wait(c3, run.StatusSuccess)
		if got := f.stepSummary(c2); got != "held:cancelled wait:cancelled record:cancelled" {
			t.Errorf("cancelled pending change's steps: %s", got)
		}
	})
}

func (f *fixture) settings(n *model.Node, data model.JSONMap) {
	f.t.Helper()
	if _, err := f.store.UpdatePropertySet(f.ctx, f.admin, model.KindSettings, n.SettingsID, model.PropertySetUpdate{Data: data}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) cont(st *run.Step) {
	f.t.Helper()
	if _, err := f.store.ActOnStep(f.ctx, f.admin, st.ID, run.VerbContinue, ""); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) expectQueue(c *run.Change, want run.QueueInfo) {
	f.t.Helper()
	var fresh run.Change
	if err := f.store.DB.Where("id = ?", c.ID).Take(&fresh).Error; err != nil {
		f.t.Fatal(err)
	}
	got, err := f.store.ChangeQueueInfo(f.ctx, &fresh)
	if err != nil {
		f.t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		f.t.Errorf("queue info of %s change %s = %+v, want %+v", fresh.Status, c.ID, got, want)
	}
}

// expectOrder checks the order the record steps of changes ran in.
func (f *fixture) expectOrder(dir string, changes ...*run.Change) {
	f.t.Helper()
	var want []string
	for _, c := range changes {
		want = append(want, c.ID)
	}
	got := strings.Fields(readFile(f.t, filepath.Join(dir, "order")))
	if strings.Join(got, " ") != strings.Join(want, " ") {
		f.t.Errorf("changes ran in order\n %v\nwant\n %v", got, want)
	}
}
