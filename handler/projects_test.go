package handler_test

import (
	"net/http"
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
)

func TestProjectLifecycle(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)

	created := s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{
		"code": "opc", "name": "OpsChain", "description": "ops", "project_type": "Enterprise",
	})).Expect(t, http.StatusCreated).Data(t)
	if created["type"] != "project" || created["attributes"].(map[string]any)["code"] != "opc" {
		t.Fatalf("unexpected project: %v", created)
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
	archived := s.Get(t, "/api/projects/opc").Expect(t, http.StatusOK).Data(t)
	if archived["attributes"].(map[string]any)["archived"] != true {
		t.Fatalf("project not archived: %v", archived)
	}
	s.Post(t, "/api/projects/opc/environments", testutil.Attrs("environment", map[string]any{"code": "dev", "name": "Dev"})).
		Expect(t, http.StatusUnprocessableEntity)
}
