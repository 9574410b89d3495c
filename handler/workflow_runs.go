package handler

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

const workflowRunsPrefix = projectPrefix + "/workflows/{workflow_code}/runs"

var (
	workflowRunListSpec   = &jsonapi.Spec{List: true, Keyset: "id", Filters: run.WorkflowRunFilters, Includes: []string{"steps", "workflow_version"}}
	workflowRunItemSpec   = &jsonapi.Spec{Includes: []string{"steps", "workflow_version"}}
	workflowRunCSVColumns = []string{"status_code", "created_by", "scheduled", "project_name", "metadata",
		"created_at", "started_at", "finished_at", "updated_at"}
)

func (a *API) routeWorkflowRuns(r *mux.Router) {
	r.HandleFunc("/api/workflow_runs", a.handle(a.listWorkflowRuns)).Methods(http.MethodGet)
	r.HandleFunc("/api/workflow_runs", a.handle(a.createWorkflowRun)).Methods(http.MethodPost)
	r.HandleFunc("/api/workflow_runs/{run_id}", a.handle(a.showWorkflowRun)).Methods(http.MethodGet)
	r.HandleFunc("/api/workflow_runs/{run_id}", a.handle(a.cancelWorkflowRun)).Methods(http.MethodDelete)
	r.HandleFunc(projectPrefix+"/workflow_runs", a.handle(a.listWorkflowRuns)).Methods(http.MethodGet)
	r.HandleFunc(workflowRunsPrefix, a.handle(a.listWorkflowRuns)).Methods(http.MethodGet)
	r.HandleFunc(workflowRunsPrefix, a.handle(a.createWorkflowRun)).Methods(http.MethodPost)
	r.HandleFunc(workflowRunsPrefix+"/{run_id}", a.handle(a.showWorkflowRun)).Methods(http.MethodGet)
	r.HandleFunc(workflowRunsPrefix+"/{run_id}", a.handle(a.cancelWorkflowRun)).Methods(http.MethodDelete)
	r.HandleFunc("/api/workflow_runs/{run_id}/retry", a.handle(a.retryWorkflowRun)).Methods(http.MethodPost)
	r.HandleFunc(workflowRunsPrefix+"/{run_id}/retry", a.handle(a.retryWorkflowRun)).Methods(http.MethodPost)
}

// workflowInScope resolves the project and, on the workflow-specific paths,
// the workflow the URL names (both nil at the root).
func (a *API) workflowInScope(r *http.Request) (*model.Node, *model.Workflow, error) {
	v := mux.Vars(r)
	if v["project"] == "" {
		return nil, nil, nil
	}
	project, err := a.resolveNode(r)
	if err != nil || v["workflow_code"] == "" {
		return project, nil, err
	}
	wf, err := a.Store.GetWorkflow(r.Context(), project, v["workflow_code"])
	return project, wf, err
}

func (a *API) listWorkflowRuns(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, workflowRunListSpec)
	if err != nil {
		return err
	}
	project, wf, err := a.workflowInScope(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	csvRow := a.workflowRunCSVRow(ctx)
	l, written, err := listPage(a, w, r, q, a.Store.WorkflowRunList(project, wf), workflowRunCSVColumns, csvRow,
		func(v *API, runs []*run.WorkflowRun) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
			return v.renderWorkflowRuns(ctx, runs, q.Include)
		})
	if written || err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	return nil
}

// workflowRunInScope resolves the run the URL names, of the URL's workflow
// when it names one.
func (a *API) workflowRunInScope(r *http.Request) (*run.WorkflowRun, error) {
	_, wf, err := a.workflowInScope(r)
	if err != nil {
		return nil, err
	}
	return a.Store.GetWorkflowRun(r.Context(), mux.Vars(r)["run_id"], wf)
}

func (a *API) showWorkflowRun(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, workflowRunItemSpec)
	if err != nil {
		return err
	}
	// The document is read from one snapshot: a is its view below.
	return a.snapshot(r.Context(), func(a *API) error {
		wr, err := a.workflowRunInScope(r)
		if err != nil {
			return err
		}
		return a.renderWorkflowRun(w, r, q, http.StatusOK, wr)
	})
}

func (a *API) renderWorkflowRun(w http.ResponseWriter, r *http.Request, q *jsonapi.Query, status int, wr *run.WorkflowRun) error {
	var data, included []*jsonapi.Resource
	err := a.snapshot(r.Context(), func(v *API) (err error) {
		data, included, err = v.renderWorkflowRuns(r.Context(), []*run.WorkflowRun{wr}, q.Include)
		return err
	})
	if err != nil {
		return err
	}
	if status == http.StatusCreated {
		w.Header().Set("Location", data[0].Links["self"])
	}
	jsonapi.Render(w, status, jsonapi.Document{Data: data[0], Included: included}, q)
	return nil
}

