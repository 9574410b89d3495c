package model

import (
	"context"
	"database/sql"
	"strings"

	"gorm.io/gorm"

	"github.com/stewardhq/steward/pkg/listquery"
)

// Lists. A list endpoint walks a Source (the rows of one table a request may
// see before its filters: a node's changes, a project's remotes) with the
// client's listquery.List; the filters, sorts and cursor become SQL here and
// nowhere else, with column names from the allow-lists beside the records
// (never from the request).

// Source is the rows one list walks, and the keyset column its pages follow.
type Source[T any] struct {
	store  *Store
	keyset string
	scope  func(*gorm.DB) *gorm.DB
	// filter narrows the rows to what the context's actor may read (nil:
	// the rows need no narrowing, or their parent was checked).
	filter func(context.Context, *gorm.DB) *gorm.DB
}

// NewSource is the rows scope selects from s's database, paged by keyset.
func NewSource[T any](s *Store, keyset string, scope func(*gorm.DB) *gorm.DB) Source[T] {
	return Source[T]{store: s, keyset: keyset, scope: scope}
}

// ByNode filters the rows by their node (column holds its id): a request
// sees only the rows of nodes its actor may read, decided in SQL.
func (src Source[T]) ByNode(column string) Source[T] {
	return src.scoped(func(ctx context.Context, db *gorm.DB) *gorm.DB { return src.store.Readable(ctx, db, column) })
}

func (src Source[T]) scoped(filter func(context.Context, *gorm.DB) *gorm.DB) Source[T] {
	src.filter = filter
	return src
}

// Guarded is the rows only for a reader who may read path (a node's
// sub-path such as /projects/p/git_remotes); anyone else sees none.
func (src Source[T]) Guarded(path string) Source[T] {
	return src.scoped(func(ctx context.Context, db *gorm.DB) *gorm.DB {
		if !CanRead(ctx, path) {
			return db.Where("1 = 0")
		}
		return db
	})
}

// Scoped filters the rows with filter, made with the request's context:
// for rows that reach their node through another table (Store.Readable).
func (src Source[T]) Scoped(filter func(ctx context.Context, db *gorm.DB) *gorm.DB) Source[T] {
	return src.scoped(filter)
}

// In is the same rows read through view (a snapshot of the store).
func (src Source[T]) In(view *Store) Source[T] {
	src.store = view
	return src
}

// Page is one page of a list: the rows and whether more exist beyond them.
type Page[T any] struct {
	Rows []T
	More bool
}

func (src Source[T]) db(ctx context.Context) *gorm.DB {
	db := src.scope(src.store.DB.WithContext(ctx))
	if src.filter != nil {
		db = src.filter(ctx, db)
	}
	return db
}

// Fetch reads the page the list asks for, with one extra row to learn
// whether more exist. The keyset column keeps every page an index range scan.
func (src Source[T]) Fetch(ctx context.Context, q listquery.List) (Page[T], error) {
	db := after(where(src.db(ctx), q), q, src.keyset)
	if q.Paged {
		dir := " ASC"
		for _, s := range q.Sorts {
			if s.Desc {
				dir = " DESC"
			}
		}
		db = db.Order(src.keyset + dir)
	} else {
		db = order(db, q, src.keyset)
	}
	var rows []T
	if err := db.Limit(q.Limit + 1).Find(&rows).Error; err != nil {
		return Page[T]{}, TranslateError(err)
	}
	more := len(rows) > q.Limit
	if more {
		rows = rows[:q.Limit]
	}
	return Page[T]{Rows: rows, More: more}, nil
}

// Above reads up to limit rows matching q's filters whose keyset is above
// after, in keyset order: a follower's walk, an index range scan at any depth.
func (src Source[T]) Above(ctx context.Context, q listquery.List, after any, limit int) ([]T, error) {
	var rows []T
	err := where(src.db(ctx), q).Where(src.keyset+" > ?", after).Order(src.keyset + " ASC").Limit(limit).Find(&rows).Error
	return rows, TranslateError(err)
}

// AboveRows is Above as raw rows of the named columns only, for a stream
// that writes each row as it arrives (no record built per row). The caller
// closes them; until then a connection is held, so read promptly.
func (src Source[T]) AboveRows(ctx context.Context, q listquery.List, after any, limit int, columns ...string) (*sql.Rows, error) {
	rows, err := where(src.db(ctx), q).Where(src.keyset+" > ?", after).Order(src.keyset + " ASC").Limit(limit).
		Select(columns).Rows()
	return rows, TranslateError(err)
}

