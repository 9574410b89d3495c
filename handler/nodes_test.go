package handler_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
)

// coreKind is one of the four node collections, with the setup it needs.
type coreKind struct {
	name       string
	typ        string
	collection string // where nodes of this kind are listed and created
	childPath  string // a child collection below an item ("" for assets)
	childType  string
	events     string // the event type prefix, api:<segment>
}

var coreKinds = []coreKind{
	{"project", "project", "/api/projects", "/environments", "environment", "api:projects"},
	{"environment", "environment", "/api/projects/p/environments", "/assets", "asset", "api:environments"},
	{"project asset", "asset", "/api/projects/p/assets", "", "", "api:assets"},
	{"environment asset", "asset", "/api/projects/p/environments/e/assets", "", "", "api:assets"},
}

// coreTree starts a server holding project p with environment e.
func coreTree(t *testing.T) *testutil.Server {
	t.Helper()
	s := testutil.NewServer(t)
	coreCreate(t, s, "/api/projects", "project", "p")
	coreCreate(t, s, "/api/projects/p/environments", "environment", "e")
	return s
}

func coreCreate(t *testing.T, s *testutil.Server, collection, typ, code string) *testutil.Node {
	t.Helper()
	return testutil.OneNode(t, s.Post(t, collection, testutil.Attrs(typ, map[string]any{"code": code, "name": "Name " + code})).
		Expect(t, http.StatusCreated))
}

// coreAttrs reads a resource's attributes raw, for checks of which keys a
// document holds (sparse fieldsets); values are read through testutil.One.
func coreAttrs(res map[string]any) map[string]any {
	a, _ := res["attributes"].(map[string]any)
	return a
}

// coreCounts counts the rows a bad request must never add or change.
type coreCounts map[string]int64

var coreTables = []string{"nodes", "events", "bookmarks", "property_sets", "property_set_versions"}

func coreCount(t *testing.T, s *testutil.Server) coreCounts {
	t.Helper()
	out := coreCounts{}
	for _, table := range coreTables {
		var n int64
		if err := s.Store.DB.Table(table).Count(&n).Error; err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		out[table] = n
	}
	var archived int64
	s.Store.DB.Table("nodes").Where("archived = ?", true).Count(&archived)
	out["archived nodes"] = archived
	return out
}

func (before coreCounts) unchanged(t *testing.T, s *testutil.Server, what string) {
	t.Helper()
	after := coreCount(t, s)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed %s: %d -> %d", what, k, v, after[k])
		}
	}
}

// coreLastEvent is the type of the newest event.
func coreLastEvent(t *testing.T, s *testutil.Server) string {
	t.Helper()
	var typ string
	if err := s.Store.DB.Table("events").Select("type").Order("id DESC").Limit(1).Scan(&typ).Error; err != nil {
		t.Fatalf("read events: %v", err)
	}
	return typ
}

func coreIDs(ids []string) map[string]bool {
	out := map[string]bool{}
	for _, id := range ids {
		out[id] = true
	}
	return out
}

// coreListIDs lists the ids of a node list.
func coreListIDs(t *testing.T, s *testutil.Server, path string) map[string]bool {
	t.Helper()
	return coreIDs(testutil.IDs(testutil.ManyNodes(t, s.Get(t, path).Expect(t, http.StatusOK))))
}

// coreProjectOf is the project a node document names in its project
// relationship, resolved from included when it is there.
func coreProjectOf(t *testing.T, typ string, r *testutil.Response) *testutil.Project {
	t.Helper()
	switch typ {
	case "environment":
		return testutil.One[testutil.Environment](t, r).Project
	case "asset":
		return testutil.One[testutil.Asset](t, r).Project
	}
	t.Fatalf("a %s has no project relationship", typ)
	return nil
}

