// Package db opens Steward's database (embedded SQLite or PostgreSQL) and applies
// its versioned migrations. It is the one way the process gets a *gorm.DB.
package db

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

//go:embed migrations
var migrations embed.FS

// Dialect names the database family behind a connection.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DialectOf tells which dialect a *gorm.DB speaks.
func DialectOf(g *gorm.DB) Dialect {
	if g.Dialector.Name() == "postgres" {
		return Postgres
	}
	return SQLite
}

// DefaultURL is the embedded SQLite database inside dataDir.
func DefaultURL(dataDir string) string {
	return "sqlite://" + filepath.Join(dataDir, "steward.db")
}

// Open connects to url: postgres://... or postgresql://... selects PostgreSQL,
// sqlite://PATH (or a bare path) the embedded SQLite file.
func Open(rawURL string) (*gorm.DB, error) {
	cfg := &gorm.Config{
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		SkipDefaultTransaction: true,
		TranslateError:         true,
	}
	if strings.HasPrefix(rawURL, "postgres://") || strings.HasPrefix(rawURL, "postgresql://") {
		g, err := gorm.Open(postgres.Open(rawURL), cfg)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", redactErr(err, rawURL))
		}
		pool(g)
		return g, nil
	}
	path := strings.TrimPrefix(rawURL, "sqlite://")
	if path == "" {
		return nil, fmt.Errorf("empty sqlite path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	// WAL lets readers run beside the writer; immediate transactions take the
	// write lock up front so concurrent writers never fail with SQLITE_BUSY
	// halfway through. This process's writers queue in Go before they begin
	// (sqlite_writer.go); busy_timeout covers other processes. temp_store(MEMORY)
	// keeps the statement journals of multi-row statements inside a transaction
	// in memory: in a file they were a write syscall per page touched.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)&_txlock=immediate"
	conns, err := openQueuedSQLite(dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	g, err := gorm.Open(&sqlite.Dialector{DSN: dsn, Conn: conns}, cfg)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	pool(g)
	return g, nil
}

// pool keeps as many connections idle as may be open. database/sql keeps
// two by default, so a server answering more than two requests at once
// closed and reopened connections all the time: a PostgreSQL backend start,
// or a SQLite open that re-reads the schema and the pragmas, per request.
// PostgreSQL's connections are capped (each is a backend process); SQLite's
// are not, as before.
func pool(g *gorm.DB) {
	sqlDB, _ := g.DB()
	if DialectOf(g) == Postgres {
		sqlDB.SetMaxOpenConns(20)
	}
	sqlDB.SetMaxIdleConns(20)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
}

// Migrate applies every pending migration. On PostgreSQL it holds a session
// advisory lock so replicas starting together migrate one at a time.
func Migrate(ctx context.Context, g *gorm.DB, log *slog.Logger) error {
	sqlDB, err := g.DB()
	if err != nil {
		return err
	}
	p, err := provider(g, sqlDB)
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		if log != nil {
			log.Info("applied migration", "version", r.Source.Version, "file", filepath.Base(r.Source.Path))
		}
	}
	return nil
}

// MigrateDownAll rolls every migration back; tests use it to prove Down works.
func MigrateDownAll(ctx context.Context, g *gorm.DB) error { return MigrateDownTo(ctx, g, 0) }

// MigrateDownTo rolls migrations back until version is the newest applied:
// tests use it to check that a data migration converts old rows.
func MigrateDownTo(ctx context.Context, g *gorm.DB, version int64) error {
	sqlDB, err := g.DB()
	if err != nil {
		return err
	}
	p, err := provider(g, sqlDB)
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}

func provider(g *gorm.DB, sqlDB *sql.DB) (*goose.Provider, error) {
	dialect := DialectOf(g)
	sub, err := fs.Sub(migrations, "migrations/"+string(dialect))
	if err != nil {
		return nil, err
	}
	var opts []goose.ProviderOption
	gooseDialect := goose.DialectSQLite3
	if dialect == Postgres {
		gooseDialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(gooseDialect, sqlDB, sub, opts...)
}

// ServerVersion reports the database server's version string.
func ServerVersion(ctx context.Context, g *gorm.DB) (string, error) {
	var v string
	q := "SELECT sqlite_version()"
	prefix := "SQLite "
	if DialectOf(g) == Postgres {
		q, prefix = "SHOW server_version", "PostgreSQL "
	}
	if err := g.WithContext(ctx).Raw(q).Scan(&v).Error; err != nil {
		return "", err
	}
	return prefix + v, nil
}

// Describe names the database for start-up messages, without credentials.
func Describe(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.User = nil
		return "PostgreSQL " + u.Redacted()
	}
	return "SQLite " + strings.TrimPrefix(rawURL, "sqlite://")
}

func redactErr(err error, rawURL string) error {
	if u, perr := url.Parse(rawURL); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), pw, "xxxxx"))
		}
	}
	return err
}
