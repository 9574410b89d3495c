package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testgit"
	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/internal/testutil/enginetest"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
)

// BenchmarkWorkflowStepOverhead runs a 200-step sequential workflow of
// one-step `true` changes and a lone change of the same action, and prints
// what a workflow step costs beyond its change: (run duration / steps) -
// lone change duration, each from the API's own timestamps (created_at to
// finished_at). Target: under 20 ms per step on SQLite.
func BenchmarkWorkflowStepOverhead(b *testing.B) {
	const steps = 200
	s := enginetest.NewServer(b)
	ctx := context.Background()
	project, asset := benchAsset(b, s.Store)
	var defs []model.WorkflowStep
	for i := 0; i < steps; i++ {
		defs = append(defs, model.WorkflowStep{Type: model.WorkflowStepChange, Name: fmt.Sprintf("s%d", i), Target: asset.Path, Action: "noop"})
	}
	wf, v := benchWorkflow(b, s.Store, project, "long", defs)
	for i := 0; i < b.N; i++ {
		var lone []time.Duration
		for j := 0; j < 5; j++ {
			c, err := s.Store.CreateChange(ctx, model.SystemActor, asset, run.ChangeInput{Action: "noop"})
			if err != nil {
				b.Fatal(err)
			}
			done := testutil.WaitChange(b, s.Store, c.ID, run.StatusSuccess)
			lone = append(lone, done.FinishedAt.Sub(done.CreatedAt))
		}
		sort.Slice(lone, func(i, j int) bool { return lone[i] < lone[j] })
		floor := lone[len(lone)/2]
		r, _, err := s.Store.CreateWorkflowRun(ctx, model.SystemActor, project, wf, v, run.WorkflowRunInput{})
		if err != nil {
			b.Fatal(err)
		}
		done := testutil.WaitWorkflowRun(b, s.Store, r.ID, run.StatusSuccess)
		perStep := done.FinishedAt.Sub(done.CreatedAt) / steps
		b.ReportMetric(ms(perStep), "ms/step")
		b.ReportMetric(ms(floor), "ms/lone-change")
		b.ReportMetric(ms(perStep-floor), "ms-overhead/step")
		b.Logf("per step %v, a lone change %v: overhead %v per step (%.2fx)", perStep, floor, perStep-floor, float64(perStep)/float64(floor))
	}
}

// BenchmarkGetWorkflowRun1000Steps times GET of a run with 1,000 steps (not
// started) beside GET of one project, through the HTTP handler. Target:
// under 50 ms.
func BenchmarkGetWorkflowRun1000Steps(b *testing.B) {
	s := testutil.NewServer(b)
	ctx := context.Background()
	project, err := s.Store.CreateNode(ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "big", Name: "Big"})
	if err != nil {
		b.Fatal(err)
	}
	var defs []model.WorkflowStep
	for i := 0; i < 999; i++ {
		defs = append(defs, model.WorkflowStep{Type: model.WorkflowStepWait, Name: fmt.Sprintf("w%d", i)})
	}
	wf, v := benchWorkflow(b, s.Store, project, "wide", defs)
	r, _, err := s.Store.CreateWorkflowRun(ctx, model.SystemActor, project, wf, v, run.WorkflowRunInput{})
	if err != nil {
		b.Fatal(err)
	}
	handler := s.API.Handler()
	get := func(path string) time.Duration {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+testutil.AdminToken)
		rec := httptest.NewRecorder()
		start := time.Now()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
		return time.Since(start)
	}
	b.ResetTimer()
	var runTotal, floorTotal time.Duration
	for i := 0; i < b.N; i++ {
		runTotal += get("/api/workflow_runs/" + r.ID)
		floorTotal += get("/api/projects/big")
	}
	b.ReportMetric(ms(runTotal/time.Duration(b.N)), "ms/run-get")
	b.ReportMetric(ms(floorTotal/time.Duration(b.N)), "ms/project-get")
	b.ReportMetric(float64(runTotal)/float64(floorTotal), "x-floor")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchAsset is project bench with asset app on template app 1.0, whose
// action noop runs `true`.
func benchAsset(b *testing.B, store *run.Store) (*model.Node, *model.Node) {
	b.Helper()
	ctx := context.Background()
	repo := testgit.New(b)
	repo.Commit("template", map[string]string{"actions.yaml": "actions:\n  noop:\n    run: \"true\"\n"})
	project, err := store.CreateNode(ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "bench", Name: "Bench"})
	if err != nil {
		b.Fatal(err)
	}
	settings := model.JSONMap{"allow_parallel": map[string]any{"changes": true, "runs_of_same_change": true}}
	if _, err := store.UpdatePropertySet(ctx, model.SystemActor, model.KindSettings, project.SettingsID, model.PropertySetUpdate{Data: settings}); err != nil {
		b.Fatal(err)
	}
	tpl, err := store.CreateTemplate(ctx, model.SystemActor, project, model.TemplateInput{Code: "app", Name: "App", URL: repo.URL()})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := store.PutTemplateVersion(ctx, model.SystemActor, project, tpl, "1.0", model.TemplateVersionInput{GitRev: "main"}); err != nil {
		b.Fatal(err)
	}
	if err := store.ResolvePendingTemplateVersions(ctx); err != nil {
		b.Fatal(err)
	}
	name, version := "app", "1.0"
	asset, err := store.CreateNode(ctx, model.SystemActor, project, model.KindAsset, model.NodeInput{Code: "app", Name: "App", TemplateName: &name, TemplateVersion: &version})
	if err != nil {
		b.Fatal(err)
	}
	return project, asset
}

// benchWorkflow stores a published workflow of steps straight into its tables.
func benchWorkflow(b *testing.B, store *run.Store, project *model.Node, code string, steps []model.WorkflowStep) (*model.Workflow, *model.WorkflowVersion) {
	b.Helper()
	now := store.Now()
	wf := &model.Workflow{ID: model.NewID(), ProjectID: project.ID, Code: code, CreatedBy: "admin", CreatedAt: now, UpdatedAt: now}
	v := &model.WorkflowVersion{ID: model.NewID(), WorkflowID: wf.ID, Version: 1, Name: code, SourceYAML: "---\n",
		Steps: steps, CreatedBy: "admin", CreatedAt: now, UpdatedAt: now}
	if err := store.DB.Create(wf).Error; err != nil {
		b.Fatal(err)
	}
	if err := store.DB.Create(v).Error; err != nil {
		b.Fatal(err)
	}
	return wf, v
}
