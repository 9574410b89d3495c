package handler

import (
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

// Properties and settings share one set of handlers: the kind ("properties" or
// "settings") is the first URL segment, the resource type and the event name.

type propertySetAttributes struct {
	Data      model.JSONMap `json:"data"`
	Version   int           `json:"version"`
	CreatedAt string        `json:"created_at"`
}

type propertySetVersionAttributes struct {
	Data      model.JSONMap `json:"data"`
	Version   int           `json:"version"`
	CreatedAt string        `json:"created_at"`
	OwnerType string        `json:"owner_type,omitempty"` // properties versions only
}

var (
	propertySetItemSpec     = &jsonapi.Spec{}
	propertySetVersionsSpec = &jsonapi.Spec{List: true, Keyset: "id", Filters: model.PropertySetVersionFilters}
	propertySetFields       = []string{"data", "version"}
)

func propertySetPath(kind, id string) string { return "/api/" + kind + "/" + id }

// propertySetResource renders a set. created_at is when the current version
// was written: the document shown is that version's.
func propertySetResource(ps *model.PropertySetWithOwner) *jsonapi.Resource {
	self := propertySetPath(ps.Kind, ps.ID)
	return &jsonapi.Resource{
		Type: ps.Kind, ID: ps.ID,
		Attributes: &propertySetAttributes{Data: ps.Data, Version: ps.Version, CreatedAt: jsonapi.Timestamp(ps.UpdatedAt)},
		Relationships: map[string]*jsonapi.Relationship{
			// The reference names the owner's link "owner", not "related".
			"owner": {Links: map[string]string{"owner": nodeLink(ps.Owner)}},
		},
		Links: map[string]string{
			"self":            self,
			"current_version": self + "/versions/" + strconv.Itoa(ps.Version),
			"versions":        self + "/versions",
		},
	}
}

func propertySetVersionResource(ps *model.PropertySetWithOwner, v *model.PropertySetVersion) *jsonapi.Resource {
	set := propertySetPath(ps.Kind, ps.ID)
	attrs := &propertySetVersionAttributes{Data: v.Data, Version: v.Version, CreatedAt: jsonapi.Timestamp(v.CreatedAt)}
	if ps.Kind == model.KindProperties {
		attrs.OwnerType = ps.OwnerType
	}
	return &jsonapi.Resource{
		Type: ps.Kind + "_version", ID: v.ID,
		Attributes: attrs,
		Relationships: map[string]*jsonapi.Relationship{
			ps.Kind: jsonapi.ToOne(ps.Kind, ps.ID, set),
		},
		Links: map[string]string{
			"self":     set + "/versions/" + strconv.Itoa(v.Version),
			"versions": set + "/versions",
			"owner":    nodeLink(ps.Owner),
		},
	}
}

func (a *API) routePropertySets(r *mux.Router) {
	for _, kind := range []string{model.KindProperties, model.KindSettings} {
		item := "/api/" + kind + "/{id}"
		r.HandleFunc(item, a.handle(a.showPropertySet(kind))).Methods(http.MethodGet)
		r.HandleFunc(item, a.handle(a.updatePropertySet(kind))).Methods(http.MethodPatch)
		r.HandleFunc(item+"/versions", a.handle(a.listPropertySetVersions(kind))).Methods(http.MethodGet)
		r.HandleFunc(item+"/versions/{version_number}", a.handle(a.showPropertySetVersion(kind))).Methods(http.MethodGet)
	}
}

// propertySetInScope validates the query and loads the set named in the URL.
func (a *API) propertySetInScope(r *http.Request, kind string, spec *jsonapi.Spec) (*jsonapi.Query, *model.PropertySetWithOwner, error) {
	q, err := jsonapi.ParseQuery(r, spec)
	if err != nil {
		return nil, nil, err
	}
	ps, err := a.Store.GetPropertySet(r.Context(), kind, mux.Vars(r)["id"])
	return q, ps, err
}

func (a *API) showPropertySet(kind string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		q, ps, err := a.propertySetInScope(r, kind, propertySetItemSpec)
		if err != nil {
			return err
		}
		jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: propertySetResource(ps)}, q)
		return nil
	}
}

// updatePropertySet serves both reference PATCH operations on one URL: with
// data.attributes.version the write is checked against the current version,
// without it the write always applies.
func (a *API) updatePropertySet(kind string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		q, err := jsonapi.ParseQuery(r, propertySetItemSpec)
		if err != nil {
			return err
		}
		body, err := jsonapi.DecodeBody(r, kind, propertySetFields)
		if err != nil {
			return err
		}
		var data map[string]any
		var version int
		if err := steward.First(body.Require("data"), body.Object("data", &data), body.Int("version", &version)); err != nil {
			return err
		}
		in := model.PropertySetUpdate{Data: model.JSONMap(data)}
		if body.Has("version") {
			in.ExpectedVersion = &version
		}
		ps, err := a.Store.UpdatePropertySet(r.Context(), actorOf(r), kind, mux.Vars(r)["id"], in)
		if err != nil {
			return err
		}
		jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: propertySetResource(ps)}, q)
		return nil
	}
}

func (a *API) listPropertySetVersions(kind string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		q, ps, err := a.propertySetInScope(r, kind, propertySetVersionsSpec)
		if err != nil {
			return err
		}
		src := a.Store.PropertySetVersionList(ps.PropertySet)
		render := func(v *model.PropertySetVersion) *jsonapi.Resource { return propertySetVersionResource(ps, v) }
		l, written, err := listPage(a, w, r, q, src, []string{"version", "created_at", "data"}, render, nil)
		if written || err != nil {
			return err
		}
		jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
		return nil
	}
}

func (a *API) showPropertySetVersion(kind string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		q, ps, err := a.propertySetInScope(r, kind, propertySetItemSpec)
		if err != nil {
			return err
		}
		v, err := a.Store.GetPropertySetVersion(r.Context(), ps.PropertySet, mux.Vars(r)["version_number"])
		if err != nil {
			return err
		}
		jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: propertySetVersionResource(ps, v)}, q)
		return nil
	}
}
