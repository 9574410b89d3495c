package run_test

import (
	"sort"
	"testing"
	"time"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
	whmodel "github.com/stewardhq/steward/model/webhook"
)

// A move writes its events with its rows (one statement on PostgreSQL):
// every event of a change's cycle is stored, and the outbox matches each
// one (type pattern, and path prefix through the change's node) as it
// would an event recorded alone.
func TestMoveEventsReachTheOutbox(t *testing.T) {
	m := newMachine(t)
	allow, err := whmodel.ParseAllowList([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	hooks := whmodel.New(m.store, allow)
	subscribe := func(prefix string, patterns ...string) *whmodel.Webhook {
		t.Helper()
		url := "http://127.0.0.1:9/x"
		w, err := hooks.Create(m.ctx, model.SystemActor, whmodel.Input{URL: &url, EventTypes: patterns, PathPrefix: &prefix})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	all := subscribe("/projects/opc", "api:*")
	steps := subscribe("", "api:steps:*")
	elsewhere := subscribe("/projects/other", "api:*")

	c := m.start(t, "two")
	for i := 0; i < 2; i++ {
		st := m.claim(t, "w", time.Minute)
		if st == nil {
			t.Fatalf("claim %d: nothing queued", i)
		}
		if err := m.store.FinishStep(m.ctx, st.ID, "w", run.StepResult{OK: true}); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.change(t, c.ID).Status; got != run.StatusSuccess {
		t.Fatalf("change %s, want success", got)
	}

	var events []model.Event
	if err := m.store.DB.Where("source_id = ? OR attributes->>'change_id' = ?", c.ID, c.ID).Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	var types, stepTypes []string
	for _, ev := range events {
		types = append(types, ev.Type)
		if ev.SourceType != nil && *ev.SourceType == "step" {
			stepTypes = append(stepTypes, ev.Type)
		}
	}
	sort.Strings(types)
	// create, start, success of the change; start and success of the group
	// and of each of its two children.
	want := []string{"api:changes:create", "api:changes:start", "api:changes:success",
		"api:steps:start", "api:steps:start", "api:steps:start", "api:steps:success", "api:steps:success", "api:steps:success"}
	if len(types) != len(want) {
		t.Fatalf("events %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("events %v, want %v", types, want)
		}
	}
	count := func(w *whmodel.Webhook) int {
		t.Helper()
		var n int64
		if err := m.store.DB.Model(&whmodel.Delivery{}).Where("webhook_id = ?", w.ID).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return int(n)
	}
	for _, tc := range []struct {
		name string
		w    *whmodel.Webhook
		want int
	}{{"all under the project", all, len(events)}, {"steps only", steps, len(stepTypes)}, {"another project", elsewhere, 0}} {
		if got := count(tc.w); got != tc.want {
			t.Errorf("%s: %d deliveries, want %d", tc.name, got, tc.want)
		}
	}
}
