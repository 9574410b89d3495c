package handler_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

const chgActionsYAML = `actions:
  build:
    run: echo building
  test:
    run: echo testing
  release:
    run: echo releasing
  deploy:
    steps:
      - build
      - wait: { name: Approval, requires_approval_from: ops }
      - wait: { name: Smoke check }
      - release
`

const (
	chgEnv     = "/api/projects/opc/environments/dev"
	chgProject = "/api/projects/opc"
)

// chgServer is project opc (OpsChain) with environment dev (Development),
// its asset db, archived environment old, and remote origin whose main
// branch has chgActionsYAML.
func chgServer(t *testing.T, s *testutil.Server) (string, *testgit.GitRepo) {
	t.Helper()
	repo := testgit.New(t)
	sha := repo.Commit("actions", map[string]string{"actions.yaml": chgActionsYAML})
	s.Post(t, "/api/projects", testutil.Attrs("project", map[string]any{"code": "opc", "name": "OpsChain"})).Expect(t, http.StatusCreated)
	s.Post(t, chgProject+"/environments", testutil.Attrs("environment", map[string]any{"code": "dev", "name": "Development"})).Expect(t, http.StatusCreated)
	s.Post(t, chgProject+"/environments", testutil.Attrs("environment", map[string]any{"code": "old", "name": "Old"})).Expect(t, http.StatusCreated)
	s.Delete(t, chgProject+"/environments/old").Expect(t, http.StatusNoContent)
	s.Post(t, chgEnv+"/assets", testutil.Attrs("asset", map[string]any{"code": "db", "name": "DB"})).Expect(t, http.StatusCreated)
	s.Post(t, chgProject+"/git_remotes", testutil.Attrs("git_remote", map[string]any{"name": "origin", "url": repo.URL()})).Expect(t, http.StatusCreated)
	return sha, repo
}

// chgBody is a change create document: action on origin/main plus attrs.
func chgBody(action string, attrs map[string]any) map[string]any {
	a := map[string]any{"action": action, "git_remote_name": "origin", "git_rev": "main"}
	for k, v := range attrs {
		if v == nil {
			delete(a, k)
			continue
		}
		a[k] = v
	}
	return testutil.Attrs("change", a)
}

// chgParentIDs lists the ids in a change's parents relationship. Its members
// differ in type (project, environment, asset), which google/jsonapi cannot
// type, so they are read raw.
func chgParentIDs(d map[string]any) []string {
	var out []string
	for _, x := range d["relationships"].(map[string]any)["parents"].(map[string]any)["data"].([]any) {
		out = append(out, x.(map[string]any)["id"].(string))
	}
	return out
}

// chgCreate creates a change and returns its id.
func chgCreate(t *testing.T, s *testutil.Server, path string, body map[string]any) string {
	t.Helper()
	return testutil.One[testutil.Change](t, s.Post(t, path, body).Expect(t, http.StatusCreated)).ID
}

