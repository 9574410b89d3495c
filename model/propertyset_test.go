package model_test

import (
	"context"
	"reflect"
	"sync"
	"testing"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

func propsStore(t *testing.T) (*model.Store, *model.Node) {
	t.Helper()
	store := model.NewStore(testutil.DB(t), testutil.Logger(t))
	n, err := store.CreateNode(context.Background(), model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "opc", Name: "OpsChain"})
	if err != nil {
		t.Fatalf("create project: %v", err)
	}
	return store, n
}

func propsIntPtr(n int) *int { return &n }

// propsCounts returns the number of version rows of set id and of update events.
func propsCounts(t *testing.T, store *model.Store, id, kind string) (versions, events int64) {
	t.Helper()
	if err := store.DB.Model(&model.PropertySetVersion{}).Where("property_set_id = ?", id).Count(&versions).Error; err != nil {
		t.Fatal(err)
	}
	if err := store.DB.Model(&model.Event{}).Where("type = ?", "api:"+kind+":update").Count(&events).Error; err != nil {
		t.Fatal(err)
	}
	return versions, events
}

func TestPropertySetGet(t *testing.T) {
	t.Parallel()
	store, n := propsStore(t)
	ctx := context.Background()

	ps, err := store.GetPropertySet(ctx, model.KindProperties, n.PropertiesID)
	if err != nil {
		t.Fatal(err)
	}
	if ps.Version != 1 || len(ps.Data) != 0 || ps.Owner.ID != n.ID {
		t.Fatalf("new properties: version %d data %v owner %s", ps.Version, ps.Data, ps.Owner.ID)
	}
	settings, err := store.GetPropertySet(ctx, model.KindSettings, n.SettingsID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(settings.Data, model.DefaultSettings()) {
		t.Fatalf("new settings = %v, want defaults", settings.Data)
	}

	for name, c := range map[string]struct{ kind, id string }{
		"other kind":   {model.KindSettings, n.PropertiesID},
		"missing":      {model.KindProperties, model.NewID()},
		"not a uuid":   {model.KindProperties, "nope'; drop table nodes"},
		"unknown kind": {"secrets", n.PropertiesID},
	} {
		if _, err := store.GetPropertySet(ctx, c.kind, c.id); steward.ErrorKind(err) != steward.KindNotFound {
			t.Errorf("%s: err = %v, want not found", name, err)
		}
	}
}

func TestPropertySetUpdateVersions(t *testing.T) {
	t.Parallel()
	store, n := propsStore(t)
	ctx := context.Background()
	id := n.PropertiesID

	checked, err := store.UpdatePropertySet(ctx, model.SystemActor, model.KindProperties, id,
		model.PropertySetUpdate{Data: model.JSONMap{"a": "1"}, ExpectedVersion: propsIntPtr(1)})
	if err != nil {
		t.Fatalf("checked write: %v", err)
	}
	if checked.Version != 2 || checked.Data["a"] != "1" {
		t.Fatalf("after checked write: version %d data %v", checked.Version, checked.Data)
	}

	// A stale write is refused with the current version and writes nothing.
	_, err = store.UpdatePropertySet(ctx, model.SystemActor, model.KindProperties, id,
		model.PropertySetUpdate{Data: model.JSONMap{"a": "stale"}, ExpectedVersion: propsIntPtr(1)})
	e := steward.AsError(err)
	if e.Kind != steward.KindInvalid || e.Code != "stale_version" || e.Meta["current_version"] != 2 || e.Field != "version" {
		t.Fatalf("stale write: %#v", e)
	}
	if v, ev := propsCounts(t, store, id, model.KindProperties); v != 2 || ev != 1 {
		t.Fatalf("after stale write: %d versions, %d events; want 2, 1", v, ev)
	}

	// Without a version the write always applies and replaces the document.
	unchecked, err := store.UpdatePropertySet(ctx, model.SystemActor, model.KindProperties, id,
		model.PropertySetUpdate{Data: model.JSONMap{"b": map[string]any{"c": true}}})
	if err != nil {
		t.Fatalf("unchecked write: %v", err)
	}
	if unchecked.Version != 3 || unchecked.Data["a"] != nil {
		t.Fatalf("after unchecked write: version %d data %v", unchecked.Version, unchecked.Data)
	}
	if v, ev := propsCounts(t, store, id, model.KindProperties); v != 3 || ev != 2 {
		t.Fatalf("after two writes: %d versions, %d events; want 3, 2", v, ev)
	}
	var ev model.Event
	if err := store.DB.Where("type = ?", "api:properties:update").Order("id DESC").Take(&ev).Error; err != nil {
		t.Fatal(err)
	}
	if ev.SourceID == nil || *ev.SourceID != n.ID || *ev.SourcePath != "/projects/opc" {
		t.Fatalf("event source = %v, want the project", ev.SourcePath)
	}

	v2, err := store.GetPropertySetVersion(ctx, unchecked.PropertySet, "2")
	if err != nil || v2.Data["a"] != "1" {
		t.Fatalf("version 2 = %v, %v", v2, err)
	}
	for _, n := range []string{"4", "0", "x"} {
		if _, err := store.GetPropertySetVersion(ctx, unchecked.PropertySet, n); steward.ErrorKind(err) != steward.KindNotFound {
			t.Errorf("version %s: err = %v, want not found", n, err)
		}
	}

	if _, err := store.UpdatePropertySet(ctx, model.SystemActor, model.KindSettings, id,
		model.PropertySetUpdate{Data: model.JSONMap{}}); steward.ErrorKind(err) != steward.KindNotFound {
		t.Errorf("write to properties through settings: err = %v, want not found", err)
	}
	if _, err := store.UpdatePropertySet(ctx, model.SystemActor, model.KindProperties, id,
		model.PropertySetUpdate{}); steward.ErrorKind(err) != steward.KindInvalid {
		t.Errorf("write of no document: err = %v, want invalid", err)
	}
}

// Writers that expect the same version race; the conditional UPDATE lets
// exactly one of them through and the rest see a stale version.
func TestPropertySetConcurrentWriters(t *testing.T) {
	t.Parallel()
	store, n := propsStore(t)
	const writers = 6
	var wg sync.WaitGroup
	errs := make([]error, writers)
	start := make(chan struct{})
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			_, errs[i] = store.UpdatePropertySet(context.Background(), model.SystemActor, model.KindProperties, n.PropertiesID,
				model.PropertySetUpdate{Data: model.JSONMap{"writer": float64(i)}, ExpectedVersion: propsIntPtr(1)})
		}(i)
	}
	close(start)
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("writers %d and %d both succeeded", won, i)
		case err == nil:
			won = i
		case steward.AsError(err).Code != "stale_version":
			t.Fatalf("writer %d: %v, want stale_version", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no writer succeeded")
	}
	ps, err := store.GetPropertySet(context.Background(), model.KindProperties, n.PropertiesID)
	if err != nil {
		t.Fatal(err)
	}
	if ps.Version != 2 || ps.Data["writer"] != float64(won) {
		t.Fatalf("final set: version %d data %v; want 2 written by %d", ps.Version, ps.Data, won)
	}
	if v, ev := propsCounts(t, store, n.PropertiesID, model.KindProperties); v != 2 || ev != 1 {
		t.Fatalf("%d versions, %d events; want 2, 1", v, ev)
	}
}

func TestSettingsValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		data    model.JSONMap
		pointer string // "" means valid
		code    string
	}{
		{"defaults", model.DefaultSettings(), "", ""},
		{"empty document", model.JSONMap{}, "", ""},
		{"approval group", model.JSONMap{"requires_approval_from": "ops"}, "", ""},
		{"approval null", model.JSONMap{"requires_approval_from": nil}, "", ""},
		{"partial allow_parallel", model.JSONMap{"allow_parallel": map[string]any{"changes": false}}, "", ""},
		{"unknown top key kept", model.JSONMap{"retention_days": 5.0, "notifications": map[string]any{"x": true}}, "", ""},
		{"unknown nested key kept", model.JSONMap{"allow_parallel": map[string]any{"steps": true}}, "", ""},
		{"dotted key kept", model.JSONMap{"allow_parallel.changes": "anything"}, "", ""},
		{"retention days", model.JSONMap{"change_log_retention_days": 30.0, "event_retention_days": 365.0}, "", ""},
		{"retention null", model.JSONMap{"event_retention_days": nil}, "", ""},
		{"retention as string", model.JSONMap{"event_retention_days": "30"}, "data/event_retention_days", "invalid_type"},
		{"retention fraction", model.JSONMap{"change_log_retention_days": 1.5}, "data/change_log_retention_days", "invalid_type"},
		{"retention zero", model.JSONMap{"change_log_retention_days": 0.0}, "data/change_log_retention_days", "invalid_type"},
		{"retention too long", model.JSONMap{"event_retention_days": 36501.0}, "data/event_retention_days", "invalid_type"},
		{"bool as string", model.JSONMap{"allow_parallel": map[string]any{"changes": "yes"}}, "data/allow_parallel/changes", "invalid_type"},
		{"bool as null", model.JSONMap{"allow_parallel": map[string]any{"runs_of_same_change": nil}}, "data/allow_parallel/runs_of_same_change", "invalid_type"},
		{"allow_parallel not object", model.JSONMap{"allow_parallel": true}, "data/allow_parallel", "invalid_type"},
		{"approval number", model.JSONMap{"requires_approval_from": 3.0}, "data/requires_approval_from", "invalid_type"},
		{"approval blank", model.JSONMap{"requires_approval_from": ""}, "data/requires_approval_from", "invalid_name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := model.ValidateSettings(c.data)
			if c.pointer == "" {
				if err != nil {
					t.Fatalf("valid document refused: %v", err)
				}
				return
			}
			e := steward.AsError(err)
			if e.Kind != steward.KindInvalid || e.Field != c.pointer || e.Code != c.code {
				t.Fatalf("got %s %s at %q (%s), want %s at %q", e.Kind, e.Code, e.Field, e.Detail, c.code, c.pointer)
			}
		})
	}
}

