package model_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
)

const waitStep = `[{"type":"wait"}]`

func wfVersions(t *testing.T, f *wfFixture, wf *model.Workflow) []model.WorkflowVersion {
	t.Helper()
	var vs []model.WorkflowVersion
	if err := f.store.DB.Where("workflow_id = ?", wf.ID).Order("version").Find(&vs).Error; err != nil {
		t.Fatal(err)
	}
	return vs
}

func versionStates(vs []model.WorkflowVersion) string {
	var out []string
	for _, v := range vs {
		s := fmt.Sprintf("%d", v.Version)
		if v.Draft {
			s += "d"
		}
		if v.Archived {
			s += "a"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func (f *wfFixture) update(t *testing.T, wf *model.Workflow, in model.WorkflowInput) *model.WorkflowView {
	t.Helper()
	v, err := f.store.UpdateWorkflow(f.ctx, model.SystemActor, f.project, wf, in)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	return v
}

func eventTypes(t *testing.T, f *wfFixture) string {
	t.Helper()
	var types []string
	if err := f.store.DB.Model(&model.Event{}).Where("type LIKE ?", "api:workflow%").Order("id").Pluck("type", &types).Error; err != nil {
		t.Fatal(err)
	}
	return strings.Join(types, " ")
}

func TestWorkflowVersionLifecycle(t *testing.T) {
	t.Parallel()
	f := wfSetup(t)
	view := f.mustCreate(t, f.project, "deploy", waitStep, true)
	wf := view.Workflow
	if view.Latest.Version != 1 || !view.Latest.Draft || view.LatestPublished != nil {
		t.Fatalf("created %+v, want draft version 1 and nothing published", view.Latest)
	}
	// A draft is edited in place, and publishing it keeps its number.
	f.update(t, wf, model.WorkflowInput{Name: remoteStr("Deploy")})
	view = f.update(t, wf, model.WorkflowInput{Draft: new(bool)})
	if got := versionStates(wfVersions(t, f, wf)); got != "1" || *view.LatestPublished != 1 || view.Latest.Name != "Deploy" {
		t.Fatalf("versions %q, latest published %v, want 1 published in place", got, view.LatestPublished)
	}
	// Publishing what is already published changes nothing.
	f.update(t, wf, model.WorkflowInput{Draft: new(bool)})
	if got := versionStates(wfVersions(t, f, wf)); got != "1" {
		t.Fatalf("versions %q after publishing again, want still 1", got)
	}
	// A published version is never changed: an edit is the next version,
	// published like the one it replaces unless it says draft.
	f.update(t, wf, model.WorkflowInput{Steps: json.RawMessage(`[{"type":"wait","name":"Two"}]`)})
	draft := true
	view = f.update(t, wf, model.WorkflowInput{Steps: json.RawMessage(`[{"type":"wait","name":"Three"}]`), Draft: &draft})
	if got := versionStates(wfVersions(t, f, wf)); got != "1 2 3d" || *view.LatestPublished != 2 || view.Latest.Version != 3 {
		t.Fatalf("versions %q latest %d published %v, want 1 2 3d", got, view.Latest.Version, view.LatestPublished)
	}
	// A draft that ran is immutable too.
	if err := f.store.DB.Model(&model.WorkflowVersion{}).Where("workflow_id = ? AND version = 3", wf.ID).Update("ran", true).Error; err != nil {
		t.Fatal(err)
	}
	f.update(t, wf, model.WorkflowInput{Name: remoteStr("Four")})
	f.update(t, wf, model.WorkflowInput{Name: remoteStr("Four again")})
	if got := versionStates(wfVersions(t, f, wf)); got != "1 2 3d 4d" {
		t.Fatalf("versions %q, want a new draft 4 after the ran draft 3", got)
	}
	// Deleting drafts deletes those that never ran and archives those that did.
	if err := f.store.DeleteDraftVersions(f.ctx, model.SystemActor, f.project, wf); err != nil {
		t.Fatal(err)
	}
	if got := versionStates(wfVersions(t, f, wf)); got != "1 2 3da" {
		t.Fatalf("after deleting drafts %q, want 1 2 3da", got)
	}
	// One version: deleted when it never ran, archived when it did; the last one stays.
	v1, _ := f.store.GetWorkflowVersion(f.ctx, wf, "1")
	if err := f.store.DeleteWorkflowVersion(f.ctx, model.SystemActor, f.project, wf, v1); err != nil {
		t.Fatal(err)
	}
	v2, _ := f.store.GetWorkflowVersion(f.ctx, wf, "2")
	err := f.store.DeleteWorkflowVersion(f.ctx, model.SystemActor, f.project, wf, v2)
	if e := steward.AsError(err); err == nil || e.Code != "last_version" {
		t.Fatalf("deleting the last version: %v, want last_version", err)
	}
	if got := versionStates(wfVersions(t, f, wf)); got != "2 3da" {
		t.Fatalf("versions %q, want 2 3da", got)
	}
	// The workflow ran (version 3), so deleting it archives it.
	archived, err := f.store.DeleteWorkflow(f.ctx, model.SystemActor, f.project, wf)
	if err != nil || !archived {
		t.Fatalf("delete a workflow that ran: archived %v, %v", archived, err)
	}
	if _, err := f.store.UpdateWorkflow(f.ctx, model.SystemActor, f.project, wf, model.WorkflowInput{Name: remoteStr("x")}); steward.AsError(err).Code != "archived_workflow" {
		t.Fatalf("changing an archived workflow: %v, want archived_workflow", err)
	}
	want := "api:workflows:create api:workflows:update api:workflows:update api:workflows:update api:workflows:update " +
		"api:workflows:update api:workflows:update api:workflow_versions:archive api:workflow_versions:delete " +
		"api:workflow_versions:delete api:workflows:archive"
	if got := eventTypes(t, f); got != want {
		t.Fatalf("events\n got %s\nwant %s", got, want)
	}
}

func TestWorkflowDeleteRules(t *testing.T) {
	t.Parallel()
	f := wfSetup(t)
	drafty := f.mustCreate(t, f.project, "drafty", waitStep, true)
	err := f.store.DeleteDraftVersions(f.ctx, model.SystemActor, f.project, drafty.Workflow)
	if e := steward.AsError(err); err == nil || e.Code != "no_published_version" {
		t.Fatalf("deleting the only drafts: %v, want no_published_version", err)
	}
	archived, err := f.store.DeleteWorkflow(f.ctx, model.SystemActor, f.project, drafty.Workflow)
	if err != nil || archived {
		t.Fatalf("delete a workflow that never ran: archived %v, %v", archived, err)
	}
	if _, err := f.store.GetWorkflow(f.ctx, f.project, "drafty"); !model.ModelNotFound(err) {
		t.Fatalf("deleted workflow: %v, want not found", err)
	}
	if n := countRows(t, f, "workflow_versions"); n != 0 {
		t.Fatalf("%d versions left after deleting their workflow", n)
	}
}

func TestRunnableWorkflowVersion(t *testing.T) {
	t.Parallel()
	f := wfSetup(t)
	f.mustCreate(t, f.project, "drafty", waitStep, true)
	pub := f.mustCreate(t, f.project, "pub", waitStep, false)
	draft := true
	f.update(t, pub.Workflow, model.WorkflowInput{Name: remoteStr("next"), Draft: &draft})
	one, two, nine := 1, 2, 9
	for _, c := range []struct {
		code    string
		version *int
		want    int
		err     string
	}{
		{"pub", nil, 1, ""}, {"pub", &one, 1, ""}, {"pub", &two, 0, "draft_version"}, {"pub", &nine, 0, "not_found"},
		{"drafty", nil, 0, "no_published_version"}, {"nope", nil, 0, "not_found"},
	} {
		_, v, err := f.store.RunnableWorkflowVersion(f.ctx, f.project, c.code, c.version)
		if c.err != "" {
			if steward.AsError(err).Code != c.err {
				t.Errorf("%s %v: %v, want %s", c.code, c.version, err, c.err)
			}
			continue
		}
		if err != nil || v.Version != c.want {
			t.Errorf("%s %v: %v %v, want version %d", c.code, c.version, v, err, c.want)
		}
	}
	for _, c := range []struct {
		path, project, code string
		ok                  bool
	}{
		{"/projects/opc/workflows/deploy", "opc", "deploy", true},
		{"/projects/opc/workflows", "", "", false}, {"/projects/opc/assets/x", "", "", false},
		{"projects/opc/workflows/x", "", "", false}, {"/projects/opc/workflows/x/y", "", "", false},
	} {
		p, code, ok := model.ParseWorkflowTarget(c.path)
		if p != c.project || code != c.code || ok != c.ok {
			t.Errorf("ParseWorkflowTarget(%q) = %q %q %v", c.path, p, code, ok)
		}
	}
}

func TestWorkflowNestingAndCycles(t *testing.T) {
	t.Parallel()
	f := wfSetup(t)
	other, err := f.store.CreateNode(f.ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "other", Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	// Three deep: top runs middle (another project) runs leaf.
	f.mustCreate(t, f.project, "leaf", `[{"target":"/projects/opc/assets/soa","action":"build"}]`, false)
	f.mustCreate(t, other, "middle", `[{"name":"s","run_as":"sequential","children":[{"type":"workflow","target":"/projects/opc/workflows/leaf"}]}]`, false)
	top := f.mustCreate(t, f.project, "top", `[{"target":"/projects/other/workflows/middle","version":1}]`, false)
	if got := stepsJSON(t, top.Latest.Steps); got != `[{"type":"workflow","name":"middle","target":"/projects/other/workflows/middle","version":1}]` {
		t.Fatalf("top steps %s", got)
	}
	// A workflow another one nests cannot be deleted from under it.
	leafWF, _ := f.store.GetWorkflow(f.ctx, f.project, "leaf")
	if _, err := f.store.DeleteWorkflow(f.ctx, model.SystemActor, f.project, leafWF); steward.AsError(err).Code != "nested_workflow" ||
		!strings.Contains(steward.AsError(err).Detail, "middle") {
		t.Fatalf("deleting a nested workflow: %v", err)
	}
	// leaf -> top would close leaf -> top -> middle -> leaf.
	leaf, _ := f.store.GetWorkflow(f.ctx, f.project, "leaf")
	_, err = f.store.UpdateWorkflow(f.ctx, model.SystemActor, f.project, leaf, model.WorkflowInput{
		Steps: json.RawMessage(`[{"type":"wait"},{"type":"workflow","target":"/projects/opc/workflows/top"}]`)})
	e := steward.AsError(err)
	if err == nil || e.Code != "workflow_cycle" || e.Field != "steps/1/target" || !strings.Contains(e.Detail, "opc/top → other/middle → opc/leaf") {
		t.Fatalf("cycle across projects: %v (code %q field %q)", err, e.Code, e.Field)
	}
	// A→B→A directly, with B in the other project.
	a := f.mustCreate(t, f.project, "a", waitStep, false)
	f.mustCreate(t, other, "b", `[{"type":"workflow","target":"/projects/opc/workflows/a"}]`, false)
	_, err = f.store.UpdateWorkflow(f.ctx, model.SystemActor, f.project, a.Workflow, model.WorkflowInput{
		Steps: json.RawMessage(`[{"type":"workflow","target":"/projects/other/workflows/b"}]`)})
	if e := steward.AsError(err); err == nil || e.Code != "workflow_cycle" {
		t.Fatalf("A→B→A: %v, want workflow_cycle", err)
	}
	// Targets that do not run are refused.
	f.mustCreate(t, f.project, "drafty", waitStep, true)
	for _, c := range []struct{ steps, code, field string }{
		{`[{"type":"workflow","target":"/projects/opc/workflows/drafty"}]`, "no_published_version", "steps/0/target"},
		{`[{"type":"workflow","target":"/projects/opc/workflows/leaf","version":7}]`, "unknown_workflow_version", "steps/0/version"},
		{`[{"type":"workflow","target":"/projects/nope/workflows/leaf"}]`, "unknown_workflow", "steps/0/target"},
	} {
		_, err := f.create(t, f.project, "n", c.steps, false)
		if e := steward.AsError(err); err == nil || e.Code != c.code || e.Field != c.field {
			t.Errorf("%s: %v (code %q field %q), want %s at %s", c.steps, err, e.Code, e.Field, c.code, c.field)
		}
	}
}

func TestWorkflowFiveThousandSteps(t *testing.T) {
	t.Parallel()
	f := wfSetup(t)
	steps := make([]string, 0, 50)
	for i := 0; i < 50; i++ {
		children := make([]string, 99)
		for j := range children {
			children[j] = fmt.Sprintf(`{"target":"/projects/opc/assets/soa","action":"build","name":"b%d-%d"}`, i, j)
		}
		steps = append(steps, fmt.Sprintf(`{"name":"stage %d","run_as":"parallel","children":[%s]}`, i, strings.Join(children, ",")))
	}
	view := f.mustCreate(t, f.project, "big", "["+strings.Join(steps, ",")+"]", false)
	if n := len(view.Latest.Steps) * (1 + len(view.Latest.Steps[0].Children)); n != 5000 {
		t.Fatalf("%d steps, want 5000", n)
	}
	got, err := f.store.WorkflowView(f.ctx, view.Workflow)
	if err != nil || len(got.Latest.Steps) != 50 || !strings.Contains(got.Latest.SourceYAML, "b49-98") {
		t.Fatalf("read back: %v", err)
	}
	waits := strings.Repeat(`{"type":"wait"},`, model.MaxWorkflowSteps)
	_, err = f.create(t, f.project, "huge", "["+waits+`{"type":"wait"}]`, false)
	if e := steward.AsError(err); err == nil || e.Code != "too_many_steps" {
		t.Fatalf("%d steps: %v, want too_many_steps", model.MaxWorkflowSteps+1, err)
	}
}
