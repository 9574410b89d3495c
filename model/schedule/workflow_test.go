package schedule_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testutil"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/model/schedule"
)

// A scheduled workflow pins the latest published version and each firing
// creates one workflow run, marked scheduled, with the firing row; the next
// firing is skipped while that run is still active.
func TestScheduledWorkflowFires(t *testing.T) {
	t.Parallel()
	f := schedSetup(t)
	draft := false
	if _, err := f.store.CreateWorkflow(f.ctx, model.SystemActor, f.proj, model.WorkflowInput{Code: "nightly", Name: str("Nightly"),
		Draft: &draft, Steps: json.RawMessage(`[{"type":"wait"}]`)}); err != nil {
		t.Fatal(err)
	}
	a, err := f.store.Create(f.ctx, &model.Actor{Username: "alice", Rules: testutil.Everywhere}, f.proj, schedule.Input{WorkflowCode: str("nightly"),
		CronSchedule: "*/1 * * * *", Repeat: true, Metadata: model.JSONMap{"why": "nightly"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Kind != schedule.KindWorkflow || a.WorkflowVersion == nil || *a.WorkflowVersion != 1 {
		t.Fatalf("workflow activity %+v", a)
	}
	if res := f.runAt(t, minute(1, time.Second)); res.Fired != 1 {
		t.Fatalf("first firing: %+v", res)
	}
	var runs []run.WorkflowRun
	if err := f.store.DB.Find(&runs).Error; err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || !runs[0].Scheduled || runs[0].CreatedBy != "alice" || runs[0].Metadata["why"] != "nightly" {
		t.Fatalf("workflow runs %+v", runs)
	}
	var fired schedule.Firing
	if err := f.store.DB.Where("outcome = ?", schedule.OutcomeFired).Take(&fired).Error; err != nil || fired.RunID == nil || *fired.RunID != runs[0].ID {
		t.Fatalf("firing %+v %v", fired, err)
	}
	// The run waits (its step is a wait): the next firing overlaps.
	if res := f.runAt(t, minute(2, time.Second)); res.Fired != 0 || res.Skipped != 1 {
		t.Fatalf("overlapping firing: %+v", res)
	}
}
