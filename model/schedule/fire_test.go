package schedule_test

import (
	"testing"
	"time"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/model/schedule"
)

func TestCreateStoresEveryField(t *testing.T) {
	t.Parallel()
	f := schedSetup(t)
	in := f.input("15 3 * * *")
	in.Timezone, in.Misfire, in.NewCommitsOnly = str("Europe/London"), str("all"), true
	deadline := 600
	in.MisfireDeadlineSeconds = &deadline
	in.Metadata = model.JSONMap{"ticket": "OPS-1"}
	in.PropertyOverrides = model.JSONMap{"port": 8080.0}
	a := f.create(t, in)
	got := f.get(t, a.ID)
	// 03:15 BST on 3 June is 02:15 UTC.
	want := time.Date(2025, 6, 3, 2, 15, 0, 0, time.UTC)
	if got.Kind != schedule.KindChange || *got.Action != "hello" || *got.GitRemoteName != "origin" || *got.GitRev != "main" ||
		got.GitRemoteID == nil || got.Timezone != "Europe/London" || !got.Repeat || !got.Enabled || !got.NewCommitsOnly ||
		got.Misfire != "all" || got.MisfireDeadlineSeconds != 600 || got.Metadata["ticket"] != "OPS-1" ||
		got.PropertyOverrides["port"] != 8080.0 || got.CreatedBy != "alice" || got.NextRunAt == nil || !got.NextRunAt.Equal(want) {
		t.Fatalf("stored activity = %+v (next %v)", got, got.NextRunAt)
	}
	runs := schedule.NextRuns(got, 5)
	if len(runs) != 5 || !runs[0].Equal(want) || !runs[1].Equal(want.Add(24*time.Hour)) {
		t.Fatalf("next runs %v", runs)
	}
	if n := f.count(t, "events WHERE type = 'api:scheduled_activities:create'"); n != 1 {
		t.Fatalf("%d create events", n)
	}
}

func TestCreateRefusals(t *testing.T) {
	t.Parallel()
	f := schedSetup(t)
	asset, err := f.store.CreateNode(f.ctx, model.SystemActor, f.proj, model.KindAsset, model.NodeInput{Code: "soa", Name: "SOA"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		node  *model.Node
		edit  func(*schedule.Input)
		field string
		code  string
	}{
		{"invalid cron", f.env, func(in *schedule.Input) { in.CronSchedule = "61 * * * *" }, "cron_schedule", "invalid_cron_schedule"},
		{"six fields", f.env, func(in *schedule.Input) { in.CronSchedule = "0 0 * * * *" }, "cron_schedule", "invalid_cron_schedule"},
		{"never fires", f.env, func(in *schedule.Input) { in.CronSchedule = "0 0 30 2 *" }, "cron_schedule", "never_fires"},
		{"unknown timezone", f.env, func(in *schedule.Input) { in.Timezone = str("Europe/Atlantis") }, "timezone", "unknown_timezone"},
		{"unknown action", f.env, func(in *schedule.Input) { in.Action = str("nope") }, "action", "unknown_action"},
		{"no action", f.env, func(in *schedule.Input) { in.Action = nil }, "action", "required"},
		{"no remote", f.env, func(in *schedule.Input) { in.GitRemoteName = nil }, "git_remote_name", "required"},
		{"unknown rev", f.env, func(in *schedule.Input) { in.GitRev = str("no-such-branch") }, "git_rev", ""},
		{"bad misfire", f.env, func(in *schedule.Input) { in.Misfire = str("sometimes") }, "misfire", "invalid_misfire"},
		{"asset given a remote", asset, func(*schedule.Input) {}, "git_remote_name", "not_allowed"},
		{"unknown workflow", f.proj, func(in *schedule.Input) {
			in.Action, in.GitRemoteName, in.GitRev, in.WorkflowCode = nil, nil, nil, str("assets")
		}, "workflow_code", "unknown_workflow"},
		{"workflow below a project", f.env, func(in *schedule.Input) {
			in.Action, in.GitRemoteName, in.GitRev, in.WorkflowCode = nil, nil, nil, str("assets")
		}, "workflow_code", "not_allowed"},
		{"workflow with an action", f.proj, func(in *schedule.Input) { in.WorkflowCode = str("assets") }, "action", "not_allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := f.input("*/5 * * * *")
			c.edit(&in)
			_, err := f.store.Create(f.ctx, model.SystemActor, c.node, in)
			e := steward.AsError(err)
			if e == nil || e.Kind != steward.KindInvalid || e.Field != c.field || (c.code != "" && e.Code != c.code) {
				t.Fatalf("got %v (field %q), want %s at %s", err, fieldOf(e), c.code, c.field)
			}
		})
	}
	if n := f.count(t, "scheduled_activities"); n != 0 {
		t.Fatalf("%d activities stored by refused creates", n)
	}
	if _, err := f.store.ArchiveNode(f.ctx, model.SystemActor, f.env); err != nil {
		t.Fatal(err)
	}
	_, err = f.store.Create(f.ctx, model.SystemActor, f.env, f.input("*/5 * * * *"))
	if e := steward.AsError(err); e == nil || e.Code != "archived_node" {
		t.Fatalf("activity on an archived node: %v", err)
	}
}

