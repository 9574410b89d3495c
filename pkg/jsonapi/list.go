package jsonapi

import (
	"net/http"
	"net/url"
	"strconv"

	"gorm.io/gorm"
)

// Page is one page of a list: the rows and whether more exist beyond them.
type Page[T any] struct {
	Rows []T
	More bool
}

// Fetch runs the list query on db (already scoped to the parent) with the
// request's filters, sort, cursor and limit, reading one extra row to learn
// whether more exist. The keyset column keeps every page an index range scan.
func Fetch[T any](db *gorm.DB, q *Query, keyset string) (Page[T], error) {
	n := q.Limit
	db = q.After(q.Where(db), keyset)
	if q.Paged() {
		n = q.PageSize
		dir := " ASC"
		for _, s := range q.Sorts {
			if s.Desc {
				dir = " DESC"
			}
		}
		db = db.Order(keyset + dir)
	} else {
		db = q.Order(db, keyset)
	}
	var rows []T
	if err := db.Limit(n + 1).Find(&rows).Error; err != nil {
		return Page[T]{}, err
	}
	more := len(rows) > n
	if more {
		rows = rows[:n]
	}
	return Page[T]{Rows: rows, More: more}, nil
}

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

// StreamCSV writes every row matching q's filters as CSV, oldest first (the
// keyset column ascending, whatever sort was asked), reading 500 rows at a time
// so memory stays flat however many rows match. base returns a fresh scoped query.
func StreamCSV[T any](w http.ResponseWriter, q *Query, base func() *gorm.DB, keyset string, columns []string, render func(*T) *Resource) error {
	cw, err := NewCSV(w, q.Download, columns)
	if err != nil {
		return err
	}
	last := ""
	for {
		db := q.Where(base())
		if last != "" {
			db = db.Where(keyset+" > ?", last)
		}
		var rows []T
		if err := db.Order(keyset + " ASC").Limit(500).Find(&rows).Error; err != nil {
			return err
		}
		for i := range rows {
			res := render(&rows[i])
			if err := cw.Write(res); err != nil {
				return err
			}
			last = res.ID
		}
		if err := cw.Flush(); err != nil || len(rows) < 500 {
			return err
		}
	}
}
