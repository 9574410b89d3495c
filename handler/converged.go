package handler

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

type convergedAttributes struct {
	Data model.JSONMap `json:"data"`
}

type repositoryPropertiesAttributes struct {
	Content map[string]any `json:"content"`
}

// A converged document is computed, not a list: it has no attributes to
// filter or sort by, so the spec admits none (any filter is a 400).
var convergedSpec = &jsonapi.Spec{Includes: []string{"properties", "repository_properties"}}

func (a *API) routeConvergedProperties(r *mux.Router) {
	for _, prefix := range nodePrefixes {
		r.HandleFunc(prefix+"/converged_properties", a.handle(a.showConvergedProperties)).Methods(http.MethodGet)
	}
}

func (a *API) showConvergedProperties(w http.ResponseWriter, r *http.Request) error {
	// The document is read from one snapshot: a is its view below.
	return a.snapshot(r.Context(), func(a *API) error {
		q, n, err := a.nodeInScope(r, convergedSpec)
		if err != nil {
			return err
		}
		c, err := a.Store.ConvergedProperties(r.Context(), n)
		if err != nil {
			return err
		}
		data, included := convergedResource(c, q)
		jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: data, Included: included}, q)
		return nil
	})
}

// convergedResource renders the merged document with a relationship to every
// contributor. Contributors go in included unless the client's include
// names a subset (the reference includes them all by default).
func convergedResource(c *model.ConvergedProperties, q *jsonapi.Query) (*jsonapi.Resource, []*jsonapi.Resource) {
	want := func(path string) bool { return !q.IncludeRequested() || q.Includes(path) }
	included := []*jsonapi.Resource{}
	repo := make([]jsonapi.Identifier, 0, len(c.Repository))
	for _, f := range c.Repository {
		res := &jsonapi.Resource{Type: "repository_properties", ID: f.Path,
			Attributes: &repositoryPropertiesAttributes{Content: f.Content},
			Links:      map[string]string{"repository_path": f.Path}}
		repo = append(repo, res.Identifier())
		if want("repository_properties") {
			included = append(included, res)
		}
	}
	props := make([]jsonapi.Identifier, 0, len(c.Properties))
	for _, ps := range c.Properties {
		res := propertySetResource(ps)
		props = append(props, res.Identifier())
		if want("properties") {
			included = append(included, res)
		}
	}
	data := &jsonapi.Resource{
		Type: "converged_properties", ID: c.Node.Code,
		Attributes: &convergedAttributes{Data: c.Data},
		Relationships: map[string]*jsonapi.Relationship{
			"repository_properties": jsonapi.ToMany(repo),
			"properties":            jsonapi.ToMany(props),
		},
		Links: map[string]string{"self": nodeLink(c.Node) + "/converged_properties"},
	}
	return data, included
}