func chgCount(t *testing.T, s *testutil.Server, table string) int64 {
	t.Helper()
	var n int64
	if err := s.Store.DB.Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestChangeCreateAndShow(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	sha, _ := chgServer(t, s)

	resp := s.Post(t, "/api/changes", chgBody("deploy", map[string]any{
		"parent_path": "/projects/opc/environments/dev", "name": "Friday release",
		"metadata": map[string]any{"ticket": "OPS-7"}, "property_overrides": map[string]any{"replicas": 3},
	})).Expect(t, http.StatusCreated)
	d := resp.Data(t)
	c := testutil.One[testutil.Change](t, resp)
	id := c.ID
	if c.StatusCode != run.StatusInitializing || testutil.Str(c.CommitSHA) != sha || c.EnvironmentName != "Development" ||
		c.ProjectName != "OpsChain" || c.AssetName != nil || c.CreatedBy != "admin" || testutil.Str(c.Name) != "Friday release" ||
		c.Metadata["ticket"] != "OPS-7" || c.PropertyOverrides["replicas"] != 3.0 {
		t.Fatalf("attributes = %+v", c)
	}
	if loc := resp.Header.Get("Location"); loc != chgEnv+"/changes/"+id {
		t.Fatalf("Location = %q", loc)
	}
	steps := testutil.IDs(c.Steps)
	if len(steps) != 5 || c.RootStep == nil || c.RootStep.ID != steps[0] || len(chgParentIDs(d)) != 2 {
		t.Fatalf("relationships = %v", d["relationships"])
	}
	meta := d["meta"].(map[string]any)
	if _, ok := meta["blocked_by_queue"]; !ok {
		t.Fatalf("meta = %v, want queue facts", meta)
	}

	// Project and asset-less project changes.
	pcResp := s.Post(t, chgProject+"/changes", chgBody("build", nil)).Expect(t, http.StatusCreated)
	if pc := testutil.One[testutil.Change](t, pcResp); pc.EnvironmentName != "" || len(chgParentIDs(pcResp.Data(t))) != 1 {
		t.Fatalf("project change = %s", pcResp.Body)
	}

	// include=steps,parents: the five steps and both nodes.
	doc := s.Get(t, "/api/changes/"+id+"?include=steps,parents").Expect(t, http.StatusOK).JSON(t)
	types := map[string]int{}
	for _, r := range doc["included"].([]any) {
		types[r.(map[string]any)["type"].(string)]++
	}
	if types["step"] != 5 || types["project"] != 1 || types["environment"] != 1 {
		t.Fatalf("included types = %v", types)
	}
	s.Get(t, chgEnv+"/changes/"+id).Expect(t, http.StatusOK)
	s.Get(t, chgProject+"/changes/"+id).Expect(t, http.StatusNotFound)
	s.Get(t, "/api/changes/"+model.NewID()).Expect(t, http.StatusNotFound)
	s.Get(t, "/api/changes/nope").Expect(t, http.StatusNotFound)

	rootResp := s.Get(t, "/api/steps/"+steps[0]).Expect(t, http.StatusOK)
	root := testutil.One[testutil.Step](t, rootResp)
	if root.Action != "deploy" || root.ChangeID != id || root.StatusCode != run.StatusInitializing ||
		root.ChildExecutionStrategy != run.Sequential || root.StepType != "standard" {
		t.Fatalf("root step = %+v", root)
	}
	if kids := testutil.IDs(root.Children); len(kids) != 4 || kids[0] != steps[1] {
		t.Fatalf("root children = %v, want %v", kids, steps[1:])
	}
	if links := rootResp.Data(t)["links"].(map[string]any); links["change"] != chgEnv+"/changes/"+id || links["parent"] != "/api/changes/"+id {
		t.Fatalf("step links = %v", links)
	}
	approval := testutil.One[testutil.Step](t, s.Get(t, "/api/steps/"+steps[2]).Expect(t, http.StatusOK))
	if testutil.Str(approval.RequiresApprovalFrom) != "ops" || testutil.Str(approval.Name) != "Approval" {
		t.Fatalf("approval step = %+v", approval)
	}
}

func TestChangeCreateBadInput(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	chgServer(t, s)
	const env = "/projects/opc/environments/dev"
	big := strings.Repeat("x", 1<<20)
	cases := []struct {
		name, path string
		body       any
		status     int
		pointer    string
		detail     string
	}{
		{"unknown action", "/api/changes", chgBody("deploi", map[string]any{"parent_path": env}), 422, "/data/attributes/action", "closest: deploy"},
		{"shell metacharacters", "/api/changes", chgBody("build && curl evil", map[string]any{"parent_path": env}), 422, "/data/attributes/action", "shell"},
		{"missing action", "/api/changes", chgBody("", map[string]any{"action": nil, "parent_path": env}), 422, "/data/attributes/action", "required"},
		{"missing git_rev", chgEnv + "/changes", chgBody("build", map[string]any{"git_rev": nil}), 422, "/data/attributes/git_rev", "required"},
		{"bad git_rev", chgEnv + "/changes", chgBody("build", map[string]any{"git_rev": "-x"}), 422, "/data/attributes/git_rev", "-x"},
		{"git_rev that does not exist", chgEnv + "/changes", chgBody("build", map[string]any{"git_rev": "v9.9"}), 422, "/data/attributes/git_rev", `"v9.9"`},
		{"missing parent_path", "/api/changes", chgBody("build", nil), 422, "/data/attributes/parent_path", "required"},
		{"parent_path to a missing node", "/api/changes", chgBody("build", map[string]any{"parent_path": "/projects/opc/environments/nope"}), 422, "/data/attributes/parent_path", "nope"},
		{"parent_path to an archived node", "/api/changes", chgBody("build", map[string]any{"parent_path": "/projects/opc/environments/old"}), 422, "/data/attributes/parent_path", "archived"},
		{"parent_path on a node route", chgEnv + "/changes", chgBody("build", map[string]any{"parent_path": env}), 422, "/data/attributes/parent_path", "left out"},
		{"asset change naming a remote", chgEnv + "/assets/db/changes", chgBody("build", map[string]any{"git_rev": nil}), 422, "/data/attributes/git_remote_name", "template"},
		{"metadata not an object", chgEnv + "/changes", chgBody("build", map[string]any{"metadata": []any{1}}), 422, "/data/attributes/metadata", "object"},
		{"unknown attribute", chgEnv + "/changes", chgBody("build", map[string]any{"colour": "red"}), 422, "/data/attributes/colour", "colour"},
		{"1 MiB metadata", chgEnv + "/changes", chgBody("build", map[string]any{"metadata": map[string]any{"blob": big}}), 413, "", ""},
		{"unknown node in the URL", "/api/projects/opc/environments/nope/changes", chgBody("build", nil), 404, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.Post(t, tc.path, tc.body).Expect(t, tc.status)
			e := resp.ErrorObject(t)
			if tc.pointer != "" {
				src, _ := e["source"].(map[string]any)
				if src == nil || src["pointer"] != tc.pointer {
					t.Fatalf("source = %v, want pointer %s; %v", e["source"], tc.pointer, e)
				}
			}
			if !strings.Contains(e["detail"].(string), tc.detail) {
				t.Fatalf("detail %q does not mention %q", e["detail"], tc.detail)
			}
		})
	}
	for _, table := range []string{"changes", "steps", "events WHERE type LIKE 'api:changes:%'"} {
		if n := chgCount(t, s, table); n != 0 {
			t.Fatalf("%d rows in %s after refused requests", n, table)
		}
	}
	list := s.Get(t, "/api/changes").Expect(t, http.StatusOK).JSON(t)
	if meta := list["meta"].(map[string]any); meta["has_any"] != false || meta["partial_response"] != false {
		t.Fatalf("empty list meta = %v", meta)
	}
}

