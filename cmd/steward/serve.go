package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	runs "github.com/stewardhq/steward/model/run"

	"gorm.io/gorm"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/engine"
	"github.com/stewardhq/steward/engine/sandbox"
	"github.com/stewardhq/steward/gitops"
	"github.com/stewardhq/steward/handler"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/model/schedule"
	whmodel "github.com/stewardhq/steward/model/webhook"
	"github.com/stewardhq/steward/pkg/config"
	"github.com/stewardhq/steward/pkg/datadir"
	"github.com/stewardhq/steward/pkg/db"
	"github.com/stewardhq/steward/pkg/metrics"
	"github.com/stewardhq/steward/pkg/secret"
	"github.com/stewardhq/steward/scheduler"
	"github.com/stewardhq/steward/webhook"
)

// env is what every command that touches the database shares.
type env struct {
	cfg   *config.Config
	log   *slog.Logger
	db    *gorm.DB
	store *runs.Store
}

// open loads configuration, opens and migrates the database. prepare, when
// set, runs on the configuration before the database is opened.
func open(ctx context.Context, name string, args []string, stderr io.Writer, extra func(*flag.FlagSet), prepare func(*config.Config) error) (*env, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if extra != nil {
		extra(fs)
	}
	cfg, err := config.Load(fs, args)
	if err != nil {
		return nil, err
	}
	log := newLogger(cfg, stderr)
	if prepare != nil {
		if err := prepare(cfg); err != nil {
			return nil, err
		}
	}
	g, err := db.Open(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, g, log); err != nil {
		closeDB(g)
		return nil, err
	}
	return &env{cfg: cfg, log: log, db: g, store: runs.New(model.NewStore(g, log), nil)}, nil
}

