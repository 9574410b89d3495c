package handler_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
)

func TestInfo(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	info := s.Get(t, "/api/info").Expect(t, http.StatusOK).Data(t)
	a := identAttrs(t, info)
	wantDB := "SQLite "
	if testutil.Dialect() == "postgres" {
		wantDB = "PostgreSQL "
	}
	if info["type"] != "info" || a["version"] != "test" || a["api_version"] != "1" || a["ldap_available?"] != false ||
		!strings.HasPrefix(a["db_version"].(string), wantDB) || len(a["db_version"].(string)) <= len(wantDB) || a["runner_image"] == "" {
		t.Fatalf("info: %v", info)
	}
	if self := info["links"].(map[string]any)["self"]; self != "/api/info" {
		t.Fatalf("links.self = %v", self)
	}
	s.Get(t, "/api/info?limit=1").Expect(t, http.StatusBadRequest)
	s.Do(t, testutil.Request{Method: http.MethodGet, Path: "/api/info", NoAuth: true}).Expect(t, http.StatusUnauthorized)
}
