package model

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/pkg/db"
	"github.com/stewardhq/steward/pkg/secret"
)

// Store runs domain operations against the database. Now is the one clock:
// every timestamp Steward writes comes from it. Git reads remotes through
// local mirrors; Secrets seals credentials at rest. Runs (changes, steps,
// log lines) are the run package's, on top of this store.
type Store struct {
	DB      *gorm.DB
	Now     func() time.Time
	Log     *slog.Logger
	Git     *gitops.Mirrors
	Secrets *secret.Box

	work      *Signal          // changes or steps need attention: the engine listens
	templates *Signal          // a template version waits to be resolved
	snapshot  bool             // DB is a read-only transaction: see Snapshot
	known     map[string]*Node // in a snapshot: nodes read by path with their ancestors, by id
	memo      *nodeMemo        // in a snapshot: what NodeForDocument read besides
	tokens    *tokenCache

	deliveries *Signal      // webhook deliveries were written: see Outbox
	patterns   *outboxCache // the enabled subscriptions' type patterns: see event_outbox.go
}

// Wake tells the services that follow Work (the engine) that changes or
// steps need attention now rather than at their next tick.
func (s *Store) Wake() { s.work.Notify() }

// Work is notified whenever changes or steps need attention.
func (s *Store) Work() *Signal { return s.work }

// TemplateWrites is notified whenever a template version waits to be resolved.
func (s *Store) TemplateWrites() *Signal { return s.templates }

// NewStore returns a Store using the wall clock truncated to microseconds, the
// precision both databases keep.
func NewStore(db *gorm.DB, log *slog.Logger) *Store {
	if log == nil {
		log = slog.Default()
	}
	return &Store{DB: db, Log: log, work: &Signal{}, templates: &Signal{}, deliveries: &Signal{}, patterns: &outboxCache{}, tokens: newTokenCache(), Now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// NewID returns a time-ordered UUIDv7, so ids sort in creation order and keyset
// paging walks an index.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// Write runs fn in one transaction: either everything it writes lands, or nothing.
// Database errors are translated to domain errors here and nowhere else.
func (s *Store) Write(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if s.snapshot {
		return TranslateError(errors.New("a write inside a read snapshot"))
	}
	return TranslateError(s.DB.WithContext(ctx).Transaction(fn))
}

// Read runs fn on a context-bound connection with translated errors.
func (s *Store) Read(ctx context.Context, fn func(db *gorm.DB) error) error {
	return TranslateError(fn(s.DB.WithContext(ctx)))
}

// Snapshot runs fn with a view of the store whose reads all see the database
// as it was at one moment, so that a document built from several reads never
// mixes two states. It is a read-only transaction: REPEATABLE READ on
// PostgreSQL; on SQLite a deferred one, which in WAL mode reads one snapshot
// without taking the write lock every write transaction takes (the DSN's
// _txlock=immediate applies to read-write transactions only). Writes through
// the view fail; a Snapshot inside a snapshot reuses it. Keep it short: long
// streams (log follows, downloads) read outside one.
func (s *Store) Snapshot(ctx context.Context, fn func(view *Store) error) error {
	if s.snapshot {
		return fn(s)
	}
	opts := &sql.TxOptions{ReadOnly: true}
	if db.DialectOf(s.DB) == db.Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return TranslateError(s.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		view := *s
		view.DB, view.snapshot, view.known, view.memo = tx, true, map[string]*Node{}, &nodeMemo{}
		return fn(&view)
	}, opts))
}

// DatabaseVersion names the database server answering, e.g. "PostgreSQL
// 15.6" or "SQLite 3.46.0". The error is the database's own (untranslated).
func (s *Store) DatabaseVersion(ctx context.Context) (string, error) {
	return db.ServerVersion(ctx, s.DB)
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.DB.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

func TranslateError(err error) error {
	if err == nil {
		return nil
	}
	var e *steward.Error
	if errors.As(err, &e) {
		return err
	}
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return &steward.Error{Kind: steward.KindNotFound, Code: "not_found", Detail: "the record was not found", Err: err}
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return &steward.Error{Kind: steward.KindConflict, Code: "taken", Detail: "a record with the same key already exists", Err: err}
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return &steward.Error{Kind: steward.KindInvalid, Code: "invalid_reference", Detail: "a referenced record does not exist", Err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &steward.Error{Kind: steward.KindUnavailable, Code: "cancelled", Detail: "the request was cancelled", Err: err}
	}
	return &steward.Error{Kind: steward.KindInternal, Code: "internal", Detail: "internal error", Err: err}
}

// IsDuplicate reports whether err is a unique-key violation.
func IsDuplicate(err error) bool {
	return errors.Is(err, gorm.ErrDuplicatedKey) || (steward.ErrorKind(err) == steward.KindConflict && steward.AsError(err).Code == "taken")
}
