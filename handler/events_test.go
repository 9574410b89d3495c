package handler_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

// identEventTypes lists the type attribute of each event in a list response.
func identEventTypes(t *testing.T, resp *testutil.Response) []string {
	t.Helper()
	var out []string
	for _, ev := range testutil.Many[testutil.Event](t, resp) {
		out = append(out, ev.Type)
	}
	return out
}

// identProjectEvent is an api:projects:create event: the reserved attributes
// and the project's code. Event attributes are free-form, and google/jsonapi
// reads only the keys a struct declares, so a test declares the ones it reads.
type identProjectEvent struct {
	ID        string `jsonapi:"primary,event"`
	Type      string `jsonapi:"attr,type"`
	Username  string `jsonapi:"attr,username"`
	System    bool   `jsonapi:"attr,system"`
	CreatedAt string `jsonapi:"attr,created_at"`
	Code      string `jsonapi:"attr,code"`
}

// identCustomEvent is the custom event TestEventCustom posts.
type identCustomEvent struct {
	ID       string         `jsonapi:"primary,event"`
	Type     string         `jsonapi:"attr,type"`
	Username string         `jsonapi:"attr,username"`
	System   bool           `jsonapi:"attr,system"`
	AnyKey   string         `jsonapi:"attr,any_key"`
	Count    float64        `jsonapi:"attr,count"`
	OK       bool           `jsonapi:"attr,ok"`
	Nested   map[string]any `jsonapi:"attr,nested"`
}

func identPartial(t *testing.T, resp *testutil.Response) any {
	t.Helper()
	meta, ok := resp.JSON(t)["meta"].(map[string]any)
	if !ok {
		t.Fatalf("list has no meta: %s", resp.Body)
	}
	return meta["partial_response"]
}

func TestEventRecordedForProjectCreate(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	project := testutil.One[testutil.Project](t, s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{"code": "opc", "name": "OpsChain"})).
		Expect(t, http.StatusCreated))

	list := s.Get(t, "/api/events?filter[type_eq]=api:projects:create").Expect(t, http.StatusOK)
	items := list.List(t)
	if len(items) != 1 || identPartial(t, list) != false {
		t.Fatalf("want one api:projects:create event: %s", list.Body)
	}
	ev := items[0].(map[string]any)
	if a := testutil.Many[identProjectEvent](t, list)[0]; a.Username != "admin" || a.System || a.Code != "opc" || a.CreatedAt == "" {
		t.Fatalf("event attributes: %+v", a)
	}
	// source may be a project, an environment or a step: google/jsonapi
	// cannot type it, and its link is read raw anyway.
	src := ev["relationships"].(map[string]any)["source"].(map[string]any)
	data := src["data"].(map[string]any)
	if data["type"] != "project" || data["id"] != project.ID || src["links"].(map[string]any)["source"] != "/api/projects/opc" {
		t.Fatalf("event source: %v", src)
	}
	self := ev["links"].(map[string]any)["self"].(string)
	if self != "/api/events/"+ev["id"].(string) {
		t.Fatalf("links.self = %s", self)
	}
	shown := s.Get(t, self).Expect(t, http.StatusOK).Data(t)
	if fmt.Sprint(shown) != fmt.Sprint(ev) {
		t.Fatalf("show differs from list:\n%v\n%v", shown, ev)
	}
}

// The reference's event source admits only project, environment and step
// linkage: an asset's event keeps the link and leaves the linkage out.
func TestEventSourceOutsideReferenceTypes(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{"code": "opc", "name": "OpsChain"})).
		Expect(t, http.StatusCreated)
	s.Post(t, "/api/projects/opc/assets", testutil.Attrs("asset", map[string]any{"code": "soa", "name": "SOA"})).
		Expect(t, http.StatusCreated)
	items := s.Get(t, "/api/events?filter[type_eq]=api:assets:create").Expect(t, http.StatusOK).List(t)
	if len(items) != 1 {
		t.Fatalf("want one api:assets:create event, got %v", items)
	}
	src := items[0].(map[string]any)["relationships"].(map[string]any)["source"].(map[string]any)
	if _, ok := src["data"]; ok || src["links"].(map[string]any)["source"] != "/api/projects/opc/assets/soa" {
		t.Fatalf("asset event source: %v", src)
	}
}

