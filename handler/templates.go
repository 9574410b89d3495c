package handler

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

type templateAttributes struct {
	remoteAttributes
	Code        string  `json:"code"`
	Description *string `json:"description"`
}

const templatePrefix = projectPrefix + "/templates/{template}"

func templatePath(project *model.Node, t *model.Template) string {
	return nodeLink(project) + "/templates/" + t.Code
}

// templateResource renders t; versionIDs are its versions' ids (relationship data).
func templateResource(t *model.Template, project *model.Node, versionIDs []string) *jsonapi.Resource {
	self := templatePath(project, t)
	ids := make([]jsonapi.Identifier, len(versionIDs))
	for i, id := range versionIDs {
		ids[i] = jsonapi.Identifier{Type: "template_version", ID: id}
	}
	versions := jsonapi.ToMany(ids)
	versions.Links = map[string]string{"related": self + "/versions"}
	return &jsonapi.Resource{
		Type: "template", ID: t.ID,
		Attributes: &templateAttributes{Code: t.Code, Description: t.Description,
			remoteAttributes: newRemoteAttributes(t.Name, t.URL, t.Archived, t.Disabled, t.CreatedAt, t.UpdatedAt, t.Credentials)},
		Relationships: map[string]*jsonapi.Relationship{"template_versions": versions},
		Links:         map[string]string{"project": nodeLink(project), "self": self, "template_versions": self + "/versions"},
		Meta:          nullMeta,
	}
}

var (
	templateListSpec     = &jsonapi.Spec{List: true, Keyset: "id", Filters: model.TemplateFilters}
	templateItemSpec     = &jsonapi.Spec{}
	templateCSVColumns   = []string{"code", "name", "description", "url", "archived", "disabled", "created_at", "updated_at", "user", "password", "ssh_key_data"}
	templateCreateFields = append([]string{"code", "name", "description", "url"}, credentialFields...)
)

func (a *API) routeTemplates(r *mux.Router) {
	r.HandleFunc(projectPrefix+"/templates", a.handle(a.listTemplates)).Methods(http.MethodGet)
	r.HandleFunc(projectPrefix+"/templates", a.handle(a.createTemplate)).Methods(http.MethodPost)
	r.HandleFunc(templatePrefix, a.handle(a.showTemplate)).Methods(http.MethodGet)
	r.HandleFunc(templatePrefix, a.handle(a.patchTemplate)).Methods(http.MethodPatch)
	a.routeTemplateVersions(r)
	a.routeVersionHistory(r)
}

// renderTemplates renders templates with their version ids.
func (a *API) renderTemplates(ctx context.Context, project *model.Node, ts []*model.Template) ([]*jsonapi.Resource, error) {
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	versions, err := a.Store.TemplateVersionIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*jsonapi.Resource, len(ts))
	for i, t := range ts {
		out[i] = templateResource(t, project, versions[t.ID])
	}
	return out, nil
}

func (a *API) renderTemplate(w http.ResponseWriter, r *http.Request, q *jsonapi.Query, status int, project *model.Node, t *model.Template) error {
	data, err := a.renderTemplates(r.Context(), project, []*model.Template{t})
	if err != nil {
		return err
	}
	if status == http.StatusCreated {
		w.Header().Set("Location", data[0].Links["self"])
	}
	jsonapi.Render(w, status, jsonapi.Document{Data: data[0]}, q)
	return nil
}

func (a *API) listTemplates(w http.ResponseWriter, r *http.Request) error {
	q, p, err := a.nodeInScope(r, templateListSpec)
	if err != nil {
		return err
	}
	ctx := r.Context()
	src := a.Store.TemplateList(p)
	// CSV rows carry attributes only, so version ids are not loaded.
	csvRow := func(t *model.Template) *jsonapi.Resource { return templateResource(t, p, nil) }
	l, written, err := listPage(a, w, r, q, src, templateCSVColumns, csvRow, func(v *API, ts []*model.Template) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
		data, err := v.renderTemplates(ctx, p, ts)
		return data, nil, err
	})
	if written || err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	return nil
}

// templateInScope resolves the project and the template named in the URL.
func (a *API) templateInScope(r *http.Request, spec *jsonapi.Spec) (*jsonapi.Query, *model.Node, *model.Template, error) {
	q, p, err := a.nodeInScope(r, spec)
	if err != nil {
		return nil, nil, nil, err
	}
	t, err := a.Store.GetTemplate(r.Context(), p, mux.Vars(r)["template"])
	return q, p, t, err
}

func (a *API) showTemplate(w http.ResponseWriter, r *http.Request) error {
	// The document is read from one snapshot: a is its view below.
	return a.snapshot(r.Context(), func(a *API) error {
		q, p, t, err := a.templateInScope(r, templateItemSpec)
		if err != nil {
			return err
		}
		return a.renderTemplate(w, r, q, http.StatusOK, p, t)
	})
}

func (a *API) createTemplate(w http.ResponseWriter, r *http.Request) error {
	q, p, err := a.nodeInScope(r, templateItemSpec)
	if err != nil {
		return err
	}
	body, err := jsonapi.DecodeBody(r, "template", templateCreateFields)
	if err != nil {
		return err
	}
	var in model.TemplateInput
	if err := steward.First(body.Require("code", "name", "url"), body.String("code", &in.Code), body.String("name", &in.Name),
		body.NullableString("description", &in.Description), body.String("url", &in.URL)); err != nil {
		return err
	}
	if in.Credentials, err = decodeCredentials(body); err != nil {
		return err
	}
	t, err := a.Store.CreateTemplate(r.Context(), actorOf(r), p, in)
	if err != nil {
		return err
	}
	return a.renderTemplate(w, r, q, http.StatusCreated, p, t)
}

// patchTemplate serves the reference's two PATCH bodies on one URL
// ({code_to_archive} and {code_to_update}, see decodeRemotePatch): archive
// or unarchive, or change credentials.
func (a *API) patchTemplate(w http.ResponseWriter, r *http.Request) error {
	q, p, t, err := a.templateInScope(r, templateItemSpec)
	if err != nil {
		return err
	}
	archived, creds, err := decodeRemotePatch(r, "template", t.ID)
	switch {
	case err != nil:
	case archived != nil:
		t, err = a.Store.SetTemplateArchived(r.Context(), actorOf(r), p, t, *archived)
	default:
		t, err = a.Store.UpdateTemplateCredentials(r.Context(), actorOf(r), p, t, creds)
	}
	if err != nil {
		return err
	}
	return a.renderTemplate(w, r, q, http.StatusOK, p, t)
}
