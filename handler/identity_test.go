package handler_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

// identUser creates a user in groups and returns a token for it.
func identUser(t *testing.T, s *testutil.Server, name string, groups ...string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Store.CreateUser(ctx, model.SystemActor, name, groups); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	_, secret, err := s.Store.CreateToken(ctx, model.SystemActor, name, "test", 0, "")
	if err != nil {
		t.Fatalf("create token for %s: %v", name, err)
	}
	return secret
}

// identAttrs reads a resource's attributes raw, for checks of which keys a
// document holds (sparse fieldsets); values are read through testutil.One.
func identAttrs(t *testing.T, res map[string]any) map[string]any {
	t.Helper()
	a, ok := res["attributes"].(map[string]any)
	if !ok {
		t.Fatalf("resource has no attributes: %v", res)
	}
	return a
}

func identPointer(t *testing.T, errObj map[string]any) string {
	t.Helper()
	src, _ := errObj["source"].(map[string]any)
	p, _ := src["pointer"].(string)
	return p
}

// identCreateToken posts a token document as the holder of token and returns the response.
func identCreateToken(t *testing.T, s *testutil.Server, token string, attrs map[string]any) *testutil.Response {
	t.Helper()
	return s.Do(t, testutil.Request{Method: http.MethodPost, Path: "/api/tokens", Token: token,
		Body: testutil.Attrs("api_token", attrs)})
}

func TestIdentUnauthenticated(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	ctx := context.Background()
	_, expired, err := s.Store.CreateToken(ctx, model.SystemActor, "admin", "soon expired", time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	// Expiry is compared with the store clock; moving the row into the past is
	// how a test expires a token without waiting.
	if err := s.Store.DB.Exec("UPDATE api_tokens SET expires_at = ? WHERE token_hash = ?",
		time.Now().Add(-time.Minute).UTC(), model.HashToken(expired)).Error; err != nil {
		t.Fatal(err)
	}
	revoked := testutil.One[testutil.APIToken](t, identCreateToken(t, s, "", map[string]any{"name": "to revoke"}).Expect(t, http.StatusCreated))
	if revoked.Token == "" {
		t.Fatalf("the created token has no secret: %+v", revoked)
	}
	s.Delete(t, "/api/tokens/"+revoked.ID).Expect(t, http.StatusNoContent)

	cases := []struct {
		name   string
		header string
	}{
		{"missing", ""},
		{"not bearer", "Basic YWRtaW46YWRtaW4="},
		{"empty bearer", "Bearer "},
		{"unknown", "Bearer stw_this-token-does-not-exist"},
		{"expired", "Bearer " + expired},
		{"revoked", "Bearer " + revoked.Token},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := testutil.Request{Method: http.MethodGet, Path: "/api/projects", NoAuth: true}
			if tc.header != "" {
				req.Header = map[string]string{"Authorization": tc.header}
			}
			resp := s.Do(t, req).Expect(t, http.StatusUnauthorized)
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("WWW-Authenticate = %q, want a Bearer challenge", resp.Header.Get("WWW-Authenticate"))
			}
			if e := resp.ErrorObject(t); e["status"] != "401" {
				t.Fatalf("error object: %v", e)
			}
		})
	}
}

