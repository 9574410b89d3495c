package handler

import (
	"context"
	"net/http"

	"github.com/stewardhq/steward/model/run"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

var (
	changeIncludes   = []string{"steps", "parents"}
	changeListSpec   = &jsonapi.Spec{List: true, Keyset: "id", Filters: run.ChangeFilters, Includes: changeIncludes}
	changeItemSpec   = &jsonapi.Spec{Includes: changeIncludes}
	changeCSVColumns = []string{"action", "name", "status_code", "created_by", "project_name", "environment_name",
		"asset_name", "git_remote_name", "git_rev", "commit_sha", "scheduled", "requires_approval_from",
		"metadata", "property_overrides", "created_at", "started_at", "finished_at", "updated_at"}
	changeCreateAttributes = []string{"action", "name", "parent_path", "git_remote_name", "git_rev",
		"metadata", "property_overrides", "template_version"}
)

func (a *API) routeChanges(r *mux.Router) {
	r.HandleFunc("/api/changes", a.handle(a.listChanges)).Methods(http.MethodGet)
	r.HandleFunc("/api/changes", a.handle(a.createChange)).Methods(http.MethodPost)
	r.HandleFunc("/api/changes/{change_id}", a.handle(a.showChange)).Methods(http.MethodGet)
	r.HandleFunc("/api/changes/{change_id}", a.handle(a.cancelChange)).Methods(http.MethodDelete)
	r.HandleFunc("/api/changes/{change_id}/retry", a.handle(a.retryChange)).Methods(http.MethodPost)
	for _, prefix := range nodePrefixes {
		r.HandleFunc(prefix+"/changes", a.handle(a.listChanges)).Methods(http.MethodGet)
		r.HandleFunc(prefix+"/changes", a.handle(a.createChange)).Methods(http.MethodPost)
		r.HandleFunc(prefix+"/changes/{change_id}", a.handle(a.showChange)).Methods(http.MethodGet)
	}
}

// nodeScoped reports whether the route sits below a node (/api/projects/...).
func nodeScoped(r *http.Request) bool { return mux.Vars(r)["project"] != "" }

func (a *API) listChanges(w http.ResponseWriter, r *http.Request) error {
	q, node, err := a.parentInScope(r, changeListSpec)
	if err != nil {
		return err
	}
	ctx := r.Context()
	src := a.Store.ChangeList()
	if node != nil {
		src = a.Store.NodeChangeList(node)
	}
	l, written, err := listPage(a, w, r, q, src, changeCSVColumns, a.changeCSVRow(ctx), func(v *API, changes []*run.Change) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
		// Queue facts cost a few queries per change, so a list computes them only
		// for changes still waiting to start, the ones they explain.
		return v.renderChanges(ctx, changes, q.Include, func(c *run.Change) bool {
			return c.Status == run.StatusInitializing || c.Status == run.StatusPending
		})
	})
	if written || err != nil {
		return err
	}
	return renderListWithHasAny(w, r, q, l, src)
}

// changeCSVRow renders changes as CSV rows. Rows carry attributes only; the
// nodes they name are loaded once each.
func (a *API) changeCSVRow(ctx context.Context) func(*run.Change) *jsonapi.Resource {
	cc := &run.ChangeView{Nodes: map[string]*model.Node{}}
	return func(c *run.Change) *jsonapi.Resource {
		if cc.Nodes[c.NodeID] == nil {
			nodes, err := a.Store.NodesWithAncestors(ctx, []string{c.NodeID})
			if err != nil {
				return &jsonapi.Resource{Type: "change", ID: c.ID}
			}
			for id, n := range nodes {
				cc.Nodes[id] = n
			}
		}
		return changeResource(c, cc)
	}
}

// renderChanges renders changes and, for the include paths, the included
// resources (nil when none were asked for).
func (a *API) renderChanges(ctx context.Context, changes []*run.Change, include []string, wantQueue func(*run.Change) bool) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
	cc, err := a.Store.ViewChanges(ctx, changes, wantQueue)
	if err != nil {
		return nil, nil, err
	}
	data := make([]*jsonapi.Resource, len(changes))
	for i, c := range changes {
		data[i] = changeResource(c, cc)
	}
	if len(include) == 0 {
		return data, nil, nil
	}
	included, err := a.changeIncluded(ctx, changes, cc, include)
	return data, included, err
}

