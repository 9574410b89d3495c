package handler

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"
	"gorm.io/gorm"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

type gitRemoteAttributes struct {
	Name       string  `json:"name"`
	URL        string  `json:"url"`
	Archived   bool    `json:"archived"`
	Disabled   bool    `json:"disabled"`
	CreatedAt  string  `json:"created_at"`
	UpdatedAt  string  `json:"updated_at"`
	User       *string `json:"user"`
	Password   *string `json:"password"`
	SSHKeyData *string `json:"ssh_key_data"`
}

type gitRemoteMeta struct {
	CredentialsRemoved bool     `json:"credentials_removed"`
	Messages           []string `json:"messages"`
}

// nullMeta renders "meta": null, which the reference's git_remote requires.
var nullMeta = json.RawMessage("null")

func gitRemoteResource(g *model.GitRemote, project *model.Node) *jsonapi.Resource {
	return &jsonapi.Resource{
		Type: "git_remote", ID: g.ID,
		Attributes: &gitRemoteAttributes{Name: g.Name, URL: g.URL, Archived: g.Archived, Disabled: g.Disabled,
			CreatedAt: jsonapi.Timestamp(g.CreatedAt), UpdatedAt: jsonapi.Timestamp(g.UpdatedAt),
			User: hiddenCredential(g.UserSecret), Password: hiddenCredential(g.PasswordSecret),
			SSHKeyData: hiddenCredential(g.SSHKeySecret)},
		Links: map[string]string{"project": project.APIPath(), "self": project.APIPath() + "/git_remotes/" + g.ID},
		Meta:  nullMeta,
	}
}

var (
	gitRemoteListSpec = &jsonapi.Spec{List: true, Keyset: "id", Filters: map[string]jsonapi.Field{
		"id": {Column: "id", Kind: jsonapi.UUID}, "name": {Column: "name"}, "url": {Column: "url"},
		"archived": {Column: "archived", Kind: jsonapi.Bool}, "disabled": {Column: "disabled", Kind: jsonapi.Bool},
		"created_at": {Column: "created_at", Kind: jsonapi.Time}, "updated_at": {Column: "updated_at", Kind: jsonapi.Time},
	}}
	gitRemoteItemSpec   = &jsonapi.Spec{}
	gitRemoteCSVColumns = []string{"name", "url", "archived", "disabled", "created_at", "updated_at", "user", "password", "ssh_key_data"}
	gitRemoteCredFields = []string{"user", "password", "ssh_key_data"}
	// One PATCH URL takes two bodies: archived alone, or credentials.
	gitRemoteCreateFields = append([]string{"name", "url"}, gitRemoteCredFields...)
	gitRemotePatchFields  = append([]string{"archived"}, gitRemoteCredFields...)
)

func (a *API) routeGitRemotes(r *mux.Router) {
	r.HandleFunc(projectPrefix+"/git_remotes", a.listGitRemotes).Methods(http.MethodGet)
	r.HandleFunc(projectPrefix+"/git_remotes", a.createGitRemote).Methods(http.MethodPost)
	r.HandleFunc(projectPrefix+"/git_remotes/{git_remote}", a.showGitRemote).Methods(http.MethodGet)
	r.HandleFunc(projectPrefix+"/git_remotes/{git_remote}", a.patchGitRemote).Methods(http.MethodPatch)
	r.HandleFunc(projectPrefix+"/git_remotes/{git_remote}", a.deleteGitRemote).Methods(http.MethodDelete)
}