func fieldOf(e *steward.Error) string {
	if e == nil {
		return ""
	}
	return e.Field
}

// A due firing makes exactly one change, marked scheduled, and evaluating
// the same moment again makes nothing more.
func TestFireOnTime(t *testing.T) {
	t.Parallel()
	f := schedSetup(t)
	a := f.create(t, f.input("*/1 * * * *"))
	if res := f.runAt(t, minute(0, 50*time.Second)); res.Fired != 0 {
		t.Fatalf("fired before its time: %+v", res)
	}
	if res := f.runAt(t, minute(1, 200*time.Millisecond)); res.Fired != 1 {
		t.Fatalf("due firing: %+v", res)
	}
	if res, err := f.store.RunDue(f.ctx, f.clock.Now(), schedule.DueOptions{}); err != nil || res.Fired != 0 {
		t.Fatalf("second evaluation of the same moment: %+v %v", res, err)
	}
	var changes []run.Change
	if err := f.store.DB.Find(&changes).Error; err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || !changes[0].Scheduled || changes[0].Action != "hello" || changes[0].CreatedBy != "alice" ||
		*changes[0].CommitSHA != f.sha || changes[0].NodeID != f.env.ID {
		t.Fatalf("changes: %+v", changes)
	}
	got := f.get(t, a.ID)
	if !got.NextRunAt.Equal(minute(2, 0)) || *got.LastRunID != changes[0].ID {
		t.Fatalf("after firing: next %v last %v", got.NextRunAt, got.LastRunID)
	}
	if n := f.count(t, "scheduled_firings WHERE outcome = 'fired'"); n != 1 {
		t.Fatalf("%d firing rows", n)
	}
}

func TestOneShotFiresOnceThenDisables(t *testing.T) {
	t.Parallel()
	f := schedSetup(t)
	in := f.input("*/1 * * * *")
	in.Repeat = false
	a := f.create(t, in)
	f.runAt(t, minute(1, time.Second))
	f.runAt(t, minute(2, time.Second))
	f.runAt(t, minute(3, time.Second))
	if n := f.count(t, "changes"); n != 1 {
		t.Fatalf("one-shot made %d changes", n)
	}
	got := f.get(t, a.ID) // still readable
	if got.Enabled || got.NextRunAt != nil || got.LastRunID == nil {
		t.Fatalf("one-shot after firing: %+v", got)
	}
}

func TestDisabledNeverFiresAndReenablesFromNow(t *testing.T) {
	t.Parallel()
	f := schedSetup(t)
	in := f.input("*/1 * * * *")
	off := false
	in.Enabled = &off
	a := f.create(t, in)
	if a.NextRunAt != nil {
		t.Fatalf("disabled activity has next_run_at %v", a.NextRunAt)
	}
	f.runAt(t, minute(5, time.Second))
	if n := f.count(t, "changes"); n != 0 {
		t.Fatalf("disabled activity made %d changes", n)
	}
	on := true
	got, err := f.store.Modify(f.ctx, model.SystemActor, a.ID, schedule.Update{Enabled: &on})
	if err != nil {
		t.Fatal(err)
	}
	// Re-enabled: the next fire time counts from now, nothing is caught up.
	if !got.NextRunAt.Equal(minute(6, 0)) {
		t.Fatalf("re-enabled next_run_at %v", got.NextRunAt)
	}
	if res := f.runAt(t, minute(6, time.Second)); res.Fired != 1 || res.Missed != 0 {
		t.Fatalf("after re-enabling: %+v", res)
	}
	// A schedule change recomputes next_run_at in the new zone.
	got, err = f.store.Modify(f.ctx, model.SystemActor, a.ID, schedule.Update{CronSchedule: str("0 12 * * *"), Timezone: str("America/New_York")})
	if err != nil {
		t.Fatal(err)
	}
	if !got.NextRunAt.Equal(time.Date(2025, 6, 2, 16, 0, 0, 0, time.UTC)) {
		t.Fatalf("rescheduled next_run_at %v", got.NextRunAt)
	}
	if _, err := f.store.Modify(f.ctx, model.SystemActor, a.ID, schedule.Update{CronSchedule: str("0 0 0 * * *")}); steward.AsError(err).Field != "cron_schedule" {
		t.Fatalf("bad PATCH: %v", err)
	}
}