// Each calls fn for every row matching the list's filters, oldest first
// (the primary key, which is the keyset, ascending, whatever sort was
// asked), reading batch rows at a time so memory stays flat however many
// rows match: what downloads stream.
func (src Source[T]) Each(ctx context.Context, q listquery.List, batch int, fn func(*T) error) error {
	var rows []T
	res := where(src.db(ctx), q).FindInBatches(&rows, batch, func(*gorm.DB, int) error {
		for i := range rows {
			if err := fn(&rows[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return TranslateError(res.Error)
}

// Any reports whether the source has any row at all, filters aside: it
// tells "nothing matches" from "nothing yet".
func (src Source[T]) Any(ctx context.Context) (bool, error) {
	var rows []T
	err := src.db(ctx).Select(src.keyset).Limit(1).Find(&rows).Error
	return len(rows) > 0, TranslateError(err)
}

var likeEscape = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// clause renders c as SQL with placeholders; column names come from the Spec,
// never from the request.
func conditionSQL(c listquery.Condition, postgres bool) (string, []any) {
	col := c.Field.Column
	like := "LIKE"
	likeCol := col
	if postgres {
		like = "ILIKE" // match SQLite, whose LIKE ignores ASCII case
		if c.Field.Kind == listquery.UUID {
			likeCol = "CAST(" + col + " AS text)"
		}
	}
	v := c.Values[0]
	switch c.Predicate {
	case "eq":
		return col + " = ?", []any{v}
	case "not_eq":
		return "(" + col + " <> ? OR " + col + " IS NULL)", []any{v}
	case "lt":
		return col + " < ?", []any{v}
	case "lteq":
		return col + " <= ?", []any{v}
	case "gt":
		return col + " > ?", []any{v}
	case "gteq":
		return col + " >= ?", []any{v}
	case "in":
		return col + " IN ?", []any{c.Values}
	case "not_in":
		return "(" + col + " NOT IN ? OR " + col + " IS NULL)", []any{c.Values}
	case "cont":
		return likeCol + " " + like + ` ? ESCAPE '\'`, []any{"%" + likeEscape.Replace(v.(string)) + "%"}
	case "not_cont":
		return "(" + likeCol + " NOT " + like + ` ? ESCAPE '\' OR ` + col + " IS NULL)", []any{"%" + likeEscape.Replace(v.(string)) + "%"}
	case "start":
		return likeCol + " " + like + ` ? ESCAPE '\'`, []any{likeEscape.Replace(v.(string)) + "%"}
	case "end":
		return likeCol + " " + like + ` ? ESCAPE '\'`, []any{"%" + likeEscape.Replace(v.(string))}
	case "null":
		if v.(bool) {
			return col + " IS NULL", nil
		}
		return col + " IS NOT NULL", nil
	case "not_null":
		if v.(bool) {
			return col + " IS NOT NULL", nil
		}
		return col + " IS NULL", nil
	case "true":
		return col + " = ?", []any{v.(bool)}
	case "false":
		return col + " = ?", []any{!v.(bool)}
	}
	return "1 = 0", nil
}

// where applies the filters (joined by AND, or OR with filter[m]=or).
func where(db *gorm.DB, q listquery.List) *gorm.DB {
	if len(q.Filters) == 0 {
		return db
	}
	pg := db.Dialector.Name() == "postgres"
	parts := make([]string, 0, len(q.Filters))
	var args []any
	for _, c := range q.Filters {
		sql, a := conditionSQL(c, pg)
		parts = append(parts, "("+sql+")")
		args = append(args, a...)
	}
	joiner := " AND "
	if q.Or {
		joiner = " OR "
	}
	return db.Where("("+strings.Join(parts, joiner)+")", args...)
}

// order applies the requested sort (or the keyset column ascending), always
// ending with the keyset column so pages are stable.
func order(db *gorm.DB, q listquery.List, keyset string) *gorm.DB {
	desc := false
	for _, s := range q.Sorts {
		dir := " ASC"
		if s.Desc {
			dir = " DESC"
		}
		if s.Nullable {
			// SQLite's order (NULL is the smallest value) on both databases.
			dir += map[bool]string{false: " NULLS FIRST", true: " NULLS LAST"}[s.Desc]
		}
		db = db.Order(s.Column + dir)
		if s.Column == keyset || s.Column == "created_at" {
			desc = s.Desc
		}
	}
	if desc {
		return db.Order(keyset + " DESC")
	}
	return db.Order(keyset + " ASC")
}

// after applies the page cursor: rows past it in list order.
func after(db *gorm.DB, q listquery.List, keyset string) *gorm.DB {
	if q.After == nil {
		return db
	}
	id := q.After
	op := " > ?"
	for _, s := range q.Sorts {
		if s.Desc {
			op = " < ?"
		}
	}
	return db.Where(keyset+op, id)
}
