package handler_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

var coreNodePaths = []string{
	"/api/projects/p",
	"/api/projects/p/environments/e",
	"/api/projects/p/assets/pa",
	"/api/projects/p/environments/e/assets/ea",
}

// coreBookmarkTree is project p, environment e, project asset pa and
// environment asset ea: one node at each of the four node paths.
func coreBookmarkTree(t *testing.T) *testutil.Server {
	t.Helper()
	s := coreTree(t)
	coreCreate(t, s, "/api/projects/p/assets", "asset", "pa")
	coreCreate(t, s, "/api/projects/p/environments/e/assets", "asset", "ea")
	return s
}

// coreBookmarksOf is the bookmarks relationship of a node document, of any kind.
func coreBookmarksOf(t *testing.T, r *testutil.Response) []*testutil.Bookmark {
	t.Helper()
	switch n := testutil.OneNode(t, r); n.Type {
	case "project":
		return testutil.One[testutil.Project](t, r).Bookmarks
	case "environment":
		return testutil.One[testutil.Environment](t, r).Bookmarks
	default:
		return testutil.One[testutil.Asset](t, r).Bookmarks
	}
}

// coreUserToken creates a non-admin user with its own token.
func coreUserToken(t *testing.T, s *testutil.Server, name string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Store.CreateUser(ctx, model.SystemActor, name, nil); err != nil {
		t.Fatalf("create user: %v", err)
	}
	testutil.Grant(t, s.Store.Store, name, model.RuleAttributes{Path: "/", Readable: true})
	secret := "stw_core-" + name + "-token-0123456789"
	if _, _, err := s.Store.CreateToken(ctx, model.SystemActor, name, "test", 0, secret); err != nil {
		t.Fatalf("create token: %v", err)
	}
	return secret
}

func TestBookmarkLifecycle(t *testing.T) {
	t.Parallel()
	for _, node := range coreNodePaths {
		t.Run(node, func(t *testing.T) {
			t.Parallel()
			s := coreBookmarkTree(t)
			alice := coreUserToken(t, s, "alice")
			coll := node + "/bookmarks"

			// The reference's body carries created_by; the caller wins.
			created := s.Do(t, testutil.Request{Method: http.MethodPost, Path: coll, Token: alice,
				Body: testutil.Attrs("bookmark", map[string]any{"url": "https://grafana.example/d/1", "description": "Dashboard", "created_by": "mallory"}),
			}).Expect(t, http.StatusCreated)
			b := created.Data(t)
			a := testutil.One[testutil.Bookmark](t, created)
			id := a.ID
			self := coll + "/" + id
			if a.CreatedBy != "alice" || a.URL != "https://grafana.example/d/1" || a.Description != "Dashboard" {
				t.Fatalf("created bookmark %+v", a)
			}
			if created.Header.Get("Location") != self || b["links"].(map[string]any)["self"] != self || b["links"].(map[string]any)["parent"] != node {
				t.Fatalf("bookmark links %v, Location %q", b["links"], created.Header.Get("Location"))
			}
			if coreLastEvent(t, s) != "api:bookmarks:create" {
				t.Fatalf("create recorded %q", coreLastEvent(t, s))
			}

			list := testutil.Many[testutil.Bookmark](t, s.Get(t, coll).Expect(t, http.StatusOK))
			if len(list) != 1 || !coreIDs(testutil.IDs(list))[id] {
				t.Fatalf("list %+v", list)
			}
			// The bookmarks relationship, read through the node's own type,
			// and (with include) resolved from included.
			rel := coreBookmarksOf(t, s.Get(t, node).Expect(t, http.StatusOK))
			if len(rel) != 1 || rel[0].ID != id {
				t.Fatalf("node relationship bookmarks %+v", rel)
			}
			inc := s.Get(t, node+"?include=bookmarks").Expect(t, http.StatusOK)
			if got := coreBookmarksOf(t, inc); len(got) != 1 || got[0].URL != a.URL {
				t.Fatalf("include=bookmarks %s", inc.Body)
			}
			if n := len(inc.JSON(t)["included"].([]any)); n != 1 {
				t.Fatalf("include=bookmarks included %d resources, want 1", n)
			}

			shown := testutil.One[testutil.Bookmark](t, s.Get(t, self).Expect(t, http.StatusOK))
			if shown.CreatedAt != a.CreatedAt {
				t.Fatalf("show %+v", shown)
			}
			upd := testutil.One[testutil.Bookmark](t, s.Patch(t, self, testutil.Attrs("bookmark", map[string]any{"description": "Main dashboard"})).Expect(t, http.StatusOK))
			if upd.URL != a.URL || upd.Description != "Main dashboard" || upd.CreatedBy != "alice" {
				t.Fatalf("PATCH description changed more: %+v", upd)
			}
			upd = testutil.One[testutil.Bookmark](t, s.Patch(t, self, testutil.Attrs("", map[string]any{"url": "https://grafana.example/d/2"})).Expect(t, http.StatusOK))
			if upd.URL != "https://grafana.example/d/2" || upd.Description != "Main dashboard" {
				t.Fatalf("PATCH url: %+v", upd)
			}
			if coreLastEvent(t, s) != "api:bookmarks:update" {
				t.Fatalf("update recorded %q", coreLastEvent(t, s))
			}

			s.Delete(t, self).Expect(t, http.StatusNoContent)
			if coreLastEvent(t, s) != "api:bookmarks:delete" {
				t.Fatalf("delete recorded %q", coreLastEvent(t, s))
			}
			s.Get(t, self).Expect(t, http.StatusNotFound)
			s.Delete(t, self).Expect(t, http.StatusNotFound)
			if n := len(testutil.Many[testutil.Bookmark](t, s.Get(t, coll).Expect(t, http.StatusOK))); n != 0 {
				t.Fatalf("%d bookmarks left", n)
			}
		})
	}
}