func (a *API) renderChange(w http.ResponseWriter, r *http.Request, q *jsonapi.Query, status int, c *run.Change) error {
	var data, included []*jsonapi.Resource
	err := a.snapshot(r.Context(), func(v *API) (err error) {
		data, included, err = v.renderChanges(r.Context(), []*run.Change{c}, q.Include, func(*run.Change) bool { return true })
		return err
	})
	if err != nil {
		return err
	}
	return writeChange(w, q, status, data[0], included)
}

// renderCreatedChange renders a change just created from the view its
// creation returned: only included steps are read again.
func (a *API) renderCreatedChange(w http.ResponseWriter, r *http.Request, q *jsonapi.Query, c *run.Change, cc *run.ChangeView) error {
	data := changeResource(c, cc)
	var included []*jsonapi.Resource
	if len(q.Include) > 0 {
		err := a.snapshot(r.Context(), func(v *API) (err error) {
			included, err = v.changeIncluded(r.Context(), []*run.Change{c}, cc, q.Include)
			return err
		})
		if err != nil {
			return err
		}
	}
	return writeChange(w, q, http.StatusCreated, data, included)
}

func writeChange(w http.ResponseWriter, q *jsonapi.Query, status int, data *jsonapi.Resource, included []*jsonapi.Resource) error {
	if status == http.StatusCreated {
		w.Header().Set("Location", data.Links["self"])
	}
	jsonapi.Render(w, status, jsonapi.Document{Data: data, Included: included}, q)
	return nil
}

// changeInScope resolves the change named in the URL, below the node when
// the route has one.
func (a *API) changeInScope(r *http.Request) (*run.Change, error) {
	id := mux.Vars(r)["change_id"]
	if !nodeScoped(r) {
		return a.Store.GetChange(r.Context(), id)
	}
	node, err := a.resolveNode(r)
	if err != nil {
		return nil, err
	}
	return a.Store.GetNodeChange(r.Context(), node, id)
}

func (a *API) showChange(w http.ResponseWriter, r *http.Request) error {
	// The document is read from one snapshot: a is its view below.
	return a.snapshot(r.Context(), func(a *API) error {
		q, err := jsonapi.ParseQuery(r, changeItemSpec)
		if err != nil {
			return err
		}
		c, err := a.changeInScope(r)
		if err != nil {
			return err
		}
		return a.renderChange(w, r, q, http.StatusOK, c)
	})
}

func (a *API) createChange(w http.ResponseWriter, r *http.Request) error {
	q, node, err := a.parentInScope(r, changeItemSpec)
	if err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, "change", changeCreateAttributes)
	if err != nil {
		return err
	}
	var in run.ChangeInput
	var parentPath string
	var metadata, overrides map[string]any
	if err := steward.First(
		body.NoClientID(),
		body.Require("action"),
		body.String("action", &in.Action),
		body.NullableString("name", &in.Name),
		body.String("parent_path", &parentPath),
		body.NullableString("git_remote_name", &in.GitRemoteName),
		body.NullableString("git_rev", &in.GitRev),
		body.NullableString("template_version", &in.TemplateVersion),
		body.Object("metadata", &metadata),
		body.Object("property_overrides", &overrides),
	); err != nil {
		return err
	}
	in.Metadata, in.PropertyOverrides = metadata, overrides
	ctx := r.Context()
	switch {
	case node != nil && body.Has("parent_path"):
		return steward.Invalid("parent_path", "not_allowed",
			"parent_path must be left out here: the change runs on %s, the node in the URL", node.Path)
	case node == nil:
		if err := body.Require("parent_path"); err != nil {
			return err
		}
		if node, err = a.Store.ChangeTarget(ctx, parentPath); err != nil {
			return err
		}
	}
	c, view, err := a.Store.CreateChangeView(ctx, actorOf(r), node, in)
	if err != nil {
		return err
	}
	return a.renderCreatedChange(w, r, q, c, view)
}

func (a *API) cancelChange(w http.ResponseWriter, r *http.Request) error {
	if _, err := jsonapi.ParseQuery(r, &jsonapi.Spec{}); err != nil {
		return err
	}
	if _, err := a.Store.CancelChange(r.Context(), actorOf(r), mux.Vars(r)["change_id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) retryChange(w http.ResponseWriter, r *http.Request) error {
	q, err := jsonapi.ParseQuery(r, changeItemSpec)
	if err != nil {
		return err
	}
	c, err := a.Store.RetryChange(r.Context(), actorOf(r), mux.Vars(r)["change_id"])
	if err != nil {
		return err
	}
	return a.renderChange(w, r, q, http.StatusCreated, c)
}
