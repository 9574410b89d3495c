package handler

import (
	"context"
	"net/http"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/run"
)

// handlerFunc is a route handler: it writes its response, or returns an
// error for handle to render. A handler that has already written (a stream,
// a download) logs what goes wrong afterwards and returns nil.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts h to net/http: a non-nil error becomes the JSON:API error
// response (see fail).
func (a *API) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.fail(w, r, err)
		}
	}
}

// snapshot runs fn with a copy of the API whose store reads one snapshot of
// the database: a document built from several reads shows one state.
func (a *API) snapshot(ctx context.Context, fn func(v *API) error) error {
	return a.Store.Snapshot(ctx, func(view *run.Store) error {
		v := *a
		v.Store = view
		return fn(&v)
	})
}

// document is snapshot for a document usually read in one statement (see
// model.Store.Document): fn only reads; the caller renders afterwards.
func (a *API) document(ctx context.Context, fn func(v *API) error) error {
	return a.Store.Store.Document(ctx, func(core *model.Store) error {
		view := *a.Store // the run store's own signals, over core
		view.Store = core
		v := *a
		v.Store = &view
		return fn(&v)
	})
}