// createWorkflowRun starts a run of a workflow's latest published version
// (or of `version`, our addition), with optional metadata and property
// overrides (our addition too).
func (a *API) createWorkflowRun(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, workflowRunItemSpec)
	if err != nil {
		return err
	}
	project, wf, err := a.workflowInScope(r)
	if err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, "workflow_run",
		[]string{"project_code", "workflow_code", "version", "metadata", "property_overrides"})
	if err != nil {
		return err
	}
	var projectCode, workflowCode string
	var version *int
	var metadata, overrides map[string]any
	var n int
	if err := steward.First(
		body.NoClientID(),
		body.String("project_code", &projectCode),
		body.String("workflow_code", &workflowCode),
		body.Object("metadata", &metadata),
		body.Object("property_overrides", &overrides),
	); err != nil {
		return err
	}
	if body.Has("version") && !body.IsNull("version") {
		if err := body.Int("version", &n); err != nil {
			return err
		}
		version = &n
	}
	ctx := r.Context()
	switch {
	case wf != nil:
		if body.Has("project_code") && projectCode != project.Code {
			return steward.Invalid("project_code", "project_mismatch",
				"project_code %s differs from the project in the URL, %s", steward.Echo(projectCode), project.Code)
		}
		if body.Has("workflow_code") && workflowCode != wf.Code {
			return steward.Invalid("workflow_code", "workflow_mismatch",
				"workflow_code %s differs from the workflow in the URL, %s", steward.Echo(workflowCode), wf.Code)
		}
		workflowCode = wf.Code
	default:
		if err := body.Require("project_code", "workflow_code"); err != nil {
			return err
		}
		if model.ValidateCode(projectCode) == nil {
			project, err = a.Store.NodeByPath(ctx, model.NodePath(projectCode, "", ""))
		}
		if project == nil || err != nil {
			return steward.Invalid("project_code", "unknown_project", "project %s does not exist", steward.Echo(projectCode))
		}
	}
	wf, v, err := a.runnableVersion(ctx, project, workflowCode, version)
	if err != nil {
		return err
	}
	wr, _, err := a.Store.CreateWorkflowRun(ctx, actorOf(r), project, wf, v,
		run.WorkflowRunInput{Metadata: metadata, PropertyOverrides: overrides})
	if err != nil {
		return err
	}
	return a.renderWorkflowRun(w, r, q, http.StatusCreated, wr)
}

func (a *API) cancelWorkflowRun(w http.ResponseWriter, r *http.Request) error {
	if _, err := jsonapi.ParseQuery(r, &jsonapi.Spec{}); err != nil {
		return err
	}
	wr, err := a.workflowRunInScope(r)
	if err != nil {
		return err
	}
	if _, err := a.Store.CancelWorkflowRun(r.Context(), actorOf(r), wr.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// retryWorkflowRun starts a new run of a failed one that keeps what
// succeeded (a Steward extension, as for changes).
func (a *API) retryWorkflowRun(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, workflowRunItemSpec)
	if err != nil {
		return err
	}
	wr, err := a.workflowRunInScope(r)
	if err != nil {
		return err
	}
	if hasBody(r) {
		// A retry takes no attributes; a body may only say what it is.
		if _, err := jsonapi.DecodeBody(r, "workflow_run", []string{}); err != nil {
			return err
		}
	}
	if wr, err = a.Store.RetryWorkflowRun(r.Context(), actorOf(r), wr.ID); err != nil {
		return err
	}
	return a.renderWorkflowRun(w, r, q, http.StatusCreated, wr)
}

// runnableVersion finds the version a POSTed run starts. What the body
// names and does not exist is a 422 at that attribute, not a 404: the URL
// was found.
func (a *API) runnableVersion(ctx context.Context, project *model.Node, code string, version *int) (*model.Workflow, *model.WorkflowVersion, error) {
	wf, v, err := a.Store.RunnableWorkflowVersion(ctx, project, code, version)
	e := steward.AsError(err)
	switch {
	case err == nil:
		return wf, v, nil
	case e.Kind == steward.KindNotFound && version != nil && a.workflowExists(ctx, project, code):
		return nil, nil, steward.Invalid("version", "unknown_version", "workflow %s has no version %d", code, *version)
	case e.Kind == steward.KindNotFound:
		return nil, nil, steward.Invalid("workflow_code", "unknown_workflow", "project %s has no workflow %s", project.Code, steward.Echo(code))
	case e.Kind == steward.KindInvalid && e.Field == "" && version != nil:
		e.Field = "version"
	case e.Kind == steward.KindInvalid && e.Field == "":
		e.Field = "workflow_code"
	}
	return nil, nil, err
}

func (a *API) workflowExists(ctx context.Context, project *model.Node, code string) bool {
	_, err := a.Store.GetWorkflow(ctx, project, code)
	return err == nil
}

// workflowRunCSVRow renders runs as CSV rows: attributes only, with each
// project's name read once.
func (a *API) workflowRunCSVRow(ctx context.Context) func(*run.WorkflowRun) *jsonapi.Resource {
	names := map[string]string{}
	return func(wr *run.WorkflowRun) *jsonapi.Resource {
		res := workflowRunResource(wr, nil)
		name, ok := names[wr.ProjectID]
		if !ok {
			if nodes, err := a.Store.NodesByID(ctx, []string{wr.ProjectID}); err == nil && nodes[wr.ProjectID] != nil {
				name = nodes[wr.ProjectID].Name
			}
			names[wr.ProjectID] = name
		}
		res.Attributes.(*workflowRunAttributes).ProjectName = name
		return res
	}
}
