package db_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/model/schedule"
	"github.com/stewardhq/steward/model/webhook"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/db"
)

// coreModels is every GORM model Steward stores; each field needs a column.
var coreModels = []any{
	&model.Node{}, &model.PropertySet{}, &model.PropertySetVersion{}, &model.Bookmark{},
	&model.Event{}, &model.User{}, &model.Group{}, &model.APIToken{},
	&model.GitRemote{}, &model.Template{}, &model.TemplateVersion{}, &model.TemplateVersionHistory{},
	&model.MintModel{}, &model.MintModelHistory{},
	&run.Change{}, &run.Step{}, &run.LogLine{}, &model.IdempotencyKey{},
	&model.Workflow{}, &model.WorkflowVersion{}, &run.WorkflowRun{}, &run.WorkflowRunStep{},
	&schedule.Activity{}, &schedule.Firing{}, &schedule.Lease{},
	&model.AuthorisationRule{}, &model.AuthorisationPolicy{}, &model.PolicyRule{}, &model.PolicyAssignment{},
	&webhook.Webhook{}, &webhook.EventType{}, &webhook.Delivery{}, &webhook.Attempt{},
	&webhook.Hook{}, &webhook.HookRequest{}, &webhook.Nonce{},
}

func coreOpen(t *testing.T, url string) *gorm.DB {
	t.Helper()
	g, err := db.Open(url)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if sqlDB, err := g.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return g
}

// coreCheckColumns fails for every model field without a column, and for
// every many2many join table that is missing its key columns.
func coreCheckColumns(t *testing.T, g *gorm.DB) {
	t.Helper()
	m := g.Migrator()
	cache := &sync.Map{}
	checked := 0
	for _, mdl := range coreModels {
		s, err := schema.Parse(mdl, cache, g.NamingStrategy)
		if err != nil {
			t.Fatalf("parse %T: %v", mdl, err)
		}
		if !m.HasTable(s.Table) {
			t.Errorf("%T: table %s is missing", mdl, s.Table)
			continue
		}
		for _, f := range s.Fields {
			if f.DBName == "" {
				continue // relations (User.Groups, APIToken.User) have no column
			}
			checked++
			if !m.HasColumn(mdl, f.DBName) {
				t.Errorf("%T.%s: column %s.%s is missing", mdl, f.Name, s.Table, f.DBName)
			}
		}
		for _, rel := range s.Relationships.Relations {
			if rel.JoinTable == nil {
				continue
			}
			for _, f := range rel.JoinTable.Fields {
				if f.DBName != "" && !m.HasColumn(rel.JoinTable.Table, f.DBName) {
					t.Errorf("%T.%s: join column %s.%s is missing", mdl, rel.Name, rel.JoinTable.Table, f.DBName)
				}
			}
		}
	}
	if m.HasColumn(&model.Node{}, "no_such_column") {
		t.Fatalf("HasColumn finds a column that does not exist; the check proves nothing")
	}
	if checked < 50 {
		t.Fatalf("only %d columns checked; the model list looks wrong", checked)
	}
}

// TestMigrateUpDownUp runs on SQLite always and on PostgreSQL too when the
// test run has one.
func TestMigrateUpDownUp(t *testing.T) {
	t.Parallel()
	urls := map[db.Dialect]func(*testing.T) string{
		db.SQLite: func(t *testing.T) string { return "sqlite://" + t.TempDir() + "/fresh.db" },
	}
	if testutil.Dialect() == db.Postgres {
		urls[db.Postgres] = func(t *testing.T) string { return testutil.EmptyDatabaseURL(t) }
	}
	for dialect, url := range urls {
		t.Run(string(dialect), func(t *testing.T) {
			t.Parallel()
			coreUpDownUp(t, dialect, url(t))
		})
	}
}

func coreUpDownUp(t *testing.T, dialect db.Dialect, url string) {
	ctx := context.Background()
	g := coreOpen(t, url)
	if db.DialectOf(g) != dialect {
		t.Fatalf("dialect %s, want %s", db.DialectOf(g), dialect)
	}
	if g.Migrator().HasTable("nodes") {
		t.Fatalf("the empty database already has tables")
	}
	if err := db.Migrate(ctx, g, nil); err != nil {
		t.Fatalf("up: %v", err)
	}
	coreCheckColumns(t, g)
	if err := db.Migrate(ctx, g, nil); err != nil {
		t.Fatalf("a second up must be a no-op: %v", err)
	}
	if err := db.MigrateDownAll(ctx, g); err != nil {
		t.Fatalf("down to 0: %v", err)
	}
	var tables []string
	for _, mdl := range coreModels {
		s, _ := schema.Parse(mdl, &sync.Map{}, g.NamingStrategy)
		if g.Migrator().HasTable(s.Table) {
			tables = append(tables, s.Table)
		}
	}
	if g.Migrator().HasTable("group_members") {
		tables = append(tables, "group_members")
	}
	if len(tables) > 0 {
		t.Fatalf("tables left after down to 0: %v", tables)
	}
	if err := db.Migrate(ctx, g, nil); err != nil {
		t.Fatalf("up again: %v", err)
	}
	coreCheckColumns(t, g)
}

