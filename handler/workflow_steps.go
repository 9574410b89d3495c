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

var (
	workflowStepListSpec   = &jsonapi.Spec{List: true, Keyset: "id", Filters: run.WorkflowStepFilters}
	workflowStepItemSpec   = &jsonapi.Spec{}
	workflowStepCSVColumns = []string{"name", "status_code", "skip_on_retry", "created_at", "started_at", "finished_at", "updated_at"}
)

func (a *API) routeWorkflowSteps(r *mux.Router) {
	for _, collection := range []string{"/api/workflow_steps", workflowRunsPrefix + "/{run_id}/steps"} {
		r.HandleFunc(collection, a.handle(a.listWorkflowSteps)).Methods(http.MethodGet)
		r.HandleFunc(collection+"/{step_id}", a.handle(a.showWorkflowStep)).Methods(http.MethodGet)
		for _, verb := range stepVerbs {
			r.HandleFunc(collection+"/{step_id}/"+verb, a.handle(a.actOnWorkflowStep(verb))).Methods(http.MethodPost)
		}
	}
	r.HandleFunc("/api/workflow_steps/{step_id}", a.handle(a.updateWorkflowStep)).Methods(http.MethodPatch)
}

// workflowStepInScope resolves the step the URL names; below a run, only
// that run's steps are found.
func (a *API) workflowStepInScope(r *http.Request) (*run.WorkflowRunStep, error) {
	st, err := a.Store.GetWorkflowStep(r.Context(), mux.Vars(r)["step_id"])
	if err != nil || mux.Vars(r)["run_id"] == "" {
		return st, err
	}
	wr, err := a.workflowRunInScope(r)
	if err != nil {
		return nil, err
	}
	if st.RunID != wr.ID {
		return nil, steward.NotFound("workflow_step", st.ID)
	}
	return st, nil
}

func (a *API) listWorkflowSteps(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, workflowStepListSpec)
	if err != nil {
		return err
	}
	var runID string
	if mux.Vars(r)["run_id"] != "" {
		wr, err := a.workflowRunInScope(r)
		if err != nil {
			return err
		}
		runID = wr.ID
	}
	ctx := r.Context()
	csvRow := func(st *run.WorkflowRunStep) *jsonapi.Resource { return workflowStepResource(st, nil) }
	l, written, err := listPage(a, w, r, q, a.Store.WorkflowStepList(runID), workflowStepCSVColumns, csvRow,
		func(v *API, steps []*run.WorkflowRunStep) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
			data, err := v.renderWorkflowSteps(ctx, steps)
			return data, nil, err
		})
	if written || err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	return nil
}

func (a *API) showWorkflowStep(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, workflowStepItemSpec)
	if err != nil {
		return err
	}
	// The document is read from one snapshot: a is its view below.
	return a.snapshot(r.Context(), func(a *API) error {
		st, err := a.workflowStepInScope(r)
		if err != nil {
			return err
		}
		return a.renderWorkflowStep(w, r, q, st)
	})
}

func (a *API) renderWorkflowStep(w http.ResponseWriter, r *http.Request, q *jsonapi.Query, st *run.WorkflowRunStep) error {
	var data []*jsonapi.Resource
	err := a.snapshot(r.Context(), func(v *API) (err error) {
		data, err = v.renderWorkflowSteps(r.Context(), []*run.WorkflowRunStep{st})
		return err
	})
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: data[0]}, q)
	return nil
}

// updateWorkflowStep sets skip_on_retry, the one attribute a client owns.
func (a *API) updateWorkflowStep(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, workflowStepItemSpec)
	if err != nil {
		return err
	}
	st, err := a.workflowStepInScope(r)
	if err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, workflowStepType(st), []string{"skip_on_retry"})
	if err != nil {
		return err
	}
	var skip bool
	if err := steward.First(body.CheckID(st.ID), body.Require("skip_on_retry"), body.Bool("skip_on_retry", &skip)); err != nil {
		return err
	}
	if st, err = a.Store.SetWorkflowStepSkipOnRetry(r.Context(), actorOf(r), st.ID, skip); err != nil {
		return err
	}
	return a.renderWorkflowStep(w, r, q, st)
}

