package handler_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testutil"
)

const coreMediaType = "application/vnd.api+json"

func coreProjectBody(code string) map[string]any {
	return testutil.Attrs("project", map[string]any{"code": code, "name": "N"})
}

func TestServerRules(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	coreCreate(t, s, "/api/projects", "project", "p")
	bm := testutil.One[testutil.Bookmark](t, s.Post(t, "/api/projects/p/bookmarks", testutil.Attrs("bookmark", map[string]any{"url": "https://x.example"})).
		Expect(t, http.StatusCreated)).ID
	cases := []struct {
		name   string
		req    testutil.Request
		status int
		allow  string // the Allow header a 405 must carry
		param  string // source.parameter of a 400
	}{
		{"content type with charset", testutil.Request{Method: "POST", Path: "/api/projects", Body: coreProjectBody("a"),
			Header: map[string]string{"Content-Type": coreMediaType + "; charset=utf-8"}}, 415, "", ""},
		{"content type with ext", testutil.Request{Method: "POST", Path: "/api/projects", Body: coreProjectBody("a"),
			Header: map[string]string{"Content-Type": coreMediaType + `; ext="https://jsonapi.org/ext/atomic"`}}, 415, "", ""},
		{"text/plain body", testutil.Request{Method: "POST", Path: "/api/projects", Body: coreProjectBody("a"),
			Header: map[string]string{"Content-Type": "text/plain"}}, 415, "", ""},
		{"form body", testutil.Request{Method: "PATCH", Path: "/api/projects/p", Body: "name=x",
			Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "", ""},
		{"body without content type", testutil.Request{Method: "POST", Path: "/api/projects", Body: coreProjectBody("a"),
			Header: map[string]string{"Content-Type": ""}}, 415, "", ""},
		{"unparsable content type", testutil.Request{Method: "POST", Path: "/api/projects", Body: coreProjectBody("a"),
			Header: map[string]string{"Content-Type": "application/vnd.api+json; ="}}, 415, "", ""},
		{"415 on an unknown route too", testutil.Request{Method: "POST", Path: "/api/nope", Body: "x",
			Header: map[string]string{"Content-Type": "text/plain"}}, 415, "", ""},
		{"accept with charset only", testutil.Request{Method: "GET", Path: "/api/projects",
			Header: map[string]string{"Accept": coreMediaType + "; charset=utf-8"}}, 406, "", ""},
		{"accept with ext only, twice", testutil.Request{Method: "GET", Path: "/api/projects",
			Header: map[string]string{"Accept": coreMediaType + `; ext="x", ` + coreMediaType + "; foo=bar"}}, 406, "", ""},
		{"accept html", testutil.Request{Method: "GET", Path: "/api/projects", Header: map[string]string{"Accept": "text/html"}}, 406, "", ""},
		{"406 before the body is read", testutil.Request{Method: "POST", Path: "/api/projects", Body: coreProjectBody("a"),
			Header: map[string]string{"Accept": coreMediaType + "; v=2"}}, 406, "", ""},
		{"unknown query parameter on a list", testutil.Request{Method: "GET", Path: "/api/projects?debug=1"}, 400, "", "debug"},
		{"unknown query parameter on show", testutil.Request{Method: "GET", Path: "/api/projects/p?page=2"}, 400, "", "page"},
		{"unknown query parameter on create", testutil.Request{Method: "POST", Path: "/api/projects?dry_run=1", Body: coreProjectBody("a")}, 400, "", "dry_run"},
		{"unknown query parameter on archive", testutil.Request{Method: "DELETE", Path: "/api/projects/p?cascade=1"}, 400, "", "cascade"},
		{"unsupported include", testutil.Request{Method: "GET", Path: "/api/projects?include=owner"}, 400, "", "include"},
		{"unsupported sort", testutil.Request{Method: "GET", Path: "/api/projects?sort=-secret"}, 400, "", "sort"},
		{"unknown filter attribute", testutil.Request{Method: "GET", Path: "/api/projects?filter[path_eq]=x"}, 400, "", "filter[path_eq]"},
		{"non-numeric limit", testutil.Request{Method: "GET", Path: "/api/projects?limit=all"}, 400, "", "limit"},
		{"page[after] garbage", testutil.Request{Method: "GET", Path: "/api/projects?page[after]=%27%3B--"}, 400, "", "page[after]"},
		{"unknown route", testutil.Request{Method: "GET", Path: "/api/nope"}, 404, "", ""},
		{"unknown route outside /api", testutil.Request{Method: "GET", Path: "/nope"}, 404, "", ""},
		{"unknown sub-resource", testutil.Request{Method: "GET", Path: "/api/projects/p/nope"}, 404, "", ""},
		{"trailing slash", testutil.Request{Method: "GET", Path: "/api/projects/"}, 404, "", ""},
		{"unknown record", testutil.Request{Method: "GET", Path: "/api/projects/nope"}, 404, "", ""},
		{"delete a collection", testutil.Request{Method: "DELETE", Path: "/api/projects"}, 405, "GET, HEAD, POST", ""},
		{"put a project", testutil.Request{Method: "PUT", Path: "/api/projects/p", Body: coreProjectBody("p")}, 405, "GET, HEAD, PATCH, DELETE", ""},
		{"post to a bookmark", testutil.Request{Method: "POST", Path: "/api/projects/p/bookmarks/" + bm, Body: "{}"}, 405, "GET, HEAD, PATCH, DELETE", ""},
		{"patch an asset list", testutil.Request{Method: "PATCH", Path: "/api/projects/p/assets", Body: "{}"}, 405, "GET, HEAD, POST", ""},
		{"wrong type", testutil.Request{Method: "POST", Path: "/api/projects", Body: testutil.Attrs("asset", map[string]any{"code": "a", "name": "A"})}, 409, "", ""},
		{"missing token", testutil.Request{Method: "GET", Path: "/api/projects", NoAuth: true}, 401, "", ""},
		{"missing token on create", testutil.Request{Method: "POST", Path: "/api/projects", NoAuth: true, Body: coreProjectBody("a")}, 401, "", ""},
		{"unknown token", testutil.Request{Method: "GET", Path: "/api/projects/p", Token: "stw_not-a-real-token"}, 401, "", ""},
		{"basic auth", testutil.Request{Method: "DELETE", Path: "/api/projects/p", NoAuth: true,
			Header: map[string]string{"Authorization": "Basic YWRtaW46YWRtaW4="}}, 401, "", ""},
		{"invalid value", testutil.Request{Method: "POST", Path: "/api/projects", Body: testutil.Attrs("project", map[string]any{"code": "a/b", "name": "A"})}, 422, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := coreCount(t, s)
			resp := s.Do(t, c.req).Expect(t, c.status)
			if ct := resp.Header.Get("Content-Type"); ct != coreMediaType {
				t.Errorf("Content-Type %q, want %s", ct, coreMediaType)
			}
			e := resp.ErrorObject(t)
			if e["status"] != strconv.Itoa(c.status) || e["title"] == "" || e["detail"] == "" {
				t.Errorf("error object %v", e)
			}
			if c.allow != "" && resp.Header.Get("Allow") != c.allow {
				t.Errorf("Allow %q, want %q", resp.Header.Get("Allow"), c.allow)
			}
			if c.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer: %v", resp.Header)
			}
			if c.param != "" {
				if src, _ := e["source"].(map[string]any); src == nil || src["parameter"] != c.param {
					t.Errorf("source %v, want parameter %s", e["source"], c.param)
				}
			}
			before.unchanged(t, s, c.name)
		})
	}
	if a := testutil.One[testutil.Project](t, s.Get(t, "/api/projects/p").Expect(t, http.StatusOK)); a.Archived || a.Name != "Name p" {
		t.Fatalf("refused requests changed project p: %+v", a)
	}
}

