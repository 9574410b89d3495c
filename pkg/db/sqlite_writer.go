package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync"
)

// SQLite has one write lock per database. A writer that finds it taken
// waits in SQLite's busy handler, which sleeps in growing steps (up to
// 100 ms) and tries again, so under a burst of writers some wait for a
// second while others pass. This process's write transactions therefore
// queue in Go instead, first come first served, and each begins (BEGIN
// IMMEDIATE) only when the one before has ended; the busy handler is left
// for other processes and for the few writes outside a transaction.
// Read-only transactions (Store.Snapshot) and plain reads never queue.

// queuedConnector opens the driver's connections with the write queue in
// front of their transactions.
type queuedConnector struct {
	dsn   string
	drv   driver.Driver
	queue chan struct{} // holds a token while a write transaction is open
}

// openQueuedSQLite opens dsn with the registered "sqlite" driver, its write
// transactions queued.
func openQueuedSQLite(dsn string) (*sql.DB, error) {
	probe, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	drv := probe.Driver()
	_ = probe.Close()
	return sql.OpenDB(&queuedConnector{dsn: dsn, drv: drv, queue: make(chan struct{}, 1)}), nil
}

func (c *queuedConnector) Connect(context.Context) (driver.Conn, error) {
	inner, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &queuedConn{inner: inner, queue: c.queue}, nil
}

func (c *queuedConnector) Driver() driver.Driver { return c.drv }

// queuedConn is the driver's connection; only BeginTx differs.
type queuedConn struct {
	inner driver.Conn
	queue chan struct{}
}

var errNoContext = errors.New("sqlite driver without context methods")

func (c *queuedConn) Prepare(query string) (driver.Stmt, error) { return c.inner.Prepare(query) }
func (c *queuedConn) Close() error                              { return c.inner.Close() }

func (c *queuedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *queuedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	b, ok := c.inner.(driver.ConnBeginTx)
	if !ok {
		return nil, errNoContext
	}
	if opts.ReadOnly {
		return b.BeginTx(ctx, opts)
	}
	select {
	case c.queue <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	tx, err := b.BeginTx(ctx, opts)
	if err != nil {
		<-c.queue
		return nil, err
	}
	return &queuedTx{inner: tx, queue: c.queue}, nil
}

func (c *queuedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if p, ok := c.inner.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	return c.inner.Prepare(query)
}

func (c *queuedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if e, ok := c.inner.(driver.ExecerContext); ok {
		return e.ExecContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (c *queuedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if q, ok := c.inner.(driver.QueryerContext); ok {
		return q.QueryContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (c *queuedConn) Ping(ctx context.Context) error {
	if p, ok := c.inner.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// queuedTx hands the queue on when it ends, whichever way.
type queuedTx struct {
	inner driver.Tx
	queue chan struct{}
	once  sync.Once
}

func (t *queuedTx) Commit() error {
	defer t.release()
	return t.inner.Commit()
}

func (t *queuedTx) Rollback() error {
	defer t.release()
	return t.inner.Rollback()
}

func (t *queuedTx) release() { t.once.Do(func() { <-t.queue }) }
