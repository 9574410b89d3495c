package handler

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/model/schedule"
	whmodel "github.com/stewardhq/steward/model/webhook"

	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/jsonapi"
	"github.com/stewardhq/steward/pkg/metrics"
)

// DefaultBodyLimit caps request bodies (413 beyond it).
const DefaultBodyLimit = 1 << 20

// API holds what every handler needs.
type API struct {
	Store     *run.Store
	Log       *slog.Logger
	Version   string
	OpenAPI   []byte // the contract served at /api/openapi.yaml
	BodyLimit int64
	// Workflows prepares scheduled workflow runs; nil until workflows
	// exist, and then scheduled workflows are refused.
	Workflows schedule.WorkflowRuns
	// WebhookAllow lists the private addresses webhooks may reach
	// (STEWARD_WEBHOOK_ALLOW_PRIVATE); nil allows none.
	WebhookAllow *whmodel.AllowList
	// Metrics counts requests and serves /metrics (off when nil).
	Metrics *metrics.Metrics
	// RateLimit limits each token's (and each address's) requests; nil: none.
	RateLimit *RateLimit
	// CORSOrigins are the browser origins allowed to call the API (see cors).
	CORSOrigins []string
	// Stopping is closed when the server starts shutting down, so that
	// long-lived streams end instead of holding shutdown up.
	Stopping <-chan struct{}
	router   *mux.Router

	contractJSON *contractJSON // OpenAPI as JSON, converted on first use (shared by snapshot copies)
}

// Handler builds the router and wraps it, whole, in the middleware: so 404s,
// 405s and negotiation failures are JSON:API documents too. Routes declare
// GET; headAsGet answers HEAD wherever GET is answered.
func (a *API) Handler() http.Handler {
	if a.BodyLimit == 0 {
		a.BodyLimit = DefaultBodyLimit
	}
	if a.Log == nil {
		a.Log = slog.Default()
	}
	r := mux.NewRouter()
	r.StrictSlash(false)
	r.SkipClean(true) // API paths are never rewritten or redirected: see plainPaths
	a.router = r
	a.contractJSON = &contractJSON{}
	r.NotFoundHandler = http.HandlerFunc(notFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(a.methodNotAllowed)

	r.HandleFunc("/healthz", a.handle(a.healthz)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/readyz", a.handle(a.readyz)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/api/openapi.yaml", a.handle(a.openapi)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc(metricsPath, a.handle(a.metrics)).Methods(http.MethodGet, http.MethodHead)

	// Routes are registered with full paths on the root router: a mux
	// subrouter answers a method mismatch with 404 instead of 405.
	r.Use(noteRoute)
	r.Use(a.authenticate)
	r.Use(a.idempotent) // after authenticate: keys are scoped to the caller
	for _, register := range []func(*mux.Router){
		a.routeDocs,
		a.routeInfo,
		a.routeIdentity,
		a.routeAuthorisation,
		a.routeProjects,
		a.routeEnvironments,
		a.routeAssets,
		a.routeBookmarks,
		a.routePropertySets,
		a.routeEvents,
		a.routeGitRemotes,
		a.routeTemplates,
		a.routeWorkflows,
		a.routeConvergedProperties,
		a.routeMintModels,
		a.routeChanges,
		a.routeSteps,
		a.routeWorkflowRuns,
		a.routeWorkflowSteps,
		a.routeLogLines,
		a.routeScheduledActivities,
		a.routeLogStreamTickets,
		a.routeWebhooks,
		a.routeHooks,
	} {
		register(r)
	}
	// Outside in: CORS answers preflights before anything else looks at them;
	// HEAD runs as GET from there on; compress gzips what conditional (the
	// ETag and 304) lets out, so the tag is taken over the document's bytes.
	return a.recoverPanics(a.logRequests(a.cors(headAsGet(a.limitBody(plainPaths(a.negotiate(compress(conditional(r)))))))))
}

func notFound(w http.ResponseWriter, r *http.Request) {
	jsonapi.RenderError(w, r, &steward.Error{Kind: steward.KindNotFound, Code: "route_not_found",
		Detail: "no endpoint at " + steward.Echo(r.URL.Path)})
}

// methodNotAllowed answers 405 with the methods the path does accept (HEAD
// wherever GET is: see headAsGet), naming the method the client sent.
func (a *API) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		var match mux.RouteMatch
		if a.router.Match(probe, &match) && match.MatchErr == nil {
			allowed = append(allowed, m)
			if m == http.MethodGet {
				allowed = append(allowed, http.MethodHead)
			}
		}
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	jsonapi.RenderError(w, r, &steward.Error{Kind: jsonapi.KindMethod, Code: "method_not_allowed",
		Detail: requestMethod(r) + " is not allowed here; allowed: " + strings.Join(allowed, ", ")})
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}`))
	return nil
}

// readyz answers 503 with its own plain JSON (not a JSON:API error) when the
// database does not answer.
func (a *API) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2e9)
	defer cancel()
	err := a.Store.Ping(ctx)
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		a.Log.Warn("readiness check failed", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"database unreachable"}`))
		return nil
	}
	_, _ = w.Write([]byte(`{"status":"ok"}`))
	return nil
}

func (a *API) openapi(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(a.OpenAPI)
	return nil
}

// fail renders err; server-side failures are logged with the request id and
// shown to the client without internals. Route handlers return their errors
// to handle, which calls it; middleware calls it directly.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	if jsonapi.Status(err) >= 500 {
		a.Log.Error("request failed", "request_id", requestID(r.Context()), "method", r.Method, "path", r.URL.Path, "err", err)
	}
	jsonapi.RenderError(w, r, err)
}