func TestBookmarkRefusals(t *testing.T) {
	t.Parallel()
	s := coreBookmarkTree(t)
	own := testutil.One[testutil.Bookmark](t, s.Post(t, "/api/projects/p/assets/pa/bookmarks", testutil.Attrs("bookmark", map[string]any{"url": "https://example.com/a"})).
		Expect(t, http.StatusCreated)).ID
	mine := "/api/projects/p/assets/pa/bookmarks/" + own
	cases := []struct {
		name    string
		method  string
		path    string
		body    any
		status  int
		pointer string
	}{
		{"another node's bookmark", "GET", "/api/projects/p/bookmarks/" + own, nil, 404, ""},
		{"the same code under the environment", "GET", "/api/projects/p/environments/e/assets/pa/bookmarks/" + own, nil, 404, ""},
		{"another node's bookmark on patch", "PATCH", "/api/projects/p/environments/e/bookmarks/" + own, testutil.Attrs("bookmark", map[string]any{"url": "https://x.example"}), 404, ""},
		{"another node's bookmark on delete", "DELETE", "/api/projects/p/bookmarks/" + own, nil, 404, ""},
		{"id that is no UUID", "GET", "/api/projects/p/bookmarks/not-a-uuid", nil, 404, ""},
		{"SQL as an id", "DELETE", "/api/projects/p/bookmarks/1%27%20OR%20%271%27=%271", nil, 404, ""},
		{"unknown node", "POST", "/api/projects/nope/bookmarks", testutil.Attrs("bookmark", map[string]any{"url": "https://x.example"}), 404, ""},
		{"missing url", "POST", "/api/projects/p/bookmarks", testutil.Attrs("bookmark", map[string]any{"description": "x"}), 422, "/data/attributes/url"},
		{"relative url", "POST", "/api/projects/p/bookmarks", testutil.Attrs("bookmark", map[string]any{"url": "/just/a/path"}), 422, "/data/attributes/url"},
		{"javascript url", "POST", "/api/projects/p/bookmarks", testutil.Attrs("bookmark", map[string]any{"url": "javascript:alert(1)"}), 422, "/data/attributes/url"},
		{"url as a number", "POST", "/api/projects/p/bookmarks", testutil.Attrs("bookmark", map[string]any{"url": 7}), 422, "/data/attributes/url"},
		{"null url on patch", "PATCH", mine, testutil.Attrs("bookmark", map[string]any{"url": nil}), 422, "/data/attributes/url"},
		{"unknown attribute", "POST", "/api/projects/p/bookmarks", testutil.Attrs("bookmark", map[string]any{"url": "https://x.example", "title": "x"}), 422, "/data/attributes/title"},
		{"created_by on patch", "PATCH", mine, testutil.Attrs("bookmark", map[string]any{"created_by": "mallory"}), 422, "/data/attributes/created_by"},
		{"created_by not a string", "POST", "/api/projects/p/bookmarks", testutil.Attrs("bookmark", map[string]any{"url": "https://x.example", "created_by": 1}), 422, "/data/attributes/created_by"},
		{"description too long", "POST", "/api/projects/p/bookmarks", testutil.Attrs("bookmark", map[string]any{"url": "https://x.example", "description": strings.Repeat("d", 1001)}), 422, "/data/attributes/description"},
		{"wrong type", "POST", "/api/projects/p/bookmarks", testutil.Attrs("project", map[string]any{"url": "https://x.example"}), 409, "/data/type"},
		{"client-generated id", "POST", "/api/projects/p/bookmarks", map[string]any{"data": map[string]any{"type": "bookmark", "id": "0195f3a4-6a1b-7c3d-8e9f-0123456789ab", "attributes": map[string]any{"url": "https://x.example"}}}, 403, "/data/id"},
		{"other id on patch", "PATCH", mine, map[string]any{"data": map[string]any{"type": "bookmark", "id": "0195f3a4-6a1b-7c3d-8e9f-0123456789ab", "attributes": map[string]any{"url": "https://x.example"}}}, 409, "/data/id"},
		{"malformed JSON", "PATCH", mine, `{"data":`, 400, "/"},
		{"unknown query parameter", "POST", "/api/projects/p/bookmarks?force=1", testutil.Attrs("bookmark", map[string]any{"url": "https://x.example"}), 400, ""},
		{"unknown filter", "GET", "/api/projects/p/bookmarks?filter[secret_eq]=1", nil, 400, ""},
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
	if a := testutil.One[testutil.Bookmark](t, s.Get(t, mine).Expect(t, http.StatusOK)); a.URL != "https://example.com/a" {
		t.Fatalf("refused requests changed the bookmark: %+v", a)
	}
}

func TestBookmarkListFiltersAndFields(t *testing.T) {
	t.Parallel()
	s := coreBookmarkTree(t)
	for _, u := range []string{"https://a.example/1", "https://b.example/2", "https://a.example/3"} {
		s.Post(t, "/api/projects/p/bookmarks", testutil.Attrs("bookmark", map[string]any{"url": u})).Expect(t, http.StatusCreated)
	}
	if n := len(testutil.Many[testutil.Bookmark](t, s.Get(t, "/api/projects/p/bookmarks?filter[url_start]=https://a.").Expect(t, http.StatusOK))); n != 2 {
		t.Fatalf("url_start matched %d, want 2", n)
	}
	if n := len(testutil.Many[testutil.Bookmark](t, s.Get(t, "/api/projects/p/bookmarks?filter[created_by_eq]=admin&limit=1").Expect(t, http.StatusOK))); n != 1 {
		t.Fatalf("limit=1 returned %d", n)
	}
	list := s.Get(t, "/api/projects/p/bookmarks?fields[bookmark]=url").Expect(t, http.StatusOK).List(t)
	if a := coreAttrs(list[0].(map[string]any)); len(a) != 1 || a["url"] == nil {
		t.Fatalf("fields[bookmark]=url kept %v", a)
	}
	id := list[0].(map[string]any)["id"].(string)
	if a := coreAttrs(s.Get(t, "/api/projects/p/bookmarks/"+id+"?fields[bookmark]=created_by").Expect(t, http.StatusOK).Data(t)); len(a) != 1 {
		t.Fatalf("fields on show kept %v", a)
	}
}
