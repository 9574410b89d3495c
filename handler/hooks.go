package handler

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	whmodel "github.com/stewardhq/steward/model/webhook"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

var (
	hookListSpec        = &jsonapi.Spec{List: true, Keyset: "id", Filters: whmodel.HookFilters}
	hookRequestListSpec = &jsonapi.Spec{List: true, Keyset: "id", Filters: whmodel.HookRequestFilters}
	hookCreateFields    = []string{"name", "parent_path", "action", "workflow_code", "version", "git_remote_name", "git_rev", "template_version",
		"property_overrides", "allow_rev_override"}
	hookUpdateFields      = []string{"enabled", "property_overrides", "allow_rev_override", "rotate_secret"}
	hookCSVColumns        = []string{"name", "parent_path", "action", "workflow_code", "version", "enabled", "git_remote_name", "git_rev", "created_by", "created_at"}
	hookRequestCSVColumns = []string{"outcome", "status", "reason", "scheme", "git_rev", "change_id", "workflow_run_id", "created_at"}
)

// hookTriggerPath is the one path under /api/hooks that needs no token:
// the trigger authenticates by its signature (see publicPath).
const hookTriggerPath = "/api/hooks/{hook_id}/trigger"

func (a *API) routeHooks(r *mux.Router) {
	r.HandleFunc("/api/hooks", a.handle(a.listHooks)).Methods(http.MethodGet)
	r.HandleFunc("/api/hooks", a.handle(a.createHook)).Methods(http.MethodPost)
	r.HandleFunc("/api/hooks/{hook_id}", a.handle(a.showHook)).Methods(http.MethodGet)
	r.HandleFunc("/api/hooks/{hook_id}", a.handle(a.updateHook)).Methods(http.MethodPatch)
	r.HandleFunc("/api/hooks/{hook_id}", a.handle(a.deleteHook)).Methods(http.MethodDelete)
	r.HandleFunc("/api/hooks/{hook_id}/requests", a.handle(a.listHookRequests)).Methods(http.MethodGet)
	r.HandleFunc("/api/hooks/{hook_id}/requests/{request_id}", a.handle(a.showHookRequest)).Methods(http.MethodGet)
	r.HandleFunc(hookTriggerPath, a.handle(a.triggerHook)).Methods(http.MethodPost)
}

func (a *API) listHooks(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, hookListSpec)
	if err != nil {
		return err
	}
	l, written, err := listPage(a, w, r, q, a.webhookStore().Hooks(actorOf(r)), hookCSVColumns, hookResource, nil)
	if written || err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	return nil
}

func (a *API) hookInScope(r *http.Request, spec *jsonapi.Spec) (*jsonapi.Query, *whmodel.Hook, error) {
	q, err := jsonapi.ParseQuery(r, spec)
	if err != nil {
		return nil, nil, err
	}
	h, err := a.webhookStore().GetHook(r.Context(), actorOf(r), mux.Vars(r)["hook_id"])
	return q, h, err
}

func (a *API) showHook(w http.ResponseWriter, r *http.Request) error {
	q, h, err := a.hookInScope(r, plainSpec)
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: hookResource(h)}, q)
	return nil
}

func (a *API) createHook(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, plainSpec)
	if err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, "hook", hookCreateFields)
	if err != nil {
		return err
	}
	var in whmodel.HookInput
	var overrides map[string]any
	if err := steward.First(body.NoClientID(), body.String("name", &in.Name), body.String("parent_path", &in.ParentPath),
		body.String("action", &in.Action), body.NullableString("workflow_code", &in.WorkflowCode),
		body.NullableString("git_remote_name", &in.GitRemoteName),
		body.NullableString("git_rev", &in.GitRev), body.NullableString("template_version", &in.TemplateVersion),
		body.Object("property_overrides", &overrides), body.Bool("allow_rev_override", &in.AllowRevOverride)); err != nil {
		return err
	}
	if body.Has("version") && !body.IsNull("version") {
		var n int
		if err := body.Int("version", &n); err != nil {
			return err
		}
		in.WorkflowVersion = &n
	}
	in.PropertyOverrides = model.JSONMap(overrides)
	h, err := a.webhookStore().CreateHook(r.Context(), actorOf(r), in)
	if err != nil {
		return err
	}
	res := hookResource(h)
	w.Header().Set("Location", res.Links["self"])
	w.Header().Set("Cache-Control", "no-store") // the secret is in it
	jsonapi.Render(w, http.StatusCreated, jsonapi.Document{Data: res}, q)
	return nil
}

