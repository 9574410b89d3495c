package handler_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
)

// TestChangeCreateAnswerIsItsShow: the answer to a POST is rendered from the
// creating transaction, not read again, so it must be the document a GET of
// the change shows then: attributes (numbers as stored, 1e2 included),
// relationships, links, queue facts (the second change of an action waits
// for the first) and included steps and parents.
func TestChangeCreateAnswerIsItsShow(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	chgServer(t, s)
	body := `{"data":{"type":"change","attributes":{"action":"deploy","git_remote_name":"origin","git_rev":"main",` +
		`"metadata":{"n":1e2,"big":123456789012345678901234567890,"x":1.50},"property_overrides":{"a":{"b":[1,2]}}}}}`
	var ids []string
	for i := 0; i < 2; i++ {
		created := s.Post(t, chgEnv+"/changes?include=steps,parents", body).Expect(t, http.StatusCreated).JSON(t)
		id := created["data"].(map[string]any)["id"].(string)
		ids = append(ids, id)
		shown := s.Get(t, chgEnv+"/changes/"+id+"?include=steps,parents").Expect(t, http.StatusOK).JSON(t)
		if !reflect.DeepEqual(created, shown) {
			t.Fatalf("POST answered\n%v\nGET shows\n%v", created, shown)
		}
	}
	shown := s.Get(t, chgEnv+"/changes/"+ids[1]).Expect(t, http.StatusOK).JSON(t)
	blockers := shown["data"].(map[string]any)["meta"].(map[string]any)["blocked_by_queue"].([]any)
	if len(blockers) != 1 || blockers[0] != ids[0] {
		t.Fatalf("second change blocked by %v, want the first (%s)", blockers, ids[0])
	}
}