func (a *API) listGitRemotes(w http.ResponseWriter, r *http.Request) {
	q, err := jsonapi.ParseQuery(r, gitRemoteListSpec)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p, err := a.resolveNode(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ctx := r.Context()
	base := func() *gorm.DB { return model.GitRemotesQuery(a.Store.DB.WithContext(ctx), p) }
	render := func(g *model.GitRemote) *jsonapi.Resource { return gitRemoteResource(g, p) }
	if q.Download != "" {
		if err := jsonapi.StreamCSV(w, q, base, "id", gitRemoteCSVColumns, render); err != nil {
			a.Log.Error("csv download failed", "request_id", requestID(ctx), "err", err)
		}
		return
	}
	page, err := jsonapi.Fetch[model.GitRemote](base(), q, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	data := make([]*jsonapi.Resource, len(page.Rows))
	for i := range page.Rows {
		data[i] = render(&page.Rows[i])
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.ListDocument(r, q, data, page.More, false), q)
}

// gitRemoteInScope resolves the project and the remote named in the URL.
func (a *API) gitRemoteInScope(r *http.Request) (*jsonapi.Query, *model.Node, *model.GitRemote, error) {
	q, err := jsonapi.ParseQuery(r, gitRemoteItemSpec)
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := a.resolveNode(r)
	if err != nil {
		return nil, nil, nil, err
	}
	g, err := a.Store.GetGitRemote(r.Context(), p, mux.Vars(r)["git_remote"])
	return q, p, g, err
}

func (a *API) showGitRemote(w http.ResponseWriter, r *http.Request) {
	q, p, g, err := a.gitRemoteInScope(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: gitRemoteResource(g, p)}, q)
}

// decodeCredentials reads user/password/ssh_key_data; null and "" both clear.
func decodeCredentials(body *jsonapi.Body) (model.CredentialsInput, error) {
	var in model.CredentialsInput
	dst := map[string]**string{"user": &in.User, "password": &in.Password, "ssh_key_data": &in.SSHKey}
	for _, k := range gitRemoteCredFields {
		if err := body.NullableString(k, dst[k]); err != nil {
			return in, err
		}
		if body.IsNull(k) {
			empty := ""
			*dst[k] = &empty
		}
	}
	return in, nil
}

func (a *API) createGitRemote(w http.ResponseWriter, r *http.Request) {
	q, err := jsonapi.ParseQuery(r, gitRemoteItemSpec)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p, err := a.resolveNode(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	body, err := jsonapi.DecodeBody(r, "git_remote", gitRemoteCreateFields)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in model.GitRemoteInput
	if err := jsonapi.First(body.Require("name", "url"), body.String("name", &in.Name), body.String("url", &in.URL)); err != nil {
		a.fail(w, r, err)
		return
	}
	if in.Credentials, err = decodeCredentials(body); err != nil {
		a.fail(w, r, err)
		return
	}
	g, err := a.Store.CreateGitRemote(r.Context(), actorOf(r), p, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res := gitRemoteResource(g, p)
	w.Header().Set("Location", res.Links["self"])
	jsonapi.Render(w, http.StatusCreated, jsonapi.Document{Data: res}, q)
}

// patchGitRemote serves both PATCH bodies of the reference: {archived} to
// archive or unarchive, or {user, password, ssh_key_data} to change
// credentials. A body mixing the two is refused, so a client never archives
// by accident while rotating a key (or the reverse).
func (a *API) patchGitRemote(w http.ResponseWriter, r *http.Request) {
	q, p, g, err := a.gitRemoteInScope(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	body, err := jsonapi.DecodeBody(r, "git_remote", gitRemotePatchFields)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := body.CheckID(g.ID); err != nil {
		a.fail(w, r, err)
		return
	}
	creds := false
	for _, k := range gitRemoteCredFields {
		creds = creds || body.Has(k)
	}
	switch {
	case body.Has("archived") && creds:
		err = model.Invalid(jsonapi.Pointer("archived"), "mixed_update",
			"send either archived (to archive or unarchive) or user/password/ssh_key_data (to change credentials), not both")
	case body.Has("archived"):
		var archived bool
		if err = body.Bool("archived", &archived); err == nil {
			g, err = a.Store.SetGitRemoteArchived(r.Context(), actorOf(r), p, g, archived)
		}
	default:
		var in model.CredentialsInput
		if in, err = decodeCredentials(body); err == nil {
			g, err = a.Store.UpdateGitRemoteCredentials(r.Context(), actorOf(r), p, g, in)
		}
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: gitRemoteResource(g, p)}, q)
}

// removedMessage explains a 200 from DELETE: the row stays for its changes.
const removedMessage = "This Git remote is used by a change, so it was kept and its credentials were removed."

func (a *API) deleteGitRemote(w http.ResponseWriter, r *http.Request) {
	q, p, g, err := a.gitRemoteInScope(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	kept, err := a.Store.DeleteGitRemote(r.Context(), actorOf(r), p, g)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if kept == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	res := gitRemoteResource(kept, p)
	res.Meta = &gitRemoteMeta{CredentialsRemoved: true, Messages: []string{removedMessage}}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: res}, q)
}
