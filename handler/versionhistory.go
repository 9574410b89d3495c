package handler

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

type versionHistoryAttributes struct {
	ActiveFrom string  `json:"active_from"`
	ActiveTo   *string `json:"active_to"`
}

func versionHistoryResource(h *model.TemplateVersionHistory, asset *model.Node, versionPath string) *jsonapi.Resource {
	links := map[string]string{"self": nodeLink(asset) + "/version_history/" + h.ID, "asset": nodeLink(asset)}
	if versionPath != "" {
		links["template_version"] = versionPath
	}
	return &jsonapi.Resource{
		Type: "template_version_history", ID: h.ID,
		Attributes: &versionHistoryAttributes{ActiveFrom: jsonapi.Timestamp(h.ActiveFrom), ActiveTo: jsonapi.TimestampPtr(h.ActiveTo)},
		Relationships: map[string]*jsonapi.Relationship{
			"owner":            {Data: jsonapi.Identifier{Type: model.KindAsset, ID: asset.ID}},
			"template_version": {Data: jsonapi.Identifier{Type: "template_version", ID: h.TemplateVersionID}},
		},
		Links: links,
	}
}

var (
	versionHistoryIncludes = []string{"owner", "template_version"}
	versionHistoryListSpec = &jsonapi.Spec{List: true, Keyset: "id", Includes: versionHistoryIncludes, Filters: model.TemplateVersionHistoryFilters}
	versionHistoryItemSpec = &jsonapi.Spec{Includes: versionHistoryIncludes}
	versionHistoryCSV      = []string{"active_from", "active_to"}
)

func (a *API) routeVersionHistory(r *mux.Router) {
	for _, prefix := range []string{projectAssetPrefix, environmentAssetPrefix} {
		r.HandleFunc(prefix+"/version_history", a.handle(a.listVersionHistory)).Methods(http.MethodGet)
		r.HandleFunc(prefix+"/version_history/{history}", a.handle(a.showVersionHistory)).Methods(http.MethodGet)
	}
}

// renderVersionHistory renders rows of asset and, for the include paths, the
// asset and the versions they name.
func (a *API) renderVersionHistory(ctx context.Context, asset *model.Node, rows []*model.TemplateVersionHistory, include []string) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
	ids := make([]string, 0, len(rows))
	for _, h := range rows {
		ids = append(ids, h.TemplateVersionID)
	}
	refs, err := a.Store.VersionRefs(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	// Version links live under the asset's project.
	projectPath := "/api/projects/" + projectCode(asset.Path)
	data := make([]*jsonapi.Resource, len(rows))
	for i, h := range rows {
		vp := ""
		if ref, ok := refs[h.TemplateVersionID]; ok && ref.Template != nil {
			vp = templateVersionPath(projectPath+"/templates/"+ref.Template.Code, ref.Version)
		}
		data[i] = versionHistoryResource(h, asset, vp)
	}
	if len(include) == 0 {
		return data, nil, nil
	}
	included := []*jsonapi.Resource{}
	for _, path := range include {
		switch path {
		case "owner":
			nodes, _, err := a.renderNodes(ctx, []*model.Node{asset}, nil)
			if err != nil {
				return nil, nil, err
			}
			included = append(included, nodes...)
		case "template_version":
			seen := map[string]bool{}
			for _, h := range rows {
				ref, ok := refs[h.TemplateVersionID]
				if !ok || ref.Template == nil || seen[h.TemplateVersionID] {
					continue
				}
				seen[h.TemplateVersionID] = true
				included = append(included, templateVersionResource(ref.Version, projectPath+"/templates/"+ref.Template.Code))
			}
		}
	}
	return data, included, nil
}

func (a *API) listVersionHistory(w http.ResponseWriter, r *http.Request) error {
	q, asset, err := a.nodeInScope(r, versionHistoryListSpec)
	if err != nil {
		return err
	}
	ctx := r.Context()
	src := a.Store.VersionHistoryList(asset)
	csvRow := func(h *model.TemplateVersionHistory) *jsonapi.Resource { return versionHistoryResource(h, asset, "") }
	l, written, err := listPage(a, w, r, q, src, versionHistoryCSV, csvRow, func(v *API, rows []*model.TemplateVersionHistory) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
		return v.renderVersionHistory(ctx, asset, rows, q.Include)
	})
	if written || err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	return nil
}

func (a *API) showVersionHistory(w http.ResponseWriter, r *http.Request) error {
	// The document is read from one snapshot: a is its view below.
	return a.snapshot(r.Context(), func(a *API) error {
		q, asset, err := a.nodeInScope(r, versionHistoryItemSpec)
		if err != nil {
			return err
		}
		h, err := a.Store.GetVersionHistory(r.Context(), asset, mux.Vars(r)["history"])
		if err != nil {
			return err
		}
		// Like the reference, a record's page includes its asset and version
		// unless the client chooses with include.
		include := q.Include
		if !q.IncludeRequested() {
			include = versionHistoryIncludes
		}
		data, included, err := a.renderVersionHistory(r.Context(), asset, []*model.TemplateVersionHistory{h}, include)
		if err != nil {
			return err
		}
		jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: data[0], Included: included}, q)
		return nil
	})
}
