package handler_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

// propsNode creates a node with a POST and returns the ids of its properties and settings.
func propsNode(t *testing.T, s *testutil.Server, collection, typ, code string) (propertiesID, settingsID string) {
	t.Helper()
	r := s.Post(t, collection, testutil.Attrs(typ, map[string]any{"code": code, "name": code})).Expect(t, http.StatusCreated)
	var props *testutil.Properties
	var settings *testutil.Settings
	switch typ {
	case "project":
		n := testutil.One[testutil.Project](t, r)
		props, settings = n.Properties, n.Settings
	case "environment":
		n := testutil.One[testutil.Environment](t, r)
		props, settings = n.Properties, n.Settings
	default:
		n := testutil.One[testutil.Asset](t, r)
		props, settings = n.Properties, n.Settings
	}
	if props == nil || settings == nil {
		t.Fatalf("no properties or settings relationship: %s", r.Body)
	}
	return props.ID, settings.ID
}

func propsLinks(d map[string]any) map[string]any { return d["links"].(map[string]any) }

func propsEvents(t *testing.T, s *testutil.Server, typ string) int64 {
	t.Helper()
	var n int64
	if err := s.Store.DB.Model(&model.Event{}).Where("type = ?", typ).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPropertiesVersionedUpdates(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	id, _ := propsNode(t, s, "/api/projects", "project", "opc")
	self := "/api/properties/" + id

	resp := s.Get(t, self).Expect(t, http.StatusOK)
	d := resp.Data(t)
	if p := testutil.One[testutil.Properties](t, resp); p.Version != 1 || len(p.Data) != 0 {
		t.Fatalf("new properties: %v", d)
	}
	if l := propsLinks(d); l["self"] != self || l["current_version"] != self+"/versions/1" || l["versions"] != self+"/versions" {
		t.Fatalf("links: %v", l)
	}
	owner := d["relationships"].(map[string]any)["owner"].(map[string]any)["links"].(map[string]any)["owner"]
	if owner != "/api/projects/opc" {
		t.Fatalf("owner link = %v", owner)
	}

	doc := map[string]any{"any_key": "v", "nested": map[string]any{"key": []any{1.0, "two"}}}
	resp = s.Patch(t, self, testutil.Attrs("properties", map[string]any{"data": doc, "version": 1})).Expect(t, http.StatusOK)
	d = resp.Data(t)
	if a := testutil.One[testutil.Properties](t, resp); a.Version != 2 || fmt.Sprint(a.Data) != fmt.Sprint(doc) {
		t.Fatalf("after checked PATCH: %+v", a)
	}
	if propsLinks(d)["current_version"] != self+"/versions/2" {
		t.Fatalf("current_version after PATCH: %v", propsLinks(d))
	}

	stale := s.Patch(t, self, testutil.Attrs("", map[string]any{"data": map[string]any{"x": 1}, "version": 1})).
		Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
	if stale["code"] != "stale_version" || stale["meta"].(map[string]any)["current_version"] != 2.0 ||
		stale["source"].(map[string]any)["pointer"] != "/data/attributes/version" {
		t.Fatalf("stale PATCH error: %v", stale)
	}

	// The reference's unchecked body: data alone, no type.
	a := testutil.One[testutil.Properties](t, s.Patch(t, self, testutil.Attrs("", map[string]any{"data": map[string]any{"replaced": true}})).Expect(t, http.StatusOK))
	if a.Version != 3 || fmt.Sprint(a.Data) != "map[replaced:true]" {
		t.Fatalf("after unchecked PATCH: %+v", a)
	}
	if n := propsEvents(t, s, "api:properties:update"); n != 2 {
		t.Fatalf("%d api:properties:update events, want 2", n)
	}

	listResp := s.Get(t, self+"/versions").Expect(t, http.StatusOK)
	list, raw := testutil.Many[testutil.PropertiesVersion](t, listResp), listResp.List(t)
	if len(list) != 3 {
		t.Fatalf("%d versions, want 3", len(list))
	}
	for i, a := range list {
		v := raw[i].(map[string]any)
		if a.Version != i+1 || a.OwnerType != "project" ||
			propsLinks(v)["self"] != fmt.Sprintf("%s/versions/%d", self, i+1) || propsLinks(v)["owner"] != "/api/projects/opc" {
			t.Fatalf("version %d: %v", i+1, v)
		}
	}

	v2Resp := s.Get(t, self+"/versions/2").Expect(t, http.StatusOK)
	v2 := testutil.One[testutil.PropertiesVersion](t, v2Resp)
	if fmt.Sprint(v2.Data) != fmt.Sprint(doc) {
		t.Fatalf("version 2: %s", v2Resp.Body)
	}
	rel := v2Resp.Data(t)["relationships"].(map[string]any)["properties"].(map[string]any)
	if v2.Properties == nil || v2.Properties.ID != id || rel["links"].(map[string]any)["related"] != self {
		t.Fatalf("version 2 relationship: %v", rel)
	}

	missing := s.Get(t, self+"/versions/9").Expect(t, http.StatusNotFound).ErrorObject(t)
	if !strings.Contains(missing["detail"].(string), "version 9") {
		t.Fatalf("missing version error does not name it: %v", missing)
	}
}

func TestPropertiesVersionList(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	id, _ := propsNode(t, s, "/api/projects", "project", "opc")
	self := "/api/properties/" + id
	for i := 0; i < 3; i++ {
		s.Patch(t, self, testutil.Attrs("", map[string]any{"data": map[string]any{"i": i}})).Expect(t, http.StatusOK)
	}
	cases := []struct {
		query    string
		versions []float64
		partial  bool
	}{
		{"", []float64{1, 2, 3, 4}, false},
		{"?filter[version_gteq]=3", []float64{3, 4}, false},
		{"?sort=-version", []float64{4, 3, 2, 1}, false},
		{"?limit=2", []float64{1, 2}, true},
	}
	for _, c := range cases {
		resp := s.Get(t, self+"/versions"+c.query).Expect(t, http.StatusOK)
		doc := resp.JSON(t)
		var got []float64
		for _, v := range testutil.Many[testutil.PropertiesVersion](t, resp) {
			got = append(got, float64(v.Version))
		}
		if fmt.Sprint(got) != fmt.Sprint(c.versions) {
			t.Errorf("%q: versions %v, want %v", c.query, got, c.versions)
		}
		meta, _ := doc["meta"].(map[string]any)
		if partial, _ := meta["partial_response"].(bool); partial != c.partial {
			t.Errorf("%q: partial_response %v, want %v", c.query, meta, c.partial)
		}
	}

	// Keyset paging walks every version exactly once.
	var seen []float64
	next := self + "/versions?page[size]=3"
	for next != "" {
		resp := s.Get(t, next).Expect(t, http.StatusOK)
		doc := resp.JSON(t)
		for _, v := range testutil.Many[testutil.PropertiesVersion](t, resp) {
			seen = append(seen, float64(v.Version))
		}
		next = ""
		if links, ok := doc["links"].(map[string]any); ok {
			next, _ = links["next"].(string)
		}
	}
	if fmt.Sprint(seen) != "[1 2 3 4]" {
		t.Fatalf("paged versions: %v", seen)
	}
	s.Get(t, self+"/versions?filter[data_eq]=x").Expect(t, http.StatusBadRequest)
}

func TestSettingsValidatedUpdates(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	_, id := propsNode(t, s, "/api/projects", "project", "opc")
	self := "/api/settings/" + id

	resp := s.Get(t, self).Expect(t, http.StatusOK)
	if d := testutil.One[testutil.Settings](t, resp); fmt.Sprint(d.Data) != fmt.Sprint(map[string]any(model.DefaultSettings())) {
		t.Fatalf("new settings: %s", resp.Body)
	}

	bad := []struct {
		name    string
		data    any
		pointer string
	}{
		{"retention not a number", map[string]any{"event_retention_days": "5"}, "/data/attributes/data/event_retention_days"},
		{"retention not whole", map[string]any{"change_log_retention_days": 2.5}, "/data/attributes/data/change_log_retention_days"},
		{"wrong type", map[string]any{"allow_parallel": map[string]any{"changes": "no"}}, "/data/attributes/data/allow_parallel/changes"},
		{"group not a string", map[string]any{"requires_approval_from": []any{"ops"}}, "/data/attributes/data/requires_approval_from"},
		{"not an object", []any{"allow_parallel"}, "/data/attributes/data"},
	}
	for _, c := range bad {
		e := s.Patch(t, self, testutil.Attrs("settings", map[string]any{"data": c.data, "version": 1})).
			Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
		if e["source"].(map[string]any)["pointer"] != c.pointer {
			t.Errorf("%s: error %v, want pointer %s", c.name, e, c.pointer)
		}
	}

	want := map[string]any{"allow_parallel": map[string]any{"runs_of_same_change": true}, "requires_approval_from": "ops"}
	d := testutil.One[testutil.Settings](t, s.Patch(t, self, testutil.Attrs("settings", map[string]any{"data": want, "version": 1})).Expect(t, http.StatusOK))
	if d.Version != 2 || fmt.Sprint(d.Data) != fmt.Sprint(want) {
		t.Fatalf("after PATCH: %+v", d)
	}
	if n := propsEvents(t, s, "api:settings:update"); n != 1 {
		t.Fatalf("%d api:settings:update events, want 1 (refused writes record none)", n)
	}
	vResp := s.Get(t, self+"/versions/2").Expect(t, http.StatusOK)
	if v := testutil.One[testutil.SettingsVersion](t, vResp); v.OwnerType != nil {
		t.Fatalf("settings version: %s", vResp.Body)
	}
	if rel := vResp.Data(t)["relationships"].(map[string]any)["settings"].(map[string]any); rel["links"].(map[string]any)["related"] != self {
		t.Fatalf("settings version relationship: %v", rel)
	}
	// Keys Steward does not know are kept and shown as sent.
	free := map[string]any{"notifications": map[string]any{"slack": map[string]any{"channel": "#ops"}},
		"allow_parallel": map[string]any{"anything": true}, "event_retention_days": 30}
	got := testutil.One[testutil.Settings](t, s.Patch(t, self, testutil.Attrs("settings", map[string]any{"data": free})).
		Expect(t, http.StatusOK))
	if fmt.Sprint(got.Data) != fmt.Sprint(free) {
		t.Fatalf("free-form settings not kept: %v", got.Data)
	}
}

func TestPropertySetOwnersBelowProjects(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	propsNode(t, s, "/api/projects", "project", "opc")
	envProps, envSettings := propsNode(t, s, "/api/projects/opc/environments", "environment", "dev")
	assetProps, _ := propsNode(t, s, "/api/projects/opc/environments/dev/assets", "asset", "db")
	cases := []struct{ path, owner, ownerType string }{
		{"/api/properties/" + envProps + "/versions/1", "/api/projects/opc/environments/dev", "environment"},
		{"/api/properties/" + assetProps + "/versions/1", "/api/projects/opc/environments/dev/assets/db", "asset"},
		{"/api/settings/" + envSettings + "/versions/1", "/api/projects/opc/environments/dev", ""},
	}
	for _, c := range cases {
		resp := s.Get(t, c.path).Expect(t, http.StatusOK)
		d := resp.Data(t)
		if propsLinks(d)["owner"] != c.owner || (c.ownerType != "" && testutil.One[testutil.PropertiesVersion](t, resp).OwnerType != c.ownerType) {
			t.Errorf("%s: %v", c.path, d)
		}
	}
	s.Patch(t, "/api/properties/"+envProps, testutil.Attrs("", map[string]any{"data": map[string]any{"k": "v"}})).Expect(t, http.StatusOK)
	var ev model.Event
	if err := s.Store.DB.Where("type = ?", "api:properties:update").Take(&ev).Error; err != nil {
		t.Fatal(err)
	}
	if ev.SourcePath == nil || *ev.SourcePath != "/projects/opc/environments/dev" || *ev.SourceType != "environment" {
		t.Fatalf("event source: %v %v", ev.SourceType, ev.SourcePath)
	}
}

func TestPropertySetBadRequests(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	propsID, settingsID := propsNode(t, s, "/api/projects", "project", "opc")
	props := "/api/properties/" + propsID
	cases := []struct {
		name    string
		method  string
		path    string
		body    any
		status  int
		pointer string
	}{
		{"malformed JSON", http.MethodPatch, props, `{"data": {"attributes": {`, http.StatusBadRequest, "/"},
		{"no data member", http.MethodPatch, props, `{"meta": {}}`, http.StatusBadRequest, "/data"},
		{"missing data attribute", http.MethodPatch, props, testutil.Attrs("", map[string]any{"version": 1}), http.StatusUnprocessableEntity, "/data/attributes/data"},
		{"data is a string", http.MethodPatch, props, testutil.Attrs("", map[string]any{"data": "x"}), http.StatusUnprocessableEntity, "/data/attributes/data"},
		{"data is null", http.MethodPatch, props, testutil.Attrs("", map[string]any{"data": nil}), http.StatusUnprocessableEntity, "/data/attributes/data"},
		{"data is an array", http.MethodPatch, props, testutil.Attrs("", map[string]any{"data": []any{1}}), http.StatusUnprocessableEntity, "/data/attributes/data"},
		{"version is a string", http.MethodPatch, props, testutil.Attrs("", map[string]any{"data": map[string]any{}, "version": "1"}), http.StatusUnprocessableEntity, "/data/attributes/version"},
		{"unknown attribute", http.MethodPatch, props, testutil.Attrs("", map[string]any{"data": map[string]any{}, "owner": "x"}), http.StatusUnprocessableEntity, "/data/attributes/owner"},
		{"wrong type", http.MethodPatch, props, testutil.Attrs("settings", map[string]any{"data": map[string]any{}}), http.StatusConflict, "/data/type"},
		{"unknown query parameter", http.MethodGet, props + "?verbose=1", nil, http.StatusBadRequest, ""},
		{"settings id as properties", http.MethodGet, "/api/properties/" + settingsID, nil, http.StatusNotFound, ""},
		{"properties id as settings", http.MethodPatch, "/api/settings/" + propsID, testutil.Attrs("", map[string]any{"data": map[string]any{}}), http.StatusNotFound, ""},
		{"unknown id", http.MethodGet, "/api/properties/" + model.NewID(), nil, http.StatusNotFound, ""},
		{"malformed id", http.MethodGet, "/api/settings/not-a-uuid/versions", nil, http.StatusNotFound, ""},
		{"version zero", http.MethodGet, props + "/versions/0", nil, http.StatusNotFound, ""},
		{"version not a number", http.MethodGet, props + "/versions/latest", nil, http.StatusNotFound, ""},
		{"method not allowed", http.MethodDelete, props, nil, http.StatusMethodNotAllowed, ""},
	}
	for _, c := range cases {
		r := s.Do(t, testutil.Request{Method: c.method, Path: c.path, Body: c.body, SkipContract: c.status == http.StatusBadRequest && c.body != nil})
		e := r.Expect(t, c.status).ErrorObject(t)
		if c.pointer != "" {
			if src, _ := e["source"].(map[string]any); src["pointer"] != c.pointer {
				t.Errorf("%s: error %v, want pointer %s", c.name, e, c.pointer)
			}
		}
	}
	d := testutil.One[testutil.Properties](t, s.Get(t, props).Expect(t, http.StatusOK))
	if d.Version != 1 || propsEvents(t, s, "api:properties:update") != 0 {
		t.Fatalf("refused requests changed the properties: %+v", d)
	}
}
