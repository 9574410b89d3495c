package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

func idemCount(t *testing.T, s *testutil.Server, table string) int64 {
	t.Helper()
	var n int64
	if err := s.Store.DB.Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// idemPost POSTs body (bytes, so the test knows what was hashed) with key.
func idemPost(t *testing.T, s *testutil.Server, token, path, key string, body []byte) *testutil.Response {
	t.Helper()
	return s.Do(t, testutil.Request{Method: http.MethodPost, Path: path, Body: body, Token: token,
		Header: map[string]string{"Idempotency-Key": key}})
}

func idemJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func idemError(t *testing.T, r *testutil.Response, status int, code string) {
	t.Helper()
	r.Expect(t, status)
	e := r.ErrorObject(t)
	if e["code"] != code || e["meta"].(map[string]any)["header"] != "Idempotency-Key" {
		t.Fatalf("error %v, want code %s naming the header", e, code)
	}
}

// TestIdempotentCreateReplays: a retried POST gets the first response, byte
// for byte, and creates nothing more, for projects, environments and changes.
func TestIdempotentCreateReplays(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	chgServer(t, s)
	cases := []struct {
		name, path, table string
		body              any
	}{
		{"project", "/api/projects", "nodes", testutil.Attrs("project", map[string]any{"code": "p2", "name": "P2"})},
		{"environment", chgProject + "/environments", "nodes", testutil.Attrs("environment", map[string]any{"code": "qa", "name": "QA"})},
		{"change", "/api/changes", "changes", chgBody("build", map[string]any{"parent_path": "/projects/opc/environments/dev"})},
		{"environment change", chgEnv + "/changes", "changes", chgBody("deploy", nil)},
	}
	for _, tc := range cases {
		body := idemJSON(t, tc.body)
		key := "ci-" + tc.name
		first := idemPost(t, s, "", tc.path, key, body).Expect(t, http.StatusCreated)
		if first.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("%s: the first response is not a replay", tc.name)
		}
		rows, events := idemCount(t, s, tc.table), idemCount(t, s, "events")
		for i := 0; i < 2; i++ {
			again := idemPost(t, s, "", tc.path, key, body)
			if again.Status != first.Status || !bytes.Equal(again.Body, first.Body) ||
				again.Header.Get("Location") != first.Header.Get("Location") || again.Header.Get("Location") == "" ||
				again.Header.Get("Content-Type") != first.Header.Get("Content-Type") {
				t.Fatalf("%s: replay %d = %d %v %s\nwant %d %v %s", tc.name, i, again.Status, again.Header, again.Body,
					first.Status, first.Header, first.Body)
			}
			if again.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("%s: a replay says so: %v", tc.name, again.Header)
			}
		}
		if n, e := idemCount(t, s, tc.table), idemCount(t, s, "events"); n != rows || e != events {
			t.Fatalf("%s: replays created %d %s and %d events", tc.name, n-rows, tc.table, e-events)
		}
		// Without the key the same POST runs again (a second change).
		if tc.table == "changes" {
			s.Post(t, tc.path, tc.body).Expect(t, http.StatusCreated)
			if n := idemCount(t, s, tc.table); n != rows+1 {
				t.Fatalf("%s: %d changes after a POST without a key, want %d", tc.name, n, rows+1)
			}
		}
	}

	// A refused request is refused the same way on retry, without running again.
	dup := idemJSON(t, testutil.Attrs("project", map[string]any{"code": "opc", "name": "Again"}))
	first := idemPost(t, s, "", "/api/projects", "dup", dup).Expect(t, http.StatusUnprocessableEntity)
	again := idemPost(t, s, "", "/api/projects", "dup", dup).Expect(t, http.StatusUnprocessableEntity)
	if !bytes.Equal(first.Body, again.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("4xx replay = %s %v, want %s", again.Body, again.Header, first.Body)
	}
}

func TestIdempotentRefusals(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	body := idemJSON(t, testutil.Attrs("project", map[string]any{"code": "p", "name": "P"}))
	idemPost(t, s, "", "/api/projects", "used", body).Expect(t, http.StatusCreated)
	nodes := idemCount(t, s, "nodes")
	cases := []struct {
		name, path, key string
		body            []byte
		status          int
		code            string
	}{
		{"different body", "/api/projects", "used", idemJSON(t, testutil.Attrs("project", map[string]any{"code": "q", "name": "Q"})), 422, "idempotency_key_reused"},
		{"different path", "/api/projects/p/environments", "used", idemJSON(t, testutil.Attrs("environment", map[string]any{"code": "e", "name": "E"})), 422, "idempotency_key_reused"},
		{"different query", "/api/projects?include=children", "used", body, 422, "idempotency_key_reused"},
		{"empty key", "/api/projects", "", body, 400, "invalid_idempotency_key"},
		{"key too long", "/api/projects", strings.Repeat("k", 256), body, 400, "invalid_idempotency_key"},
		{"non-ASCII key", "/api/projects", "clé", body, 400, "invalid_idempotency_key"},
		{"control character", "/api/projects", "a\tb", body, 400, "invalid_idempotency_key"},
		{"token secrets are never stored", "/api/tokens", "tok", idemJSON(t, testutil.Attrs("token", map[string]any{"name": "ci"})), 400, "idempotency_not_supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idemError(t, idemPost(t, s, "", tc.path, tc.key, tc.body), tc.status, tc.code)
		})
	}
	if n := idemCount(t, s, "nodes"); n != nodes {
		t.Fatalf("refused requests created %d nodes", n-nodes)
	}
	if n := idemCount(t, s, "api_tokens"); n != 1 {
		t.Fatalf("%d tokens, want only the admin's", n)
	}
	// The longest key is fine.
	idemPost(t, s, "", "/api/projects", strings.Repeat("k", 255), idemJSON(t, testutil.Attrs("project", map[string]any{"code": "r", "name": "R"}))).
		Expect(t, http.StatusCreated)
}

