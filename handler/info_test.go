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
	resp := s.Get(t, "/api/info").Expect(t, http.StatusOK)
	info := resp.Data(t)
	a := testutil.One[testutil.Info](t, resp)
	wantDB := "SQLite "
	if testutil.Dialect() == "postgres" {
		wantDB = "PostgreSQL "
	}
	if a.Version != "test" || a.APIVersion != "1" || a.LDAPAvailable ||
		!strings.HasPrefix(a.DBVersion, wantDB) || len(a.DBVersion) <= len(wantDB) || a.RunnerImage == "" {
		t.Fatalf("info: %v", info)
	}
	if self := info["links"].(map[string]any)["self"]; self != "/api/info" {
		t.Fatalf("links.self = %v", self)
	}
	s.Get(t, "/api/info?limit=1").Expect(t, http.StatusBadRequest)
	s.Do(t, testutil.Request{Method: http.MethodGet, Path: "/api/info", NoAuth: true}).Expect(t, http.StatusUnauthorized)
}
