package testutil

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/model/run"

	"gorm.io/gorm"

	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/db"
)

// PostgresEnv names the admin URL of a PostgreSQL server tests may use; when it
// is set every test database is PostgreSQL, otherwise SQLite.
const PostgresEnv = "STEWARD_TEST_POSTGRES_URL"

// Dialect is the database family this test run uses.
func Dialect() db.Dialect {
	if os.Getenv(PostgresEnv) != "" {
		return db.Postgres
	}
	return db.SQLite
}

// DB returns a fresh, migrated database that is dropped when the test ends.
func DB(t testing.TB) *gorm.DB {
	t.Helper()
	return Open(t, DatabaseURL(t))
}

// Open opens the database at url, as another process of the test would,
// closed when the test ends.
func Open(t testing.TB, url string) *gorm.DB {
	t.Helper()
	g, err := db.Open(url)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { closeGorm(g) })
	return g
}

// DatabaseURL returns the URL of a fresh, migrated, empty database.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	if admin := os.Getenv(PostgresEnv); admin != "" {
		return postgresDatabase(t, admin)
	}
	u := "sqlite://" + filepath.Join(t.TempDir(), "steward.db")
	g, err := db.Open(u)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	defer closeGorm(g)
	if err := db.Migrate(context.Background(), g, nil); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	return u
}

// EmptyDatabaseURL returns the URL of a fresh database with no tables at all
// (not migrated), dropped when the test ends: for testing migrations themselves.
func EmptyDatabaseURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(PostgresEnv)
	if admin == "" {
		return "sqlite://" + filepath.Join(t.TempDir(), "empty.db")
	}
	adminDB, err := db.Open(admin)
	if err != nil {
		t.Fatalf("connect to %s: %v", PostgresEnv, err)
	}
	defer closeGorm(adminDB)
	name := nextDatabaseName()
	if err := adminDB.Exec("CREATE DATABASE " + name + " TEMPLATE template0").Error; err != nil {
		t.Fatalf("create empty database: %v", err)
	}
	t.Cleanup(func() { dropDatabase(admin, name) })
	return withDatabase(admin, name)
}

func nextDatabaseName() string {
	dbCounterMu.Lock()
	defer dbCounterMu.Unlock()
	dbCounter++
	return fmt.Sprintf("steward_t%d_%d", os.Getpid(), dbCounter)
}

func dropDatabase(admin, name string) {
	if g, err := db.Open(admin); err == nil {
		_ = g.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)").Error
		closeGorm(g)
	}
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
	dbCounter    int
	dbCounterMu  sync.Mutex
)

// postgresDatabase clones a per-process migrated template database, which is
// much faster than migrating each test's database from scratch.
func postgresDatabase(t testing.TB, admin string) string {
	t.Helper()
	adminDB, err := db.Open(admin)
	if err != nil {
		t.Fatalf("connect to %s: %v", PostgresEnv, err)
	}
	defer closeGorm(adminDB)
	templateOnce.Do(func() {
		templateName = fmt.Sprintf("steward_tmpl_%d", os.Getpid())
		_ = adminDB.Exec("DROP DATABASE IF EXISTS " + templateName).Error
		if templateErr = adminDB.Exec("CREATE DATABASE " + templateName).Error; templateErr != nil {
			return
		}
		var tg *gorm.DB
		if tg, templateErr = db.Open(withDatabase(admin, templateName)); templateErr != nil {
			return
		}
		defer closeGorm(tg)
		templateErr = db.Migrate(context.Background(), tg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	})
	if templateErr != nil {
		t.Fatalf("prepare postgres template: %v", templateErr)
	}
	name := nextDatabaseName()
	if err := adminDB.Exec("CREATE DATABASE " + name + " TEMPLATE " + templateName).Error; err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() { dropDatabase(admin, name) })
	return withDatabase(admin, name)
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + strings.TrimPrefix(name, "/")
	return u.String()
}

func closeGorm(g *gorm.DB) {
	if sqlDB, err := g.DB(); err == nil {
		_ = sqlDB.Close()
	}
}

// NewStore is a store on a fresh database with a secret box and Git
// mirrors that accept the tests' file:// remotes.
func NewStore(t testing.TB) *run.Store {
	t.Helper()
	store := run.New(model.NewStore(DB(t), Logger(t)), nil)
	store.Git = gitops.NewMirrors(filepath.Join(t.TempDir(), "mirrors"))
	store.Git.AllowLocal = true // the test repositories are file:// remotes
	store.Secrets = testSecrets(t)
	return store
}

// StoreAt is a store on the database at url as a server process builds
// one: on PostgreSQL its log followers also wake through LISTEN/NOTIFY.
func StoreAt(t testing.TB, url string) *run.Store {
	t.Helper()
	g := Open(t, url)
	store := run.New(model.NewStore(g, Logger(t)), nil)
	if db.DialectOf(g) == db.Postgres {
		store.Logs = run.NewPostgresLogNotifier(url, store.Log)
	}
	return store
}

// Count is the number of rows of table, which may carry a WHERE clause
// ("events WHERE type = 'x'").
func Count(t testing.TB, g *gorm.DB, table string) int64 {
	t.Helper()
	var n int64
	if err := g.Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}