func TestNodeLifecycle(t *testing.T) {
	t.Parallel()
	for _, k := range coreKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			s := coreTree(t)
			events := coreCount(t, s)["events"]

			created := s.Post(t, k.collection, testutil.Attrs(k.typ, map[string]any{
				"code": "n1", "name": "Node one", "description": "first",
			})).Expect(t, http.StatusCreated)
			self := k.collection + "/n1"
			data := created.Data(t)
			n := testutil.OneNode(t, created)
			if created.Header.Get("Location") != self || n.Type != k.typ || data["links"].(map[string]any)["self"] != self {
				t.Fatalf("created %s at %q: %v", n.Type, created.Header.Get("Location"), data)
			}
			if n.Code != "n1" || n.Name != "Node one" || testutil.Str(n.Description) != "first" || n.Archived {
				t.Fatalf("created attributes %+v", n)
			}
			rels := data["relationships"].(map[string]any)
			for _, r := range []string{"properties", "settings", "parents", "bookmarks"} {
				if rels[r] == nil {
					t.Errorf("relationship %s missing", r)
				}
			}
			if got := coreCount(t, s)["events"]; got != events+1 || coreLastEvent(t, s) != k.events+":create" {
				t.Fatalf("create recorded %d events, last %q", got-events, coreLastEvent(t, s))
			}

			showResp := s.Get(t, self).Expect(t, http.StatusOK)
			show := showResp.JSON(t)
			if _, ok := show["included"]; !ok {
				t.Fatalf("show has no included: %v", show)
			}
			if k.typ != "project" {
				// The show includes the node's project, as the reference does:
				// its attributes are there only when it was resolved from included.
				if p := coreProjectOf(t, k.typ, showResp); p == nil || p.Code != "p" {
					t.Fatalf("show does not include the project %+v: %s", p, showResp.Body)
				}
			}

			if !coreListIDs(t, s, k.collection)[n.ID] {
				t.Fatalf("list misses the new node %s", n.ID)
			}

			// Absent attributes keep their values; null clears a nullable one.
			upd := testutil.OneNode(t, s.Patch(t, self, testutil.Attrs(k.typ, map[string]any{"name": "Renamed"})).Expect(t, http.StatusOK))
			if upd.Name != "Renamed" || testutil.Str(upd.Description) != "first" || upd.Code != "n1" {
				t.Fatalf("PATCH name changed more: %+v", upd)
			}
			upd = testutil.OneNode(t, s.Patch(t, self, testutil.Attrs("", map[string]any{"description": nil})).Expect(t, http.StatusOK))
			if upd.Name != "Renamed" || upd.Description != nil {
				t.Fatalf("PATCH description:null: %+v", upd)
			}
			if coreLastEvent(t, s) != k.events+":update" {
				t.Fatalf("update recorded %q", coreLastEvent(t, s))
			}

			s.Delete(t, self).Expect(t, http.StatusNoContent)
			if coreLastEvent(t, s) != k.events+":archive" {
				t.Fatalf("archive recorded %q", coreLastEvent(t, s))
			}
			if a := testutil.OneNode(t, s.Get(t, self).Expect(t, http.StatusOK)); !a.Archived || a.Name != "Renamed" {
				t.Fatalf("archived node reads %+v", a)
			}
			if !coreListIDs(t, s, k.collection)[n.ID] {
				t.Fatalf("the list leaves out archived nodes")
			}
			child := testutil.Attrs(k.childType, map[string]any{"code": "c", "name": "Child"})
			if k.childPath != "" {
				before := coreCount(t, s)
				e := s.Post(t, self+k.childPath, child).Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
				if !strings.Contains(e["detail"].(string), "archived") {
					t.Errorf("archived parent error: %v", e)
				}
				before.unchanged(t, s, "a child of an archived node")
			}

			again := testutil.OneNode(t, s.Patch(t, self, testutil.Attrs(k.typ, map[string]any{"archived": false})).Expect(t, http.StatusOK))
			if again.Archived {
				t.Fatalf("PATCH archived:false left %+v", again)
			}
			if k.childPath != "" {
				s.Post(t, self+k.childPath, child).Expect(t, http.StatusCreated)
			}
		})
	}
}

