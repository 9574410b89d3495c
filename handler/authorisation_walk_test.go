package handler_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stewardhq/steward/handler"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
)

// openToEveryUser are the routes any authenticated user may use whatever
// their rules, and why. A route missing here must refuse a user without
// rules: a new route that forgets enforcement fails TestEveryRouteRefusesAUserWithoutRules.
var openToEveryUser = map[string]string{
	"GET /healthz":          "liveness",
	"GET /readyz":           "readiness",
	"GET /api/openapi.yaml": "the contract",
	"GET /api/openapi.json": "the contract",
	"GET /api/docs":         "the docs page",
	"GET /api/docs/{}":      "the docs page's assets",
	"GET /":                 "the index",
	"GET /api":              "the index",
	"GET /api/info":         "which server this is",
	"GET /api/users":        "approvals name users: every caller may read who exists",
	"GET /api/groups":       "approvals name groups",
	"GET /api/tokens":       "a caller's own tokens",
	"POST /api/tokens":      "a caller may create tokens for themselves",
	"DELETE /api/tokens/{}": "a caller may revoke their own tokens",
}

var routeVar = regexp.MustCompile(`\{([a-z_]+)(:[^}]*)?\}`)

func TestEveryRouteRefusesAUserWithoutRules(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	chgServer(t, s)
	changeID := chgCreate(t, s, chgEnv+"/changes", chgBody("deploy", nil))
	ctx := context.Background()
	steps, err := s.Store.ChangeSteps(ctx, []string{changeID})
	if err != nil || len(steps[changeID]) == 0 {
		t.Fatalf("steps of %s: %v", changeID, err)
	}
	activityID := s.Post(t, chgEnv+"/scheduled_activities", schedBody(nil)).Expect(t, http.StatusCreated).Data(t)["id"].(string)
	line := run.LogLine{ChangeID: changeID, StepID: steps[changeID][0].ID, Message: "a secret line", LoggedAt: s.Store.Now()}
	if err := s.Store.DB.Create(&line).Error; err != nil {
		t.Fatal(err)
	}
	var settingsID, propertiesID string
	if err := s.Store.DB.Table("nodes").Where("path = ?", "/projects/opc").Select("settings_id").Scan(&settingsID).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.Store.DB.Table("nodes").Where("path = ?", "/projects/opc").Select("properties_id").Scan(&propertiesID).Error; err != nil {
		t.Fatal(err)
	}
	var policyID string
	if err := s.Store.DB.Table("authorisation_policies").Select("id").Limit(1).Scan(&policyID).Error; err != nil {
		t.Fatal(err)
	}
	var eventID string
	if err := s.Store.DB.Table("events").Where("node_id IS NOT NULL").Select("id").Limit(1).Scan(&eventID).Error; err != nil {
		t.Fatal(err)
	}
	// Real records where the walk can name one cheaply; a fresh id elsewhere
	// (the route must then still refuse or find nothing).
	vars := map[string]string{
		"project": "opc", "environment": "dev", "asset": "db", "change_id": changeID, "step_id": steps[changeID][0].ID,
		"settings_id": settingsID, "properties_id": propertiesID, "authorisation_policy_id": policyID, "event_id": eventID,
		"git_remote_id": "origin", "activity_id": activityID,
	}
	nobody := identUser(t, s, "nobody")
	written := func() int64 {
		var n int64
		if err := s.Store.DB.Table("events").Where("type NOT LIKE ?", "audit:%").Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := written()
	for route, tpl := range handler.RouteTemplates(t) {
		if _, ok := openToEveryUser[route]; ok {
			continue
		}
		method := route[:strings.IndexByte(route, ' ')]
		if method == http.MethodHead {
			continue // answered as GET is (headAsGet)
		}
		path := routeVar.ReplaceAllStringFunc(tpl, func(m string) string {
			name := routeVar.FindStringSubmatch(m)[1]
			if v, ok := vars[name]; ok {
				return v
			}
			return model.NewID()
		})
		req := testutil.Request{Method: method, Path: path, Token: nobody, SkipContract: true}
		if method == http.MethodPost || method == http.MethodPatch || method == http.MethodPut {
			req.Body = map[string]any{"data": map[string]any{"attributes": map[string]any{}}}
		}
		resp := s.Do(t, req)
		switch {
		case resp.Status == http.StatusForbidden || resp.Status == http.StatusNotFound:
		case method == http.MethodGet && resp.Status == http.StatusOK:
			var doc struct {
				Data json.RawMessage `json:"data"`
			}
			if json.Unmarshal(resp.Body, &doc) != nil || strings.TrimSpace(string(doc.Data)) != "[]" {
				t.Errorf("%s (%s): a user without rules got 200 with %.300s", route, path, resp.Body)
			}
		case method != http.MethodGet && (resp.Status == http.StatusUnprocessableEntity || resp.Status == http.StatusBadRequest):
			// Refused before deciding who may: checked below that nothing was written.
		default:
			t.Errorf("%s (%s): a user without rules got %d: %.300s", route, path, resp.Status, resp.Body)
		}
	}
	if after := written(); after != before {
		t.Errorf("a user without rules made %d events", after-before)
	}
}