// actOnWorkflowStep continues, approves or rejects a waiting wait step; the
// body, with an optional message, may be left out.
func (a *API) actOnWorkflowStep(verb string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		q, err := jsonapi.ParseQuery(r, workflowStepItemSpec)
		if err != nil {
			return err
		}
		st, err := a.workflowStepInScope(r)
		if err != nil {
			return err
		}
		message, err := actMessage(r, workflowStepType(st))
		if err != nil {
			return err
		}
		if st, err = a.Store.ActOnWorkflowStep(r.Context(), actorOf(r), st.ID, verb, message); err != nil {
			return err
		}
		return a.renderWorkflowStep(w, r, q, st)
	}
}

// workflowStepResource renders a run step; v (nil for CSV rows) supplies
// its run, workflow and children for links and relationships.
func workflowStepResource(st *run.WorkflowRunStep, v *run.WorkflowStepView) *jsonapi.Resource {
	// The four step types share these attributes and add their own.
	attrs := map[string]any{"lock_version": st.LockVersion, "created_by": st.CreatedBy, "name": st.Name,
		"status_code": st.Status, "created_at": jsonapi.Timestamp(st.CreatedAt), "started_at": jsonapi.TimestampPtr(st.StartedAt),
		"finished_at": jsonapi.TimestampPtr(st.FinishedAt), "updated_at": jsonapi.Timestamp(st.UpdatedAt), "skip_on_retry": st.SkipOnRetry}
	rels := map[string]*jsonapi.Relationship{
		"workflow_run": jsonapi.ToOne("workflow_run", st.RunID, ""),
		"children":     jsonapi.ToMany(nil),
	}
	switch st.Kind {
	case run.WorkflowKindNoop:
		attrs["child_execution_strategy"] = st.ChildExecutionStrategy
		if v != nil {
			kids := v.Children[st.ID]
			ids := make([]jsonapi.Identifier, len(kids))
			for i := range kids {
				ids[i] = jsonapi.Identifier{Type: workflowStepType(&kids[i]), ID: kids[i].ID}
			}
			rels["children"] = jsonapi.ToMany(ids)
		}
	case run.WorkflowKindChange:
		attrs["action"], attrs["property_overrides"] = st.Action, orEmptyMap(st.PropertyOverrides)
		rels["change"] = jsonapi.ToNull("")
		if st.ChangeID != nil {
			rels["change"] = jsonapi.ToOne("change", *st.ChangeID, "")
		}
	case run.WorkflowKindWorkflow:
		_, code, _ := model.ParseWorkflowTarget(st.Target)
		attrs["code"] = code
		rels["child_workflow_run"] = jsonapi.ToNull("")
		if st.ChildRunID != nil {
			rels["child_workflow_run"] = jsonapi.ToOne("workflow_run", *st.ChildRunID, "")
		}
		if st.ChildWorkflowVersionID != nil {
			rels["child_workflow_version"] = jsonapi.ToOne("workflow_version", *st.ChildWorkflowVersionID, "")
		}
	case run.WorkflowKindWait:
		attrs["approved_by"], attrs["rejected_by"] = stepActors(st.ApprovedBy), stepActors(st.RejectedBy)
		attrs["continued_by"], attrs["requires_approval_from"] = stepActors(st.ContinuedBy), st.RequiresApprovalFrom
	}
	res := &jsonapi.Resource{Type: workflowStepType(st), ID: st.ID, Attributes: attrs, Relationships: rels}
	if v == nil {
		return res
	}
	wr := v.Runs[st.RunID]
	if wr == nil || v.Workflows[wr.WorkflowID] == nil || v.Projects[wr.ProjectID] == nil {
		return res
	}
	runLink := workflowRunLink(v.Projects[wr.ProjectID].Path, v.Workflows[wr.WorkflowID].Code, wr.ID)
	self := workflowStepLink(runLink, st.ID)
	res.Links = map[string]string{"self": self, "parent": runLink, "workflow_run": runLink}
	if st.ParentID != nil {
		res.Links["parent"] = workflowStepLink(runLink, *st.ParentID)
	}
	if st.Status == run.StatusWaiting {
		if st.RequiresApprovalFrom != nil {
			res.Links["approve"], res.Links["reject"] = self+"/approve", self+"/reject"
		} else {
			res.Links["continue"] = self + "/continue"
		}
	}
	return res
}

// renderWorkflowSteps renders steps of any runs.
func (a *API) renderWorkflowSteps(ctx context.Context, steps []*run.WorkflowRunStep) ([]*jsonapi.Resource, error) {
	v, err := a.Store.ViewWorkflowSteps(ctx, steps)
	if err != nil {
		return nil, err
	}
	out := make([]*jsonapi.Resource, len(steps))
	for i, st := range steps {
		out[i] = workflowStepResource(st, v)
	}
	return out, nil
}
