package handler

import (
	"net/http"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

const (
	workflowPrefix        = projectPrefix + "/workflows/{workflow_code}"
	workflowVersionPrefix = workflowPrefix + "/versions/{version}"
)

var (
	workflowListSpec          = &jsonapi.Spec{List: true, Keyset: "id", Filters: model.WorkflowFilters}
	workflowVersionListSpec   = &jsonapi.Spec{List: true, Keyset: "id", Filters: model.WorkflowVersionFilters}
	workflowItemSpec          = &jsonapi.Spec{}
	workflowCSVColumns        = []string{"code", "archived", "created_by", "created_at", "updated_at"}
	workflowVersionCSVColumns = []string{"code", "version", "name", "description", "draft", "archived", "created_by", "created_at", "updated_at"}
	workflowPatchFields       = []string{"name", "description", "steps", "source_yaml", "draft", "archived"}
	workflowCreateFields      = append([]string{"code"}, workflowPatchFields...)
)

func (a *API) routeWorkflows(r *mux.Router) {
	r.HandleFunc(projectPrefix+"/workflows", a.handle(a.listWorkflows)).Methods(http.MethodGet)
	r.HandleFunc(projectPrefix+"/workflows", a.handle(a.createWorkflow)).Methods(http.MethodPost)
	r.HandleFunc(workflowPrefix, a.handle(a.showWorkflow)).Methods(http.MethodGet)
	r.HandleFunc(workflowPrefix, a.handle(a.patchWorkflow)).Methods(http.MethodPatch)
	r.HandleFunc(workflowPrefix, a.handle(a.deleteWorkflow)).Methods(http.MethodDelete)
	r.HandleFunc(workflowPrefix+"/versions", a.handle(a.listWorkflowVersions)).Methods(http.MethodGet)
	r.HandleFunc(workflowPrefix+"/versions", a.handle(a.deleteDraftVersions)).Methods(http.MethodDelete)
	r.HandleFunc(workflowVersionPrefix, a.handle(a.showWorkflowVersion)).Methods(http.MethodGet)
	r.HandleFunc(workflowVersionPrefix, a.handle(a.deleteWorkflowVersion)).Methods(http.MethodDelete)
}

// workflowDefInScope resolves the project and the workflow named in the URL
// (workflowInScope is the runs' version, which also serves the root paths).
func (a *API) workflowDefInScope(r *http.Request, spec *jsonapi.Spec) (*jsonapi.Query, *model.Node, *model.Workflow, error) {
	q, p, err := a.nodeInScope(r, spec)
	if err != nil {
		return nil, nil, nil, err
	}
	wf, err := a.Store.GetWorkflow(r.Context(), p, mux.Vars(r)["workflow_code"])
	return q, p, wf, err
}

func (a *API) listWorkflows(w http.ResponseWriter, r *http.Request) error {
	q, p, err := a.nodeInScope(r, workflowListSpec)
	if err != nil {
		return err
	}
	if p.Kind != model.KindProject {
		return steward.NotFound("project", p.Path)
	}
	// CSV rows carry the workflow's own columns: its definition lives in versions.
	csvRow := func(wf *model.Workflow) *jsonapi.Resource {
		return &jsonapi.Resource{Type: "workflow", ID: wf.ID, Attributes: map[string]any{"code": wf.Code, "archived": wf.Archived,
			"created_by": wf.CreatedBy, "created_at": jsonapi.Timestamp(wf.CreatedAt), "updated_at": jsonapi.Timestamp(wf.UpdatedAt)}}
	}
	l, written, err := listPage(a, w, r, q, a.Store.WorkflowList(p), workflowCSVColumns, csvRow,
		func(v *API, wfs []*model.Workflow) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
			views, err := v.Store.WorkflowViews(r.Context(), wfs)
			data := make([]*jsonapi.Resource, len(views))
			for i, view := range views {
				data[i] = workflowResource(p, view)
			}
			return data, nil, err
		})
	if written || err != nil {
		return err
	}
	doc := l.document(r, q, true)
	doc.NullLinks = true // latest_published_version
	jsonapi.Render(w, http.StatusOK, doc, q)
	return nil
}

func (a *API) showWorkflow(w http.ResponseWriter, r *http.Request) error {
	return a.snapshot(r.Context(), func(a *API) error {
		q, p, wf, err := a.workflowDefInScope(r, workflowItemSpec)
		if err != nil {
			return err
		}
		view, err := a.Store.WorkflowView(r.Context(), wf)
		if err != nil {
			return err
		}
		jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: workflowResource(p, view), NullLinks: true}, q)
		return nil
	})
}

