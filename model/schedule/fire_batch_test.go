package schedule_test

import (
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/model/schedule"
)

// A fire time whose firing row exists already (another evaluation made it)
// makes nothing, and only it: the other activities due at the same instant,
// written with it, fire, and its own activity moves on to its next fire
// time instead of trying the handled one again at every tick.
func TestHandledFireTimeLosesAlone(t *testing.T) {
	t.Parallel()
	f := schedSetup(t)
	acts := []*schedule.Activity{f.create(t, f.input("*/1 * * * *")), f.create(t, f.input("*/1 * * * *")), f.create(t, f.input("*/1 * * * *"))}
	handled := acts[1]
	if err := f.store.DB.Create(&schedule.Firing{ActivityID: handled.ID, FireAt: minute(1, 0), Outcome: schedule.OutcomeFired,
		CreatedAt: minute(1, 0)}).Error; err != nil {
		t.Fatal(err)
	}
	if res := f.runAt(t, minute(1, time.Second)); res.Fired != 2 || res.Skipped+res.Missed != 0 || res.Activities != 3 {
		t.Fatalf("evaluation with one fire time handled elsewhere: %+v", res)
	}
	var changes []run.Change
	if err := f.store.DB.Find(&changes).Error; err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 {
		t.Fatalf("%d changes", len(changes))
	}
	for _, a := range acts {
		got := f.get(t, a.ID)
		if !got.NextRunAt.Equal(minute(2, 0)) {
			t.Fatalf("activity %s next %v", a.ID, got.NextRunAt)
		}
		if (got.LastRunID == nil) != (a.ID == handled.ID) {
			t.Fatalf("activity %s (handled %v) last run %v", a.ID, a.ID == handled.ID, got.LastRunID)
		}
	}
	var firings []schedule.Firing
	if err := f.store.DB.Where("activity_id = ?", handled.ID).Find(&firings).Error; err != nil {
		t.Fatal(err)
	}
	if len(firings) != 1 || firings[0].RunID != nil {
		t.Fatalf("the handled fire time's row was rewritten: %+v", firings)
	}
	if n := f.count(t, "events WHERE type = 'api:changes:create'"); n != 2 {
		t.Fatalf("%d change events", n)
	}
	if n := f.count(t, "events WHERE type LIKE 'warning:scheduled_activity:%'"); n != 0 {
		t.Fatalf("%d warning events for a fire time handled elsewhere", n)
	}
}

// Activities due at one instant are decided together, each by its own
// previous run: the one whose run is still active is skipped (with its
// event), the one whose run ended fires.
func TestOverlapDecidedPerActivity(t *testing.T) {
	t.Parallel()
	f := schedSetup(t)
	busy, done := f.create(t, f.input("*/1 * * * *")), f.create(t, f.input("*/1 * * * *"))
	if res := f.runAt(t, minute(1, time.Second)); res.Fired != 2 {
		t.Fatalf("first firings: %+v", res)
	}
	if err := f.store.DB.Model(&run.Change{}).Where("id = ?", *f.get(t, done.ID).LastRunID).Update("status", run.StatusSuccess).Error; err != nil {
		t.Fatal(err)
	}
	if res := f.runAt(t, minute(2, time.Second)); res.Fired != 1 || res.Skipped != 1 {
		t.Fatalf("second firings: %+v", res)
	}
	var skipped []schedule.Firing
	if err := f.store.DB.Where("outcome = ?", schedule.OutcomeSkipped).Find(&skipped).Error; err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || skipped[0].ActivityID != busy.ID || !skipped[0].FireAt.Equal(minute(2, 0)) {
		t.Fatalf("skipped firings: %+v", skipped)
	}
	if n := f.count(t, "events WHERE type = '"+schedule.EventSkipped+"' AND source_id = '"+busy.ID+"'"); n != 1 {
		t.Fatalf("%d skipped events for the busy activity", n)
	}
	if n := f.count(t, "changes"); n != 3 {
		t.Fatalf("%d changes", n)
	}
	if got := f.get(t, done.ID); !got.LastFiredAt.Equal(minute(2, 0)) {
		t.Fatalf("last fired %v", got.LastFiredAt)
	}
	if got := f.get(t, busy.ID); !got.LastFiredAt.Equal(minute(1, 0)) {
		t.Fatalf("skipped activity's last firing moved: %v", got.LastFiredAt)
	}
}
