package handler_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/internal/testutil"
)

var (
	// Attributes through which a page loads something: scripts, styles, icons, images.
	loadAttr = regexp.MustCompile(`(?i)\b(?:src|href)\s*=\s*["']([^"']*)["']`)
	// What a stylesheet loads: url(...) (fonts, images) and @import.
	cssLoad = regexp.MustCompile(`(?i)(?:url\(\s*["']?([^"')\s]+)|@import\s+["']([^"']+))`)
)

func external(u string) bool {
	u = strings.ToLower(strings.TrimSpace(u))
	return strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "//")
}

// TestDocsPageIsSelfContained fetches the reference page without a token,
// then every file it loads and everything its stylesheets load: all of it
// must come from Steward, none from another host.
func TestDocsPageIsSelfContained(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	page := s.Do(t, testutil.Request{Method: http.MethodGet, Path: "/api/docs", NoAuth: true,
		Header: map[string]string{"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}}).Expect(t, http.StatusOK)
	if ct := page.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type %q, want text/html", ct)
	}
	if !strings.Contains(string(page.Body), `/api/openapi.json`) {
		t.Errorf("the page does not load /api/openapi.json:\n%s", page.Body)
	}
	var loads []string
	for _, m := range loadAttr.FindAllStringSubmatch(string(page.Body), -1) {
		loads = append(loads, m[1])
	}
	if len(loads) < 3 {
		t.Fatalf("the page loads %v; want at least Swagger UI's script, preset and stylesheet", loads)
	}
	scripts, styles := 0, 0
	for _, u := range loads {
		if external(u) {
			t.Errorf("the page loads %s from another host", u)
			continue
		}
		resp := s.Do(t, testutil.Request{Method: http.MethodGet, Path: u, NoAuth: true, Header: map[string]string{"Accept": "*/*"}}).Expect(t, http.StatusOK)
		switch ct := resp.Header.Get("Content-Type"); {
		case strings.Contains(ct, "javascript"):
			scripts++
		case strings.HasPrefix(ct, "text/css"):
			styles++
			for _, m := range cssLoad.FindAllStringSubmatch(string(resp.Body), -1) {
				if ref := m[1] + m[2]; external(ref) {
					t.Errorf("%s loads %s from another host", u, ref)
				}
			}
		}
	}
	if scripts < 2 || styles < 1 {
		t.Errorf("served %d scripts and %d stylesheets; want Swagger UI's 2 and 1", scripts, styles)
	}
}

func TestDocsUnknownFileIsJSONAPI404(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	resp := s.Do(t, testutil.Request{Method: http.MethodGet, Path: "/api/docs/nothing.js", NoAuth: true}).Expect(t, http.StatusNotFound)
	if code := resp.ErrorObject(t)["code"]; code != "route_not_found" {
		t.Errorf("code %v, want route_not_found", code)
	}
}

// TestContractJSONEqualsYAML: /api/openapi.json parses and says what
// openapi.yaml says, value for value.
func TestContractJSONEqualsYAML(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	resp := s.Do(t, testutil.Request{Method: http.MethodGet, Path: "/api/openapi.json", NoAuth: true}).Expect(t, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var served any
	if err := json.Unmarshal(resp.Body, &served); err != nil {
		t.Fatalf("/api/openapi.json is not JSON: %v", err)
	}
	var fromYAML any
	if err := yaml.Unmarshal(steward.OpenAPI, &fromYAML); err != nil {
		t.Fatal(err)
	}
	// Through JSON once, so both sides hold the same Go types (float64 numbers).
	raw, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(served, want) {
		t.Error("/api/openapi.json differs from openapi.yaml")
	}
	if !strings.HasPrefix(string(resp.Body), `{"openapi":`) {
		t.Errorf("keys are not in the YAML's order: %.40s", resp.Body)
	}
}

func TestRoot(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	tests := []struct {
		name, accept string
		browser      bool
	}{
		{"browser", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true},
		{"html only", "text/html", true},
		{"json:api client", "application/vnd.api+json", false},
		{"json client", "application/json", false},
		{"no accept", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := send(t, s, http.MethodGet, "/", map[string]string{"Accept": tc.accept})
			if tc.browser {
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/api/docs" {
					t.Fatalf("status %d, Location %q; want 303 to /api/docs", resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.api+json" {
				t.Errorf("Content-Type %q, want application/vnd.api+json", ct)
			}
			var doc struct {
				Links map[string]string `json:"links"`
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"self": "/", "info": "/api/info", "docs": "/api/docs",
				"contract": "/api/openapi.yaml", "contract_json": "/api/openapi.json"}
			if !reflect.DeepEqual(doc.Links, want) {
				t.Errorf("links %v, want %v", doc.Links, want)
			}
		})
	}
	// And through the contract check: the JSON answer matches openapi.yaml.
	s.Do(t, testutil.Request{Method: http.MethodGet, Path: "/", NoAuth: true}).Expect(t, http.StatusOK)
}