// An invalid settings write is refused before anything is written.
func TestSettingsInvalidWriteChangesNothing(t *testing.T) {
	t.Parallel()
	store, n := propsStore(t)
	_, err := store.UpdatePropertySet(context.Background(), model.SystemActor, model.KindSettings, n.SettingsID,
		model.PropertySetUpdate{Data: model.JSONMap{"event_retention_days": true}})
	if steward.AsError(err).Code != "invalid_type" {
		t.Fatalf("err = %v, want invalid_type", err)
	}
	if v, ev := propsCounts(t, store, n.SettingsID, model.KindSettings); v != 1 || ev != 0 {
		t.Fatalf("%d versions, %d events after a refused write; want 1, 0", v, ev)
	}
}

func TestParseSettingsDefaults(t *testing.T) {
	t.Parallel()
	ops := "ops"
	cases := []struct {
		name string
		data model.JSONMap
		want model.Settings
	}{
		{"empty", model.JSONMap{}, model.Settings{AllowParallelChanges: true}},
		{"defaults", model.DefaultSettings(), model.Settings{AllowParallelChanges: true}},
		{"overrides", model.JSONMap{
			"allow_parallel":         map[string]any{"changes": false, "runs_of_same_workflow": true},
			"requires_approval_from": "ops",
		}, model.Settings{AllowParallelRunsOfSameWorkflow: true, RequiresApprovalFrom: &ops}},
	}
	for _, c := range cases {
		if got := model.ParseSettings(c.data); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}
