package handler_test

import (
	"net/http"
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
)

func TestProjectLifecycle(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)

	created := testutil.One[testutil.Project](t, s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{
		"code": "opc", "name": "OpsChain", "description": "ops", "project_type": "Enterprise",
	})).Expect(t, http.StatusCreated))
	if created.Code != "opc" {
		t.Fatalf("unexpected project: %+v", created)
	}

	show := s.Get(t, "/api/projects/opc").Expect(t, http.StatusOK).JSON(t)
	if _, ok := show["included"]; !ok {
		t.Fatalf("show has no included: %v", show)
	}

	dup := s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{"code": "opc", "name": "Again"})).
		Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
	if dup["source"].(map[string]any)["pointer"] != "/data/attributes/code" {
		t.Fatalf("duplicate error points elsewhere: %v", dup)
	}

	s.Delete(t, "/api/projects/opc").Expect(t, http.StatusNoContent)
	archived := testutil.One[testutil.Project](t, s.Get(t, "/api/projects/opc").Expect(t, http.StatusOK))
	if !archived.Archived {
		t.Fatalf("project not archived: %+v", archived)
	}
	s.Post(t, "/api/projects/opc/environments", testutil.Attrs("environment", map[string]any{"code": "dev", "name": "Dev"})).
		Expect(t, http.StatusUnprocessableEntity)
}
