package handler_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/internal/testutil/enginetest"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
)

// wfrServer is a server with an engine, project opc with asset
// /projects/opc/assets/web on template web 1.0 (actions ok and fail), and
// published workflow "release": change ok on web, then an approval by ops.
func wfrServer(t *testing.T) *testutil.Server {
	t.Helper()
	s := enginetest.NewServer(t)
	ctx := context.Background()
	repo := testgit.New(t)
	repo.Commit("template", map[string]string{"actions.yaml": "actions:\n  ok:\n    run: echo ok\n  fail:\n    run: exit 1\n"})
	project, err := s.Store.CreateNode(ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "opc", Name: "OpsChain"})
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := s.Store.CreateTemplate(ctx, model.SystemActor, project, model.TemplateInput{Code: "web", Name: "Web", URL: repo.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Store.PutTemplateVersion(ctx, model.SystemActor, project, tpl, "1.0", model.TemplateVersionInput{GitRev: "main"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Store.ResolvePendingTemplateVersions(ctx); err != nil {
		t.Fatal(err)
	}
	name, version := "web", "1.0"
	if _, err := s.Store.CreateNode(ctx, model.SystemActor, project, model.KindAsset,
		model.NodeInput{Code: "web", Name: "Web", TemplateName: &name, TemplateVersion: &version}); err != nil {
		t.Fatal(err)
	}
	ops := "ops"
	now := s.Store.Now()
	wf := &model.Workflow{ID: model.NewID(), ProjectID: project.ID, Code: "release", CreatedBy: "admin", CreatedAt: now, UpdatedAt: now}
	v := &model.WorkflowVersion{ID: model.NewID(), WorkflowID: wf.ID, Version: 1, Name: "Release", SourceYAML: "---\n",
		Steps: model.WorkflowSteps{
			{Type: model.WorkflowStepChange, Name: "deploy", Target: "/projects/opc/assets/web", Action: "{{action}}"},
			{Type: model.WorkflowStepWait, Name: "Approval", RequiresApprovalFrom: &ops},
		}, CreatedBy: "admin", CreatedAt: now, UpdatedAt: now}
	if err := s.Store.DB.Create(wf).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.Store.DB.Create(v).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.CreateUser(ctx, model.SystemActor, "olivia", []string{"ops"}); err != nil {
		t.Fatal(err)
	}
	testutil.Grant(t, s.Store.Store, "olivia", model.RuleAttributes{Path: "/", Readable: true, Executable: true})
	if _, _, err := s.Store.CreateToken(ctx, model.SystemActor, "olivia", "test", 0, wfrOpsToken); err != nil {
		t.Fatal(err)
	}
	return s
}

const wfrOpsToken = "stw_wfr-olivia-token-0123456789"

func wfrStart(t *testing.T, s *testutil.Server, path string, attrs map[string]any) *testutil.WorkflowRun {
	t.Helper()
	return testutil.One[testutil.WorkflowRun](t, s.Post(t, path, testutil.Attrs("workflow_run", attrs)).Expect(t, http.StatusCreated))
}

// TestWorkflowRunOverHTTP: a run started on the global path runs its change,
// waits for an approval that the admin who started it may not give and a
// member of ops may, and ends success; every document along the way is
// read on both the global and the run-specific paths.
func TestWorkflowRunOverHTTP(t *testing.T) {
	t.Parallel()
	s := wfrServer(t)
	wr := wfrStart(t, s, "/api/workflow_runs", map[string]any{"project_code": "opc", "workflow_code": "release",
		"metadata": map[string]any{"ticket": "OPS-1"}, "property_overrides": map[string]any{"action": "ok"}})
	if wr.StatusCode != run.StatusPending || wr.Metadata["ticket"] != "OPS-1" || wr.ProjectName != "OpsChain" {
		t.Fatalf("created run = %+v", wr)
	}
	tree := wr.StepTree
	kids, _ := tree["children"].([]any)
	if tree["type"] != "workflow_noop_step" || tree["name"] != "Release" || len(kids) != 2 {
		t.Fatalf("step_tree = %v", tree)
	}
	if first := kids[0].(map[string]any); first["type"] != "workflow_change_step" || first["action"] != "ok" {
		t.Errorf("the first step = %v, want the change with its placeholder filled", first)
	}
	approval := testutil.WaitWorkflowStep(t, s.Store, wr.ID, "Approval", run.StatusWaiting)
	runPath := "/api/projects/opc/workflows/release/runs/" + wr.ID
	doc := s.Get(t, runPath+"/steps/"+approval.ID).Expect(t, http.StatusOK).Data(t)
	links := doc["links"].(map[string]any)
	if links["approve"] != runPath+"/steps/"+approval.ID+"/approve" || links["continue"] != nil {
		t.Fatalf("waiting approval links = %v", links)
	}
	s.Post(t, "/api/workflow_steps/"+approval.ID+"/continue", nil).Expect(t, http.StatusUnprocessableEntity)
	s.Post(t, links["approve"].(string), nil).Expect(t, http.StatusForbidden) // admin started the run
	approved := testutil.One[testutil.WorkflowWaitStep](t, s.Do(t, testutil.Request{Method: http.MethodPost,
		Path: links["approve"].(string), Token: wfrOpsToken,
		Body: testutil.Attrs("workflow_wait_step", map[string]any{"message": "ship it"})}).Expect(t, http.StatusOK))
	if approved.StatusCode != run.StatusSuccess || len(approved.ApprovedBy) != 1 || approved.ApprovedBy[0].Username != "olivia" {
		t.Fatalf("approved step = %+v", approved)
	}
	testutil.WaitWorkflowRun(t, s.Store, wr.ID, run.StatusSuccess)

	done := s.Get(t, "/api/workflow_runs/"+wr.ID+"?include=steps,workflow_version").Expect(t, http.StatusOK).JSON(t)
	types := map[string]int{}
	for _, inc := range done["included"].([]any) {
		types[inc.(map[string]any)["type"].(string)]++
	}
	if len(done["included"].([]any)) != 4 || types["workflow_version"] != 1 {
		t.Errorf("included types = %v, want the run's three steps and its version", types)
	}
	for _, path := range []string{"/api/workflow_runs", "/api/projects/opc/workflow_runs", "/api/projects/opc/workflows/release/runs"} {
		if got := testutil.IDs(testutil.Many[testutil.WorkflowRun](t, s.Get(t, path).Expect(t, http.StatusOK))); len(got) != 1 || got[0] != wr.ID {
			t.Errorf("%s lists %v", path, got)
		}
	}
	steps := s.Get(t, runPath+"/steps?filter[status_code_eq]=success").Expect(t, http.StatusOK).List(t)
	if len(steps) != 3 {
		t.Errorf("%d succeeded steps, want 3", len(steps))
	}
	var change map[string]any
	for _, st := range steps {
		if m := st.(map[string]any); m["type"] == "workflow_change_step" {
			change = m["relationships"].(map[string]any)["change"].(map[string]any)["data"].(map[string]any)
		}
	}
	if change == nil {
		t.Fatal("the change step relates no change")
	}
	rels := s.Get(t, "/api/changes/"+change["id"].(string)).Expect(t, http.StatusOK).Data(t)["relationships"].(map[string]any)
	if d, _ := rels["workflow_run"].(map[string]any)["data"].(map[string]any); d == nil || d["id"] != wr.ID {
		t.Errorf("the run's change relates workflow_run %v", rels["workflow_run"])
	}
	if d, _ := rels["workflow"].(map[string]any)["data"].(map[string]any); d == nil || d["type"] != "workflow" {
		t.Errorf("the run's change relates workflow %v", rels["workflow"])
	}
	if got := s.Get(t, "/api/changes?filter[workflow_run_id_eq]="+wr.ID).Expect(t, http.StatusOK).List(t); len(got) != 1 {
		t.Errorf("%d changes of the run, want 1", len(got))
	}

	// An approval is never skipped on retry: flagging it would pass the gate unapproved.
	e := s.Patch(t, "/api/workflow_steps/"+approval.ID, testutil.Attrs("workflow_wait_step", map[string]any{"skip_on_retry": true})).
		Expect(t, http.StatusUnprocessableEntity).ErrorObject(t)
	if e["code"] != "approval_not_skippable" {
		t.Errorf("flagging an approval = %v", e)
	}
	s.Patch(t, "/api/workflow_steps/"+approval.ID, testutil.Attrs("workflow_wait_step", map[string]any{"skip_on_retry": false})).Expect(t, http.StatusOK)
	s.Delete(t, runPath).Expect(t, http.StatusUnprocessableEntity) // finished
}

// TestWorkflowRunBadInput: what cannot start is refused with the attribute
// at fault, and nothing is written.
func TestWorkflowRunBadInput(t *testing.T) {
	t.Parallel()
	s := wfrServer(t)
	for _, tc := range []struct {
		name, path string
		attrs      map[string]any
		status     int
		pointer    string
	}{
		{"no codes", "/api/workflow_runs", map[string]any{}, http.StatusUnprocessableEntity, "/data/attributes/project_code"},
		{"unknown project", "/api/workflow_runs", map[string]any{"project_code": "nope", "workflow_code": "release"}, http.StatusUnprocessableEntity, "/data/attributes/project_code"},
		{"unknown workflow", "/api/workflow_runs", map[string]any{"project_code": "opc", "workflow_code": "nope"}, http.StatusUnprocessableEntity, "/data/attributes/workflow_code"},
		{"unknown version", "/api/projects/opc/workflows/release/runs", map[string]any{"version": 9}, http.StatusUnprocessableEntity, "/data/attributes/version"},
		{"version not a number", "/api/projects/opc/workflows/release/runs", map[string]any{"version": "one"}, http.StatusUnprocessableEntity, "/data/attributes/version"},
		{"other workflow in body", "/api/projects/opc/workflows/release/runs", map[string]any{"workflow_code": "other"}, http.StatusUnprocessableEntity, "/data/attributes/workflow_code"},
		{"other project in body", "/api/projects/opc/workflows/release/runs", map[string]any{"project_code": "p2"}, http.StatusUnprocessableEntity, "/data/attributes/project_code"},
		{"placeholder without value", "/api/projects/opc/workflows/release/runs", map[string]any{}, http.StatusUnprocessableEntity, "/data/attributes/property_overrides"},
		{"metadata not an object", "/api/projects/opc/workflows/release/runs", map[string]any{"metadata": "x", "property_overrides": map[string]any{"action": "ok"}}, http.StatusUnprocessableEntity, "/data/attributes/metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := s.Post(t, tc.path, testutil.Attrs("workflow_run", tc.attrs)).Expect(t, tc.status).ErrorObject(t)
			if src, _ := e["source"].(map[string]any); src["pointer"] != tc.pointer {
				t.Errorf("error = %v, want pointer %s", e, tc.pointer)
			}
		})
	}
	s.Post(t, "/api/projects/opc/workflows/nope/runs", testutil.Attrs("workflow_run", map[string]any{})).Expect(t, http.StatusNotFound)
	s.Get(t, "/api/workflow_runs/"+model.NewID()).Expect(t, http.StatusNotFound)
	s.Get(t, "/api/workflow_steps/not-an-id").Expect(t, http.StatusNotFound)
	if n := testutil.Count(t, s.Store.DB, "workflow_runs"); n != 0 {
		t.Errorf("refused runs left %d rows", n)
	}
}

// TestWorkflowRunFailsAndCancels: a change that fails errors the run (the
// approval after it is aborted); a run cancelled while it waits ends
// cancelled.
func TestWorkflowRunFailsAndCancels(t *testing.T) {
	t.Parallel()
	s := wfrServer(t)
	failed := wfrStart(t, s, "/api/projects/opc/workflows/release/runs", map[string]any{"property_overrides": map[string]any{"action": "fail"}})
	testutil.WaitWorkflowRun(t, s.Store, failed.ID, run.StatusError)
	approval := testutil.WaitWorkflowStep(t, s.Store, failed.ID, "Approval", run.StatusAborted)
	if approval.FinishedAt == nil {
		t.Error("the aborted step has no finished_at")
	}
	waiting := wfrStart(t, s, "/api/workflow_runs", map[string]any{"project_code": "opc", "workflow_code": "release",
		"property_overrides": map[string]any{"action": "ok"}})
	testutil.WaitWorkflowStep(t, s.Store, waiting.ID, "Approval", run.StatusWaiting)
	s.Delete(t, "/api/workflow_runs/"+waiting.ID).Expect(t, http.StatusNoContent)
	got := testutil.One[testutil.WorkflowRun](t, s.Get(t, "/api/workflow_runs/"+waiting.ID).Expect(t, http.StatusOK))
	if got.StatusCode != run.StatusCancelled || got.FinishedAt == nil {
		t.Errorf("cancelled run = %+v", got)
	}
}

// TestWorkflowRunRetryOverHTTP: a failed run is retried on its
// run-specific path into a new run; a finished good run cannot be.
func TestWorkflowRunRetryOverHTTP(t *testing.T) {
	t.Parallel()
	s := wfrServer(t)
	failed := wfrStart(t, s, "/api/workflow_runs", map[string]any{"project_code": "opc", "workflow_code": "release",
		"property_overrides": map[string]any{"action": "fail"}})
	testutil.WaitWorkflowRun(t, s.Store, failed.ID, run.StatusError)
	path := "/api/projects/opc/workflows/release/runs/" + failed.ID + "/retry"
	s.Post(t, path, testutil.Attrs("workflow_run", map[string]any{"x": 1})).Expect(t, http.StatusUnprocessableEntity)
	csv := string(s.Get(t, "/api/workflow_runs?download=runs.csv").Expect(t, http.StatusOK).Body)
	if !strings.Contains(csv, ",OpsChain,") {
		t.Errorf("the runs CSV lacks the project name:\n%s", csv)
	}
	retried := testutil.One[testutil.WorkflowRun](t, s.Post(t, path, nil).Expect(t, http.StatusCreated))
	if retried.ID == failed.ID || retried.StatusCode != run.StatusPending {
		t.Fatalf("retried run = %+v", retried)
	}
	testutil.WaitWorkflowRun(t, s.Store, retried.ID, run.StatusError)
	s.Post(t, "/api/workflow_runs/"+model.NewID()+"/retry", nil).Expect(t, http.StatusNotFound)
	waiting := wfrStart(t, s, "/api/workflow_runs", map[string]any{"project_code": "opc", "workflow_code": "release",
		"property_overrides": map[string]any{"action": "ok"}})
	s.Post(t, "/api/workflow_runs/"+waiting.ID+"/retry", nil).Expect(t, http.StatusUnprocessableEntity)
}

// TestWorkflowRunActsAsItsCreator (found by the review): a user who may
// execute the workflow but not the action on its target gets a run whose
// change step fails with the reason, and no change; a rule denying a
// workflow hides it, its runs and their steps.
func TestWorkflowRunActsAsItsCreator(t *testing.T) {
	t.Parallel()
	s := wfrServer(t)
	ctx := context.Background()
	if _, err := s.Store.CreateUser(ctx, model.SystemActor, "wes", nil); err != nil {
		t.Fatal(err)
	}
	testutil.Grant(t, s.Store.Store, "wes", model.RuleAttributes{Path: "/projects/opc", Readable: true},
		model.RuleAttributes{Path: "/projects/opc/workflows/release", Readable: true, Executable: true})
	const wes = "stw_wfr-wes-token-0123456789"
	if _, _, err := s.Store.CreateToken(ctx, model.SystemActor, "wes", "test", 0, wes); err != nil {
		t.Fatal(err)
	}
	wr := testutil.One[testutil.WorkflowRun](t, s.Do(t, testutil.Request{Method: http.MethodPost, Path: "/api/workflow_runs", Token: wes,
		Body: testutil.Attrs("workflow_run", map[string]any{"project_code": "opc", "workflow_code": "release",
			"property_overrides": map[string]any{"action": "ok"}})}).Expect(t, http.StatusCreated))
	testutil.WaitWorkflowRun(t, s.Store, wr.ID, run.StatusError)
	var changes int64
	s.Store.DB.Table("changes").Count(&changes)
	if changes != 0 {
		t.Errorf("the run made %d changes for a user who may not run its action", changes)
	}
	// Olivia may read everything but workflow release.
	testutil.Grant(t, s.Store.Store, "olivia", model.RuleAttributes{Path: "/projects/opc/workflows/release"})
	for _, p := range []string{"/api/projects/opc/workflows/release", "/api/workflow_runs/" + wr.ID, "/api/projects/opc/workflows/release/runs"} {
		s.Do(t, testutil.Request{Method: http.MethodGet, Path: p, Token: wfrOpsToken}).Expect(t, http.StatusNotFound)
	}
	for _, p := range []string{"/api/projects/opc/workflows", "/api/workflow_runs", "/api/workflow_steps"} {
		if n := len(s.Do(t, testutil.Request{Method: http.MethodGet, Path: p, Token: wfrOpsToken}).Expect(t, http.StatusOK).List(t)); n != 0 {
			t.Errorf("%s lists %d for a user the workflow is hidden from", p, n)
		}
	}
}
