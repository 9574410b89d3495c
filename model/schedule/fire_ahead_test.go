package schedule_test

import (
	"testing"
	"time"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/model/schedule"
)

// prepareAt moves the clock to at and prepares what is due within lead.
func (f *schedFixture) prepareAt(t *testing.T, ahead *schedule.Ahead, at time.Time, lead time.Duration) int {
	t.Helper()
	f.clock.Advance(at.Sub(f.clock.Now()))
	n, err := f.store.PrepareAhead(f.ctx, ahead, f.clock.Now(), lead, schedule.DueOptions{})
	if err != nil {
		t.Fatalf("PrepareAhead: %v", err)
	}
	return n
}

// fireAt moves the clock to at and runs what is due, prepared firings first.
func (f *schedFixture) fireAt(t *testing.T, ahead *schedule.Ahead, at time.Time) schedule.Result {
	t.Helper()
	f.clock.Advance(at.Sub(f.clock.Now()))
	res, err := f.store.RunDue(f.ctx, f.clock.Now(), schedule.DueOptions{Ahead: ahead})
	if err != nil {
		t.Fatalf("RunDue: %v", err)
	}
	return res
}

// preparedMinute is an activity firing every minute, its firing at minute
// 1 prepared 3 s ahead.
func preparedMinute(t *testing.T) (*schedFixture, *schedule.Activity, *schedule.Ahead) {
	t.Helper()
	f := schedSetup(t)
	a := f.create(t, f.input("*/1 * * * *"))
	ahead := schedule.NewAhead()
	if n := f.prepareAt(t, ahead, minute(0, 57*time.Second), 5*time.Second); n != 1 {
		t.Fatalf("prepared %d, want 1", n)
	}
	return f, a, ahead
}

// A firing prepared ahead is made at its fire time, once, created then
// (never at the time it was prepared), with the commit its rev had when it
// was prepared; the window already read is not read again.
func TestPreparedAheadFiresAtItsTime(t *testing.T) {
	t.Parallel()
	f := schedSetup(t)
	a := f.create(t, f.input("*/1 * * * *"))
	ahead := schedule.NewAhead()
	if n := f.prepareAt(t, ahead, minute(0, 57*time.Second), 5*time.Second); n != 1 || ahead.Len() != 1 {
		t.Fatalf("prepared %d (held %d), want 1", n, ahead.Len())
	}
	if n := f.prepareAt(t, ahead, minute(0, 58*time.Second), 5*time.Second); n != 0 {
		t.Fatalf("the same window prepared again: %d", n)
	}
	if n := f.count(t, "changes") + f.count(t, "scheduled_firings"); n != 0 {
		t.Fatalf("preparing wrote %d rows", n)
	}
	// A commit pushed after preparing is not the one the firing runs: its
	// rev was resolved a few seconds before the fire time.
	f.repo.Commit("later", map[string]string{"later.txt": "x"})
	fireTime := minute(1, 0)
	work, unsubscribe := f.store.Work().Subscribe()
	defer unsubscribe()
	res := f.fireAt(t, ahead, fireTime.Add(150*time.Millisecond))
	if res.Fired != 1 || ahead.Len() != 0 {
		t.Fatalf("at the fire time: %+v, %d still held", res, ahead.Len())
	}
	select {
	case <-work: // the engine is woken for the new change
	default:
		t.Fatal("the engine was not woken")
	}
	var changes []run.Change
	if err := f.store.DB.Find(&changes).Error; err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || !changes[0].CreatedAt.Equal(fireTime.Add(150*time.Millisecond)) || *changes[0].CommitSHA != f.sha {
		t.Fatalf("changes: %+v (want one created at %v with %s)", changes, fireTime.Add(150*time.Millisecond), f.sha)
	}
	if res := f.fireAt(t, ahead, fireTime.Add(time.Second)); res.Fired != 0 {
		t.Fatalf("fired again: %+v", res)
	}
	if got := f.get(t, a.ID); !got.NextRunAt.Equal(minute(2, 0)) || *got.LastRunID != changes[0].ID {
		t.Fatalf("after firing: next %v last %v", got.NextRunAt, got.LastRunID)
	}
}

