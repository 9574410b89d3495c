package handler_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
)

// TestPathsAreNeverRewritten: an encoded separator or a dot-segment in a
// path is a 404 JSON:API error, never a redirect to (or an action on) the
// resource the cleaned path would name.
func TestPathsAreNeverRewritten(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{"code": "victim", "name": "Victim"})).Expect(t, http.StatusCreated)
	s.Post(t, "/api/projects/victim/environments", testutil.Attrs("environment", map[string]any{"code": "dev", "name": "Dev"})).
		Expect(t, http.StatusCreated)
	for _, tc := range []struct{ method, path string }{
		{http.MethodDelete, "/api/projects/nosuch%2F..%2Fvictim"},
		{http.MethodDelete, "/api/projects/nosuch%2f..%2fvictim"},
		{http.MethodGet, "/api/projects/..%2F..%2Fetc%2Fpasswd"},
		{http.MethodGet, "/api/projects/victim%2Fenvironments%2Fdev"},
		{http.MethodGet, "/api/projects/victim%5Cenvironments"},
		{http.MethodGet, "/api/projects/./victim"},
		{http.MethodGet, "/api/projects/x/../victim"},
		{http.MethodGet, "/api/projects/%2E%2E/projects/victim"},
		{http.MethodGet, "/api//projects/victim"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := s.Do(t, testutil.Request{Method: tc.method, Path: tc.path})
			if r.Status != http.StatusNotFound {
				t.Fatalf("status %d, want 404:\n%s", r.Status, r.Body)
			}
			if loc := r.Header.Get("Location"); loc != "" {
				t.Fatalf("redirected to %s", loc)
			}
			if !strings.Contains(string(r.Body), `"errors"`) {
				t.Fatalf("not a JSON:API error: %s", r.Body)
			}
		})
	}
	victim := s.Get(t, "/api/projects/victim").Expect(t, http.StatusOK).Data(t)
	if victim["attributes"].(map[string]any)["archived"] != false {
		t.Fatalf("victim was archived through an odd path: %v", victim)
	}
}
