package engine_test

import (
	"testing"

	"github.com/stewardhq/steward/model/run"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

const approvalActions = `
  gate:
    steps:
      - wait: { name: Smoke check }
      - after
  approve-gate:
    steps:
      - wait: { name: Release approval, requires_approval_from: ops }
      - after
  after:
    run: echo after the gate
`

func isWait(st *run.Step) bool { return st.Kind == run.StepWait }

// TestWaitAndApprovals walks wait steps through continue, approve and
// reject, and the refusals: wrong verb, wrong group, self-approval, a step
// that is not waiting.
func TestWaitAndApprovals(t *testing.T) {
	f := newFixture(t, actions(approvalActions))
	alice, bob, carol := f.user("alice", "ops"), f.user("bob", "ops"), f.user("carol", "dev")

	t.Run("continue", func(t *testing.T) {
		c := f.run(nil, "gate", nil, nil)
		w := testutil.WaitStep(t, f.store, c.ID, isWait, run.StatusWaiting)
		expectKind(t, "approve a plain wait", f.act(bob, w, "approve"), steward.KindInvalid)
		st, err := f.store.ActOnStep(f.ctx, carol, w.ID, run.VerbContinue, "looks good")
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != run.StatusSuccess || len(st.ContinuedBy) != 1 || st.ContinuedBy[0].Username != "carol" || st.ContinuedBy[0].Message != "looks good" {
			t.Errorf("continued step = %s by %+v", st.Status, st.ContinuedBy)
		}
		f.wait(c, run.StatusSuccess)
		if got := f.stepSummary(c); got != "gate:success wait:success after:success" {
			t.Errorf("steps = %s", got)
		}
		expectKind(t, "continue a finished step", f.act(carol, w, "continue"), steward.KindInvalid)
		run := f.steps(c)[2]
		expectKind(t, "continue a run step", f.act(carol, &run, "continue"), steward.KindInvalid)
	})

	t.Run("approve", func(t *testing.T) {
		c := f.run(nil, "approve-gate", alice, nil)
		w := testutil.WaitStep(t, f.store, c.ID, isWait, run.StatusWaiting)
		expectKind(t, "continue an approval", f.act(bob, w, "continue"), steward.KindInvalid)
		expectKind(t, "self-approval", f.act(alice, w, "approve"), steward.KindForbidden)
		expectKind(t, "approval from another group", f.act(carol, w, "approve"), steward.KindForbidden)
		expectKind(t, "rejection from another group", f.act(carol, w, "reject"), steward.KindForbidden)
		if got := f.stepSummary(c); got != "approve-gate:running wait:waiting after:pending" {
			t.Fatalf("refusals moved the change: %s", got)
		}
		denied := 0
		for _, e := range f.events(c) {
			if e == "audit:steps:approve:denied" || e == "audit:steps:reject:denied" {
				denied++
			}
		}
		if denied != 3 {
			t.Errorf("%d denial events, want 3: %v", denied, f.events(c))
		}
		st, err := f.store.ActOnStep(f.ctx, bob, w.ID, run.VerbApprove, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(st.ApprovedBy) != 1 || st.ApprovedBy[0].Username != "bob" {
			t.Errorf("approved_by = %+v", st.ApprovedBy)
		}
		f.wait(c, run.StatusSuccess)
		if !contains(f.events(c), "api:steps:approve") {
			t.Errorf("no approve event: %v", f.events(c))
		}
	})

	t.Run("reject", func(t *testing.T) {
		c := f.run(nil, "approve-gate", alice, nil)
		w := testutil.WaitStep(t, f.store, c.ID, isWait, run.StatusWaiting)
		// The creator may reject their own change.
		st, err := f.store.ActOnStep(f.ctx, alice, w.ID, run.VerbReject, "not today")
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != run.StatusRejected || len(st.RejectedBy) != 1 || st.RejectedBy[0].Message != "not today" {
			t.Errorf("rejected step = %s by %+v", st.Status, st.RejectedBy)
		}
		f.wait(c, run.StatusRejected)
		if got := f.stepSummary(c); got != "approve-gate:error wait:rejected after:aborted" {
			t.Errorf("steps = %s", got)
		}
		expectKind(t, "approve a rejected step", f.act(bob, w, "approve"), steward.KindInvalid)
	})
}

func (f *fixture) act(actor *model.Actor, st *run.Step, verb string) error {
	_, err := f.store.ActOnStep(f.ctx, actor, st.ID, verb, "")
	return err
}

func expectKind(t *testing.T, what string, err error, kind steward.Kind) {
	t.Helper()
	if err == nil || steward.ErrorKind(err) != kind {
		t.Errorf("%s: error %v, want kind %s", what, err, kind)
	}
}
