package handler_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

func rule(path string, verbs string) model.RuleAttributes {
	return model.RuleAttributes{Path: path, Readable: strings.Contains(verbs, "r"), Updatable: strings.Contains(verbs, "u"),
		Executable: strings.Contains(verbs, "x")}
}

// TestRulesDecideOverHTTP drives the decision through each endpoint family:
// closest rule wins, a tie denies, update and execute imply read, a group's
// policy counts like the user's own, and a refused read is a 404.
func TestRulesDecideOverHTTP(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	chgServer(t, s)
	changeID := chgCreate(t, s, chgEnv+"/changes", chgBody("deploy", nil))
	dana := identUser(t, s, "dana", "devs")
	testutil.Grant(t, s.Store.Store, "dana",
		rule("/projects/opc", "r"),                           // read the project
		rule("/projects/opc/environments/dev", "rx"),         // run changes in dev
		rule("/projects/opc/environments/dev/assets/db", ""), // but not see its asset
		rule("/projects/opc/git_remotes", ""),                // nor the remotes
	)
	// A group's policy: a tie at the same depth as dana's own grant denies.
	p, err := s.Store.CreatePolicy(t.Context(), model.SystemActor, model.PolicyAttributes{Name: "devs",
		Rules: []model.RuleAttributes{rule("/projects/opc/environments/old", "r")}})
	if err != nil {
		t.Fatal(err)
	}
	devs := "devs"
	if _, err := s.Store.ReplaceAssignments(t.Context(), model.SystemActor, p.ID, []model.Assignee{{Groupname: &devs}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"GET", "/api/projects/opc", nil, 200},
		{"PATCH", "/api/projects/opc", testutil.Attrs("project", map[string]any{"name": "x"}), 403},
		{"DELETE", "/api/projects/opc", nil, 403},
		{"GET", chgEnv, nil, 200},
		{"GET", chgEnv + "/assets/db", nil, 404},
		{"GET", "/api/projects/opc/environments/old", nil, 200}, // the group's grant
		{"GET", "/api/projects/opc/git_remotes/origin", nil, 404},
		{"GET", "/api/changes/" + changeID, nil, 200},
		{"DELETE", "/api/changes/" + changeID, nil, 204}, // execute in dev
		{"POST", chgEnv + "/assets/db/changes", chgBody("deploy", nil), 404},
		{"POST", "/api/projects", testutil.Attrs("project", map[string]any{"code": "new", "name": "New"}), 403},
		{"GET", "/api/authorisation_policies", nil, 403},
		{"GET", "/api/events", nil, 200},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			s.Do(t, testutil.Request{Method: c.method, Path: c.path, Token: dana, Body: c.body}).Expect(t, c.want)
		})
	}
	// Lists hold what dana may read, no more.
	envs := s.Do(t, testutil.Request{Method: "GET", Path: "/api/projects/opc/environments", Token: dana}).Expect(t, 200).List(t)
	if len(envs) != 2 {
		t.Errorf("dana lists %d environments, want dev and old", len(envs))
	}
	if n := len(s.Do(t, testutil.Request{Method: "GET", Path: "/api/projects/opc/git_remotes", Token: dana}).Expect(t, 200).List(t)); n != 0 {
		t.Errorf("dana lists %d git remotes, want none", n)
	}
	if n := len(s.Do(t, testutil.Request{Method: "GET", Path: chgEnv + "/assets", Token: dana}).Expect(t, 200).List(t)); n != 0 {
		t.Errorf("dana lists %d assets in dev, want none", n)
	}
	// A rule change takes effect on the next request.
	var ruleID string
	if err := s.Store.DB.Table("authorisation_rules").Where("path = ?", "/projects/opc/environments/old").Select("id").Scan(&ruleID).Error; err != nil {
		t.Fatal(err)
	}
	s.Patch(t, "/api/authorisation_rules/"+ruleID, testutil.Attrs("authorisation_rule", map[string]any{
		"path": "/projects/opc/environments/old", "readable": false, "updatable": false, "executable": false, "name": "no old"})).Expect(t, http.StatusOK)
	s.Do(t, testutil.Request{Method: "GET", Path: "/api/projects/opc/environments/old", Token: dana}).Expect(t, 404)
	admin := s.Get(t, "/api/projects/opc").Expect(t, 200).Data(t)
	if m := admin["meta"].(map[string]any)["authorisations"].(map[string]any)["self"].(map[string]any); m["update"] != true {
		t.Errorf("admin's meta.authorisations.self = %v", m)
	}
	meta := s.Do(t, testutil.Request{Method: "GET", Path: "/api/projects/opc", Token: dana}).Expect(t, 200).Data(t)["meta"].(map[string]any)
	auth := meta["authorisations"].(map[string]any)
	if auth["self"].(map[string]any)["update"] != false || auth["git_remotes"].(map[string]any)["read"] != false || auth["properties"].(map[string]any)["read"] != true {
		t.Errorf("dana's meta.authorisations = %v", auth)
	}
	// Converged properties show every level's properties: a denied level
	// hides them (found by the review).
	s.Do(t, testutil.Request{Method: "GET", Path: chgEnv + "/converged_properties", Token: dana}).Expect(t, 200)
	testutil.Grant(t, s.Store.Store, "dana", rule("/projects/opc/properties", ""))
	s.Do(t, testutil.Request{Method: "GET", Path: chgEnv + "/converged_properties", Token: dana}).Expect(t, 404)
	// A /log_lines denial: no log, and no ticket to stream it.
	s.Do(t, testutil.Request{Method: "POST", Path: "/api/changes/" + changeID + "/log_stream_tickets", Token: dana}).Expect(t, 201)
	testutil.Grant(t, s.Store.Store, "dana", rule("/projects/opc/environments/dev/log_lines", ""))
	s.Do(t, testutil.Request{Method: "GET", Path: "/api/changes/" + changeID + "/log_lines", Token: dana}).Expect(t, 404)
	s.Do(t, testutil.Request{Method: "POST", Path: "/api/changes/" + changeID + "/log_stream_tickets", Token: dana}).Expect(t, 404)
}