func TestServerAcceptsWhatItShould(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	cases := []struct {
		name   string
		header map[string]string
	}{
		{"content type with profile", map[string]string{"Content-Type": coreMediaType + `; profile="https://example.com/p"`}},
		{"plain JSON", map[string]string{"Content-Type": "application/json"}},
		{"accept with profile", map[string]string{"Accept": coreMediaType + `; profile="https://example.com/p"`}},
		{"one acceptable instance among parameterised ones", map[string]string{"Accept": coreMediaType + "; charset=utf-8, " + coreMediaType}},
		{"accept anything", map[string]string{"Accept": "*/*"}},
		{"accept with quality", map[string]string{"Accept": "text/html;q=0.9, " + coreMediaType + ";q=0.8"}},
		{"lower-case bearer", map[string]string{"Authorization": "bearer " + testutil.AdminToken}},
	}
	for i, c := range cases {
		code := "ok" + strconv.Itoa(i)
		s.Do(t, testutil.Request{Method: "POST", Path: "/api/projects", Body: coreProjectBody(code), Header: c.header}).
			Expect(t, http.StatusCreated)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		s.Do(t, testutil.Request{Method: "GET", Path: path, NoAuth: true}).Expect(t, http.StatusOK)
	}
	resp := s.Do(t, testutil.Request{Method: "GET", Path: "/api/projects", Header: map[string]string{"X-Request-Id": "trace-42"}}).Expect(t, http.StatusOK)
	if resp.Header.Get("X-Request-Id") != "trace-42" {
		t.Errorf("a sane X-Request-Id must be kept, got %q", resp.Header.Get("X-Request-Id"))
	}
	resp = s.Do(t, testutil.Request{Method: "GET", Path: "/api/projects", Header: map[string]string{"X-Request-Id": "<script>"}}).Expect(t, http.StatusOK)
	if id := resp.Header.Get("X-Request-Id"); id == "" || strings.Contains(id, "<") {
		t.Errorf("an unsafe X-Request-Id must be replaced, got %q", id)
	}
}

