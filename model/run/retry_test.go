package run_test

import (
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model/run"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
)

// chgFinish sets a change's status and its steps' (by name) as if it had
// run: retry rules depend only on these outcomes.
func (f *chgFixture) finish(t *testing.T, c *run.Change, status string, steps map[string]string) {
	t.Helper()
	now := f.store.Now()
	if err := f.store.DB.Model(&run.Change{}).Where("id = ?", c.ID).
		Updates(map[string]any{"status": status, "started_at": now, "finished_at": now}).Error; err != nil {
		t.Fatal(err)
	}
	for name, st := range steps {
		q := f.store.DB.Model(&run.Step{}).Where("change_id = ? AND name = ?", c.ID, name).
			Updates(map[string]any{"status": st, "started_at": now, "finished_at": now})
		if q.Error != nil || q.RowsAffected != 1 {
			t.Fatalf("set step %s: %v (%d rows)", name, q.Error, q.RowsAffected)
		}
	}
}

func TestRetryKeepsSucceededAndSkipsFlaggedSteps(t *testing.T) {
	f := chgSetup(t)
	in := f.input("deploy")
	in.Metadata = model.JSONMap{"ticket": "OPS-2"}
	in.PropertyOverrides = model.JSONMap{"colour": "blue"}
	orig := f.create(t, f.env, in)
	f.finish(t, orig, run.StatusError, map[string]string{
		"deploy": run.StatusError, "build": run.StatusSuccess, "Approval": run.StatusSuccess,
		"Smoke check": run.StatusError, "release": run.StatusAborted,
	})
	// The approval was given by someone; the retry keeps it.
	approved := run.JSONActors{{Username: "bob", Message: "ok", CreatedAt: "2025-01-01T00:00:00.000000Z"}}
	if err := f.store.DB.Model(&run.Step{}).Where("change_id = ? AND name = ?", orig.ID, "Approval").
		Update("approved_by", approved).Error; err != nil {
		t.Fatal(err)
	}
	old := f.steps(t, orig)
	smoke := old[3]
	if _, err := f.store.SetSkipOnRetry(f.ctx, chgActor, smoke.ID, true); err != nil {
		t.Fatal(err)
	}

	c, err := f.store.RetryChange(f.ctx, chgActor, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != run.StatusInitializing || c.OriginalChangeID == nil || *c.OriginalChangeID != orig.ID ||
		*c.CommitSHA != *orig.CommitSHA || c.GitRev != "main" || c.Action != "deploy" || c.NodeID != f.env.ID ||
		c.Metadata["original_change_id"] != orig.ID || c.Metadata["ticket"] != "OPS-2" || c.PropertyOverrides["colour"] != "blue" {
		t.Fatalf("retry = %+v", c)
	}
	steps := f.steps(t, c)
	want := map[string]string{"deploy": run.StatusInitializing, "build": run.StatusSuccess,
		"Approval": run.StatusSuccess, "Smoke check": run.StatusSuccess, "release": run.StatusInitializing}
	if len(steps) != len(old) {
		t.Fatalf("%d steps, want %d", len(steps), len(old))
	}
	for i, st := range steps {
		if st.Status != want[*st.Name] || st.Position != old[i].Position || *st.Name != *old[i].Name || st.Kind != old[i].Kind {
			t.Fatalf("step %d %s: %s, want %s", i, *st.Name, st.Status, want[*st.Name])
		}
		if (st.ParentID == nil) != (old[i].ParentID == nil) || (st.ParentID != nil && *st.ParentID != steps[0].ID) {
			t.Fatalf("step %s has parent %v", *st.Name, st.ParentID)
		}
		if st.SkipOnRetry {
			t.Fatalf("step %s keeps skip_on_retry", *st.Name)
		}
	}
	if !steps[1].FinishedAt.Equal(*old[1].FinishedAt) || len(steps[2].ApprovedBy) != 1 || steps[2].ApprovedBy[0].Username != "bob" {
		t.Fatalf("kept steps lost their outcome: %+v %+v", steps[1], steps[2])
	}
	var lines []run.LogLine
	if err := f.store.DB.Where("change_id = ?", c.ID).Find(&lines).Error; err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].StepID != steps[3].ID {
		t.Fatalf("log lines of the retry = %+v, want one on the skipped step", lines)
	}
	if n := testutil.Count(t, f.store.DB, "events WHERE type = 'api:changes:retry'"); n != 1 {
		t.Fatalf("%d retry events", n)
	}
	if n := testutil.Count(t, f.store.DB, "events WHERE type = 'api:steps:update'"); n != 1 {
		t.Fatalf("%d step update events", n)
	}
}

