package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/internal/testutil/enginetest"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
)

// TestWorkflowRunSurvivesItsProcess: a worker process advances a run to its
// wait step and is killed (SIGKILL). The run is only database state: once
// the wait is continued, this process and a second worker process advance
// it together to success, every change step creating one change and every
// step's script running once.
func TestWorkflowRunSurvivesItsProcess(t *testing.T) {
	dir := t.TempDir()
	url, store, project := crashFixture(t, actions("  unused:\n    run: \"true\"\n"))
	ctx := context.Background()
	tplRepo := testgit.New(t)
	tplRepo.Commit("template", map[string]string{"actions.yaml": fmt.Sprintf("actions:\n  count:\n    run: echo $STEWARD_STEP_ID >> %s/runs\n", dir)})
	tpl, err := store.CreateTemplate(ctx, model.SystemActor, project, model.TemplateInput{Code: "web", Name: "Web", URL: tplRepo.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.PutTemplateVersion(ctx, model.SystemActor, project, tpl, "1.0", model.TemplateVersionInput{GitRev: "main"}); err != nil {
		t.Fatal(err)
	}
	if err := store.ResolvePendingTemplateVersions(ctx); err != nil {
		t.Fatal(err)
	}
	name, version := "web", "1.0"
	asset, err := store.CreateNode(ctx, model.SystemActor, project, model.KindAsset, model.NodeInput{Code: "a", Name: "A", TemplateName: &name, TemplateVersion: &version})
	if err != nil {
		t.Fatal(err)
	}
	f := &wfFixture{fixture: &fixture{t: t, store: store, project: project, admin: model.SystemActor, ctx: ctx}}
	var par []model.WorkflowStep
	for i := 0; i < 6; i++ {
		par = append(par, change(fmt.Sprintf("p%d", i), asset.Path, "count"))
	}
	wf, v := f.workflow(nil, "survivor", change("first", asset.Path, "count"), wait("gate", nil), stage("fan", run.Parallel, par...))

	doomed := startWorker(t, url, "doomed-worker")
	r := f.start(wf, v, nil, nil)
	gate := testutil.WaitWorkflowStepElsewhere(t, store, r.ID, "gate", run.StatusWaiting)
	if err := doomed.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = doomed.Wait()

	startWorker(t, url, "other-process")
	enginetest.Start(t, store, enginetest.Unisolated)
	if _, err := store.ActOnWorkflowStep(ctx, model.SystemActor, gate.ID, run.VerbContinue, ""); err != nil {
		t.Fatal(err)
	}
	got := testutil.WaitWorkflowRunElsewhere(t, store, r.ID, run.StatusSuccess, run.StatusError)
	if got.Status != run.StatusSuccess {
		t.Fatalf("run ended %s: %v", got.Status, f.statuses(r))
	}
	if n := testutil.Count(t, store.DB, "changes"); n != 7 {
		t.Errorf("%d changes for 7 change steps", n)
	}
	runs := strings.Fields(readFile(t, filepath.Join(dir, "runs")))
	seen := map[string]bool{}
	for _, id := range runs {
		if seen[id] {
			t.Errorf("step %s ran twice", id)
		}
		seen[id] = true
	}
	if len(runs) != 7 {
		t.Errorf("%d scripts ran, want 7", len(runs))
	}
}