// coreRaw sends a request outside the test client, for bodies it cannot
// express (no Content-Length); the document checks still apply.
func coreRaw(t *testing.T, s *testutil.Server, method, path string, body io.Reader) *testutil.Response {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", coreMediaType)
	req.Header.Set("Authorization", "Bearer "+testutil.AdminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := &testutil.Response{Status: res.StatusCode, Header: res.Header, Body: b}
	testutil.CheckDocument(t, req, out)
	return out
}

func TestServerBodyLimit(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	coreCreate(t, s, "/api/projects", "project", "p")
	huge := `{"data":{"type":"project","attributes":{"code":"big","name":"` + strings.Repeat("x", 10<<20) + `"}}}`
	before := coreCount(t, s)
	s.Do(t, testutil.Request{Method: "POST", Path: "/api/projects", Body: huge}).Expect(t, http.StatusRequestEntityTooLarge).ErrorObject(t)
	// Without Content-Length the limit is found while reading.
	coreRaw(t, s, "PATCH", "/api/projects/p", io.MultiReader(strings.NewReader(huge))).Expect(t, http.StatusRequestEntityTooLarge).ErrorObject(t)
	coreRaw(t, s, "POST", "/api/projects/p/bookmarks", io.MultiReader(bytes.NewReader([]byte(huge)))).Expect(t, http.StatusRequestEntityTooLarge)
	before.unchanged(t, s, "a 10 MiB body")
	// Just under the limit is read and judged on its content.
	s.Post(t, "/api/projects", `{"data":{"type":"project","attributes":{"code":"big","name":"`+strings.Repeat("x", 900<<10)+`"}}}`).
		Expect(t, http.StatusUnprocessableEntity)
}

func TestServerPanicIsA500WithoutInternals(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	coreCreate(t, s, "/api/projects", "project", "p")
	var logged testutil.SyncBuffer
	s.API.Log = slog.New(slog.NewTextHandler(&logged, nil))
	before := coreCount(t, s)
	clock := s.Store.Now
	s.Store.Now = func() time.Time { panic("core-internal-detail: secret value") }
	resp := s.Post(t, "/api/projects/p/environments", testutil.Attrs("environment", map[string]any{"code": "e", "name": "E"})).
		Expect(t, http.StatusInternalServerError)
	s.Store.Now = clock
	e := resp.ErrorObject(t)
	body := string(resp.Body)
	for _, leak := range []string{"core-internal-detail", "secret", "goroutine", ".go:", "panic"} {
		if strings.Contains(body, leak) {
			t.Errorf("500 body leaks %q: %s", leak, body)
		}
	}
	if e["status"] != "500" || resp.Header.Get("Content-Type") != coreMediaType || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("500 document %s, headers %v", body, resp.Header)
	}
	if log := logged.String(); !strings.Contains(log, "request_id="+resp.Header.Get("X-Request-Id")) || !strings.Contains(log, "core-internal-detail") {
		t.Errorf("the panic is not logged with its request id and cause: %s", log)
	}
	before.unchanged(t, s, "a request that panicked")
	s.Get(t, "/api/projects/p").Expect(t, http.StatusOK) // the server lives on
}
