package handler_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
)

// TestUpperCaseChangeIDs: ids in URLs ignore case on both databases (see
// TestUpperCaseIDs): changes, their steps, bookmarks and events.
func TestUpperCaseChangeIDs(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	chgServer(t, s)
	id := chgCreate(t, s, chgEnv+"/changes", chgBody("build", nil))
	bm := testutil.One[testutil.Bookmark](t, s.Post(t, chgProject+"/bookmarks", testutil.Attrs("bookmark", map[string]any{"url": "https://x.example"})).
		Expect(t, http.StatusCreated)).ID
	ev := testutil.Many[testutil.Event](t, s.Get(t, "/api/events?limit=1").Expect(t, http.StatusOK))[0].ID
	for _, path := range []string{"/api/changes/" + id, chgEnv + "/changes/" + id, chgProject + "/bookmarks/" + bm, "/api/events/" + ev} {
		i := strings.LastIndex(path, "/") + 1
		lower := s.Get(t, path).Expect(t, http.StatusOK).Data(t)
		upper := s.Get(t, path[:i]+strings.ToUpper(path[i:])).Expect(t, http.StatusOK).Data(t)
		if upper["id"] != lower["id"] {
			t.Errorf("GET %s upper-case: id %v, want %v", path, upper["id"], lower["id"])
		}
	}
}