func TestEventListOrderAndLimits(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	for i := 1; i <= 12; i++ {
		s.Post(t, "/api/events", testutil.Attrs("event", map[string]any{"type": fmt.Sprintf("custom %02d", i)})).
			Expect(t, http.StatusCreated)
	}
	custom := "filter[type_start]=custom"
	want := func(from, to int) string {
		var out []string
		for i := from; i <= to; i++ {
			out = append(out, fmt.Sprintf("custom %02d", i))
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		name    string
		query   string
		types   string
		partial bool
	}{
		// The latest ten, oldest first: what a reader of an audit log expects.
		{"default is the latest 10 ascending", custom, want(3, 12), true},
		{"limit", custom + "&limit=3", want(10, 12), true},
		{"limit covers all", custom + "&limit=1000", want(1, 12), false},
		{"explicit ascending sort starts at the oldest", custom + "&limit=3&sort=created_at", want(1, 3), true},
		{"descending sort", custom + "&limit=2&filter[sorts]=created_at desc", "custom 12,custom 11", true},
		{"keyset paging walks from the oldest", custom + "&page[size]=5", want(1, 5), true},
		{"or filter", "filter[m]=or&filter[type_eq]=custom 01&filter[username_eq]=nobody", "custom 01", false},
		{"in filter", "filter[type_in][]=custom 01&filter[type_in][]=custom 07", "custom 01,custom 07", false},
		{"by username and system", custom + "&filter[username_eq]=admin&filter[system_false]=true&limit=1", "custom 12", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.Get(t, "/api/events?"+identQuery(tc.query)).Expect(t, http.StatusOK)
			if got := strings.Join(identEventTypes(t, resp), ","); got != tc.types {
				t.Fatalf("types %s, want %s", got, tc.types)
			}
			if got := identPartial(t, resp); got != tc.partial {
				t.Fatalf("partial_response %v, want %v", got, tc.partial)
			}
		})
	}

	bad := []struct{ query, param string }{
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=ten", "limit"},
		{"filter[secret_eq]=x", "filter[secret_eq]"},
		{"filter[id_eq]=1 OR 1=1", "filter[id_eq]"},
		{"filter[created_at_gt]=yesterday", "filter[created_at_gt]"},
		{"sort=-password", "sort"},
		{"include=source", "include"},
		{"page[after]=garbage", "page[after]"},
		{"foo=bar", "foo"},
	}
	for _, tc := range bad {
		t.Run("rejects "+tc.query, func(t *testing.T) {
			e := s.Get(t, "/api/events?"+identQuery(tc.query)).Expect(t, http.StatusBadRequest).ErrorObject(t)
			if got, _ := e["source"].(map[string]any)["parameter"].(string); got != tc.param {
				t.Fatalf("parameter %q, want %q (%v)", got, tc.param, e)
			}
		})
	}
}

// identQuery escapes the values of a readable query string.
func identQuery(q string) string {
	var parts []string
	for _, kv := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
	}
	return strings.Join(parts, "&")
}