// TestApprovalNeedsExecute: a member of the approving group without execute
// is refused with a 403 and an audit event.
func TestApprovalNeedsExecute(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	chgServer(t, s)
	id := chgCreate(t, s, chgEnv+"/changes", chgBody("deploy", nil))
	steps, err := s.Store.ChangeSteps(t.Context(), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	var wait string
	for _, st := range steps[id] {
		if st.RequiresApprovalFrom != nil {
			wait = st.ID
		}
	}
	if wait == "" {
		t.Fatal("no approval step")
	}
	olivia := identUser(t, s, "olivia", "ops")
	testutil.Grant(t, s.Store.Store, "olivia", rule("/", "r"))
	s.Do(t, testutil.Request{Method: "POST", Path: "/api/steps/" + wait + "/approve", Token: olivia}).Expect(t, 403)
	var n int64
	s.Store.DB.Table("events").Where("type = ? AND username = ?", "audit:steps:approve:denied", "olivia").Count(&n)
	if n != 1 {
		t.Errorf("%d audit:steps:approve:denied events, want 1", n)
	}
}

// TestListOfTenThousandNodesShowsTheTenReadable: of 10,000 projects a user
// may read 10; the list, filtered in SQL, holds those 10 and pages them.
func TestListOfTenThousandNodesShowsTheTenReadable(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{"code": "p00000", "name": "first"})).Expect(t, http.StatusCreated)
	var first model.Node
	if err := s.Store.DB.Where("path = ?", "/projects/p00000").Take(&first).Error; err != nil {
		t.Fatal(err)
	}
	now := s.Store.Now()
	standard := "Standard"
	nodes := make([]model.Node, 9_999)
	for i := range nodes {
		code := fmt.Sprintf("p%05d", i+1)
		nodes[i] = model.Node{ID: model.NewID(), Kind: model.KindProject, Code: code, Name: code, ProjectType: &standard,
			Path: "/projects/" + code, PropertiesID: first.PropertiesID, SettingsID: first.SettingsID, CreatedAt: now, UpdatedAt: now}
	}
	if err := s.Store.DB.CreateInBatches(nodes, 500).Error; err != nil {
		t.Fatal(err)
	}
	erin := identUser(t, s, "erin")
	var rules []model.RuleAttributes
	var want []string
	for i := 0; i < 10_000; i += 1000 {
		code := fmt.Sprintf("p%05d", i)
		rules = append(rules, rule("/projects/"+code, "r"))
		want = append(want, code)
	}
	testutil.Grant(t, s.Store.Store, "erin", rules...)
	var got []string
	pages := 0
	for next := "/api/projects?page[size]=4"; next != ""; pages++ {
		resp := s.Do(t, testutil.Request{Method: "GET", Path: next, Token: erin}).Expect(t, 200)
		for _, d := range resp.List(t) {
			got = append(got, d.(map[string]any)["attributes"].(map[string]any)["code"].(string))
		}
		next = ""
		if l, ok := resp.JSON(t)["links"].(map[string]any); ok && l["next"] != nil {
			next = l["next"].(string)
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") || pages != 3 {
		t.Errorf("erin read %v in %d pages, want %v in 3", got, pages, want)
	}
	if n := len(s.Do(t, testutil.Request{Method: "GET", Path: "/api/projects?limit=5", Token: erin}).Expect(t, 200).List(t)); n != 5 {
		t.Errorf("limit 5 gave %d", n)
	}
}