// A PATCH between preparing and the fire time that keeps the fire time
// makes the prepared firing lose its claim: the activity is prepared again
// at the fire time and fires once, by its new definition (here the next
// fire time its new schedule gives).
func TestPatchAfterPreparingFiresTheNewDefinition(t *testing.T) {
	t.Parallel()
	f, a, ahead := preparedMinute(t)
	f.clock.Advance(time.Second)
	got, err := f.store.Modify(f.ctx, model.SystemActor, a.ID, schedule.Update{CronSchedule: str("1,5 * * * *")})
	if err != nil || !got.NextRunAt.Equal(minute(1, 0)) {
		t.Fatalf("PATCH: next %v, %v", got.NextRunAt, err)
	}
	if res := f.fireAt(t, ahead, minute(1, 100*time.Millisecond)); res.Fired != 1 {
		t.Fatalf("at the fire time: %+v", res)
	}
	if n := f.count(t, "changes"); n != 1 {
		t.Fatalf("%d changes, want 1", n)
	}
	// The old schedule would have fired next at minute 2.
	if got := f.get(t, a.ID); !got.NextRunAt.Equal(minute(5, 0)) {
		t.Fatalf("next_run_at %v, want %v (the PATCHed schedule)", got.NextRunAt, minute(5, 0))
	}
}

// Disabling between preparing and the fire time fires nothing.
func TestDisableAfterPreparingFiresNothing(t *testing.T) {
	t.Parallel()
	f, a, ahead := preparedMinute(t)
	off := false
	if _, err := f.store.Modify(f.ctx, model.SystemActor, a.ID, schedule.Update{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	if res := f.fireAt(t, ahead, minute(1, 100*time.Millisecond)); res.Fired+res.Skipped+res.Missed != 0 {
		t.Fatalf("disabled activity: %+v", res)
	}
	if n := f.count(t, "changes") + f.count(t, "scheduled_firings"); n != 0 {
		t.Fatalf("disabled activity wrote %d rows", n)
	}
}

// A firing prepared by an evaluation that another evaluation beat (a
// leader that lost its lease while the next one fired) makes nothing; one
// prepared too long ago to be on time is planned again by the misfire
// policy instead of being made late.
func TestStalePreparedFiringsMakeNothing(t *testing.T) {
	t.Parallel()
	f := schedSetup(t)
	f.create(t, f.input("*/1 * * * *"))
	ahead := schedule.NewAhead()
	if n := f.prepareAt(t, ahead, minute(0, 57*time.Second), 5*time.Second); n != 1 {
		t.Fatalf("prepared %d", n)
	}
	if res := f.runAt(t, minute(1, 100*time.Millisecond)); res.Fired != 1 {
		t.Fatalf("the other evaluation: %+v", res)
	}
	if res := f.fireAt(t, ahead, minute(1, 200*time.Millisecond)); res.Fired != 0 {
		t.Fatalf("the stale prepared firing: %+v", res)
	}
	if n := f.count(t, "changes"); n != 1 {
		t.Fatalf("%d changes, want 1", n)
	}

	// Prepared for minute 2, evaluated only at minute 4: misfire skip
	// misses minutes 2 and 3 (events) and fires minute 4 on time (runs may
	// overlap: minute 1's change has not run).
	f.setSettings(t, f.env, model.JSONMap{"allow_parallel": map[string]any{"runs_of_same_change": true}})
	if n := f.prepareAt(t, ahead, minute(1, 57*time.Second), 5*time.Second); n != 1 {
		t.Fatalf("prepared %d", n)
	}
	res := f.fireAt(t, ahead, minute(4, 100*time.Millisecond))
	if res.Fired != 1 || res.Missed != 2 {
		t.Fatalf("late prepared firing: %+v, want minute 4 fired and 2 missed", res)
	}
	if n := f.count(t, "scheduled_firings WHERE outcome = 'fired'"); n != 2 {
		t.Fatalf("%d fired firings, want 2", n)
	}
}

// new_commits_only decides at the fire time: it is never prepared ahead.
func TestNewCommitsOnlyIsNotPreparedAhead(t *testing.T) {
	t.Parallel()
	f := schedSetup(t)
	in := f.input("*/1 * * * *")
	in.NewCommitsOnly = true
	f.create(t, in)
	ahead := schedule.NewAhead()
	if n := f.prepareAt(t, ahead, minute(0, 57*time.Second), 5*time.Second); n != 0 {
		t.Fatalf("prepared %d new_commits_only activities", n)
	}
	if res := f.fireAt(t, ahead, minute(1, 100*time.Millisecond)); res.Fired != 1 {
		t.Fatalf("at the fire time: %+v", res)
	}
}
