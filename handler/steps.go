package handler

import (
	steward "github.com/stewardhq/steward"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
	"github.com/stewardhq/steward/pkg/listquery"
)

var (
	stepListSpec = &jsonapi.Spec{List: true, Keyset: "id", Filters: map[string]listquery.Field{
		"id":                       {Column: "id", Kind: listquery.UUID},
		"change_id":                {Column: "change_id", Kind: listquery.UUID},
		"parent_id":                {Column: "parent_id", Kind: listquery.UUID, Nullable: true},
		"action":                   {Column: "action"},
		"name":                     {Column: "name", Nullable: true},
		"step_type":                {Column: "step_type"},
		"status_code":              {Column: "status"},
		"child_execution_strategy": {Column: "child_execution_strategy"},
		"requires_approval_from":   {Column: "requires_approval_from", Nullable: true},
		"skip_on_retry":            {Column: "skip_on_retry", Kind: listquery.Bool},
		"position":                 {Column: "position", Kind: listquery.Int},
		"created_at":               {Column: "created_at", Kind: listquery.Time},
		"started_at":               {Column: "started_at", Kind: listquery.Time, Nullable: true},
		"finished_at":              {Column: "finished_at", Kind: listquery.Time, Nullable: true},
		"updated_at":               {Column: "updated_at", Kind: listquery.Time},
	}}
	stepItemSpec   = &jsonapi.Spec{}
	stepCSVColumns = []string{"change_id", "action", "name", "status_code", "step_type", "child_execution_strategy",
		"requires_approval_from", "skip_on_retry", "created_at", "started_at", "finished_at", "updated_at"}
)

// stepVerbs are the actions on a waiting step.
var stepVerbs = []string{"continue", "approve", "reject"}

func (a *API) routeSteps(r *mux.Router) {
	r.HandleFunc("/api/steps", a.listSteps).Methods(http.MethodGet)
	r.HandleFunc("/api/steps/{step_id}", a.showStep).Methods(http.MethodGet)
	r.HandleFunc("/api/steps/{step_id}", a.updateStep).Methods(http.MethodPatch)
	for _, verb := range stepVerbs {
		r.HandleFunc("/api/steps/{step_id}/"+verb, a.actOnStep(verb)).Methods(http.MethodPost)
	}
}

func (a *API) listSteps(w http.ResponseWriter, r *http.Request) {
	q, err := jsonapi.ParseQuery(r, stepListSpec)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ctx := r.Context()
	src := a.Store.StepList()
	// CSV rows carry attributes only: no relationships are loaded.
	csvRow := func(st *model.Step) *jsonapi.Resource { return stepResource(st, "", nil, nil) }
	if l, ok := listPage(a, w, r, q, src, stepCSVColumns, csvRow, func(steps []*model.Step) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
		data, err := a.renderSteps(ctx, steps)
		return data, nil, err
	}); ok {
		jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	}
}

func (a *API) renderStep(w http.ResponseWriter, r *http.Request, q *jsonapi.Query, st *model.Step) {
	data, err := a.renderSteps(r.Context(), []*model.Step{st})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: data[0]}, q)
}

func (a *API) showStep(w http.ResponseWriter, r *http.Request) {
	q, err := jsonapi.ParseQuery(r, stepItemSpec)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	st, err := a.Store.GetStep(r.Context(), mux.Vars(r)["step_id"])
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.renderStep(w, r, q, st)
}

// updateStep sets skip_on_retry, the one attribute of a step a client owns.
func (a *API) updateStep(w http.ResponseWriter, r *http.Request) {
	q, err := jsonapi.ParseQuery(r, stepItemSpec)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	id := mux.Vars(r)["step_id"]
	st, err := a.Store.GetStep(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	body, err := jsonapi.DecodeBody(r, "step", []string{"skip_on_retry"})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var skip bool
	if err := steward.First(body.CheckID(st.ID), body.Require("skip_on_retry"), body.Bool("skip_on_retry", &skip)); err != nil {
		a.fail(w, r, err)
		return
	}
	if st, err = a.Store.SetSkipOnRetry(r.Context(), actorOf(r), st.ID, skip); err != nil {
		a.fail(w, r, err)
		return
	}
	a.renderStep(w, r, q, st)
}

// actOnStep continues, approves or rejects a waiting step. The body, with an
// optional message, may be left out entirely.
func (a *API) actOnStep(verb string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := jsonapi.ParseQuery(r, stepItemSpec)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		var message string
		if r.ContentLength != 0 {
			body, err := jsonapi.DecodeBody(r, "step", []string{"message"})
			if err != nil {
				a.fail(w, r, err)
				return
			}
			var msg *string
			if err := body.NullableString("message", &msg); err != nil {
				a.fail(w, r, err)
				return
			}
			if msg != nil {
				message = *msg
			}
		}
		st, err := a.Store.ActOnStep(r.Context(), actorOf(r), mux.Vars(r)["step_id"], verb, message)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.renderStep(w, r, q, st)
	}
}