// TestMigratedDatabaseWorks writes through the store on a test database, so a
// column whose type does not fit its Go field (uuid, jsonb, timestamptz) shows up.
func TestMigratedDatabaseWorks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := testutil.DB(t)
	store := model.NewStore(g, testutil.Logger(t))
	p, err := store.CreateNode(ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "p", Name: "P"})
	if err != nil {
		t.Fatalf("create project: %v", err)
	}
	back, err := store.NodeByPath(ctx, "/projects/p")
	if err != nil || back.ID != p.ID || !back.CreatedAt.Equal(p.CreatedAt) {
		t.Fatalf("read back %+v (%v), want %+v", back, err, p)
	}
	var sets []model.PropertySet
	if err := g.Where("owner_id = ?", p.ID).Order("kind").Find(&sets).Error; err != nil || len(sets) != 2 {
		t.Fatalf("property sets of a new node: %v %v", sets, err)
	}
	if sets[1].Kind != model.KindSettings || len(sets[1].Data) == 0 {
		t.Fatalf("settings start with the defaults: %+v", sets[1])
	}
}

func TestOpenSQLitePragmas(t *testing.T) {
	t.Parallel()
	g := coreOpen(t, "sqlite://"+t.TempDir()+"/sub/dir/steward.db")
	checks := map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "10000"}
	for pragma, want := range checks {
		var got string
		if err := g.Raw("PRAGMA " + pragma).Scan(&got).Error; err != nil || !strings.EqualFold(got, want) {
			t.Errorf("PRAGMA %s = %q (%v), want %s", pragma, got, err, want)
		}
	}
	if db.DialectOf(g) != db.SQLite {
		t.Errorf("dialect %s", db.DialectOf(g))
	}
	if _, err := db.Open("sqlite://"); err == nil {
		t.Errorf("an empty sqlite path must be refused")
	}
}

func TestDescribeHidesCredentials(t *testing.T) {
	cases := map[string]string{
		"postgres://steward:s3cret@db.example:5432/steward?sslmode=disable": "PostgreSQL ",
		"postgresql://steward:s3cret@db.example/steward":                    "PostgreSQL ",
		"sqlite:///var/lib/steward/steward.db":                              "SQLite /var/lib/steward/steward.db",
	}
	for url, prefix := range cases {
		got := db.Describe(url)
		if !strings.HasPrefix(got, prefix) || strings.Contains(got, "s3cret") || strings.Contains(got, "steward:") {
			t.Errorf("Describe(%q) = %q", url, got)
		}
	}
	if _, err := db.Open("postgres://steward:s3cret@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a failed connection must not print the password: %v", err)
	}
}

// TestEventSourcePathsMigration: events written with /api links before
// migration 5 read as paths after it, and back again when it is rolled back.
func TestEventSourcePathsMigration(t *testing.T) {
	url := testutil.DatabaseURL(t)
	g := coreOpen(t, url)
	ctx := context.Background()
	if err := db.MigrateDownTo(ctx, g, 4); err != nil {
		t.Fatal(err)
	}
	old := "/api/projects/opc"
	ev := model.Event{ID: model.NewID(), Type: "api:projects:create", Username: "admin", SourcePath: &old,
		Attributes: model.JSONMap{}, CreatedAt: time.Now().UTC()}
	if err := g.Omit("NodeID").Create(&ev).Error; err != nil { // node_id came later (migration 9)
		t.Fatal(err)
	}
	// One column: the migrations change the table's others, and a cached
	// plan of SELECT * would no longer fit it on PostgreSQL.
	read := func() string {
		var got []string
		if err := g.Model(&model.Event{}).Where("id = ?", ev.ID).Pluck("source_link", &got).Error; err != nil || len(got) != 1 {
			t.Fatal(err, got)
		}
		return got[0]
	}
	if err := db.Migrate(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "/projects/opc" {
		t.Fatalf("after the migration the source is %q, want /projects/opc", got)
	}
	if err := db.MigrateDownTo(ctx, g, 4); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != old {
		t.Fatalf("after rolling back the source is %q, want %s", got, old)
	}
}
