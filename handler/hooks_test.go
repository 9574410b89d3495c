package handler_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
)

// hookFixture is chgServer's tree with one hook on dev running build from
// origin/main; allow says whether triggers may choose git_rev.
func hookFixture(t *testing.T, allow bool) (*testutil.Server, string, string, string) {
	t.Helper()
	s := testutil.NewServer(t)
	sha, _ := chgServer(t, s)
	d := s.Post(t, "/api/hooks", testutil.Attrs("hook", map[string]any{"name": "CI", "parent_path": "/projects/opc/environments/dev",
		"action": "build", "git_remote_name": "origin", "git_rev": "main", "allow_rev_override": allow,
		"property_overrides": map[string]any{"from": "ci"}})).Expect(t, http.StatusCreated).Data(t)
	secret, _ := d["attributes"].(map[string]any)["secret"].(string)
	if secret == "" {
		t.Fatalf("no secret in %v", d)
	}
	return s, d["links"].(map[string]any)["trigger"].(string), secret, sha
}

func mac(secret string, msg []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(msg)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// stewardSigned is a trigger signed at ts the Steward way.
func stewardSigned(path, secret string, ts time.Time, body string) testutil.Request {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	return testutil.Request{Method: http.MethodPost, Path: path, Body: body, NoAuth: true, Header: map[string]string{
		"Content-Type": "application/json", "X-Steward-Timestamp": stamp, "X-Steward-Signature": mac(secret, []byte(stamp+"."+body))}}
}

func TestHookTriggerCreatesChange(t *testing.T) {
	s, trigger, secret, sha := hookFixture(t, false)
	r := s.Do(t, stewardSigned(trigger, secret, time.Now(), `{"ref":"refs/heads/main"}`)).Expect(t, http.StatusAccepted)
	d := r.Data(t)
	if d["type"] != "change" || r.Header.Get("Location") != "/api/changes/"+d["id"].(string) {
		t.Fatalf("trigger answered %s", r.Body)
	}
	var c run.Change
	s.Store.DB.Take(&c, "id = ?", d["id"])
	if c.CreatedBy != "admin" || c.Action != "build" || *c.CommitSHA != sha || c.Metadata["hook_id"] == nil || c.PropertyOverrides["from"] != "ci" {
		t.Fatalf("change = %+v", c)
	}
	if n := testutil.Count(t, s.Store.DB, "events WHERE type = 'api:hooks:trigger' AND username = 'admin'"); n != 1 {
		t.Fatalf("trigger events = %d", n)
	}
	// CI callers send what their tool sends (curl -d: a form; others:
	// text/plain): the signed bytes are read as JSON whatever the type.
	for i, ct := range []string{"application/x-www-form-urlencoded", "text/plain; charset=utf-8"} {
		req := stewardSigned(trigger, secret, time.Now().Add(time.Duration(i+1)*time.Second), `{}`)
		req.Header["Content-Type"] = ct
		s.Do(t, req).Expect(t, http.StatusAccepted)
	}
	// GitHub's form setting signs payload=<JSON>: refused, saying why.
	form := stewardSigned(trigger, secret, time.Now().Add(5*time.Second), `payload=%7B%7D`)
	form.Header["Content-Type"] = "application/x-www-form-urlencoded"
	if e := s.Do(t, form).Expect(t, http.StatusBadRequest).ErrorObject(t); !strings.Contains(e["detail"].(string), "JSON") {
		t.Fatalf("form payload: %v", e)
	}
}

func TestHookTriggerRefusals(t *testing.T) {
	s, trigger, secret, _ := hookFixture(t, false)
	now := time.Now()
	good := stewardSigned(trigger, secret, now, `{}`)
	s.Do(t, good).Expect(t, http.StatusAccepted)
	stale := stewardSigned(trigger, secret, now.Add(-6*time.Minute), `{}`)
	future := stewardSigned(trigger, secret, now.Add(6*time.Minute), `{}`)
	wrongKey := stewardSigned(trigger, "not-the-secret", now, `{}`)
	tampered := stewardSigned(trigger, secret, now, `{}`)
	tampered.Body = `{"x":1}`
	unsigned := testutil.Request{Method: http.MethodPost, Path: trigger, NoAuth: true}
	withToken := stewardSigned(trigger, "not-the-secret", now, `{}`)
	withToken.NoAuth = false // an API token does not stand in for the signature
	rev := stewardSigned(trigger, secret, now.Add(time.Second), `{"git_rev":"v2"}`)
	ghBody := `{"after":"0000000000000000000000000000000000000000"}`
	ghBad := testutil.Request{Method: http.MethodPost, Path: trigger, Body: ghBody, NoAuth: true,
		Header: map[string]string{"Content-Type": "application/json", "X-Hub-Signature-256": mac("nope", []byte(ghBody)), "X-GitHub-Delivery": "d1"}}
	cases := []struct {
		name   string
		req    testutil.Request
		status int
	}{
		{"replayed", good, 401},
		{"stale", stale, 401},
		{"future", future, 401},
		{"wrong secret", wrongKey, 401},
		{"body changed", tampered, 401},
		{"unsigned", unsigned, 401},
		{"api token only", withToken, 401},
		{"rev override not allowed", rev, 422},
		{"bad github signature", ghBad, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.Do(t, tc.req).Expect(t, tc.status).ErrorObject(t)
			if e["detail"] == "" || e["status"] != strconv.Itoa(tc.status) {
				t.Errorf("error = %v", e)
			}
		})
	}
	if n := testutil.Count(t, s.Store.DB, "changes"); n != 1 {
		t.Fatalf("refused triggers created changes: %d in all", n)
	}
	hookID := strings.Split(trigger, "/")[3]
	log := s.Get(t, "/api/hooks/"+hookID+"/requests?limit=100").Expect(t, http.StatusOK).List(t)
	if len(log) != 1+len(cases) {
		t.Fatalf("request log has %d entries, want %d", len(log), 1+len(cases))
	}
	refused := s.Get(t, "/api/hooks/"+hookID+"/requests?filter[outcome_eq]=refused&limit=100").Expect(t, http.StatusOK).List(t)
	if len(refused) != len(cases) {
		t.Fatalf("refused = %d", len(refused))
	}
	first := log[0].(map[string]any)
	s.Get(t, first["links"].(map[string]any)["self"].(string)).Expect(t, http.StatusOK)
	for _, p := range []string{"/api/hooks/" + model.NewID() + "/trigger", "/api/hooks/not-an-id/trigger"} {
		s.Do(t, stewardSigned(p, secret, now, `{}`)).Expect(t, http.StatusNotFound)
	}
	// Only the trigger is public.
	for _, p := range []string{"/api/hooks", "/api/hooks/" + hookID, "/api/hooks/" + hookID + "/requests"} {
		s.Do(t, testutil.Request{Method: http.MethodGet, Path: p, NoAuth: true}).Expect(t, http.StatusUnauthorized)
	}
	big := stewardSigned(trigger, secret, now, `{"pad":"`+strings.Repeat("x", 2<<20)+`"}`)
	s.Do(t, big).Expect(t, http.StatusRequestEntityTooLarge)
}