// Archiving a project disables the activities of its environments too,
// whether it is archived by DELETE or by PATCH with archived: true.
func TestArchivedParentDisablesActivities(t *testing.T) {
	t.Parallel()
	archive := map[string]func(f *schedFixture) error{
		"delete": func(f *schedFixture) error {
			_, err := f.store.ArchiveNode(f.ctx, model.SystemActor, f.proj)
			return err
		},
		"patch": func(f *schedFixture) error {
			_, err := f.store.UpdateNode(f.ctx, model.SystemActor, f.proj, model.NodeInput{Archived: true}, map[string]bool{"archived": true})
			return err
		},
	}
	for name, archive := range archive {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := schedSetup(t)
			a := f.create(t, f.input("*/1 * * * *"))
			if err := archive(f); err != nil {
				t.Fatal(err)
			}
			got := f.get(t, a.ID)
			if got.Enabled || got.NextRunAt != nil {
				t.Fatalf("activity below an archived project: %+v", got)
			}
			var archived int64
			f.store.DB.Model(&model.Event{}).Where("type = ?", "api:projects:archive").Count(&archived)
			if archived != 1 {
				t.Fatalf("%d api:projects:archive events", archived)
			}
			f.runAt(t, minute(3, time.Second))
			if n := f.count(t, "changes"); n != 0 {
				t.Fatalf("%d changes below an archived project", n)
			}
			on := true
			if _, err := f.store.Modify(f.ctx, model.SystemActor, a.ID, schedule.Update{Enabled: &on}); steward.AsError(err).Code != "archived_node" {
				t.Fatalf("enabling below an archived project: %v", err)
			}
		})
	}
}

func TestNewCommitsOnly(t *testing.T) {
	t.Parallel()
	f := schedSetup(t)
	f.setSettings(t, f.env, model.JSONMap{"allow_parallel": map[string]any{"runs_of_same_change": true}})
	in := f.input("*/1 * * * *")
	in.NewCommitsOnly = true
	f.create(t, in)
	// The commit was never used by hello here: the first due time fires.
	if res := f.runAt(t, minute(1, time.Second)); res.Fired != 1 {
		t.Fatalf("first firing: %+v", res)
	}
	// No new commit: nothing fires, and nothing is wrong.
	if res := f.runAt(t, minute(2, time.Second)); res.Fired != 0 || res.Skipped != 0 || res.Missed != 0 {
		t.Fatalf("no new commit: %+v", res)
	}
	// A new commit fires (the mirror refreshes: the clock moved past its window).
	sha2 := f.repo.Commit("more", map[string]string{"README": "x"})
	if res := f.runAt(t, minute(3, time.Second)); res.Fired != 1 {
		t.Fatalf("new commit: %+v", res)
	}
	var last run.Change
	if err := f.store.DB.Order("created_at DESC, id DESC").First(&last).Error; err != nil {
		t.Fatal(err)
	}
	if *last.CommitSHA != sha2 || f.count(t, "changes") != 2 {
		t.Fatalf("changes after a new commit: last at %s, %d in all", *last.CommitSHA, f.count(t, "changes"))
	}
}

// At creation, a commit the action already ran on this node does not fire.
func TestNewCommitsOnlyIgnoresCommitAlreadyRun(t *testing.T) {
	t.Parallel()
	f := schedSetup(t)
	if _, err := f.store.CreateChange(f.ctx, model.SystemActor, f.env, run.ChangeInput{Action: "hello",
		GitRemoteName: str("origin"), GitRev: str("main")}); err != nil {
		t.Fatal(err)
	}
	in := f.input("*/1 * * * *")
	in.NewCommitsOnly = true
	f.create(t, in)
	if res := f.runAt(t, minute(1, time.Second)); res.Fired != 0 {
		t.Fatalf("fired a commit already run: %+v", res)
	}
}

// The previous change is still active (no engine runs here): the next
// firing is skipped with an event, unless parallel runs are allowed.
func TestOverlapSkips(t *testing.T) {
	t.Parallel()
	f := schedSetup(t)
	f.create(t, f.input("*/1 * * * *"))
	f.runAt(t, minute(1, time.Second))
	if res := f.runAt(t, minute(2, time.Second)); res.Fired != 0 || res.Skipped != 1 {
		t.Fatalf("overlapping firing: %+v", res)
	}
	if n := f.count(t, "events WHERE type = '"+schedule.EventSkipped+"'"); n != 1 {
		t.Fatalf("%d skipped events", n)
	}
	f.setSettings(t, f.env, model.JSONMap{"allow_parallel": map[string]any{"runs_of_same_change": true}})
	if res := f.runAt(t, minute(3, time.Second)); res.Fired != 1 {
		t.Fatalf("with parallel runs allowed: %+v", res)
	}
	if n := f.count(t, "changes"); n != 2 {
		t.Fatalf("%d changes", n)
	}
}