// updateHook edits enabled, property_overrides and allow_rev_override, and
// rotates the secret with rotate_secret: true (the new one is in this
// answer only).
func (a *API) updateHook(w http.ResponseWriter, r *http.Request) error {
	q, h, err := a.hookInScope(r, plainSpec)
	if err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, "hook", hookUpdateFields)
	if err != nil {
		return err
	}
	var in whmodel.HookPatch
	var enabled, allow bool
	var overrides map[string]any
	if err := steward.First(body.CheckID(h.ID), body.Bool("enabled", &enabled), body.Object("property_overrides", &overrides),
		body.Bool("allow_rev_override", &allow), body.Bool("rotate_secret", &in.RotateSecret)); err != nil {
		return err
	}
	if body.Has("enabled") {
		in.Enabled = &enabled
	}
	if body.Has("allow_rev_override") {
		in.AllowRevOverride = &allow
	}
	if overrides != nil {
		in.PropertyOverrides = model.JSONMap(overrides)
	}
	if h, err = a.webhookStore().UpdateHook(r.Context(), actorOf(r), h, in); err != nil {
		return err
	}
	if in.RotateSecret {
		w.Header().Set("Cache-Control", "no-store") // the secret is in it
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: hookResource(h)}, q)
	return nil
}

func (a *API) deleteHook(w http.ResponseWriter, r *http.Request) error {
	_, h, err := a.hookInScope(r, plainSpec)
	if err != nil {
		return err
	}
	if err := a.webhookStore().DeleteHook(r.Context(), actorOf(r), h); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listHookRequests(w http.ResponseWriter, r *http.Request) error {
	q, h, err := a.hookInScope(r, hookRequestListSpec)
	if err != nil {
		return err
	}
	src := a.webhookStore().HookRequests(actorOf(r), h)
	l, written, err := listPage(a, w, r, q, src, hookRequestCSVColumns, hookRequestResource, nil)
	if written || err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	return nil
}

func (a *API) showHookRequest(w http.ResponseWriter, r *http.Request) error {
	q, h, err := a.hookInScope(r, plainSpec)
	if err != nil {
		return err
	}
	req, err := a.webhookStore().GetHookRequest(r.Context(), actorOf(r), h, mux.Vars(r)["request_id"])
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: hookRequestResource(req)}, q)
	return nil
}

// triggerHook is the signed call from CI: no token, the raw body (JSON, or
// empty) as signed. It answers 202 with the change or workflow run it
// created (Location names it), which then runs like any other.
func (a *API) triggerHook(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, &jsonapi.Spec{})
	if err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &steward.Error{Kind: jsonapi.KindTooLarge, Code: "too_large",
			Detail: fmt.Sprintf("the request body is larger than %d bytes", tooBig.Limit)}
	}
	if err != nil {
		return &steward.Error{Kind: steward.KindBadRequest, Code: "unreadable_body", Detail: "the request body could not be read"}
	}
	t, h, err := a.webhookStore().Trigger(r.Context(), mux.Vars(r)["hook_id"], whmodel.Signed{Body: body,
		Timestamp: r.Header.Get("X-Steward-Timestamp"), Signature: r.Header.Get("X-Steward-Signature"),
		GitHubSignature: r.Header.Get("X-Hub-Signature-256"), GitHubDelivery: r.Header.Get("X-GitHub-Delivery"),
		RemoteAddr: r.RemoteAddr})
	if err != nil {
		return err
	}
	// The caller proved the hook's secret, not an identity: the answer shows
	// the change as the hook's creator may see it.
	actor, err := a.webhookStore().HookActor(r.Context(), h)
	if err != nil {
		return err
	}
	r = r.WithContext(model.WithActor(r.Context(), actor))
	if t.Run != nil {
		w.Header().Set("Location", workflowRunLink(h.NodePath, *h.WorkflowCode, t.Run.ID))
		return a.renderWorkflowRun(w, r, q, http.StatusAccepted, t.Run)
	}
	w.Header().Set("Location", "/api/changes/"+t.Change.ID)
	return a.renderChange(w, r, q, http.StatusAccepted, t.Change)
}