// TestIdempotentInFlightDuplicate: while the first request holds the key (its
// reservation committed, no response yet), a duplicate is a 409 and runs
// nothing; once the reservation is stale the 409 says the outcome is unknown.
func TestIdempotentInFlightDuplicate(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	clock := testutil.NewClock(s.Store.Now())
	s.Store.Now = clock.Now
	admin, err := s.Store.Authenticate(context.Background(), testutil.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	body := idemJSON(t, testutil.Attrs("project", map[string]any{"code": "p", "name": "P"}))
	hash := model.IdempotencyRequestHash(http.MethodPost, "/api/projects", "", body)
	if _, replay, err := s.Store.ReserveIdempotencyKey(context.Background(), admin, "busy", hash); err != nil || replay {
		t.Fatalf("reserve: %v %v", replay, err)
	}
	idemError(t, idemPost(t, s, "", "/api/projects", "busy", body), http.StatusConflict, "idempotency_key_in_use")
	clock.Advance(model.IdempotencyStaleAfter)
	idemError(t, idemPost(t, s, "", "/api/projects", "busy", body), http.StatusConflict, "idempotency_outcome_unknown")
	if n := idemCount(t, s, "nodes"); n != 0 {
		t.Fatalf("a duplicate of an unfinished request created %d nodes", n)
	}
}

// TestIdempotentServerErrorIsNotStored: a 5xx releases the key, so the retry
// really runs.
func TestIdempotentServerErrorIsNotStored(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	body := idemJSON(t, testutil.Attrs("project", map[string]any{"code": "p", "name": "P"}))
	// Without its events table a create fails after the key was reserved.
	if err := s.Store.DB.Exec("ALTER TABLE events RENAME TO events_away").Error; err != nil {
		t.Fatal(err)
	}
	idemPost(t, s, "", "/api/projects", "flaky", body).Expect(t, http.StatusInternalServerError)
	if err := s.Store.DB.Exec("ALTER TABLE events_away RENAME TO events").Error; err != nil {
		t.Fatal(err)
	}
	if n := idemCount(t, s, "idempotency_keys"); n != 0 {
		t.Fatalf("%d keys kept after a 500", n)
	}
	r := idemPost(t, s, "", "/api/projects", "flaky", body).Expect(t, http.StatusCreated)
	if r.Header.Get("Idempotent-Replayed") != "" || idemCount(t, s, "nodes") != 1 {
		t.Fatalf("the retry after a 500 must run: %v", r.Header)
	}
	if again := idemPost(t, s, "", "/api/projects", "flaky", body); again.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.Body, r.Body) {
		t.Fatalf("the successful retry is the one kept: %d %v", again.Status, again.Header)
	}
}

// TestIdempotentKeysExpire: after 24 h (by the store's clock) a key is
// forgotten and may name a new request.
func TestIdempotentKeysExpire(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	clock := testutil.NewClock(s.Store.Now())
	s.Store.Now = clock.Now
	p := idemJSON(t, testutil.Attrs("project", map[string]any{"code": "p", "name": "P"}))
	q := idemJSON(t, testutil.Attrs("project", map[string]any{"code": "q", "name": "Q"}))
	idemPost(t, s, "", "/api/projects", "daily", p).Expect(t, http.StatusCreated)
	clock.Advance(model.IdempotencyTTL - time.Second)
	idemError(t, idemPost(t, s, "", "/api/projects", "daily", q), http.StatusUnprocessableEntity, "idempotency_key_reused")
	clock.Advance(time.Second)
	r := idemPost(t, s, "", "/api/projects", "daily", q).Expect(t, http.StatusCreated)
	if r.Header.Get("Idempotent-Replayed") != "" || idemCount(t, s, "nodes") != 2 || idemCount(t, s, "idempotency_keys") != 1 {
		t.Fatalf("an expired key must be free and purged: %v", r.Header)
	}
}

// TestIdempotentKeysPerUser: two users' keys never meet.
func TestIdempotentKeysPerUser(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	ctx := context.Background()
	if _, err := s.Store.CreateUser(ctx, model.SystemActor, "bob", []string{model.AdminGroup}); err != nil {
		t.Fatal(err)
	}
	_, bob, err := s.Store.CreateToken(ctx, model.SystemActor, "bob", "test", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	adminBody := idemJSON(t, testutil.Attrs("project", map[string]any{"code": "a", "name": "A"}))
	bobBody := idemJSON(t, testutil.Attrs("project", map[string]any{"code": "b", "name": "B"}))
	first := idemPost(t, s, "", "/api/projects", "build-1", adminBody).Expect(t, http.StatusCreated)
	second := idemPost(t, s, bob, "/api/projects", "build-1", bobBody).Expect(t, http.StatusCreated)
	if second.Header.Get("Idempotent-Replayed") != "" || idemCount(t, s, "nodes") != 2 {
		t.Fatalf("bob's key collided with admin's: %v", second.Header)
	}
	for token, want := range map[string]*testutil.Response{"": first, bob: second} {
		body := adminBody
		if token == bob {
			body = bobBody
		}
		if r := idemPost(t, s, token, "/api/projects", "build-1", body); !bytes.Equal(r.Body, want.Body) {
			t.Fatalf("replay %s, want %s", r.Body, want.Body)
		}
	}
}
