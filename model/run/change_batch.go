package run

import (
	"fmt"
	"reflect"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/db"
)

// What InsertAll needs to write many changes at once: the event
// model.Store.Record would write, built without writing it, and rows
// inserted in the statements each dialect runs cheapest.

// createEvent is the api:changes:create event Insert writes.
func (p *PreparedChange) createEvent() *model.Event {
	c := p.Change
	return p.store.NewEvent(p.actor, "api:changes:create", changeEventSource(c), model.JSONMap{
		"action": c.Action, "node": p.node.Path, "git_remote_name": c.GitRemoteName, "git_rev": c.GitRev,
		"commit_sha": *c.CommitSHA, "steps": len(p.steps)})
}

// rowsPerInsert is the rows of one multi-row INSERT on each dialect. The
// SQLite driver parses every statement anew (it keeps none prepared), and
// binds in time that grows with the square of a statement's parameters:
// a few rows a statement share the parse without paying much binding. On
// PostgreSQL each statement is a round trip, and pgx prepares each text once.
func rowsPerInsert(tx *gorm.DB) int {
	if db.DialectOf(tx) == db.Postgres {
		return 100
	}
	return 8
}

// InsertRows inserts rows (every column set: no defaults are applied) in
// tx, in multi-row INSERTs of rowsPerInsert rows, built from GORM's schema
// of T but run past GORM, whose statement building was a large part of the
// scheduler's cost per firing. A pointer column nil in every row of a
// statement is left out of it (it is NULL all the same: only NOT NULL
// columns have defaults), since SQLite's cost grows with every value
// parsed and bound: a new change or step leaves a third of its columns
// (started_at, finished_at, lease, ...) nil.
func InsertRows[T any](tx *gorm.DB, rows []*T) error {
	stmts, err := insertStatements(tx, rows, db.DialectOf(tx) == db.Postgres)
	if err != nil {
		return err
	}
	for _, st := range stmts {
		if _, err := tx.Statement.ConnPool.ExecContext(tx.Statement.Context, st.SQL, st.Args...); err != nil {
			return translate(tx, err)
		}
	}
	return nil
}

// insertStatements builds InsertRows' statements: with $n placeholders
// (for the connection) when dollar, else with ? (for GORM's Exec).
func insertStatements[T any](tx *gorm.DB, rows []*T, dollar bool) ([]model.Statement, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	stmt := &gorm.Statement{DB: tx}
	if err := stmt.Parse(rows[0]); err != nil {
		return nil, err
	}
	var fields []*schema.Field
	for _, f := range stmt.Schema.Fields {
		if f.DBName != "" && f.Creatable {
			fields = append(fields, f)
		}
	}
	ctx := tx.Statement.Context
	per := rowsPerInsert(tx)
	var out []model.Statement
	values := make([][]any, 0, per)
	for from := 0; from < len(rows); from += per {
		chunk := rows[from:min(from+per, len(rows))]
		values = values[:0]
		used := make([]bool, len(fields))
		for _, row := range chunk {
			rv := reflect.ValueOf(row).Elem()
			vals := make([]any, len(fields))
			for c, f := range fields {
				vals[c], _ = f.ValueOf(ctx, rv)
				if !used[c] && !nilPointer(f, vals[c]) {
					used[c] = true
				}
			}
			values = append(values, vals)
		}
		var q strings.Builder
		q.WriteString("INSERT INTO " + stmt.Quote(stmt.Schema.Table) + " (")
		n := 0
		for c, f := range fields {
			if used[c] {
				if n > 0 {
					q.WriteString(", ")
				}
				q.WriteString(stmt.Quote(f.DBName))
				n++
			}
		}
		q.WriteString(") VALUES ")
		args := make([]any, 0, n*len(chunk))
		for i, vals := range values {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteByte('(')
			k := 0
			for c, v := range vals {
				if !used[c] {
					continue
				}
				if k > 0 {
					q.WriteString(", ")
				}
				k++
				if dollar {
					fmt.Fprintf(&q, "$%d", len(args)+1)
				} else {
					q.WriteByte('?')
				}
				args = append(args, v)
			}
			q.WriteByte(')')
		}
		out = append(out, model.Statement{SQL: q.String(), Args: args})
	}
	return out, nil
}

// nilPointer reports whether v, field f's value, is a nil pointer.
func nilPointer(f *schema.Field, v any) bool {
	if f.FieldType.Kind() != reflect.Ptr {
		return false
	}
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Ptr && rv.IsNil()
}

// translate is err as GORM would have returned it (a unique violation is
// gorm.ErrDuplicatedKey), for statements run past GORM.
func translate(tx *gorm.DB, err error) error {
	if t, ok := tx.Dialector.(gorm.ErrorTranslator); ok {
		return t.Translate(err)
	}
	return err
}
