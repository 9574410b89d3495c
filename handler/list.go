package handler

import (
	"net/http"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

// listed is one rendered page of a list, for the handler to finish (meta,
// links) before rendering it.
type listed[T any] struct {
	Rows           []*T
	Data, Included []*jsonapi.Resource
	More           bool
}

// document wraps the page in a list document; alwaysMeta as in
// jsonapi.ListDocument, for the reference lists that require meta.
func (l listed[T]) document(r *http.Request, q *jsonapi.Query, alwaysMeta bool) jsonapi.Document {
	doc := jsonapi.ListDocument(r, q, l.Data, l.More, alwaysMeta)
	doc.Included = l.Included
	return doc
}

// listPage answers a list request: a download streams every matching row as CSV
// through row; otherwise one page is fetched and rendered by page, or by row
// when page is nil. page exists because most resources render a whole page at
// once to load their relations in a few queries, while CSV rows carry
// attributes only. written is true when the response is already written (the
// download): the caller then returns nil and writes nothing more.
func listPage[T any](a *API, w http.ResponseWriter, r *http.Request, q *jsonapi.Query, src model.Source[T],
	columns []string, row func(*T) *jsonapi.Resource, page func(v *API, rows []*T) (data, included []*jsonapi.Resource, err error)) (l listed[T], written bool, err error) {
	if downloadCSV(a, w, r, q, src, columns, row) {
		return l, true, nil
	}
	// The page and everything its document shows are read from one snapshot.
	err = a.snapshot(r.Context(), func(v *API) error {
		p, err := src.In(v.Store.Store).Fetch(r.Context(), q.List())
		if err != nil {
			return err
		}
		l.More = p.More
		l.Rows = make([]*T, len(p.Rows))
		for i := range p.Rows {
			l.Rows[i] = &p.Rows[i]
		}
		if page != nil {
			l.Data, l.Included, err = page(v, l.Rows)
			return err
		}
		l.Data = make([]*jsonapi.Resource, len(l.Rows))
		for i, t := range l.Rows {
			l.Data[i] = row(t)
		}
		return nil
	})
	return l, false, err
}

// downloadCSV streams the rows of a list that asked for ?download= and
// reports whether it did. The status line is sent before the first row, so a
// failure part way can only be logged, not answered.
func downloadCSV[T any](a *API, w http.ResponseWriter, r *http.Request, q *jsonapi.Query, src model.Source[T],
	columns []string, row func(*T) *jsonapi.Resource) bool {
	if q.Download == "" {
		return false
	}
	err := jsonapi.StreamCSV(w, q, columns, func(emit func(*jsonapi.Resource) error) error {
		return src.Each(r.Context(), q.List(), 500, func(t *T) error { return emit(row(t)) })
	})
	if err != nil {
		a.Log.Error("csv download failed", "request_id", requestID(r.Context()), "err", err)
	}
	return true
}

// renderListWithHasAny renders l with meta.has_any, which tells "nothing
// matches" from "nothing yet": it ignores the filters.
func renderListWithHasAny[T any](w http.ResponseWriter, r *http.Request, q *jsonapi.Query, l listed[T], src model.Source[T]) error {
	hasAny := len(l.Rows) > 0
	if !hasAny {
		var err error
		if hasAny, err = src.Any(r.Context()); err != nil {
			return err
		}
	}
	doc := l.document(r, q, true)
	doc.Meta["has_any"] = hasAny
	jsonapi.Render(w, http.StatusOK, doc, q)
	return nil
}