func TestRetrySkipsTheSubtreeOfAFlaggedStep(t *testing.T) {
	f := chgSetup(t)
	orig := f.create(t, f.env, f.input("nested"))
	f.finish(t, orig, run.StatusCancelled, map[string]string{"nested": run.StatusCancelled, "checks": run.StatusCancelled,
		"build": run.StatusCancelled, "test": run.StatusCancelled})
	old := f.steps(t, orig)
	if _, err := f.store.SetSkipOnRetry(f.ctx, chgActor, old[1].ID, true); err != nil {
		t.Fatal(err)
	}
	c, err := f.store.RetryChange(f.ctx, chgActor, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, st := range f.steps(t, c) {
		got[*st.Name] = st.Status
	}
	want := map[string]string{"nested": run.StatusInitializing, "checks": run.StatusSuccess,
		"build": run.StatusSuccess, "test": run.StatusSuccess}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("steps after retry = %v, want %v", got, want)
		}
	}
}

func TestRetryRules(t *testing.T) {
	f := chgSetup(t)
	cases := []struct {
		status string
		ok     bool
	}{
		{run.StatusError, true}, {run.StatusCancelled, true}, {run.StatusRejected, true},
		{run.StatusRunning, false}, {run.StatusSuccess, false}, {run.StatusInitializing, false},
		{run.StatusPending, false}, {run.StatusWaiting, false},
	}
	for _, tc := range cases {
		t.Run(tc.status, func(t *testing.T) {
			c := f.create(t, f.env, f.input("build"))
			f.finish(t, c, tc.status, nil)
			retry, err := f.store.RetryChange(f.ctx, chgActor, c.ID)
			if tc.ok {
				if err != nil || retry.OriginalChangeID == nil {
					t.Fatalf("retry of %s change: %v", tc.status, err)
				}
				return
			}
			if e := steward.AsError(err); err == nil || e.Kind != steward.KindInvalid || e.Code != "not_retryable" {
				t.Fatalf("retry of %s change = %v, want 422 not_retryable", tc.status, err)
			}
		})
	}
	for _, id := range []string{model.NewID(), "not-a-uuid"} {
		if _, err := f.store.RetryChange(f.ctx, chgActor, id); steward.ErrorKind(err) != steward.KindNotFound {
			t.Fatalf("retry of %s = %v, want 404", id, err)
		}
		if _, err := f.store.SetSkipOnRetry(f.ctx, chgActor, id, true); steward.ErrorKind(err) != steward.KindNotFound {
			t.Fatalf("skip_on_retry of %s = %v, want 404", id, err)
		}
	}
	// An archived node takes no retries either.
	c := f.create(t, f.env, f.input("build"))
	f.finish(t, c, run.StatusError, nil)
	if _, err := f.store.ArchiveNode(f.ctx, model.SystemActor, f.env); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.RetryChange(f.ctx, chgActor, c.ID); steward.AsError(err).Code != "archived_node" {
		t.Fatalf("retry on an archived node = %v", err)
	}
}

// TestRetryNeverSkipsAnApproval: an approval cannot be flagged
// skip_on_retry, and flagging the step above it does not pass it either:
// the retry asks for the approval again.
func TestRetryNeverSkipsAnApproval(t *testing.T) {
	f := chgSetup(t)
	orig := f.create(t, f.env, f.input("deploy"))
	f.finish(t, orig, run.StatusRejected, map[string]string{
		"deploy": run.StatusRejected, "build": run.StatusSuccess, "Approval": run.StatusRejected,
		"Smoke check": run.StatusAborted, "release": run.StatusAborted,
	})
	old := f.steps(t, orig)
	var approval, root run.Step
	for _, st := range old {
		switch {
		case st.Name != nil && *st.Name == "Approval":
			approval = st
		case st.ParentID == nil:
			root = st
		}
	}
	if _, err := f.store.SetSkipOnRetry(f.ctx, chgActor, approval.ID, true); steward.AsError(err).Code != "approval_not_skippable" {
		t.Fatalf("flagging an approval = %v", err)
	}
	if _, err := f.store.SetSkipOnRetry(f.ctx, chgActor, root.ID, true); err != nil {
		t.Fatal(err)
	}
	c, err := f.store.RetryChange(f.ctx, chgActor, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range f.steps(t, c) {
		if st.Name != nil && *st.Name == "Approval" && st.Status == run.StatusSuccess {
			t.Fatalf("the retry passed the approval under a flagged parent: %+v", st)
		}
		if st.ParentID == nil && st.Status == run.StatusSuccess {
			t.Fatalf("the flagged root ended before the approval below it was asked: %+v", st)
		}
	}
}
