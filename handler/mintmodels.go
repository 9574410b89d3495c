package handler

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

type mintmodelAttributes struct {
	Data      model.JSONMap `json:"data"`
	SHA256    string        `json:"sha256"`
	CreatedAt string        `json:"created_at"`
	UpdatedAt string        `json:"updated_at"`
}

type mintmodelHistoryAttributes struct {
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

var (
	mintmodelListSpec        = &jsonapi.Spec{List: true, Keyset: "id", Filters: model.MintModelFilters}
	mintmodelItemSpec        = &jsonapi.Spec{}
	mintmodelHistoryListSpec = &jsonapi.Spec{List: true, Keyset: "id", Includes: []string{"mintmodel"}, Filters: model.MintModelHistoryFilters}
	mintmodelHistoryItemSpec = &jsonapi.Spec{Includes: []string{"mintmodel"}}
)

func (a *API) routeMintModels(r *mux.Router) {
	for _, prefix := range []string{projectAssetPrefix, environmentAssetPrefix} {
		// generate first: it would otherwise be read as a MintModel id.
		r.HandleFunc(prefix+"/mintmodels/generate", a.handle(a.generateMintModel)).Methods(http.MethodGet)
		r.HandleFunc(prefix+"/mintmodels", a.handle(a.listMintModels)).Methods(http.MethodGet)
		r.HandleFunc(prefix+"/mintmodels/{mintmodel}", a.handle(a.showMintModel)).Methods(http.MethodGet)
		r.HandleFunc(prefix+"/mintmodel_history", a.handle(a.listMintModelHistory)).Methods(http.MethodGet)
		r.HandleFunc(prefix+"/mintmodel_history/{history}", a.handle(a.showMintModelHistory)).Methods(http.MethodGet)
	}
}

func mintmodelResource(m *model.MintModel, asset *model.Node, historyIDs []string) *jsonapi.Resource {
	hist := make([]jsonapi.Identifier, len(historyIDs))
	for i, id := range historyIDs {
		hist[i] = jsonapi.Identifier{Type: "mintmodel_history", ID: id}
	}
	return &jsonapi.Resource{
		Type: "mintmodel", ID: m.ID,
		Attributes: &mintmodelAttributes{Data: m.Data, SHA256: m.SHA256,
			CreatedAt: jsonapi.Timestamp(m.CreatedAt), UpdatedAt: jsonapi.Timestamp(m.UpdatedAt)},
		Relationships: map[string]*jsonapi.Relationship{"mintmodel_history": jsonapi.ToMany(hist)},
		Links: map[string]string{
			"self":                     nodeLink(asset) + "/mintmodels/" + m.ID,
			"parent_mintmodel_history": nodeLink(asset) + "/mintmodel_history",
		},
	}
}

func mintmodelHistoryResource(h *model.MintModelHistory, asset *model.Node, changeIDs []string) *jsonapi.Resource {
	changes := make([]jsonapi.Identifier, len(changeIDs))
	for i, id := range changeIDs {
		changes[i] = jsonapi.Identifier{Type: "change", ID: id}
	}
	// The project and the asset, as the reference's schema (which admits no
	// environment here) has it, whichever level the asset lives at.
	parents := []jsonapi.Identifier{{Type: model.KindProject, ID: *asset.ProjectID}, {Type: model.KindAsset, ID: asset.ID}}
	return &jsonapi.Resource{
		Type: "mintmodel_history", ID: h.ID,
		Attributes: &mintmodelHistoryAttributes{CreatedAt: jsonapi.Timestamp(h.CreatedAt), UpdatedAt: jsonapi.Timestamp(h.UpdatedAt)},
		Relationships: map[string]*jsonapi.Relationship{
			"parents":          jsonapi.ToMany(parents),
			"mintmodel":        jsonapi.ToOne("mintmodel", h.MintmodelID, nodeLink(asset)+"/mintmodels/"+h.MintmodelID),
			"opschain_changes": jsonapi.ToMany(changes),
		},
		Links: map[string]string{"self": nodeLink(asset) + "/mintmodel_history/" + h.ID},
	}
}

func (a *API) generateMintModel(w http.ResponseWriter, r *http.Request) error {
	q, asset, err := a.nodeInScope(r, mintmodelItemSpec)
	if err != nil {
		return err
	}
	g, err := a.Store.GenerateMintModel(r.Context(), asset)
	if err != nil {
		return err
	}
	var history []string
	if g.Stored {
		ids, err := a.Store.MintModelHistoryIDs(r.Context(), []string{g.ID})
		if err != nil {
			return err
		}
		history = ids[g.ID]
	}
	res := mintmodelResource(g.MintModel, asset, history)
	if !g.Stored {
		// Nothing is stored under this id: self is where it can be generated again.
		res.Links["self"] = nodeLink(asset) + "/mintmodels/generate"
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: res}, q)
	return nil
}