// decodeWorkflow reads a workflow body; steps are handed to the model raw,
// which reads them strictly and names the bad step. id is the workflow's on
// a PATCH (a data.id must match it) and "" on create (no data.id taken).
func decodeWorkflow(r *http.Request, fields []string, id string) (model.WorkflowInput, error) {
	var in model.WorkflowInput
	body, err := jsonapi.DecodeBody(r, "workflow", fields)
	if err != nil {
		return in, err
	}
	if id == "" {
		err = body.NoClientID()
	} else {
		err = body.CheckID(id)
	}
	if err != nil {
		return in, err
	}
	in.DescriptionSet = body.Has("description")
	if body.Has("steps") {
		in.Steps = body.Attributes()["steps"]
	}
	err = steward.First(body.String("code", &in.Code), nullableTo(body, "name", &in.Name),
		body.NullableString("description", &in.Description), nullableTo(body, "source_yaml", &in.SourceYAML),
		boolTo(body, "draft", &in.Draft), boolTo(body, "archived", &in.Archived))
	return in, err
}

// nullableTo reads string attribute k into *dst when present (null refused).
func nullableTo(body *jsonapi.Body, k string, dst **string) error {
	if !body.Has(k) {
		return nil
	}
	var s string
	if err := body.String(k, &s); err != nil {
		return err
	}
	*dst = &s
	return nil
}

func boolTo(body *jsonapi.Body, k string, dst **bool) error {
	if !body.Has(k) {
		return nil
	}
	var b bool
	if err := body.Bool(k, &b); err != nil {
		return err
	}
	*dst = &b
	return nil
}

func (a *API) createWorkflow(w http.ResponseWriter, r *http.Request) error {
	q, p, err := a.nodeInScope(r, workflowItemSpec)
	if err != nil {
		return err
	}
	in, err := decodeWorkflow(r, workflowCreateFields, "")
	if err != nil {
		return err
	}
	if in.Code == "" {
		return steward.Invalid("code", "required", "code is required")
	}
	view, err := a.Store.CreateWorkflow(r.Context(), actorOf(r), p, in)
	if err != nil {
		return err
	}
	res := workflowResource(p, view)
	w.Header().Set("Location", res.Links["self"])
	jsonapi.Render(w, http.StatusCreated, jsonapi.Document{Data: res, NullLinks: true}, q)
	return nil
}

func (a *API) patchWorkflow(w http.ResponseWriter, r *http.Request) error {
	q, p, wf, err := a.workflowDefInScope(r, workflowItemSpec)
	if err != nil {
		return err
	}
	in, err := decodeWorkflow(r, workflowPatchFields, wf.ID)
	if err != nil {
		return err
	}
	view, err := a.Store.UpdateWorkflow(r.Context(), actorOf(r), p, wf, in)
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: workflowResource(p, view), NullLinks: true}, q)
	return nil
}

// deleteWorkflow deletes the workflow, or archives it when it ran: 204 either way.
func (a *API) deleteWorkflow(w http.ResponseWriter, r *http.Request) error {
	_, p, wf, err := a.workflowDefInScope(r, workflowItemSpec)
	if err != nil {
		return err
	}
	if _, err := a.Store.DeleteWorkflow(r.Context(), actorOf(r), p, wf); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listWorkflowVersions(w http.ResponseWriter, r *http.Request) error {
	q, p, wf, err := a.workflowDefInScope(r, workflowVersionListSpec)
	if err != nil {
		return err
	}
	row := func(v *model.WorkflowVersion) *jsonapi.Resource { return workflowVersionResource(p, wf, v) }
	l, written, err := listPage(a, w, r, q, a.Store.WorkflowVersionList(wf), workflowVersionCSVColumns, row, nil)
	if written || err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	return nil
}

func (a *API) deleteDraftVersions(w http.ResponseWriter, r *http.Request) error {
	_, p, wf, err := a.workflowDefInScope(r, workflowItemSpec)
	if err != nil {
		return err
	}
	if err := a.Store.DeleteDraftVersions(r.Context(), actorOf(r), p, wf); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// workflowVersionInScope resolves the project, workflow and version in the URL.
func (a *API) workflowVersionInScope(r *http.Request) (*jsonapi.Query, *model.Node, *model.Workflow, *model.WorkflowVersion, error) {
	q, p, wf, err := a.workflowDefInScope(r, workflowItemSpec)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	v, err := a.Store.GetWorkflowVersion(r.Context(), wf, mux.Vars(r)["version"])
	return q, p, wf, v, err
}

func (a *API) showWorkflowVersion(w http.ResponseWriter, r *http.Request) error {
	return a.snapshot(r.Context(), func(a *API) error {
		q, p, wf, v, err := a.workflowVersionInScope(r)
		if err != nil {
			return err
		}
		jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: workflowVersionResource(p, wf, v)}, q)
		return nil
	})
}

// deleteWorkflowVersion deletes the version, or archives it when it ran.
func (a *API) deleteWorkflowVersion(w http.ResponseWriter, r *http.Request) error {
	_, p, wf, v, err := a.workflowVersionInScope(r)
	if err != nil {
		return err
	}
	if err := a.Store.DeleteWorkflowVersion(r.Context(), actorOf(r), p, wf, v); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