func TestChangeListFiltersIncludesAndCSV(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	chgServer(t, s)
	build := chgCreate(t, s, chgEnv+"/changes", chgBody("build", nil))
	deploy := chgCreate(t, s, chgEnv+"/changes", chgBody("deploy", map[string]any{"metadata": map[string]any{"k": "v, with comma"}}))
	test := chgCreate(t, s, chgProject+"/changes", chgBody("test", nil))
	cases := []struct {
		query string
		want  []string
	}{
		{"", []string{build, deploy, test}},
		{"?filter[environment_code_eq]=dev", []string{build, deploy}},
		{"?filter[environment_code_null]=true", []string{test}},
		{"?filter[project_code_eq]=opc&filter[action_in][]=build&filter[action_in][]=test", []string{build, test}},
		{"?filter[status_code_eq]=initializing&filter[action_eq]=deploy", []string{deploy}},
		{"?filter[environment_name_cont]=velop&sort=-created_at", []string{deploy, build}},
		{"?filter[asset_code_null]=false", nil},
		{"?filter[created_at_gteq]=2000-01-01T00:00:00Z&filter[git_rev_eq]=main", []string{build, deploy, test}},
		{"?filter[id_eq]=" + test, []string{test}},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			got := testutil.IDs(testutil.Many[testutil.Change](t, s.Get(t, "/api/changes"+tc.query).Expect(t, http.StatusOK)))
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	// A node's list holds the changes of that node only.
	if n := len(testutil.Many[testutil.Change](t, s.Get(t, chgEnv+"/changes").Expect(t, http.StatusOK))); n != 2 {
		t.Fatalf("environment lists %d changes, want 2", n)
	}
	doc := s.Get(t, chgProject+"/changes?include=steps&limit=1").Expect(t, http.StatusOK).JSON(t)
	if meta := doc["meta"].(map[string]any); meta["has_any"] != true || meta["partial_response"] != false || len(doc["included"].([]any)) != 1 {
		t.Fatalf("project list with steps = %v", doc)
	}
	doc = s.Get(t, "/api/changes?limit=1").Expect(t, http.StatusOK).JSON(t)
	if meta := doc["meta"].(map[string]any); meta["partial_response"] != true || meta["has_any"] != true {
		t.Fatalf("limited list meta = %v", meta)
	}
	s.Get(t, "/api/changes?filter[colour_eq]=red").Expect(t, http.StatusBadRequest)
	s.Get(t, "/api/changes?include=children").Expect(t, http.StatusBadRequest)

	resp := s.Do(t, testutil.Request{Method: http.MethodGet, Path: "/api/changes?download=changes.csv&filter[environment_code_eq]=dev",
		Header: map[string]string{"Accept": "text/csv"}}).Expect(t, http.StatusOK)
	rows, err := csv.NewReader(strings.NewReader(string(resp.Body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0][0] != "id" || rows[0][1] != "action" || rows[1][0] != build || rows[2][0] != deploy ||
		rows[1][6] != "Development" || !strings.Contains(strings.Join(rows[2], "|"), `{"k":"v, with comma"}`) {
		t.Fatalf("csv = %v", rows)
	}
}

func TestStepsListPatchAndActions(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	chgServer(t, s)
	id := chgCreate(t, s, chgEnv+"/changes", chgBody("deploy", nil))
	s.Post(t, chgEnv+"/changes", chgBody("build", nil)).Expect(t, http.StatusCreated)
	listSteps := func(query string) []*testutil.Step {
		return testutil.Many[testutil.Step](t, s.Get(t, "/api/steps"+query).Expect(t, http.StatusOK))
	}

	steps := listSteps("?filter[change_id_eq]=" + id)
	if len(steps) != 5 {
		t.Fatalf("%d steps, want 5", len(steps))
	}
	if n := len(listSteps("?filter[action_eq]=build")); n != 2 {
		t.Fatalf("%d build steps, want 2", n)
	}
	if n := len(listSteps("?filter[requires_approval_from_eq]=ops")); n != 1 {
		t.Fatalf("%d approval steps, want 1", n)
	}
	smoke := steps[3].ID

	patched := testutil.One[testutil.Step](t, s.Patch(t, "/api/steps/"+smoke, testutil.Attrs("step", map[string]any{"skip_on_retry": true})).Expect(t, http.StatusOK))
	if !patched.SkipOnRetry {
		t.Fatalf("patched = %+v", patched)
	}
	if n := len(listSteps("?filter[skip_on_retry_true]=1")); n != 1 {
		t.Fatalf("%d flagged steps, want 1", n)
	}
	s.Patch(t, "/api/steps/"+smoke, testutil.Attrs("step", map[string]any{"name": "x"})).Expect(t, http.StatusUnprocessableEntity)
	s.Patch(t, "/api/steps/"+smoke, testutil.Attrs("step", map[string]any{"skip_on_retry": "yes"})).Expect(t, http.StatusUnprocessableEntity)
	s.Patch(t, "/api/steps/"+smoke, testutil.Attrs("change", map[string]any{"skip_on_retry": true})).Expect(t, http.StatusConflict)
	s.Patch(t, "/api/steps/"+model.NewID(), testutil.Attrs("step", map[string]any{"skip_on_retry": true})).Expect(t, http.StatusNotFound)
	s.Get(t, "/api/steps/not-an-id").Expect(t, http.StatusNotFound)

	// Nothing waits yet: every verb is refused, with or without a body.
	s.Post(t, "/api/steps/"+smoke+"/continue", nil).Expect(t, http.StatusUnprocessableEntity)
	s.Post(t, "/api/steps/"+smoke+"/approve", testutil.Attrs("", map[string]any{"message": "fine"})).Expect(t, http.StatusUnprocessableEntity)
	s.Post(t, "/api/steps/"+smoke+"/reject", testutil.Attrs("", map[string]any{"reason": "no"})).Expect(t, http.StatusUnprocessableEntity)
	s.Post(t, "/api/steps/"+model.NewID()+"/continue", nil).Expect(t, http.StatusNotFound)

	csvResp := s.Do(t, testutil.Request{Method: http.MethodGet, Path: "/api/steps?download=steps.csv&filter[change_id_eq]=" + id,
		Header: map[string]string{"Accept": "text/csv"}}).Expect(t, http.StatusOK)
	if lines := strings.Split(strings.TrimSpace(string(csvResp.Body)), "\n"); len(lines) != 6 || !strings.HasPrefix(lines[0], "id,change_id,action") {
		t.Fatalf("steps csv:\n%s", csvResp.Body)
	}
}

func TestChangeRetryAndCancelHTTP(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	chgServer(t, s)
	id := chgCreate(t, s, chgEnv+"/changes", chgBody("build", nil))
	e := s.Post(t, "/api/changes/"+id+"/retry", nil).Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
	if e["code"] != "not_retryable" {
		t.Fatalf("retry of an unfinished change: %v", e)
	}
	s.Delete(t, "/api/changes/"+id).Expect(t, http.StatusNoContent)
	if st := testutil.One[testutil.Change](t, s.Get(t, "/api/changes/"+id).Expect(t, http.StatusOK)).StatusCode; st != run.StatusCancelled {
		t.Fatalf("cancelled change is %v", st)
	}
	s.Delete(t, "/api/changes/"+id).Expect(t, http.StatusUnprocessableEntity)
	s.Delete(t, "/api/changes/"+model.NewID()).Expect(t, http.StatusNotFound)

	retry := s.Post(t, "/api/changes/"+id+"/retry", nil).Expect(t, http.StatusCreated)
	d := testutil.One[testutil.Change](t, retry)
	if d.Metadata["original_change_id"] != id || d.StatusCode != run.StatusInitializing {
		t.Fatalf("retry = %+v", d)
	}
	if !strings.HasSuffix(retry.Header.Get("Location"), "/changes/"+d.ID) {
		t.Fatalf("Location = %q", retry.Header.Get("Location"))
	}
	s.Post(t, "/api/changes/"+model.NewID()+"/retry", nil).Expect(t, http.StatusNotFound)
	filter := "/api/changes?filter[original_change_id_eq]=" + url.QueryEscape(id)
	if n := len(testutil.Many[testutil.Change](t, s.Get(t, filter).Expect(t, http.StatusOK))); n != 1 {
		t.Fatalf("%d retries of %s listed", n, id)
	}
}