func TestEventCustom(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	bob := identUser(t, s, "bob")
	testutil.Grant(t, s.Store.Store, "bob", model.RuleAttributes{Path: "/events", Readable: true, Updatable: true})
	doc := testutil.Attrs("event", map[string]any{
		"type": "deploy approved", "any_key": "with a value", "count": 3, "ok": true,
		"nested": map[string]any{"key": "nested value"},
	})
	created := s.Do(t, testutil.Request{Method: http.MethodPost, Path: "/api/events", Token: bob, Body: doc}).
		Expect(t, http.StatusCreated)
	ev := created.Data(t)
	a := testutil.One[identCustomEvent](t, created)
	if a.Type != "deploy approved" || a.Username != "bob" || a.System ||
		a.AnyKey != "with a value" || a.Count != 3 || !a.OK ||
		fmt.Sprint(a.Nested) != "map[key:nested value]" {
		t.Fatalf("custom event attributes: %+v", a)
	}
	src := ev["relationships"].(map[string]any)["source"].(map[string]any)
	if links, ok := src["links"].(map[string]any); !ok || links["source"] != nil || len(links) != 1 {
		t.Fatalf("a custom event's source link must be null: %v", src)
	}
	if _, ok := src["data"]; ok {
		t.Fatalf("a custom event has no source data: %v", src)
	}
	if loc := created.Header.Get("Location"); loc != "/api/events/"+a.ID {
		t.Fatalf("Location = %q", loc)
	}
	shown := s.Get(t, "/api/events/"+a.ID+"?fields[event]=type,any_key").Expect(t, http.StatusOK).Data(t)
	if got := identAttrs(t, shown); len(got) != 2 || got["any_key"] != "with a value" {
		t.Fatalf("sparse fields: %v", got)
	}

	before := identCount(t, s, "events")
	cases := []struct {
		name    string
		body    any
		status  int
		pointer string
	}{
		{"missing type", testutil.Attrs("event", map[string]any{"any_key": "x"}), http.StatusUnprocessableEntity, "/data/attributes/type"},
		{"empty type", testutil.Attrs("event", map[string]any{"type": ""}), http.StatusUnprocessableEntity, "/data/attributes/type"},
		{"type not a string", testutil.Attrs("event", map[string]any{"type": 7}), http.StatusUnprocessableEntity, "/data/attributes/type"},
		{"username is Steward's", testutil.Attrs("event", map[string]any{"type": "x", "username": "admin"}), http.StatusUnprocessableEntity, "/data/attributes/username"},
		{"system is Steward's", testutil.Attrs("event", map[string]any{"type": "x", "system": true}), http.StatusUnprocessableEntity, "/data/attributes/system"},
		{"wrong resource type", testutil.Attrs("project", map[string]any{"type": "x"}), http.StatusConflict, "/data/type"},
		{"no data", map[string]any{"meta": map[string]any{}}, http.StatusBadRequest, "/data"},
		{"malformed JSON", `{"data":`, http.StatusBadRequest, "/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.Do(t, testutil.Request{Method: http.MethodPost, Path: "/api/events", Body: tc.body, SkipContract: tc.status == http.StatusBadRequest}).
				Expect(t, tc.status).ErrorObject(t)
			if got := identPointer(t, e); got != tc.pointer {
				t.Fatalf("pointer %q, want %q (%v)", got, tc.pointer, e)
			}
		})
	}
	if after := identCount(t, s, "events"); after != before {
		t.Fatalf("rejected events were written: %d -> %d", before, after)
	}
	s.Get(t, "/api/events/"+model.NewID()).Expect(t, http.StatusNotFound)
	s.Get(t, "/api/events/not-a-uuid").Expect(t, http.StatusNotFound)
	s.Do(t, testutil.Request{Method: http.MethodDelete, Path: "/api/events/" + a.ID}).Expect(t, http.StatusMethodNotAllowed)
}

func TestEventCSVDownload(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	s.Post(t, "/api/events", testutil.Attrs("event", map[string]any{"type": "custom, with a comma"})).Expect(t, http.StatusCreated)
	resp := s.Do(t, testutil.Request{Method: http.MethodGet, Path: "/api/events?download=events.csv&filter[type_start]=custom",
		Header: map[string]string{"Accept": "text/csv"}}).Expect(t, http.StatusOK)
	if !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("Content-Disposition = %q", resp.Header.Get("Content-Disposition"))
	}
	lines := strings.Split(strings.TrimSpace(string(resp.Body)), "\n")
	if len(lines) != 2 || lines[0] != "id,type,username,system,created_at" || !strings.Contains(lines[1], `"custom, with a comma",admin,false,`) {
		t.Fatalf("csv:\n%s", resp.Body)
	}
}