func TestNodeCodes(t *testing.T) {
	t.Parallel()
	codes := []struct {
		code    any
		status  int
		errCode string
	}{
		{"a", 201, ""},
		{"Dev-2_b", 201, ""},
		{strings.Repeat("x", 50), 201, ""},
		{"", 422, "blank"},
		{strings.Repeat("x", 51), 422, "too_long"},
		{"a/b", 422, "invalid_format"},
		{"a b", 422, "invalid_format"},
		{"a.b", 422, "invalid_format"},
		{"..", 422, "invalid_format"},
		{"a%2Fb", 422, "invalid_format"},
		{"é", 422, "invalid_format"},
		{"x'; DROP TABLE nodes; --", 422, "invalid_format"},
		{nil, 422, "invalid_type"},
		{42, 422, "invalid_type"},
	}
	for _, k := range coreKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			s := coreTree(t)
			for _, c := range codes {
				before := coreCount(t, s)
				resp := s.Post(t, k.collection, testutil.Attrs(k.typ, map[string]any{"code": c.code, "name": "N"}))
				resp.Expect(t, c.status)
				if c.status == 201 {
					continue
				}
				e := resp.ErrorObject(t)
				if e["source"].(map[string]any)["pointer"] != "/data/attributes/code" || e["code"] != c.errCode {
					t.Errorf("code %q: %v", c.code, e)
				}
				before.unchanged(t, s, "an invalid code")
			}
			before := coreCount(t, s)
			e := s.Post(t, k.collection, testutil.Attrs(k.typ, map[string]any{"name": "no code"})).
				Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
			if e["source"].(map[string]any)["pointer"] != "/data/attributes/code" {
				t.Errorf("missing code: %v", e)
			}
			dup := s.Post(t, k.collection, testutil.Attrs(k.typ, map[string]any{"code": "a", "name": "Again"})).
				Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
			if dup["source"].(map[string]any)["pointer"] != "/data/attributes/code" || dup["code"] != "taken" {
				t.Errorf("duplicate code: %v", dup)
			}
			before.unchanged(t, s, "a missing or duplicate code")
		})
	}
}

func TestNodeCodesAreUniqueAmongSiblingsOnly(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	for _, p := range []string{"p1", "p2"} {
		coreCreate(t, s, "/api/projects", "project", p)
		coreCreate(t, s, "/api/projects/"+p+"/environments", "environment", "dev")
		coreCreate(t, s, "/api/projects/"+p+"/assets", "asset", "dev")
		coreCreate(t, s, "/api/projects/"+p+"/environments/dev/assets", "asset", "dev")
	}
	coreCreate(t, s, "/api/projects", "project", "dev")
	coreCreate(t, s, "/api/projects", "project", "DEV") // codes are case-sensitive
	for _, path := range []string{"/api/projects/p1/environments/dev", "/api/projects/p2/environments/dev/assets/dev", "/api/projects/DEV"} {
		s.Get(t, path).Expect(t, http.StatusOK)
	}
	if n := len(testutil.ManyNodes(t, s.Get(t, "/api/projects/p1/environments").Expect(t, http.StatusOK))); n != 1 {
		t.Fatalf("p1 lists %d environments, want 1", n)
	}
	if n := len(testutil.ManyNodes(t, s.Get(t, "/api/projects/p1/assets").Expect(t, http.StatusOK))); n != 1 {
		t.Fatalf("p1 lists %d project assets, want 1 (environment assets are listed under the environment)", n)
	}
}

