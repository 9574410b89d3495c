package handler

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

type gitRemoteMeta struct {
	CredentialsRemoved bool     `json:"credentials_removed"`
	Messages           []string `json:"messages"`
}

// nullMeta renders "meta": null, which the reference's git_remote requires.
var nullMeta = json.RawMessage("null")

func gitRemoteResource(g *model.GitRemote, project *model.Node) *jsonapi.Resource {
	return &jsonapi.Resource{
		Type: "git_remote", ID: g.ID,
		Attributes: newRemoteAttributes(g.Name, g.URL, g.Archived, g.Disabled, g.CreatedAt, g.UpdatedAt, g.Credentials),
		Links:      map[string]string{"project": nodeLink(project), "self": nodeLink(project) + "/git_remotes/" + g.ID},
		Meta:       nullMeta,
	}
}

var (
	gitRemoteListSpec     = &jsonapi.Spec{List: true, Keyset: "id", Filters: model.GitRemoteFilters}
	gitRemoteItemSpec     = &jsonapi.Spec{}
	gitRemoteCSVColumns   = []string{"name", "url", "archived", "disabled", "created_at", "updated_at", "user", "password", "ssh_key_data"}
	gitRemoteCreateFields = append([]string{"name", "url"}, credentialFields...)
)

func (a *API) routeGitRemotes(r *mux.Router) {
	r.HandleFunc(projectPrefix+"/git_remotes", a.handle(a.listGitRemotes)).Methods(http.MethodGet)
	r.HandleFunc(projectPrefix+"/git_remotes", a.handle(a.createGitRemote)).Methods(http.MethodPost)
	r.HandleFunc(projectPrefix+"/git_remotes/{git_remote}", a.handle(a.showGitRemote)).Methods(http.MethodGet)
	r.HandleFunc(projectPrefix+"/git_remotes/{git_remote}", a.handle(a.patchGitRemote)).Methods(http.MethodPatch)
	r.HandleFunc(projectPrefix+"/git_remotes/{git_remote}", a.handle(a.deleteGitRemote)).Methods(http.MethodDelete)
}

func (a *API) listGitRemotes(w http.ResponseWriter, r *http.Request) error {
	q, p, err := a.nodeInScope(r, gitRemoteListSpec)
	if err != nil {
		return err
	}
	src := a.Store.GitRemoteList(p)
	render := func(g *model.GitRemote) *jsonapi.Resource { return gitRemoteResource(g, p) }
	l, written, err := listPage(a, w, r, q, src, gitRemoteCSVColumns, render, nil)
	if written || err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	return nil
}

// gitRemoteInScope resolves the project and the remote named in the URL.
func (a *API) gitRemoteInScope(r *http.Request) (*jsonapi.Query, *model.Node, *model.GitRemote, error) {
	q, p, err := a.nodeInScope(r, gitRemoteItemSpec)
	if err != nil {
		return nil, nil, nil, err
	}
	g, err := a.Store.GetGitRemote(r.Context(), p, mux.Vars(r)["git_remote"])
	return q, p, g, err
}

func (a *API) showGitRemote(w http.ResponseWriter, r *http.Request) error {
	q, p, g, err := a.gitRemoteInScope(r)
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: gitRemoteResource(g, p)}, q)
	return nil
}

func (a *API) createGitRemote(w http.ResponseWriter, r *http.Request) error {
	q, p, err := a.nodeInScope(r, gitRemoteItemSpec)
	if err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, "git_remote", gitRemoteCreateFields)
	if err != nil {
		return err
	}
	var in model.GitRemoteInput
	if err := steward.First(body.Require("name", "url"), body.String("name", &in.Name), body.String("url", &in.URL)); err != nil {
		return err
	}
	if in.Credentials, err = decodeCredentials(body); err != nil {
		return err
	}
	g, err := a.Store.CreateGitRemote(r.Context(), actorOf(r), p, in)
	if err != nil {
		return err
	}
	res := gitRemoteResource(g, p)
	w.Header().Set("Location", res.Links["self"])
	jsonapi.Render(w, http.StatusCreated, jsonapi.Document{Data: res}, q)
	return nil
}

// patchGitRemote serves both PATCH bodies of the reference (see
// decodeRemotePatch): archive or unarchive, or change credentials.
func (a *API) patchGitRemote(w http.ResponseWriter, r *http.Request) error {
	q, p, g, err := a.gitRemoteInScope(r)
	if err != nil {
		return err
	}
	archived, creds, err := decodeRemotePatch(r, "git_remote", g.ID)
	switch {
	case err != nil:
	case archived != nil:
		g, err = a.Store.SetGitRemoteArchived(r.Context(), actorOf(r), p, g, *archived)
	default:
		g, err = a.Store.UpdateGitRemoteCredentials(r.Context(), actorOf(r), p, g, creds)
	}
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: gitRemoteResource(g, p)}, q)
	return nil
}

// removedMessage explains a 200 from DELETE: the row stays for its changes.
const removedMessage = "This Git remote is used by a change, so it was kept and its credentials were removed."

func (a *API) deleteGitRemote(w http.ResponseWriter, r *http.Request) error {
	q, p, g, err := a.gitRemoteInScope(r)
	if err != nil {
		return err
	}
	kept, err := a.Store.DeleteGitRemote(r.Context(), actorOf(r), p, g)
	if err != nil {
		return err
	}
	if kept == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	res := gitRemoteResource(kept, p)
	res.Meta = &gitRemoteMeta{CredentialsRemoved: true, Messages: []string{removedMessage}}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: res}, q)
	return nil
}