func (a *API) listMintModels(w http.ResponseWriter, r *http.Request) error {
	q, asset, err := a.nodeInScope(r, mintmodelListSpec)
	if err != nil {
		return err
	}
	ctx := r.Context()
	src := a.Store.MintModelList(asset)
	// CSV rows stream without their history links, which would cost a query per batch.
	csvRow := func(m *model.MintModel) *jsonapi.Resource { return mintmodelResource(m, asset, nil) }
	columns := []string{"sha256", "created_at", "updated_at", "data"}
	l, written, err := listPage(a, w, r, q, src, columns, csvRow, func(v *API, ms []*model.MintModel) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
		ids := make([]string, len(ms))
		for i, m := range ms {
			ids[i] = m.ID
		}
		history, err := v.Store.MintModelHistoryIDs(ctx, ids)
		if err != nil {
			return nil, nil, err
		}
		data := make([]*jsonapi.Resource, len(ms))
		for i, m := range ms {
			data[i] = mintmodelResource(m, asset, history[m.ID])
		}
		return data, nil, nil
	})
	if written || err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	return nil
}

func (a *API) showMintModel(w http.ResponseWriter, r *http.Request) error {
	// The document is read from one snapshot: a is its view below.
	return a.snapshot(r.Context(), func(a *API) error {
		q, asset, err := a.nodeInScope(r, mintmodelItemSpec)
		if err != nil {
			return err
		}
		m, err := a.Store.GetMintModel(r.Context(), asset, mux.Vars(r)["mintmodel"])
		if err != nil {
			return err
		}
		history, err := a.Store.MintModelHistoryIDs(r.Context(), []string{m.ID})
		if err != nil {
			return err
		}
		jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: mintmodelResource(m, asset, history[m.ID])}, q)
		return nil
	})
}

func (a *API) listMintModelHistory(w http.ResponseWriter, r *http.Request) error {
	q, asset, err := a.nodeInScope(r, mintmodelHistoryListSpec)
	if err != nil {
		return err
	}
	ctx := r.Context()
	src := a.Store.MintModelHistoryList(asset)
	csvRow := func(h *model.MintModelHistory) *jsonapi.Resource { return mintmodelHistoryResource(h, asset, nil) }
	l, written, err := listPage(a, w, r, q, src, []string{"created_at", "updated_at"}, csvRow, func(v *API, entries []*model.MintModelHistory) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
		return v.renderMintModelHistory(ctx, asset, entries, q.Includes("mintmodel"))
	})
	if written || err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	return nil
}

// showMintModelHistory includes the entry's MintModel unless the client's
// include leaves it out, as the reference's example does.
func (a *API) showMintModelHistory(w http.ResponseWriter, r *http.Request) error {
	// The document is read from one snapshot: a is its view below.
	return a.snapshot(r.Context(), func(a *API) error {
		q, asset, err := a.nodeInScope(r, mintmodelHistoryItemSpec)
		if err != nil {
			return err
		}
		h, err := a.Store.GetMintModelHistory(r.Context(), asset, mux.Vars(r)["history"])
		if err != nil {
			return err
		}
		withModel := !q.IncludeRequested() || q.Includes("mintmodel")
		data, included, err := a.renderMintModelHistory(r.Context(), asset, []*model.MintModelHistory{h}, withModel)
		if err != nil {
			return err
		}
		jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: data[0], Included: included}, q)
		return nil
	})
}

// renderMintModelHistory renders entries with their change links and, when
// withModel, their MintModels for included (nil otherwise).
func (a *API) renderMintModelHistory(ctx context.Context, asset *model.Node, entries []*model.MintModelHistory, withModel bool) ([]*jsonapi.Resource, []*jsonapi.Resource, error) {
	ids := make([]string, len(entries))
	modelIDs := make([]string, 0, len(entries))
	seen := map[string]bool{}
	for i, h := range entries {
		ids[i] = h.ID
		if !seen[h.MintmodelID] {
			seen[h.MintmodelID] = true
			modelIDs = append(modelIDs, h.MintmodelID)
		}
	}
	changes, err := a.Store.MintModelHistoryChangeIDs(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	data := make([]*jsonapi.Resource, len(entries))
	for i, h := range entries {
		data[i] = mintmodelHistoryResource(h, asset, changes[h.ID])
	}
	if !withModel {
		return data, nil, nil
	}
	models, err := a.Store.MintModelsByID(ctx, modelIDs)
	if err != nil {
		return nil, nil, err
	}
	history, err := a.Store.MintModelHistoryIDs(ctx, modelIDs)
	if err != nil {
		return nil, nil, err
	}
	included := make([]*jsonapi.Resource, 0, len(models))
	for _, id := range modelIDs {
		if m := models[id]; m != nil {
			included = append(included, mintmodelResource(m, asset, history[id]))
		}
	}
	return data, included, nil
}
