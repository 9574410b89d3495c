package handler

import (
	"net/http"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

type bookmarkAttributes struct {
	URL         string `json:"url"`
	Description string `json:"description"`
	CreatedBy   string `json:"created_by"`
	CreatedAt   string `json:"created_at"`
	UpdatedAt   string `json:"updated_at"`
}

func bookmarkResource(b *model.Bookmark, nodeAPIPath string) *jsonapi.Resource {
	return &jsonapi.Resource{
		Type: "bookmark", ID: b.ID,
		Attributes: &bookmarkAttributes{URL: b.URL, Description: b.Description, CreatedBy: b.CreatedBy,
			CreatedAt: jsonapi.Timestamp(b.CreatedAt), UpdatedAt: jsonapi.Timestamp(b.UpdatedAt)},
		Links: map[string]string{"self": nodeAPIPath + "/bookmarks/" + b.ID, "parent": nodeAPIPath},
	}
}

var (
	bookmarkListSpec = &jsonapi.Spec{List: true, Keyset: "id", Filters: model.BookmarkFilters}
	bookmarkItemSpec = &jsonapi.Spec{}
	// The reference's create body carries created_by; it is accepted so such
	// clients work, and ignored: created_by is always the caller.
	bookmarkCreateFields = []string{"url", "description", "created_by"}
	bookmarkUpdateFields = []string{"url", "description"}
)

func (a *API) routeBookmarks(r *mux.Router) {
	for _, prefix := range nodePrefixes {
		r.HandleFunc(prefix+"/bookmarks", a.handle(a.listBookmarks)).Methods(http.MethodGet)
		r.HandleFunc(prefix+"/bookmarks", a.handle(a.createBookmark)).Methods(http.MethodPost)
		r.HandleFunc(prefix+"/bookmarks/{bookmark}", a.handle(a.showBookmark)).Methods(http.MethodGet)
		r.HandleFunc(prefix+"/bookmarks/{bookmark}", a.handle(a.updateBookmark)).Methods(http.MethodPatch)
		r.HandleFunc(prefix+"/bookmarks/{bookmark}", a.handle(a.deleteBookmark)).Methods(http.MethodDelete)
	}
}

func (a *API) listBookmarks(w http.ResponseWriter, r *http.Request) error {
	q, n, err := a.nodeInScope(r, bookmarkListSpec)
	if err != nil {
		return err
	}
	src := a.Store.BookmarkList(n)
	render := func(b *model.Bookmark) *jsonapi.Resource { return bookmarkResource(b, nodeLink(n)) }
	columns := []string{"url", "description", "created_by", "created_at", "updated_at"}
	l, written, err := listPage(a, w, r, q, src, columns, render, nil)
	if written || err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, l.document(r, q, false), q)
	return nil
}

// bookmarkInScope resolves the node and the bookmark named in the URL.
func (a *API) bookmarkInScope(r *http.Request) (*jsonapi.Query, *model.Node, *model.Bookmark, error) {
	q, n, err := a.nodeInScope(r, bookmarkItemSpec)
	if err != nil {
		return nil, nil, nil, err
	}
	b, err := a.Store.GetBookmark(r.Context(), n, mux.Vars(r)["bookmark"])
	return q, n, b, err
}

func (a *API) showBookmark(w http.ResponseWriter, r *http.Request) error {
	q, n, b, err := a.bookmarkInScope(r)
	if err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: bookmarkResource(b, nodeLink(n))}, q)
	return nil
}

// decodeBookmark reads a bookmark body; id is the bookmark being updated ("" on create).
func decodeBookmark(r *http.Request, id string) (model.BookmarkInput, error) {
	var in model.BookmarkInput
	allowed := bookmarkUpdateFields
	if id == "" {
		allowed = bookmarkCreateFields
	}
	body, err := jsonapi.DecodeBody(r, "bookmark", allowed)
	if err != nil {
		return in, err
	}
	var url, desc string
	idCheck := body.NoClientID
	if id != "" {
		idCheck = func() error { return body.CheckID(id) }
	}
	var createdBy *string
	if err := steward.First(idCheck(), body.String("url", &url), body.String("description", &desc),
		body.NullableString("created_by", &createdBy)); err != nil {
		return in, err
	}
	if body.Has("url") {
		in.URL = &url
	}
	if body.Has("description") {
		in.Description = &desc
	}
	return in, nil
}

func (a *API) createBookmark(w http.ResponseWriter, r *http.Request) error {
	q, n, err := a.nodeInScope(r, bookmarkItemSpec)
	if err != nil {
		return err
	}
	in, err := decodeBookmark(r, "")
	if err != nil {
		return err
	}
	b, err := a.Store.CreateBookmark(r.Context(), actorOf(r), n, in)
	if err != nil {
		return err
	}
	res := bookmarkResource(b, nodeLink(n))
	w.Header().Set("Location", res.Links["self"])
	jsonapi.Render(w, http.StatusCreated, jsonapi.Document{Data: res}, q)
	return nil
}

func (a *API) updateBookmark(w http.ResponseWriter, r *http.Request) error {
	q, n, b, err := a.bookmarkInScope(r)
	if err != nil {
		return err
	}
	in, err := decodeBookmark(r, b.ID)
	if err != nil {
		return err
	}
	if b, err = a.Store.UpdateBookmark(r.Context(), actorOf(r), n, b, in); err != nil {
		return err
	}
	jsonapi.Render(w, http.StatusOK, jsonapi.Document{Data: bookmarkResource(b, nodeLink(n))}, q)
	return nil
}

func (a *API) deleteBookmark(w http.ResponseWriter, r *http.Request) error {
	_, n, b, err := a.bookmarkInScope(r)
	if err != nil {
		return err
	}
	if err := a.Store.DeleteBookmark(r.Context(), actorOf(r), n, b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