func TestNodeRefusals(t *testing.T) {
	t.Parallel()
	s := coreTree(t)
	coreCreate(t, s, "/api/projects", "project", "other")
	coreCreate(t, s, "/api/projects/p/assets", "asset", "a")
	env := testutil.One[testutil.Environment](t, s.Get(t, "/api/projects/p/environments/e").Expect(t, http.StatusOK))
	cases := []struct {
		name    string
		method  string
		path    string
		body    any
		status  int
		pointer string
	}{
		{"unknown project", "GET", "/api/projects/nope", nil, 404, ""},
		{"unknown environment", "GET", "/api/projects/p/environments/nope", nil, 404, ""},
		{"environment under another project", "GET", "/api/projects/other/environments/e", nil, 404, ""},
		{"asset path of an environment", "GET", "/api/projects/p/assets/e", nil, 404, ""},
		{"patch unknown", "PATCH", "/api/projects/nope", testutil.Attrs("project", map[string]any{"name": "x"}), 404, ""},
		{"archive unknown", "DELETE", "/api/projects/p/environments/nope", nil, 404, ""},
		{"create under unknown project", "POST", "/api/projects/nope/environments", testutil.Attrs("environment", map[string]any{"code": "x", "name": "x"}), 404, ""},
		{"wrong type", "POST", "/api/projects", testutil.Attrs("environment", map[string]any{"code": "x", "name": "x"}), 409, "/data/type"},
		{"wrong type on patch", "PATCH", "/api/projects/p", testutil.Attrs("project_type", map[string]any{"name": "x"}), 409, "/data/type"},
		{"other id on patch", "PATCH", "/api/projects/p/environments/e", map[string]any{"data": map[string]any{"type": "environment", "id": "0195f3a4-6a1b-7c3d-8e9f-0123456789ab", "attributes": map[string]any{"name": "x"}}}, 409, "/data/id"},
		{"client-generated id", "POST", "/api/projects/p/assets", map[string]any{"data": map[string]any{"type": "asset", "id": "0195f3a4-6a1b-7c3d-8e9f-0123456789ab", "attributes": map[string]any{"code": "x", "name": "x"}}}, 403, "/data/id"},
		{"code is not updatable", "PATCH", "/api/projects/p", testutil.Attrs("project", map[string]any{"code": "q"}), 422, "/data/attributes/code"},
		{"unknown attribute", "POST", "/api/projects", testutil.Attrs("project", map[string]any{"code": "x", "name": "x", "owner": "me"}), 422, "/data/attributes/owner"},
		{"template on an environment", "POST", "/api/projects/p/environments", testutil.Attrs("environment", map[string]any{"code": "x", "name": "x", "template_name": "t"}), 422, "/data/attributes/template_name"},
		{"unknown template", "POST", "/api/projects/p/assets", testutil.Attrs("asset", map[string]any{"code": "x", "name": "x", "template_name": "nope"}), 422, "/data/attributes/template_name"},
		{"blank name", "POST", "/api/projects", testutil.Attrs("project", map[string]any{"code": "x", "name": "  "}), 422, "/data/attributes/name"},
		{"null name on patch", "PATCH", "/api/projects/p", testutil.Attrs("project", map[string]any{"name": nil}), 422, "/data/attributes/name"},
		{"archived as a string", "PATCH", "/api/projects/p", testutil.Attrs("project", map[string]any{"archived": "yes"}), 422, "/data/attributes/archived"},
		{"description too long", "POST", "/api/projects", testutil.Attrs("project", map[string]any{"code": "x", "name": "x", "description": strings.Repeat("d", 10001)}), 422, "/data/attributes/description"},
		{"empty project_type", "POST", "/api/projects", testutil.Attrs("project", map[string]any{"code": "x", "name": "x", "project_type": ""}), 422, "/data/attributes/project_type"},
		{"empty project_type on patch", "PATCH", "/api/projects/p", testutil.Attrs("project", map[string]any{"project_type": " "}), 422, "/data/attributes/project_type"},
		{"NUL in a name", "POST", "/api/projects", `{"data":{"type":"project","attributes":{"code":"x","name":"a\u0000b"}}}`, 422, "/data/attributes/name"},
		{"NUL in a description on patch", "PATCH", "/api/projects/p", `{"data":{"attributes":{"description":"\u0000"}}}`, 422, "/data/attributes/description"},
		{"NUL in a path", "GET", "/api/projects/p%00", nil, 404, ""},
		{"broken UTF-8 in a path", "DELETE", "/api/projects/p/environments/%FF%FE", nil, 404, ""},
		{"NUL in a path on create", "POST", "/api/projects/%00/assets", testutil.Attrs("asset", map[string]any{"code": "x", "name": "x"}), 404, ""},
		{"NUL in a filter", "GET", "/api/projects?filter[name_eq]=%00", nil, 400, ""},
		{"broken UTF-8 in a filter", "GET", "/api/projects/p/environments?filter[name_cont]=%FF", nil, 400, ""},
		{"malformed JSON", "POST", "/api/projects", `{"data":{"type":"project",`, 400, "/"},
		{"no data", "PATCH", "/api/projects/p", `{"attributes":{"name":"x"}}`, 400, "/data"},
		{"include on archive", "DELETE", "/api/projects/p?include=children", nil, 400, ""},
		{"unsupported include", "GET", "/api/projects/p/assets/a?include=children", nil, 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := coreCount(t, s)
			e := s.Do(t, testutil.Request{Method: c.method, Path: c.path, Body: c.body}).Expect(t, c.status).ErrorObject(t)
			if c.pointer != "" {
				if src, _ := e["source"].(map[string]any); src == nil || src["pointer"] != c.pointer {
					t.Errorf("error points at %v, want %s: %v", e["source"], c.pointer, e)
				}
			}
			before.unchanged(t, s, c.name)
		})
	}
	if a := testutil.One[testutil.Environment](t, s.Get(t, "/api/projects/p/environments/e").Expect(t, http.StatusOK)); a.Name != env.Name {
		t.Fatalf("refused requests changed the environment: %+v", a)
	}
}

