package handler_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
)

// plainClient leaves Accept-Encoding and bodies as they are (the default
// transport asks for gzip itself and hides that it did) and shows redirects.
var plainClient = &http.Client{
	Transport:     &http.Transport{DisableCompression: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// send makes one request with the admin token and the given headers.
func send(t *testing.T, s *testutil.Server, method, path string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testutil.AdminToken)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := plainClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func createProject(t *testing.T, s *testutil.Server, code string) {
	t.Helper()
	s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{
		"code": code, "name": "Project " + code, "description": "", "project_type": "Standard"})).Expect(t, http.StatusCreated)
}

func TestETagAndNotModified(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	createProject(t, s, "opc")
	for _, path := range []string{"/api/projects/opc", "/api/projects", "/api/openapi.yaml", "/api/openapi.json"} {
		t.Run(path, func(t *testing.T) {
			first := s.Get(t, path).Expect(t, http.StatusOK)
			etag := first.Header.Get("ETag")
			if !strings.HasPrefix(etag, `W/"`) || !strings.HasSuffix(etag, `"`) {
				t.Fatalf("ETag %q, want a weak tag", etag)
			}
			again := s.Get(t, path).Expect(t, http.StatusOK)
			if again.Header.Get("ETag") != etag {
				t.Errorf("the same document got ETag %q, then %q", etag, again.Header.Get("ETag"))
			}
			for _, inm := range []string{etag, strings.TrimPrefix(etag, "W/"), `"other", ` + etag, "*"} {
				nm := s.Do(t, testutil.Request{Method: http.MethodGet, Path: path, Header: map[string]string{"If-None-Match": inm}}).
					Expect(t, http.StatusNotModified)
				if len(nm.Body) != 0 || nm.Header.Get("ETag") != etag {
					t.Errorf("If-None-Match %s: 304 with a %d-byte body and ETag %q", inm, len(nm.Body), nm.Header.Get("ETag"))
				}
			}
			s.Do(t, testutil.Request{Method: http.MethodGet, Path: path, Header: map[string]string{"If-None-Match": `W/"stale"`}}).
				Expect(t, http.StatusOK)
		})
	}

	// A change to the resource changes its tag: the old one gets the document.
	old := s.Get(t, "/api/projects/opc").Header.Get("ETag")
	s.Patch(t, "/api/projects/opc", testutil.Attrs("project", map[string]any{"name": "Renamed"})).Expect(t, http.StatusOK)
	fresh := s.Do(t, testutil.Request{Method: http.MethodGet, Path: "/api/projects/opc", Header: map[string]string{"If-None-Match": old}}).
		Expect(t, http.StatusOK)
	if fresh.Header.Get("ETag") == old {
		t.Errorf("ETag %q did not change with the project", old)
	}
}

// TestNoETagOnErrorsAndWrites: only GET answers with a document are tagged.
func TestNoETagOnErrorsAndWrites(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	if tag := s.Get(t, "/api/projects/missing").Expect(t, http.StatusNotFound).Header.Get("ETag"); tag != "" {
		t.Errorf("a 404 got ETag %q", tag)
	}
	created := s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{
		"code": "w", "name": "W", "description": "", "project_type": "Standard"})).Expect(t, http.StatusCreated)
	if tag := created.Header.Get("ETag"); tag != "" {
		t.Errorf("a POST got ETag %q", tag)
	}
}

// TestHeadAnswersLikeGet: HEAD is answered wherever GET is, with GET's
// headers and no body.
func TestHeadAnswersLikeGet(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	createProject(t, s, "opc")
	f := testutil.InsertLogFixture(t, s.Store, "logs", 1)
	tests := []struct {
		path   string
		header map[string]string
	}{
		{"/api/projects/opc", nil},
		{"/api/projects", nil},
		{"/api/projects?download=projects.csv", nil},
		{"/api/openapi.yaml", nil},
		{"/api/openapi.json", nil},
		{"/api/docs", nil},
		{"/", nil},
		{"/api/projects/missing", nil},
		{"/api/projects/opc", map[string]string{"Accept-Encoding": "gzip"}},
		// A live log stream: HEAD gets its headers and ends; GET would follow it.
		{"/api/changes/" + f.Change.ID + "/log_lines", map[string]string{"Accept": "text/event-stream"}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			head, body := send(t, s, http.MethodHead, tc.path, tc.header)
			if len(body) != 0 {
				t.Errorf("HEAD answered with a %d-byte body", len(body))
			}
			if tc.header["Accept"] == "text/event-stream" {
				if head.StatusCode != http.StatusOK || !strings.HasPrefix(head.Header.Get("Content-Type"), "text/event-stream") {
					t.Errorf("HEAD of a stream: %d %q", head.StatusCode, head.Header.Get("Content-Type"))
				}
				return
			}
			get, getBody := send(t, s, http.MethodGet, tc.path, tc.header)
			if head.StatusCode != get.StatusCode {
				t.Fatalf("HEAD %d, GET %d", head.StatusCode, get.StatusCode)
			}
			for _, k := range []string{"Content-Type", "Content-Length", "Content-Encoding", "ETag", "Content-Disposition", "Location"} {
				if head.Header.Get(k) != get.Header.Get(k) {
					t.Errorf("%s: HEAD %q, GET %q", k, head.Header.Get(k), get.Header.Get(k))
				}
			}
			if len(getBody) == 0 {
				t.Error("GET answered no body: the comparison shows nothing")
			}
		})
	}

	// HEAD where there is no GET is a 405 that lists what is allowed.
	resp, _ := send(t, s, http.MethodHead, "/api/steps/"+f.Steps[0].ID+"/approve", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("HEAD of a POST-only route: %d, Allow %q; want 405 and POST", resp.StatusCode, resp.Header.Get("Allow"))
	}
	resp, _ = send(t, s, http.MethodDelete, "/api/projects", nil)
	if allow := resp.Header.Get("Allow"); allow != "GET, HEAD, POST" {
		t.Errorf("Allow %q, want GET, HEAD, POST", allow)
	}
}