func TestHookTriggerGitHubAndRevOverride(t *testing.T) {
	s, trigger, secret, _ := hookFixture(t, true)
	body := `{"ref":"refs/heads/main","after":"main"}`
	gh := testutil.Request{Method: http.MethodPost, Path: trigger, Body: body, NoAuth: true, Header: map[string]string{
		"Content-Type": "application/json", "X-Hub-Signature-256": mac(secret, []byte(body)), "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}}
	d := s.Do(t, gh).Expect(t, http.StatusAccepted).Data(t)
	if d["attributes"].(map[string]any)["git_rev"] != "main" {
		t.Fatalf("change = %v", d)
	}
	s.Do(t, gh).Expect(t, http.StatusUnauthorized) // same delivery id: a replay
	noID := gh
	noID.Header = map[string]string{"Content-Type": "application/json", "X-Hub-Signature-256": mac(secret, []byte(body))}
	s.Do(t, noID).Expect(t, http.StatusUnauthorized)
	bad := stewardSigned(trigger, secret, time.Now(), `{"git_rev":"no-such-branch"}`)
	e := s.Do(t, bad).Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
	if src, _ := e["source"].(map[string]any); src == nil || src["pointer"] != "/data/attributes/git_rev" {
		t.Errorf("error = %v", e)
	}
}

func TestHookCreateBadInputAndDelete(t *testing.T) {
	s, trigger, secret, _ := hookFixture(t, false)
	cases := []struct {
		name    string
		attrs   map[string]any
		pointer string
	}{
		{"no parent", map[string]any{"action": "build"}, "/data/attributes/parent_path"},
		{"unknown node", map[string]any{"parent_path": "/projects/nope", "action": "build"}, "/data/attributes/parent_path"},
		{"no action", map[string]any{"parent_path": "/projects/opc/environments/dev"}, "/data/attributes/action"},
		{"unknown action", map[string]any{"parent_path": "/projects/opc/environments/dev", "action": "fly", "git_remote_name": "origin", "git_rev": "main"}, "/data/attributes/action"},
		{"unknown rev", map[string]any{"parent_path": "/projects/opc/environments/dev", "action": "build", "git_remote_name": "origin", "git_rev": "nope"}, "/data/attributes/git_rev"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.Post(t, "/api/hooks", testutil.Attrs("hook", tc.attrs)).Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
			if src, _ := e["source"].(map[string]any); src == nil || src["pointer"] != tc.pointer {
				t.Errorf("error = %v, want pointer %s", e, tc.pointer)
			}
		})
	}
	hookID := strings.Split(trigger, "/")[3]
	shown := s.Get(t, "/api/hooks/"+hookID).Expect(t, http.StatusOK)
	if strings.Contains(string(shown.Body), secret) {
		t.Fatal("the hook's secret shows again")
	}
	if l := s.Get(t, "/api/hooks").Expect(t, http.StatusOK).List(t); len(l) != 1 {
		t.Fatalf("hooks = %v", l)
	}
	s.Delete(t, "/api/hooks/"+hookID).Expect(t, http.StatusNoContent)
	s.Do(t, stewardSigned(trigger, secret, time.Now(), `{}`)).Expect(t, http.StatusNotFound)
}

// A workflow hook's trigger answers 202 with the workflow run it started;
// PATCH disables it (triggers then get 403), re-enables it and rotates its
// secret (shown in that answer only).
func TestWorkflowHookOverHTTP(t *testing.T) {
	s := wfrServer(t)
	d := s.Post(t, "/api/hooks", testutil.Attrs("hook", map[string]any{"name": "Release", "parent_path": "/projects/opc",
		"workflow_code": "release", "version": 1, "property_overrides": map[string]any{"action": "ok"}})).Expect(t, http.StatusCreated).Data(t)
	attrs := d["attributes"].(map[string]any)
	if attrs["workflow_code"] != "release" || attrs["action"] != nil || attrs["enabled"] != true {
		t.Fatalf("hook = %v", d)
	}
	id, secret := d["id"].(string), attrs["secret"].(string)
	trigger := "/api/hooks/" + id + "/trigger"
	r := s.Do(t, stewardSigned(trigger, secret, time.Now(), `{}`)).Expect(t, http.StatusAccepted)
	run := r.Data(t)
	if run["type"] != "workflow_run" || r.Header.Get("Location") != "/api/projects/opc/workflows/release/runs/"+run["id"].(string) {
		t.Fatalf("trigger answered %s (Location %s)", r.Body, r.Header.Get("Location"))
	}
	s.Get(t, r.Header.Get("Location")).Expect(t, http.StatusOK)
	reqs := s.Get(t, "/api/hooks/"+id+"/requests").Expect(t, http.StatusOK).List(t)
	if len(reqs) != 1 || reqs[0].(map[string]any)["attributes"].(map[string]any)["workflow_run_id"] != run["id"] {
		t.Fatalf("requests = %v", reqs)
	}

	patch := func(attrs map[string]any) *testutil.Response {
		return s.Patch(t, "/api/hooks/"+id, testutil.Attrs("hook", attrs))
	}
	cases := []struct {
		name    string
		attrs   map[string]any
		status  int
		pointer string
	}{
		{"enabled not a boolean", map[string]any{"enabled": "no"}, 422, "/data/attributes/enabled"},
		{"overrides not an object", map[string]any{"property_overrides": []any{1}}, 422, "/data/attributes/property_overrides"},
		{"rev override on a workflow hook", map[string]any{"allow_rev_override": true}, 422, "/data/attributes/allow_rev_override"},
		{"not editable", map[string]any{"workflow_code": "other"}, 422, "/data/attributes/workflow_code"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := patch(tc.attrs).Expect(t, tc.status).ErrorObject(t)
			if src, _ := e["source"].(map[string]any); tc.pointer != "" && (src == nil || src["pointer"] != tc.pointer) {
				t.Errorf("error = %v, want pointer %s", e, tc.pointer)
			}
		})
	}
	off := patch(map[string]any{"enabled": false}).Expect(t, http.StatusOK).Data(t)["attributes"].(map[string]any)
	if off["enabled"] != false || off["secret"] != nil {
		t.Fatalf("disabled hook = %v", off)
	}
	s.Do(t, stewardSigned(trigger, secret, time.Now().Add(time.Second), `{}`)).Expect(t, http.StatusForbidden)
	rot := patch(map[string]any{"enabled": true, "rotate_secret": true, "property_overrides": map[string]any{"action": "fail"}}).Expect(t, http.StatusOK)
	ra := rot.Data(t)["attributes"].(map[string]any)
	fresh, _ := ra["secret"].(string)
	if fresh == "" || fresh == secret || ra["enabled"] != true || rot.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("rotated = %v", ra)
	}
	s.Do(t, stewardSigned(trigger, secret, time.Now().Add(2*time.Second), `{}`)).Expect(t, http.StatusUnauthorized)
	s.Do(t, stewardSigned(trigger, fresh, time.Now().Add(3*time.Second), `{}`)).Expect(t, http.StatusAccepted)
	if shown := s.Get(t, "/api/hooks/"+id).Expect(t, http.StatusOK); strings.Contains(string(shown.Body), fresh) {
		t.Fatal("the rotated secret shows again")
	}
	s.Patch(t, "/api/hooks/"+model.NewID(), testutil.Attrs("hook", map[string]any{"enabled": false})).Expect(t, http.StatusNotFound)
	if n := testutil.Count(t, s.Store.DB, "workflow_runs"); n != 2 {
		t.Fatalf("workflow runs = %d, want 2", n)
	}
}