// TestAuthorisationEndpoints: the admin manages rules, policies and
// assignments; bad input is refused with its pointer and changes nothing.
func TestAuthorisationEndpoints(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{"code": "opc", "name": "OpsChain"})).Expect(t, http.StatusCreated)
	created := s.Post(t, "/api/authorisation_rules", testutil.Attrs("authorisation_rule", map[string]any{
		"path": "^/projects/opc", "readable": true, "updatable": false, "executable": false, "name": "read opc"})).Expect(t, http.StatusCreated).Data(t)
	ruleID := created["id"].(string)
	if got := created["attributes"].(map[string]any)["path"]; got != "^/projects/opc" {
		t.Errorf("path = %v", got)
	}
	pol := s.Post(t, "/api/authorisation_policies", testutil.Attrs("authorisation_policy", map[string]any{
		"name": "readers", "description": "read opc", "authorisation_rules": []any{
			map[string]any{"path": "/projects/opc/environments/dev", "readable": false, "updatable": false, "executable": false}}})).
		Expect(t, http.StatusCreated).Data(t)
	policyID := pol["id"].(string)
	s.Post(t, "/api/authorisation_policies/"+policyID+"/rules", testutil.Attrs("policy_rule", map[string]any{"authorisation_rule_id": []string{ruleID}})).
		Expect(t, http.StatusCreated)
	if n := len(s.Get(t, "/api/authorisation_policies/"+policyID+"/rules").Expect(t, 200).List(t)); n != 2 {
		t.Errorf("policy has %d rules, want 2", n)
	}
	identUser(t, s, "fay", "readers-group")
	s.Post(t, "/api/authorisation_policies/"+policyID+"/assignments", testutil.Attrs("policy_assignment", map[string]any{
		"assignments": []any{map[string]any{"username": "fay"}, map[string]any{"groupname": "readers-group"}}})).Expect(t, http.StatusOK)
	if n := len(s.Get(t, "/api/authorisation_policies/"+policyID+"/assignments").Expect(t, 200).List(t)); n != 2 {
		t.Errorf("%d assignments, want 2", n)
	}
	var super string
	if err := s.Store.DB.Table("authorisation_policies").Where("system").Select("id").Scan(&super).Error; err != nil {
		t.Fatal(err)
	}
	events := func() int64 {
		var n int64
		s.Store.DB.Table("events").Count(&n)
		return n
	}
	before := events()
	for _, c := range []struct {
		name, method, path string
		body               any
		status             int
		pointer            string
	}{
		{"not a node path", "POST", "/api/authorisation_rules", testutil.Attrs("authorisation_rule", map[string]any{"path": "/projekts/x", "readable": true, "updatable": false, "executable": false, "name": "x"}), 422, "/data/attributes/path"},
		{"a pattern", "POST", "/api/authorisation_rules", testutil.Attrs("authorisation_rule", map[string]any{"path": "^/projects/.*", "readable": true, "updatable": false, "executable": false, "name": "x"}), 422, "/data/attributes/path"},
		{"not a boolean", "POST", "/api/authorisation_rules", testutil.Attrs("authorisation_rule", map[string]any{"path": "/projects/opc", "readable": "yes"}), 422, "/data/attributes/readable"},
		{"inline rule path", "POST", "/api/authorisation_policies", testutil.Attrs("authorisation_policy", map[string]any{"name": "bad", "authorisation_rules": []any{map[string]any{"path": "nope"}}}), 422, "/data/attributes/authorisation_rules/0/path"},
		{"taken name", "POST", "/api/authorisation_policies", testutil.Attrs("authorisation_policy", map[string]any{"name": "readers"}), 422, "/data/attributes/name"},
		{"unknown policy", "GET", "/api/authorisation_policies/" + model.NewID(), nil, 404, ""},
		{"unknown rule id", "POST", "/api/authorisation_policies/" + policyID + "/rules", testutil.Attrs("policy_rule", map[string]any{"authorisation_rule_id": model.NewID()}), 422, "/data/attributes/authorisation_rule_id"},
		{"unknown user", "POST", "/api/authorisation_policies/" + policyID + "/assignments", testutil.Attrs("policy_assignment", map[string]any{"assignments": []any{map[string]any{"username": "ghost"}}}), 422, "/data/attributes/assignments/0/username"},
		{"both names", "POST", "/api/authorisation_policies/" + policyID + "/assignments", testutil.Attrs("policy_assignment", map[string]any{"assignments": []any{map[string]any{"username": "fay", "groupname": "admin"}}}), 422, "/data/attributes/assignments/0"},
		{"last superuser", "POST", "/api/authorisation_policies/" + super + "/assignments", testutil.Attrs("policy_assignment", map[string]any{"assignments": []any{map[string]any{"groupname": "readers-group-none"}}}), 422, "/data/attributes/assignments/0/groupname"},
		{"no superuser left", "POST", "/api/authorisation_policies/" + super + "/assignments", testutil.Attrs("policy_assignment", map[string]any{"assignments": []any{}}), 422, "/data/attributes/assignments"},
		{"superuser policy", "DELETE", "/api/authorisation_policies/" + super, nil, 422, ""},
		{"unknown link", "DELETE", "/api/authorisation_policies/" + policyID + "/rules/" + model.NewID(), nil, 404, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := s.Do(t, testutil.Request{Method: c.method, Path: c.path, Body: c.body}).Expect(t, c.status)
			if c.pointer != "" {
				errs := resp.JSON(t)["errors"].([]any)
				if src, _ := errs[0].(map[string]any)["source"].(map[string]any); src == nil || src["pointer"] != c.pointer {
					t.Errorf("source = %v, want pointer %s", src, c.pointer)
				}
			}
		})
	}
	if after := events(); after != before {
		t.Errorf("refused requests recorded %d events", after-before)
	}
	// Every change is an event; the rule's policies show on it.
	var n int64
	s.Store.DB.Table("events").Where("type LIKE ?", "api:authorisation_%").Or("type LIKE ?", "api:policy_%").Count(&n)
	if n != 4 {
		t.Errorf("%d authorisation events, want 4 (rule, policy, policy rules, assignments)", n)
	}
	rel := s.Get(t, "/api/authorisation_rules/"+ruleID).Expect(t, 200).Data(t)["relationships"].(map[string]any)["authorisation_policies"].(map[string]any)["data"].([]any)
	if len(rel) != 1 {
		t.Errorf("rule is in %d policies, want 1", len(rel))
	}
	s.Delete(t, "/api/authorisation_policies/"+policyID).Expect(t, http.StatusNoContent)
	s.Delete(t, "/api/authorisation_rules/"+ruleID).Expect(t, http.StatusNoContent)
}