func TestIdentTokenLifecycle(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	bob := identUser(t, s, "bob")

	created := identCreateToken(t, s, "", map[string]any{"name": "ci", "username": "bob",
		"expires_at": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)}).Expect(t, http.StatusCreated)
	res := created.Data(t)
	attrs := testutil.One[testutil.APIToken](t, created)
	secret := attrs.Token
	id := attrs.ID
	if !strings.HasPrefix(secret, model.TokenPrefix) || !strings.HasPrefix(secret, attrs.TokenPrefix) {
		t.Fatalf("token %q / prefix %v", secret, attrs.TokenPrefix)
	}
	if attrs.Username != "bob" || attrs.Name != "ci" || attrs.ExpiresAt == nil || attrs.LastUsedAt != nil || attrs.RevokedAt != nil {
		t.Fatalf("unexpected attributes: %+v", attrs)
	}
	if got := res["links"].(map[string]any)["self"]; got != "/api/tokens/"+id {
		t.Fatalf("links.self = %v", got)
	}

	// Only the SHA-256 hash is stored: no column of the row holds the secret.
	var row map[string]any
	if err := s.Store.DB.Table("api_tokens").Where("id = ?", id).Take(&row).Error; err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(row["token_hash"]) != model.HashToken(secret) {
		t.Fatalf("token_hash = %v, want the SHA-256 of the secret", row["token_hash"])
	}
	for col, v := range row {
		if strings.Contains(fmt.Sprint(v), secret) {
			t.Fatalf("column %s holds the secret", col)
		}
	}

	// The new token works, and using it sets last_used_at.
	mine := s.Do(t, testutil.Request{Method: http.MethodGet, Path: "/api/tokens", Token: secret}).Expect(t, http.StatusOK)
	var sawNew bool
	for _, a := range testutil.Many[testutil.APIToken](t, mine) {
		if a.Username != "bob" {
			t.Fatalf("bob sees another user's token: %+v", a)
		}
		if a.ID == id {
			sawNew = a.LastUsedAt != nil
		}
	}
	if !sawNew {
		t.Fatalf("the new token is missing from bob's list or has no last_used_at: %s", mine.Body)
	}

	// The secret appears in no later response.
	for _, path := range []string{"/api/tokens", "/api/events?limit=1000", "/api/users"} {
		if body := s.Get(t, path).Expect(t, http.StatusOK).Body; strings.Contains(string(body), secret) {
			t.Fatalf("GET %s shows the token secret", path)
		}
	}

	// Admins see every token; bob cannot touch the admin's.
	all := testutil.Many[testutil.APIToken](t, s.Get(t, "/api/tokens").Expect(t, http.StatusOK))
	var adminTokenID string
	for _, a := range all {
		if a.Username == "admin" {
			adminTokenID = a.ID
		}
	}
	if adminTokenID == "" {
		t.Fatalf("admin's list lacks the admin token")
	}
	s.Do(t, testutil.Request{Method: http.MethodDelete, Path: "/api/tokens/" + adminTokenID, Token: bob}).Expect(t, http.StatusNotFound)
	s.Get(t, "/api/projects").Expect(t, http.StatusOK)

	// Bob revokes his own token; revoking again changes nothing.
	s.Do(t, testutil.Request{Method: http.MethodDelete, Path: "/api/tokens/" + id, Token: bob}).Expect(t, http.StatusNoContent)
	s.Do(t, testutil.Request{Method: http.MethodDelete, Path: "/api/tokens/" + id, Token: bob}).Expect(t, http.StatusNoContent)
	s.Do(t, testutil.Request{Method: http.MethodGet, Path: "/api/tokens", Token: secret}).Expect(t, http.StatusUnauthorized)
}

func TestIdentTokenCreateRejects(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	bob := identUser(t, s, "bob")
	before := identCount(t, s, "api_tokens")

	cases := []struct {
		name    string
		token   string
		attrs   map[string]any
		status  int
		pointer string
	}{
		{"non-admin names another user", bob, map[string]any{"username": "admin"}, http.StatusForbidden, ""},
		{"unknown user", "", map[string]any{"username": "nobody"}, http.StatusUnprocessableEntity, "/data/attributes/username"},
		{"expiry in the past", "", map[string]any{"expires_at": "2001-01-01T00:00:00Z"}, http.StatusUnprocessableEntity, "/data/attributes/expires_at"},
		{"expiry not a time", "", map[string]any{"expires_at": "tomorrow"}, http.StatusUnprocessableEntity, "/data/attributes/expires_at"},
		{"expiry not a string", "", map[string]any{"expires_at": 42}, http.StatusUnprocessableEntity, "/data/attributes/expires_at"},
		{"name too long", "", map[string]any{"name": strings.Repeat("n", 201)}, http.StatusUnprocessableEntity, "/data/attributes/name"},
		{"secret cannot be chosen", "", map[string]any{"token": "stw_my-own-choice-123456"}, http.StatusUnprocessableEntity, "/data/attributes/token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := identCreateToken(t, s, tc.token, tc.attrs).Expect(t, tc.status).ErrorObject(t)
			if got := identPointer(t, e); got != tc.pointer {
				t.Fatalf("pointer %q, want %q (%v)", got, tc.pointer, e)
			}
		})
	}
	s.Delete(t, "/api/tokens/not-a-uuid").Expect(t, http.StatusNotFound)
	s.Delete(t, "/api/tokens/"+model.NewID()).Expect(t, http.StatusNotFound)
	if after := identCount(t, s, "api_tokens"); after != before {
		t.Fatalf("rejected requests wrote tokens: %d -> %d", before, after)
	}
	// A user may create a token for themselves without naming anyone.
	own := testutil.One[testutil.APIToken](t, identCreateToken(t, s, bob, map[string]any{"name": "laptop"}).Expect(t, http.StatusCreated))
	if own.Username != "bob" {
		t.Fatalf("token created for %v", own.Username)
	}
}

