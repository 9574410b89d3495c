package schedule_test

import (
	"testing"
	"time"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/model/schedule"
)

// The retention job deletes exactly what is older than the nearest
// setting: log lines of changes finished before it, events before it.
func TestRetentionDeletesExactlyWhatIsOlder(t *testing.T) {
	t.Parallel()
	f := schedSetup(t)
	day := 24 * time.Hour
	now := f.clock.Now()
	prod, err := f.store.CreateNode(f.ctx, model.SystemActor, f.proj, model.KindEnvironment, model.NodeInput{Code: "prod", Name: "Production"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := f.store.CreateNode(f.ctx, model.SystemActor, f.env, model.KindAsset, model.NodeInput{Code: "db", Name: "DB"})
	if err != nil {
		t.Fatal(err)
	}
	f.setSettings(t, f.proj, model.JSONMap{model.SettingChangeLogRetention: 10.0, model.SettingEventRetention: 30.0})
	f.setSettings(t, f.env, model.JSONMap{model.SettingChangeLogRetention: 2.0}) // nearest wins
	f.setSettings(t, db, model.JSONMap{model.SettingChangeLogRetention: nil})    // keep for ever
	f.store.DB.Exec("DELETE FROM events")                                        // only the events below count

	change := func(node *model.Node, finishedAgo time.Duration) *run.Change {
		t.Helper()
		in := run.ChangeInput{Action: "hello", GitRemoteName: str("origin"), GitRev: str("main")}
		if node.Kind == model.KindAsset {
			// Asset changes need a template; use a log-only change row instead.
			c := &run.Change{ID: model.NewID(), NodeID: node.ID, Action: "hello", Status: run.StatusSuccess, GitRev: "x",
				CreatedBy: "t", CreatedAt: now.Add(-100 * day), UpdatedAt: now}
			if err := f.store.DB.Create(c).Error; err != nil {
				t.Fatal(err)
			}
			return f.finish(t, c, finishedAgo, now)
		}
		c, err := f.store.CreateChange(f.ctx, model.SystemActor, node, in)
		if err != nil {
			t.Fatal(err)
		}
		return f.finish(t, c, finishedAgo, now)
	}
	gone := []*run.Change{change(f.env, 3*day), change(prod, 11*day)}
	kept := []*run.Change{change(f.env, 1*day), change(prod, 9*day), change(db, 400*day), change(f.env, -1)}
	for _, c := range append(append([]*run.Change{}, gone...), kept...) {
		for i := 0; i < 3; i++ {
			if err := f.store.DB.Create(&run.LogLine{ChangeID: c.ID, StepID: model.NewID(), Message: "line", LoggedAt: now}).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	event := func(src *model.EventSource, ago time.Duration) string {
		t.Helper()
		ev := &model.Event{ID: model.NewID(), Type: "test", Username: "t", Attributes: model.JSONMap{}, CreatedAt: now.Add(-ago)}
		if src != nil {
			ev.SourceType, ev.SourceID, ev.SourcePath = &src.Type, &src.ID, &src.Path
		}
		if err := f.store.DB.Create(ev).Error; err != nil {
			t.Fatal(err)
		}
		return ev.ID
	}
	changeSrc := &model.EventSource{Type: "change", ID: gone[0].ID, Path: "/changes/" + gone[0].ID}
	goneEvents := []string{event(f.proj.EventSource(), 31*day), event(changeSrc, 40*day), event(f.env.EventSource(), 31*day)}
	keptEvents := []string{event(f.proj.EventSource(), 29*day), event(nil, 100*day), event(changeSrc, 1*day)}

	if err := f.store.EnsureRetentionJob(f.ctx, "@hourly"); err != nil {
		t.Fatal(err)
	}
	res, err := f.store.RunDue(f.ctx, now.Add(time.Hour), schedule.DueOptions{Retention: schedule.RetentionOptions{Batch: 2}})
	if err != nil || res.Pruned != 1 {
		t.Fatalf("retention run: %+v %v", res, err)
	}
	for _, c := range gone {
		if n := f.count(t, "log_lines WHERE change_id = '"+c.ID+"'"); n != 0 {
			t.Errorf("change finished %v ago kept %d log lines", now.Sub(*c.FinishedAt), n)
		}
	}
	for _, c := range kept {
		if n := f.count(t, "log_lines WHERE change_id = '"+c.ID+"'"); n != 3 {
			t.Errorf("change %s (finished %v) has %d log lines, want 3", c.NodeID, c.FinishedAt, n)
		}
	}
	for _, id := range goneEvents {
		if f.count(t, "events WHERE id = '"+id+"'") != 0 {
			t.Errorf("event %s not pruned", id)
		}
	}
	for _, id := range keptEvents {
		if f.count(t, "events WHERE id = '"+id+"'") != 1 {
			t.Errorf("event %s pruned", id)
		}
	}
	var ev model.Event
	if err := f.store.DB.Where("type = ?", schedule.EventPruned).Take(&ev).Error; err != nil {
		t.Fatal(err)
	}
	if ev.Attributes["log_lines"] != 6.0 || ev.Attributes["events"] != 3.0 {
		t.Fatalf("prune event counts %v", ev.Attributes)
	}
	// The same fire time again prunes nothing and records nothing.
	if res, err := f.store.RunDue(f.ctx, now.Add(time.Hour), schedule.DueOptions{}); err != nil || res.Pruned != 0 {
		t.Fatalf("second run at the same time: %+v %v", res, err)
	}
}

// finish marks c ended finishedAgo before now (negative: still running).
func (f *schedFixture) finish(t *testing.T, c *run.Change, finishedAgo time.Duration, now time.Time) *run.Change {
	t.Helper()
	if finishedAgo < 0 {
		return c
	}
	at := now.Add(-finishedAgo)
	if err := f.store.DB.Model(&run.Change{}).Where("id = ?", c.ID).Updates(map[string]any{"status": run.StatusSuccess, "finished_at": at}).Error; err != nil {
		t.Fatal(err)
	}
	c.FinishedAt = &at
	return c
}

// TestRetentionPrunesOldFirings: firing rows older than FiringRetention and
// behind their activity's next fire time go, in batches; newer ones stay.
func TestRetentionPrunesOldFirings(t *testing.T) {
	t.Parallel()
	f := schedSetup(t)
	act := f.create(t, f.input("@daily"))
	now := f.clock.Now()
	for i := 0; i < 25; i++ { // 21 to 45 days ago
		at := now.Add(-time.Duration(i+21) * 24 * time.Hour)
		if err := f.store.DB.Create(&schedule.Firing{ActivityID: act.ID, FireAt: at, Outcome: "fired", CreatedAt: now}).Error; err != nil {
			t.Fatal(err)
		}
	}
	before := f.count(t, "scheduled_firings")
	counts, err := f.store.Prune(f.ctx, now, schedule.RetentionOptions{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	var left int64
	if err := f.store.DB.Model(&schedule.Firing{}).Where("fire_at < ?", now.Add(-schedule.FiringRetention)).Count(&left).Error; err != nil {
		t.Fatal(err)
	}
	if left != 0 || counts.Firings == 0 || f.count(t, "scheduled_firings") != before-counts.Firings {
		t.Fatalf("pruned %d of %d firings, %d old ones left", counts.Firings, before, left)
	}
	if f.count(t, "scheduled_firings") == 0 {
		t.Fatal("firings inside the retention were pruned too")
	}
}
