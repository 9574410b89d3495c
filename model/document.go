package model

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"

	"gorm.io/gorm"
)

// Document runs fn as Snapshot does, for a document that is usually read in
// one statement (a node's: see NodeForDocument). One statement sees one
// state of the database by itself, so fn first runs on the pool without a
// transaction, whose BEGIN and COMMIT are two of PostgreSQL's three round
// trips then. Should fn ask for a second statement, that statement is
// refused and fn runs again, from the start, in a Snapshot: whatever fn
// returns, it has read everything from one statement or from one snapshot.
// fn must therefore only read and collect: write the response after
// Document returns. Inside a snapshot Document is Snapshot.
func (s *Store) Document(ctx context.Context, fn func(view *Store) error) error {
	if s.snapshot {
		return fn(s)
	}
	once := &oneStatement{pool: s.DB.Statement.ConnPool}
	view := *s
	view.DB = s.DB.WithContext(ctx) // a session of its own: its statement's pool is set below
	view.DB.Statement.ConnPool = once
	view.snapshot, view.known, view.memo = true, map[string]*Node{}, &nodeMemo{}
	err := fn(&view)
	if !once.refused.Load() {
		return TranslateError(err)
	}
	return s.Snapshot(ctx, fn)
}

// errSecondStatement is what a Document's view answers a second statement.
var errSecondStatement = errors.New("a second statement in a one-statement document")

// oneStatement is a connection pool that runs one statement and refuses
// every one after it (reads only: a Document's view refuses writes as a
// snapshot's does).
type oneStatement struct {
	pool          gorm.ConnPool
	used, refused atomic.Bool
}

func (o *oneStatement) first() bool {
	if o.used.Swap(true) {
		o.refused.Store(true)
		return false
	}
	return true
}

func (o *oneStatement) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if !o.first() {
		return nil, errSecondStatement
	}
	return o.pool.QueryContext(ctx, query, args...)
}

func (o *oneStatement) PrepareContext(context.Context, string) (*sql.Stmt, error) {
	o.first()
	o.refused.Store(true)
	return nil, errSecondStatement
}

func (o *oneStatement) ExecContext(context.Context, string, ...any) (sql.Result, error) {
	o.first()
	o.refused.Store(true)
	return nil, errSecondStatement
}

// QueryRowContext cannot carry an error of its own: a second statement is
// run all the same, and refused is what sends fn to a Snapshot.
func (o *oneStatement) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	o.first()
	return o.pool.QueryRowContext(ctx, query, args...)
}