func identCount(t *testing.T, s *testutil.Server, table string) int64 {
	t.Helper()
	var n int64
	if err := s.Store.DB.Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestIdentUsersAndGroups(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)

	a := testutil.One[testutil.User](t, s.Post(t, "/api/users", testutil.Attrs("user", map[string]any{"username": "carol", "groupnames": []string{"ops", "qa", "ops"}})).
		Expect(t, http.StatusCreated))
	if a.Username != "carol" || a.AuthProvider != "local" || fmt.Sprint(a.Groupnames) != "[ops qa]" {
		t.Fatalf("created user: %+v", a)
	}
	users := testutil.Many[testutil.User](t, s.Get(t, "/api/users?filter[username_eq]=carol").Expect(t, http.StatusOK))
	if len(users) != 1 || fmt.Sprint(users[0].Groupnames) != "[ops qa]" {
		t.Fatalf("listed users: %+v", users)
	}
	s.Post(t, "/api/groups", testutil.Attrs("group", map[string]any{"cn": "dba", "alternative_cns": []string{"database-admins"}})).
		Expect(t, http.StatusCreated)
	var cns []string
	for _, g := range testutil.Many[testutil.Group](t, s.Get(t, "/api/groups?sort=cn").Expect(t, http.StatusOK)) {
		cns = append(cns, g.CN)
	}
	if strings.Join(cns, ",") != "admin,dba,ops,qa" {
		t.Fatalf("groups: %v", cns)
	}

	dave := identUser(t, s, "dave", "ops")
	users0, groups0 := identCount(t, s, "users"), identCount(t, s, "groups")
	cases := []struct {
		name    string
		token   string
		path    string
		doc     map[string]any
		status  int
		pointer string
	}{
		{"non-admin creates user", dave, "/api/users", testutil.Attrs("user", map[string]any{"username": "eve"}), http.StatusForbidden, ""},
		{"non-admin creates group", dave, "/api/groups", testutil.Attrs("group", map[string]any{"cn": "eve"}), http.StatusForbidden, ""},
		{"taken username", "", "/api/users", testutil.Attrs("user", map[string]any{"username": "carol", "groupnames": []string{"new"}}), http.StatusUnprocessableEntity, "/data/attributes/username"},
		{"missing username", "", "/api/users", testutil.Attrs("user", map[string]any{}), http.StatusUnprocessableEntity, "/data/attributes/username"},
		{"bad username", "", "/api/users", testutil.Attrs("user", map[string]any{"username": "a b"}), http.StatusUnprocessableEntity, "/data/attributes/username"},
		{"bad group name", "", "/api/users", testutil.Attrs("user", map[string]any{"username": "frank", "groupnames": []string{"no/slash"}}), http.StatusUnprocessableEntity, "/data/attributes/groupnames"},
		{"groupnames not a list", "", "/api/users", testutil.Attrs("user", map[string]any{"username": "frank", "groupnames": "ops"}), http.StatusUnprocessableEntity, "/data/attributes/groupnames"},
		{"unknown attribute", "", "/api/users", testutil.Attrs("user", map[string]any{"username": "frank", "password": "x"}), http.StatusUnprocessableEntity, "/data/attributes/password"},
		{"wrong type", "", "/api/users", testutil.Attrs("group", map[string]any{"username": "frank"}), http.StatusConflict, "/data/type"},
		{"taken cn", "", "/api/groups", testutil.Attrs("group", map[string]any{"cn": "ops"}), http.StatusUnprocessableEntity, "/data/attributes/cn"},
		{"missing cn", "", "/api/groups", testutil.Attrs("group", map[string]any{"alternative_cns": []string{}}), http.StatusUnprocessableEntity, "/data/attributes/cn"},
		{"empty alternative cn", "", "/api/groups", testutil.Attrs("group", map[string]any{"cn": "web", "alternative_cns": []string{""}}), http.StatusUnprocessableEntity, "/data/attributes/alternative_cns"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.Do(t, testutil.Request{Method: http.MethodPost, Path: tc.path, Token: tc.token, Body: tc.doc}).
				Expect(t, tc.status).ErrorObject(t)
			if got := identPointer(t, e); got != tc.pointer {
				t.Fatalf("pointer %q, want %q (%v)", got, tc.pointer, e)
			}
		})
	}
	if identCount(t, s, "users") != users0 || identCount(t, s, "groups") != groups0 {
		t.Fatalf("rejected requests created users or groups")
	}
	// Reading users and groups is open to every authenticated user.
	s.Do(t, testutil.Request{Method: http.MethodGet, Path: "/api/users", Token: dave}).Expect(t, http.StatusOK)
	s.Do(t, testutil.Request{Method: http.MethodGet, Path: "/api/groups", Token: dave}).Expect(t, http.StatusOK)
	s.Get(t, "/api/users?filter[password_eq]=x").Expect(t, http.StatusBadRequest)
}
