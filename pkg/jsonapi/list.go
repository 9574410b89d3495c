package jsonapi

import (
	"net/http"
	"net/url"
	"strconv"
)

// ListDocument wraps rendered rows in a list document. meta.partial_response is
// set when rows were left out (always present when alwaysMeta, as some
// reference lists require it); links.next is set when the client pages.
func ListDocument(r *http.Request, q *Query, data []*Resource, more bool, alwaysMeta bool) Document {
	doc := Document{Data: data}
	if data == nil {
		doc.Data = []*Resource{}
	}
	if more || alwaysMeta {
		doc.Meta = map[string]any{"partial_response": more}
	}
	if q.Paged() && more && len(data) > 0 {
		u := *r.URL
		vals := u.Query()
		vals.Set("page[after]", EncodeCursor(data[len(data)-1].ID))
		vals.Set("page[size]", strconv.Itoa(q.PageSize))
		u.RawQuery = vals.Encode()
		doc.Links = map[string]string{"next": (&url.URL{Path: u.Path, RawQuery: u.RawQuery}).String()}
	}
	return doc
}

// StreamCSV writes rows as CSV with the given columns: each calls its
// argument once per row, in the order the rows are to appear (the model walks
// them in batches, so memory stays flat however many rows match).
func StreamCSV(w http.ResponseWriter, q *Query, columns []string, each func(row func(*Resource) error) error) error {
	cw, err := NewCSV(w, q.Download, columns)
	if err != nil {
		return err
	}
	n := 0
	err = each(func(res *Resource) error {
		if err := cw.Write(res); err != nil {
			return err
		}
		if n++; n%500 == 0 {
			return cw.Flush()
		}
		return nil
	})
	if ferr := cw.Flush(); err == nil {
		err = ferr
	}
	return err
}
