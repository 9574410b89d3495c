package handler

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gorilla/mux"

	steward "github.com/stewardhq/steward"
)

// These tests live inside package handler because they walk the unexported
// router; internal/testutil imports handler, so they load the contract themselves.

func loadContract(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(steward.OpenAPI)
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// shape reduces a path template to its literal segments, so /a/{x}/b and
// /a/{id:[0-9]{1,3}}/b compare equal whatever the variables are called.
func shape(template string) string {
	var b strings.Builder
	depth := 0
	for _, c := range template {
		switch {
		case c == '{':
			if depth == 0 {
				b.WriteString("{}")
			}
			depth++
		case c == '}':
			depth--
		case depth == 0:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// muxRoutes lists "METHOD shape" for every route the server registers.
func muxRoutes(t *testing.T) map[string]string {
	t.Helper()
	a := &API{Log: slog.New(slog.DiscardHandler), OpenAPI: steward.OpenAPI}
	a.Handler()
	out := map[string]string{}
	err := a.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil // a subrouter or matcher without a path of its own
		}
		methods, err := route.GetMethods()
		if err != nil {
			t.Errorf("route %s accepts every method; register it with Methods(...)", tpl)
			return nil
		}
		for _, m := range methods {
			out[m+" "+shape(tpl)] = tpl
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk routes: %v", err)
	}
	return out
}

func contractOperations(doc *openapi3.T) map[string]string {
	out := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out[method+" "+shape(path)] = path
		}
	}
	return out
}

func TestContractIsValid(t *testing.T) {
	t.Parallel()
	doc := loadContract(t)
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi.yaml declares %s; the contract is OpenAPI 3.1", doc.OpenAPI)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s: needs an operationId and a summary", where)
			}
			// Public operations (the contract, its reference) answer without a
			// token and are not all JSON:API documents.
			if !strings.HasPrefix(path, "/api/") || (op.Security != nil && len(*op.Security) == 0) {
				continue
			}
			// Every failure is a JSON:API error document, so each operation
			// must say so for the statuses it does not list one by one.
			if op.Responses.Default() == nil {
				t.Errorf("%s: has no default (error) response", where)
			}
			if _, ok := op.Responses.Map()["401"]; !ok {
				t.Errorf("%s: does not document 401 for a missing token", where)
			}
			if method == http.MethodHead {
				continue
			}
			for status, resp := range op.Responses.Map() {
				if status == "204" || status == "304" || resp.Value == nil {
					continue
				}
				if mt := resp.Value.Content.Get("application/vnd.api+json"); mt == nil || mt.Schema == nil {
					t.Errorf("%s: response %s has no application/vnd.api+json schema", where, status)
				}
			}
		}
	}
}

// TestRouteCoverage keeps the contract and the router in step: every route
// the server answers is documented, and every documented operation exists.
func TestRouteCoverage(t *testing.T) {
	t.Parallel()
	doc := loadContract(t)
	routes := muxRoutes(t)
	documented := contractOperations(doc)

	var undocumented, phantom []string
	for key, tpl := range routes {
		if _, ok := documented[key]; !ok {
			method, _, _ := strings.Cut(key, " ")
			undocumented = append(undocumented, method+" "+tpl)
		}
	}
	for key, path := range documented {
		if _, ok := routes[key]; !ok {
			method, _, _ := strings.Cut(key, " ")
			phantom = append(phantom, method+" "+path)
		}
	}
	slices.Sort(undocumented)
	slices.Sort(phantom)
	if len(undocumented) > 0 {
		t.Errorf("routes missing from openapi.yaml:\n  %s", strings.Join(undocumented, "\n  "))
	}
	if len(phantom) > 0 {
		t.Errorf("openapi.yaml documents operations no route serves:\n  %s", strings.Join(phantom, "\n  "))
	}
	if len(routes) == 0 {
		t.Fatal("the router has no routes")
	}
}

// TestContractRoutesResolve checks that the validator's own router finds the
// documented operation for every registered route: otherwise the response
// checks in internal/testutil would silently skip it.
func TestContractRoutesResolve(t *testing.T) {
	t.Parallel()
	doc := loadContract(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("kin-openapi cannot route openapi.yaml: %v", err)
	}
	for key := range muxRoutes(t) {
		method, path, _ := strings.Cut(key, " ")
		concrete := strings.ReplaceAll(path, "{}", "0196a3c4-0000-7000-8000-000000000001")
		req := httptest.NewRequest(method, concrete, nil)
		route, _, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s %s: the contract validator finds no operation: %v", method, concrete, err)
			continue
		}
		if shape(route.Path) != path {
			t.Errorf("%s %s: the contract validator picks %s instead", method, concrete, route.Path)
		}
	}
}

func TestContractIsServed(t *testing.T) {
	t.Parallel()
	a := &API{Log: slog.New(slog.DiscardHandler), OpenAPI: steward.OpenAPI}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)

	tests := []struct {
		name, method, accept string
		wantBody             bool
	}{
		{"get without a token", http.MethodGet, "", true},
		{"get accepting yaml", http.MethodGet, "application/yaml", true},
		{"head", http.MethodHead, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+"/api/openapi.yaml", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200; body: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/yaml") {
				t.Errorf("Content-Type %q, want application/yaml", ct)
			}
			if tc.wantBody && string(body) != string(steward.OpenAPI) {
				t.Errorf("served %d bytes that differ from openapi.yaml (%d bytes)", len(body), len(steward.OpenAPI))
			}
			if !tc.wantBody && len(body) != 0 {
				t.Errorf("HEAD answered with a %d-byte body", len(body))
			}
		})
	}
}