func closeDB(g *gorm.DB) {
	if sqlDB, err := g.DB(); err == nil {
		_ = sqlDB.Close()
	}
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func migrate(ctx context.Context, args []string, stderr io.Writer) error {
	e, err := open(ctx, "migrate", args, stderr, nil, nil)
	if err != nil {
		return err
	}
	defer closeDB(e.db)
	fmt.Fprintln(stderr, "database is up to date:", db.Describe(e.cfg.DatabaseURL))
	return nil
}

// serve runs the API until ctx ends. ready, when set, receives the bound
// address (tests listen on 127.0.0.1:0).
func serve(ctx context.Context, args []string, stdout, stderr io.Writer, ready chan<- string) (err error) {
	// One server per data dir, held from before the database is touched:
	// a second one refuses to start instead of sharing its work trees.
	var lock *datadir.Lock
	e, err := open(ctx, "serve", args, stderr, nil, func(cfg *config.Config) (err error) {
		lock, err = datadir.Acquire(cfg.DataDir)
		return err
	})
	if err != nil {
		return err
	}
	defer lock.Release()
	defer closeDB(e.db)
	key, generated, err := e.cfg.Key()
	if err != nil {
		return err
	}
	if generated {
		e.log.Warn("STEWARD_SECRET_KEY is not set: generated one into the data dir; back it up, secrets at rest cannot be read without it",
			"file", e.cfg.DataDir+"/secret.key")
	}
	if e.store.Secrets, err = secret.New(key); err != nil {
		return err
	}
	e.store.Git = gitops.NewMirrors(filepath.Join(e.cfg.DataDir, "git", "mirrors"))
	e.store.Git.KnownHostsFile = e.cfg.KnownHosts
	e.store.Git.Now = e.store.Now
	e.store.Git.AllowLocal = e.cfg.AllowLocalRemotes
	e.store.Git.Private = []string{e.cfg.DataDir}
	if db.DialectOf(e.db) == db.Postgres {
		// Followers of a change's log wake on lines other replicas append.
		e.store.Logs = runs.NewPostgresLogNotifier(e.cfg.DatabaseURL, e.log)
	}
	// Template versions are resolved in the background, outside requests.
	resolver := &model.TemplateResolver{Store: e.store.Store}
	if err := resolver.Start(ctx); err != nil {
		return err
	}
	defer resolver.Stop()
	m := newMetrics(e)
	// Workers claim and run steps until the server stops; steps still
	// running then are stopped and recorded as errors.
	eng := &engine.Engine{Store: e.store, Log: e.log, Workers: e.cfg.Workers, WorkDir: filepath.Join(e.cfg.DataDir, "work"),
		Owner: engine.NewOwner(), Sandbox: openSandbox(e.cfg), Metrics: m}
	warnIsolation(eng.Sandbox, stdout, e.log)
	// The data dir's previous holder is gone (its lock was free): its steps
	// end now rather than when their leases lapse. Other replicas' steps
	// keep their leases.
	if prev := lock.Previous(); prev != "" {
		if n, err := e.store.EndStepsOf(ctx, prev); err != nil {
			return err
		} else if n > 0 {
			e.log.Warn("ended the steps the previous server on this data dir left running", "steps", n, "owner", prev)
		}
	}
	if err := lock.Record(eng.Owner); err != nil {
		return err
	}
	if err := eng.Start(ctx); err != nil {
		return err
	}
	defer eng.Stop()
	// Every replica runs the scheduler; the one holding its lease evaluates.
	if e.cfg.Scheduler {
		sched := &scheduler.Scheduler{Store: schedule.New(e.store, nil), Log: e.log, Owner: eng.Owner,
			RetentionSchedule: e.cfg.RetentionSchedule, Metrics: m, PrepareAhead: prepareAhead(e.cfg.SchedulePrepareAhead)}
		if err := sched.Start(ctx); err != nil {
			return fmt.Errorf("scheduler: %w", err)
		}
		defer sched.Stop()
	}
	allow, err := whmodel.ParseAllowList(e.cfg.WebhookAllowPrivate)
	if err != nil {
		return err
	}
	// Every replica may send webhooks: each delivery is claimed by one.
	if e.cfg.WebhookDelivery {
		hooks := &webhook.Service{Store: whmodel.New(e.store, allow), Log: e.log, Render: handler.EventDocument,
			Workers: e.cfg.WebhookWorkers}
		if db.DialectOf(e.db) == db.Postgres {
			hooks.ListenDSN = e.cfg.DatabaseURL
		}
		if err := hooks.Start(ctx); err != nil {
			return fmt.Errorf("webhook delivery: %w", err)
		}
		defer hooks.Stop()
	}
	token, err := bootstrapAdmin(ctx, e)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", e.cfg.Listen)
	if err != nil {
		return err
	}
	if len(e.cfg.CORSOrigins) > 0 {
		e.log.Info("CORS: scripts on these browser origins may call the API", "origins", strings.Join(e.cfg.CORSOrigins, ","))
	}
	stopping := make(chan struct{})
	api := &handler.API{Store: e.store, Log: e.log, Version: version, OpenAPI: steward.OpenAPI, Stopping: stopping,
		CORSOrigins: e.cfg.CORSOrigins, Metrics: m, WebhookAllow: allow}
	if rate, burst, _ := config.ParseRateLimit(e.cfg.RateLimit); rate > 0 {
		api.RateLimit = &handler.RateLimit{Rate: rate, Burst: burst}
	}
	srv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	srv.RegisterOnShutdown(func() { close(stopping) })

	addr := ln.Addr().String()
	fmt.Fprintf(stdout, "Steward %s listening on http://%s\n", version, addr)
	fmt.Fprintf(stdout, "database: %s\n", db.Describe(e.cfg.DatabaseURL))
	if token != "" {
		fmt.Fprintf(stdout, "admin API token (shown once, keep it safe): %s\n", token)
		fmt.Fprintf(stdout, "try: curl -H 'Authorization: Bearer %s' http://%s/api/projects\n", token, addr)
	}
	if ready != nil {
		ready <- addr
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	e.log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openSandbox isolates steps from everything this server keeps: the data
// dir (database, key, mirrors, work trees) and a SQLite file kept elsewhere.
func openSandbox(cfg *config.Config) *sandbox.Sandbox {
	hide := []string{cfg.DataDir}
	if path, ok := strings.CutPrefix(cfg.DatabaseURL, "sqlite://"); ok {
		hide = append(hide, filepath.Dir(path))
	}
	return sandbox.Open(sandbox.Config{Mode: sandbox.Mode(cfg.StepIsolation), User: cfg.StepUser, Hide: hide})
}

// warnIsolation says loudly, on stdout beside the URL and in the log, when
// steps are not isolated or cannot run at all.
func warnIsolation(s *sandbox.Sandbox, stdout io.Writer, log *slog.Logger) {
	switch {
	case s.Unavailable() != nil:
		fmt.Fprintf(stdout, "WARNING: steps will not run: step isolation is unavailable: %v\n"+
			"         (run as root, or allow user namespaces; or set STEWARD_STEP_ISOLATION=none to run steps with this server's access)\n", s.Unavailable())
		log.Error("step isolation is unavailable: every step will fail until it is fixed", "reason", s.Unavailable())
	case s.Mode() == sandbox.None:
		fmt.Fprintln(stdout, "WARNING: STEWARD_STEP_ISOLATION=none: steps run with this server's access and can read its data dir, environment and secrets")
		log.Warn("steps are not isolated (STEWARD_STEP_ISOLATION=none)")
	}
}

// bootstrapAdmin makes sure user admin exists and can log in. With
// STEWARD_ADMIN_TOKEN that token is registered (once); otherwise, when no token
// exists at all, one is generated and returned to be printed once.
func bootstrapAdmin(ctx context.Context, e *env) (string, error) {
	if err := e.store.EnsureAdmin(ctx); err != nil {
		return "", err
	}
	if e.cfg.AdminToken != "" {
		if _, err := e.store.Authenticate(ctx, e.cfg.AdminToken); err == nil {
			return "", nil
		}
		_, _, err := e.store.CreateToken(ctx, model.SystemActor, "admin", "bootstrap (STEWARD_ADMIN_TOKEN)", 0, e.cfg.AdminToken)
		return "", err
	}
	has, err := e.store.HasTokens(ctx)
	if err != nil || has {
		return "", err
	}
	_, secret, err := e.store.CreateToken(ctx, model.SystemActor, "admin", "bootstrap", 0, "")
	return secret, err
}

// newMetrics builds the metrics this server exports: its own counters, the
// database pool, and the queue as the database reports it at each scrape.
func newMetrics(e *env) *metrics.Metrics {
	m := metrics.New()
	if sqlDB, err := e.db.DB(); err == nil {
		m.WatchDatabase(sqlDB)
	}
	if err := m.CountStatements(e.db); err != nil {
		e.log.Warn("statements will not be counted", "err", err)
	}
	m.WatchQueue(engine.QueueMetrics(e.store))
	return m
}

// prepareAhead is the scheduler's PrepareAhead for the configured lead,
// where 0 means off (the scheduler's 0 is its default).
func prepareAhead(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
