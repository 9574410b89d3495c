package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stewardhq/steward/model/run"
	"github.com/stewardhq/steward/pkg/metrics"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/handler"
	"github.com/stewardhq/steward/model"
)

// AdminToken is the bearer token of user admin on every test server.
const AdminToken = "stw_test-admin-token-0123456789"

// Server is a running Steward API over a fresh database.
type Server struct {
	*httptest.Server
	Store *run.Store
	API   *handler.API
	t     testing.TB
}

// NewServer starts an API server with user admin (group admin) holding AdminToken.
func NewServer(t testing.TB) *Server {
	t.Helper()
	return NewServerWith(t, nil)
}

// NewServerWith is NewServer with configure applied to the API before its
// handler is built (for settings such as CORSOrigins); configure may be nil.
func NewServerWith(t testing.TB, configure func(*handler.API)) *Server {
	t.Helper()
	store := NewStore(t)
	log := store.Log
	ctx := context.Background()
	if err := store.EnsureAdmin(ctx); err != nil {
		t.Fatalf("create admin: %v", err)
	}
	if _, _, err := store.CreateToken(ctx, model.SystemActor, "admin", "test", 0, AdminToken); err != nil {
		t.Fatalf("create admin token: %v", err)
	}
	api := &handler.API{Store: store, Log: log, Version: "test", OpenAPI: steward.OpenAPI, Metrics: metrics.New()}
	if configure != nil {
		configure(api)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return &Server{Server: srv, Store: store, API: api, t: t}
}

// Logger sends slog output to t.Log so it shows only for failing tests.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Response is a finished request with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic document.
func (r *Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("response is not JSON (%d): %v\n%s", r.Status, err, r.Body)
	}
	return doc
}

// Request describes one call; zero values mean: admin token, JSON:API content type.
type Request struct {
	Method       string
	Path         string
	Body         any // string, []byte or a value marshalled as JSON
	Token        string
	NoAuth       bool
	Header       map[string]string
	SkipContract bool // for deliberately malformed requests the contract cannot describe
}

// Do sends req, validates the response against openapi.yaml (unless
// SkipContract) and checks the JSON:API rules no schema expresses (always).
func (s *Server) Do(t testing.TB, req Request) *Response {
	t.Helper()
	var body io.Reader
	var raw []byte
	switch b := req.Body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatalf("marshal request body: %v", err)
		}
	}
	if raw != nil {
		body = bytes.NewReader(raw)
	}
	hr, err := http.NewRequest(req.Method, s.URL+req.Path, body)
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	if raw != nil {
		hr.Header.Set("Content-Type", "application/vnd.api+json")
	}
	hr.Header.Set("Accept", "application/vnd.api+json")
	if !req.NoAuth {
		tok := req.Token
		if tok == "" {
			tok = AdminToken
		}
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range req.Header {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.Path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: out}
	if !req.SkipContract {
		CheckContract(t, hr, raw, r)
	}
	CheckDocument(t, hr, r)
	return r
}

// Get is Do for a GET with the admin token.
func (s *Server) Get(t testing.TB, path string) *Response {
	t.Helper()
	return s.Do(t, Request{Method: http.MethodGet, Path: path})
}

// Post is Do for a POST of body with the admin token.
func (s *Server) Post(t testing.TB, path string, body any) *Response {
	t.Helper()
	return s.Do(t, Request{Method: http.MethodPost, Path: path, Body: body})
}

// Patch is Do for a PATCH of body with the admin token.
func (s *Server) Patch(t testing.TB, path string, body any) *Response {
	t.Helper()
	return s.Do(t, Request{Method: http.MethodPatch, Path: path, Body: body})
}

// Delete is Do for a DELETE with the admin token.
func (s *Server) Delete(t testing.TB, path string) *Response {
	t.Helper()
	return s.Do(t, Request{Method: http.MethodDelete, Path: path})
}

// Attrs builds a request document {"data":{"type":typ,"attributes":attrs}}.
func Attrs(typ string, attrs map[string]any) map[string]any {
	data := map[string]any{"attributes": attrs}
	if typ != "" {
		data["type"] = typ
	}
	return map[string]any{"data": data}
}

// Expect fails the test unless r has the wanted status.
func (r *Response) Expect(t testing.TB, status int) *Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body: %s", r.Status, status, r.Body)
	}
	return r
}

// Data returns the primary data object of a single-resource document.
func (r *Response) Data(t testing.TB) map[string]any {
	t.Helper()
	d, ok := r.JSON(t)["data"].(map[string]any)
	if !ok {
		t.Fatalf("no data object in %s", r.Body)
	}
	return d
}

// List returns the primary data array of a list document.
func (r *Response) List(t testing.TB) []any {
	t.Helper()
	d, ok := r.JSON(t)["data"].([]any)
	if !ok {
		t.Fatalf("no data array in %s", r.Body)
	}
	return d
}

// ErrorObject returns the first error object of an error document.
func (r *Response) ErrorObject(t testing.TB) map[string]any {
	t.Helper()
	errs, ok := r.JSON(t)["errors"].([]any)
	if !ok || len(errs) == 0 {
		t.Fatalf("no errors in %s", r.Body)
	}
	return errs[0].(map[string]any)
}