func TestNodeArchivedProjectClosesItsEnvironments(t *testing.T) {
	t.Parallel()
	s := coreTree(t)
	s.Delete(t, "/api/projects/p").Expect(t, http.StatusNoContent)
	before := coreCount(t, s)
	s.Post(t, "/api/projects/p/environments/e/assets", testutil.Attrs("asset", map[string]any{"code": "a", "name": "A"})).
		Expect(t, http.StatusUnprocessableEntity)
	before.unchanged(t, s, "an asset below an archived project")
	// Bookmarks are not children: an archived node keeps taking them.
	s.Post(t, "/api/projects/p/bookmarks", testutil.Attrs("bookmark", map[string]any{"url": "https://example.com"})).
		Expect(t, http.StatusCreated)
}

func TestNodeShowIncludes(t *testing.T) {
	t.Parallel()
	s := coreTree(t)
	coreCreate(t, s, "/api/projects/p/environments/e/assets", "asset", "a")
	coreCreate(t, s, "/api/projects/p/assets", "asset", "pa")
	s.Post(t, "/api/projects/p/environments/e/bookmarks", testutil.Attrs("bookmark", map[string]any{"url": "https://example.com/e"})).
		Expect(t, http.StatusCreated)
	cases := []struct {
		path     string
		included []string // types in included, sorted as rendered
	}{
		{"/api/projects/p", []string{"asset", "environment"}},
		{"/api/projects/p?include=", nil},
		{"/api/projects/p?include=bookmarks", nil},
		{"/api/projects/p/environments/e", []string{"asset", "bookmark", "project"}},
		{"/api/projects/p/environments/e?include=project", []string{"project"}},
		{"/api/projects/p/environments/e?include=bookmarks,project", []string{"bookmark", "project"}},
		{"/api/projects/p/environments/e/assets/a", []string{"project"}},
		{"/api/projects/p/environments/e/assets/a?include=parents", []string{"environment", "project"}},
		{"/api/projects/p/environments/e/assets/a?include=project", []string{"project"}},
		{"/api/projects/p/assets/pa?include=parents,project", []string{"project"}},
	}
	for _, c := range cases {
		doc := s.Get(t, c.path).Expect(t, http.StatusOK).JSON(t)
		inc, ok := doc["included"].([]any)
		if !ok {
			t.Errorf("%s: no included array: %v", c.path, doc["included"])
			continue
		}
		var types []string
		for _, r := range inc {
			types = append(types, r.(map[string]any)["type"].(string))
		}
		if strings.Join(types, ",") != strings.Join(c.included, ",") {
			t.Errorf("%s: included types %v, want %v", c.path, types, c.included)
		}
	}
	list := s.Get(t, "/api/projects?include=children,bookmarks").Expect(t, http.StatusOK).JSON(t)
	if inc := list["included"].([]any); len(inc) != 2 {
		t.Errorf("project list include=children has %d included, want 2: %v", len(inc), inc)
	}
	sparse := s.Get(t, "/api/projects/p?fields[project]=name,children&fields[environment]=code").Expect(t, http.StatusOK).JSON(t)
	if a := coreAttrs(sparse["data"].(map[string]any)); len(a) != 1 || a["name"] == nil {
		t.Errorf("sparse fieldset kept %v", a)
	}
}

func TestNodeConcurrentDuplicateCodes(t *testing.T) {
	t.Parallel()
	s := coreTree(t)
	before := coreCount(t, s)
	const n = 8
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- s.Do(t, testutil.Request{Method: http.MethodPost, Path: "/api/projects/p/environments",
				Body: testutil.Attrs("environment", map[string]any{"code": "race", "name": "Race"})}).Status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[http.StatusCreated] != 1 || count[http.StatusUnprocessableEntity] != n-1 {
		t.Fatalf("concurrent creates of one code answered %v, want one 201 and %d 422s", count, n-1)
	}
	after := coreCount(t, s)
	if after["nodes"] != before["nodes"]+1 || after["events"] != before["events"]+1 || after["property_sets"] != before["property_sets"]+2 {
		t.Fatalf("the losers left rows behind: %v -> %v", before, after)
	}
}
