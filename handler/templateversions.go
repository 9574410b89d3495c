package handler

import (
	"net/http"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

type templateVersionAttributes struct {
	Version      string           `json:"version"`
	Description  string           `json:"description"`
	State        string           `json:"state"`
	CreatedBy    string           `json:"created_by"`
	Archived     bool             `json:"archived"`
	HasMintmodel *bool            `json:"has_mintmodel"`
	CreatedAt    string           `json:"created_at"`
	UpdatedAt    string           `json:"updated_at"`
	GitRev       string           `json:"git_rev"`
	CommitSHA    *string          `json:"commit_sha"`
	Actions      model.ActionList `json:"actions"`
}

const templateVersionPrefix = templatePrefix + "/versions/{version}"

// templateVersionPath is a version's URL, built from its template's path.
func templateVersionPath(templatePath string, v *model.TemplateVersion) string {
	return templatePath + "/versions/" + v.Version
}

func templateVersionResource(v *model.TemplateVersion, templatePath string) *jsonapi.Resource {
	actions := v.Actions
	if actions == nil {
		actions = model.ActionList{}
	}
	return &jsonapi.Resource{
		Type: "template_version", ID: v.ID,
		Attributes: &templateVersionAttributes{Version: v.Version, Description: v.Description, State: v.State,
			CreatedBy: v.CreatedBy, Archived: v.Archived, HasMintmodel: v.HasMintmodel,
			CreatedAt: jsonapi.Timestamp(v.CreatedAt), UpdatedAt: jsonapi.Timestamp(v.UpdatedAt),
			GitRev: v.GitRev, CommitSHA: v.CommitSHA, Actions: actions},
		Links: map[string]string{"self": templateVersionPath(templatePath, v), "template": templatePath},
	}
}

var (
	templateVersionListSpec   = &jsonapi.Spec{List: true, Keyset: "id", Filters: model.TemplateVersionFilters}
	templateVersionItemSpec   = &jsonapi.Spec{}
	templateVersionCSVColumns = []string{"version", "description", "state", "created_by", "archived", "has_mintmodel", "git_rev", "commit_sha", "created_at", "updated_at"}
	templateVersionPutFields  = []string{"description", "git_rev", "archived"}
	assignFields              = []string{"asset_paths"}
)

func (a *API) routeTemplateVersions(r *mux.Router) {
	r.HandleFunc(templatePrefix+"/versions", a.handle(a.listTemplateVersions)).Methods(http.MethodGet)
	r.HandleFunc(templateVersionPrefix, a.handle(a.showTemplateVersion)).Methods(http.MethodGet)
	r.HandleFunc(templateVersionPrefix, a.handle(a.putTemplateVersion)).Methods(http.MethodPut)
	r.HandleFunc(templateVersionPrefix+"/assign_to_assets", a.handle(a.assignTemplateVersion)).Methods(http.MethodPost)
}

func (a *API) listTemplateVersions(w http.ResponseWriter, r *http.Request) error {
	q, p, t, err := a.templateInScope(r, templateVersionListSpec)
	if err != nil {
		return err
	}
	tp := templatePath(p, t)
	src := a.Store.TemplateVersionList(t)
	render := func(v *model.TemplateVersion) *jsonapi.Resource { return templateVersionResource(v, tp) }
	l, written, err := listPage(a, w, r, q, src, templateVersionCSVColumns, render, nil)
	if written || err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	return nil
}

// versionInScope resolves project, template and version from the URL.
func (a *API) versionInScope(r *http.Request) (*jsonapi.Query, *model.Node, *model.Template, *model.TemplateVersion, error) {
	q, p, t, err := a.templateInScope(r, templateVersionItemSpec)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	v, err := a.Store.GetTemplateVersion(r.Context(), t, mux.Vars(r)["version"])
	return q, p, t, v, err
}

func (a *API) showTemplateVersion(w http.ResponseWriter, r *http.Request) error {
	q, p, t, v, err := a.versionInScope(r)
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: templateVersionResource(v, templatePath(p, t))}, q)
	return nil
}

// putTemplateVersion creates or re-points a version. The answer shows it
// initializing: the rev is resolved in the background, and the version turns
// ready or broken when that is done.
func (a *API) putTemplateVersion(w http.ResponseWriter, r *http.Request) error {
	q, p, t, err := a.templateInScope(r, templateVersionItemSpec)
	if err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, "template_version", templateVersionPutFields)
	if err != nil {
		return err
	}
	var in model.TemplateVersionInput
	var archived bool
	if err := steward.First(body.Require("git_rev"), body.String("git_rev", &in.GitRev),
		body.NullableString("description", &in.Description), body.Bool("archived", &archived)); err != nil {
		return err
	}
	if body.Has("archived") {
		in.Archived = &archived
	}
	v, _, err := a.Store.PutTemplateVersion(r.Context(), actorOf(r), p, t, mux.Vars(r)["version"], in)
	if err != nil {
		return err
	}
	// The reference answers 200 whether the version was created or updated.
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: templateVersionResource(v, templatePath(p, t))}, q)
	return nil
}

func (a *API) assignTemplateVersion(w http.ResponseWriter, r *http.Request) error {
	q, p, t, v, err := a.versionInScope(r)
	if err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, "template_version", assignFields)
	if err != nil {
		return err
	}
	var paths []string
	if err := steward.First(body.Require("asset_paths"), body.Strings("asset_paths", &paths)); err != nil {
		return err
	}
	if v, err = a.Store.AssignTemplateVersion(r.Context(), actorOf(r), p, t, v, paths); err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: templateVersionResource(v, templatePath(p, t))}, q)
	return nil
}