// After downtime each policy fires what it promises and reports every
// fire time it did not make as missed; none is made silently late.
func TestMisfirePolicies(t *testing.T) {
	t.Parallel()
	// Every 5 minutes from 10:05; the scheduler comes back at 10:32, so
	// 10:05 ... 10:30 (six fire times) are due, the last 2 minutes late.
	cases := []struct {
		policy       string
		fired        int
		missed       int
		wantFireTime []string
	}{
		{"skip", 0, 6, nil},
		{"latest", 1, 5, []string{"10:30"}},
		{"all", 3, 3, []string{"10:20", "10:25", "10:30"}}, // deadline 15 minutes
	}
	for _, c := range cases {
		t.Run(c.policy, func(t *testing.T) {
			t.Parallel()
			f := schedSetup(t)
			f.setSettings(t, f.env, model.JSONMap{"allow_parallel": map[string]any{"runs_of_same_change": true}})
			in := f.input("*/5 * * * *")
			in.Misfire = &c.policy
			deadline := 900
			in.MisfireDeadlineSeconds = &deadline
			f.create(t, in)
			res := f.runAt(t, time.Date(2025, 6, 2, 10, 32, 0, 0, time.UTC))
			if res.Fired != c.fired || res.Missed != c.missed {
				t.Fatalf("%s: %+v", c.policy, res)
			}
			if n := f.count(t, "events WHERE type = '"+schedule.EventMissed+"'"); n != int64(c.missed) {
				t.Fatalf("%d missed events, want %d", n, c.missed)
			}
			var fired []schedule.Firing
			if err := f.store.DB.Where("outcome = ?", schedule.OutcomeFired).Order("fire_at").Find(&fired).Error; err != nil {
				t.Fatal(err)
			}
			if len(fired) != len(c.wantFireTime) {
				t.Fatalf("fired %v", fired)
			}
			for i, w := range c.wantFireTime {
				if got := fired[i].FireAt.UTC().Format("15:04"); got != w {
					t.Fatalf("fired at %s, want %s", got, w)
				}
			}
			if n := f.count(t, "changes"); n != int64(c.fired) {
				t.Fatalf("%d changes, want %d", n, c.fired)
			}
			// Back on time: the next fire time fires normally.
			if res := f.runAt(t, time.Date(2025, 6, 2, 10, 35, 1, 0, time.UTC)); res.Fired != 1 || res.Missed != 0 {
				t.Fatalf("after catching up: %+v", res)
			}
		})
	}
}

// Daily schedules on the days clocks change, evaluated every minute as the
// scheduler does: a wall time that does not exist that day fires once, at
// the first minute after the jump; one that happens twice fires once.
func TestFiringAcrossDST(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name, tz, cron    string
		start, fires, end string
	}{
		// London: 01:30 does not exist on 30 March (01:00 GMT -> 02:00 BST).
		{"london spring", "Europe/London", "30 1 * * *", "2025-03-29T12:00:00Z", "2025-03-30T01:00:00Z", "2025-03-30T03:00:00Z"},
		// London: 01:30 happens twice on 26 October.
		{"london autumn", "Europe/London", "30 1 * * *", "2025-10-25T12:00:00Z", "2025-10-26T00:30:00Z", "2025-10-26T02:30:00Z"},
		// New York: 02:30 does not exist on 9 March (02:00 EST -> 03:00 EDT).
		{"new york spring", "America/New_York", "30 2 * * *", "2025-03-08T12:00:00Z", "2025-03-09T07:00:00Z", "2025-03-09T09:00:00Z"},
		// New York: 01:30 happens twice on 2 November.
		{"new york autumn", "America/New_York", "30 1 * * *", "2025-11-01T12:00:00Z", "2025-11-02T05:30:00Z", "2025-11-02T07:30:00Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := schedSetup(t)
			f.setSettings(t, f.env, model.JSONMap{"allow_parallel": map[string]any{"runs_of_same_change": true}})
			f.clock.Advance(at(c.start).Sub(f.clock.Now()))
			in := f.input(c.cron)
			in.Timezone = str(c.tz)
			a := f.create(t, in)
			if !a.NextRunAt.Equal(at(c.fires)) {
				t.Fatalf("next_run_at %v, want %v", a.NextRunAt, c.fires)
			}
			for m := at(c.fires).Add(-time.Minute); !m.After(at(c.end)); m = m.Add(time.Minute) {
				f.runAt(t, m.Add(time.Second))
			}
			var fired []schedule.Firing
			if err := f.store.DB.Find(&fired).Error; err != nil {
				t.Fatal(err)
			}
			if len(fired) != 1 || !fired[0].FireAt.Equal(at(c.fires)) || fired[0].Outcome != schedule.OutcomeFired {
				t.Fatalf("firings %+v", fired)
			}
		})
	}
}
