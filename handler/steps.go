package handler

import (
	"net/http"

	"github.com/stewardhq/steward/model/run"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

var (
	stepListSpec   = &jsonapi.Spec{List: true, Keyset: "id", Filters: run.StepFilters}
	stepItemSpec   = &jsonapi.Spec{}
	stepCSVColumns = []string{"change_id", "action", "name", "status_code", "step_type", "child_execution_strategy",
		"requires_approval_from", "skip_on_retry", "created_at", "started_at", "finished_at", "updated_at"}
)

// stepVerbs are the actions on a waiting step.
var stepVerbs = []string{"continue", "approve", "reject"}

func (a *API) routeSteps(r *mux.Router) {
	r.HandleFunc("/api/steps", a.handle(a.listSteps)).Methods(http.MethodGet)
	r.HandleFunc("/api/steps/{step_id}", a.handle(a.showStep)).Methods(http.MethodGet)
	r.HandleFunc("/api/steps/{step_id}", a.handle(a.updateStep)).Methods(http.MethodPatch)
	for _, verb := range stepVerbs {
		r.HandleFunc("/api/steps/{step_id}/"+verb, a.handle(a.actOnStep(verb))).Methods(http.MethodPost)
	}
}

func (a *API) listSteps(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, stepListSpec)
	if err != nil {
		return err
	}
	ctx := r.Context()
	src := a.Store.StepList()
	// CSV rows carry attributes only: no relationships are loaded.
	csvRow := func(st *run.Step) *jsonapi.Resource { return stepResource(st, "", nil, nil) }
	l, written, err := listPage(a, w, r, q, src, stepCSVColumns, csvRow, func(v *API, steps []*run.Step) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
		data, err := v.renderSteps(ctx, steps)
		return data, nil, err
	})
	if written || err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	return nil
}

func (a *API) renderStep(w http.ResponseWriter, r *http.Request, q *jsonapi.Query, st *run.Step) error {
	data, err := a.renderSteps(r.Context(), []*run.Step{st})
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: data[0]}, q)
	return nil
}

func (a *API) showStep(w http.ResponseWriter, r *http.Request) error {
	// The document is read from one snapshot: a is its view below.
	return a.snapshot(r.Context(), func(a *API) error {
		q, err := jsonapi.ParseQuery(r, stepItemSpec)
		if err != nil {
			return err
		}
		st, err := a.Store.GetStep(r.Context(), mux.Vars(r)["step_id"])
		if err != nil {
			return err
		}
		return a.renderStep(w, r, q, st)
	})
}

// updateStep sets skip_on_retry, the one attribute of a step a client owns.
func (a *API) updateStep(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, stepItemSpec)
	if err != nil {
		return err
	}
	id := mux.Vars(r)["step_id"]
	st, err := a.Store.GetStep(r.Context(), id)
	if err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, "step", []string{"skip_on_retry"})
	if err != nil {
		return err
	}
	var skip bool
	if err := steward.First(body.CheckID(st.ID), body.Require("skip_on_retry"), body.Bool("skip_on_retry", &skip)); err != nil {
		return err
	}
	if st, err = a.Store.SetSkipOnRetry(r.Context(), actorOf(r), st.ID, skip); err != nil {
		return err
	}
	return a.renderStep(w, r, q, st)
}

// actOnStep continues, approves or rejects a waiting step. The body, with an
// optional message, may be left out entirely.
func (a *API) actOnStep(verb string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		q, err := jsonapi.ParseQuery(r, stepItemSpec)
		if err != nil {
			return err
		}
		message, err := actMessage(r, "step")
		if err != nil {
			return err
		}
		st, err := a.Store.ActOnStep(r.Context(), actorOf(r), mux.Vars(r)["step_id"], verb, message)
		if err != nil {
			return err
		}
		return a.renderStep(w, r, q, st)
	}
}

// actMessage reads the optional message of a continue, approve or reject
// of a typ resource; the body may be left out entirely.
func actMessage(r *http.Request, typ string) (string, error) {
	if r.ContentLength == 0 {
		return "", nil
	}
	body, err := jsonapi.DecodeBody(r, typ, []string{"message"})
	if err != nil {
		return "", err
	}
	var msg *string
	if err := body.NullableString("message", &msg); err != nil || msg == nil {
		return "", err
	}
	return *msg, nil
}
