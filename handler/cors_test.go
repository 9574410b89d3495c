package handler_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stewardhq/steward/handler"
	"github.com/stewardhq/steward/internal/testutil"
)

const allowedOrigin = "https://ops.example.com"

func corsServer(t *testing.T, origins ...string) *testutil.Server {
	return testutil.NewServerWith(t, func(a *handler.API) { a.CORSOrigins = origins })
}

func preflight(origin string) testutil.Request {
	return testutil.Request{Method: http.MethodOptions, Path: "/api/projects", NoAuth: true, SkipContract: true,
		Header: map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "authorization, content-type, idempotency-key"}}
}

// headerList splits a comma-separated header into lower-case names.
func headerList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		out = append(out, strings.ToLower(strings.TrimSpace(p)))
	}
	return out
}

func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	s := corsServer(t, allowedOrigin, "http://localhost:5173")
	tests := []struct {
		name, origin string
		allowed      bool
	}{
		{"allowed origin", allowedOrigin, true},
		{"allowed origin, other case", "https://OPS.example.com", true},
		{"second allowed origin", "http://localhost:5173", true},
		{"other origin", "https://evil.example.net", false},
		{"allowed host, other scheme", "http://ops.example.com", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.Do(t, preflight(tc.origin))
			h := resp.Header
			if !slices.Contains(h.Values("Vary"), "Origin") {
				t.Errorf("Vary %v lacks Origin", h.Values("Vary"))
			}
			if !tc.allowed {
				for k := range h {
					if strings.HasPrefix(k, "Access-Control-") {
						t.Errorf("refused origin got %s: %s", k, h.Get(k))
					}
				}
				if resp.Status == http.StatusNoContent {
					t.Errorf("refused origin's preflight answered 204")
				}
				return
			}
			resp.Expect(t, http.StatusNoContent)
			if got := h.Get("Access-Control-Allow-Origin"); got != tc.origin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.origin)
			}
			methods := headerList(h.Get("Access-Control-Allow-Methods"))
			for _, m := range []string{"get", "post", "patch", "put", "delete", "head"} {
				if !slices.Contains(methods, m) {
					t.Errorf("Access-Control-Allow-Methods %v lacks %s", methods, m)
				}
			}
			headers := headerList(h.Get("Access-Control-Allow-Headers"))
			for _, k := range []string{"authorization", "content-type", "idempotency-key", "last-event-id"} {
				if !slices.Contains(headers, k) {
					t.Errorf("Access-Control-Allow-Headers %v lacks %s", headers, k)
				}
			}
		})
	}
}

// TestCORSActualRequest: the response to an allowed origin's request is
// readable by its script (and its headers exposed); another origin's is not.
func TestCORSActualRequest(t *testing.T) {
	t.Parallel()
	s := corsServer(t, allowedOrigin)
	resp := s.Do(t, testutil.Request{Method: http.MethodGet, Path: "/api/projects", Header: map[string]string{"Origin": allowedOrigin}}).Expect(t, http.StatusOK)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != allowedOrigin {
		t.Errorf("Access-Control-Allow-Origin %q, want %q", got, allowedOrigin)
	}
	if exposed := headerList(resp.Header.Get("Access-Control-Expose-Headers")); !slices.Contains(exposed, "etag") || !slices.Contains(exposed, "location") {
		t.Errorf("Access-Control-Expose-Headers %v, want ETag and Location among them", exposed)
	}
	other := s.Do(t, testutil.Request{Method: http.MethodGet, Path: "/api/projects", Header: map[string]string{"Origin": "https://evil.example.net"}}).Expect(t, http.StatusOK)
	if got := other.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("another origin got Access-Control-Allow-Origin %q", got)
	}
}

// TestCORSOffByDefault: with no origins configured, nothing says CORS.
func TestCORSOffByDefault(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	resp := s.Do(t, preflight(allowedOrigin)).Expect(t, http.StatusMethodNotAllowed)
	for k := range resp.Header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("CORS header %s sent with no origin configured", k)
		}
	}
	if slices.Contains(resp.Header.Values("Vary"), "Origin") {
		t.Error("Vary: Origin sent with no origin configured")
	}
}

func TestCORSAnyOrigin(t *testing.T) {
	t.Parallel()
	s := corsServer(t, "*")
	resp := s.Do(t, preflight("https://anywhere.example.org")).Expect(t, http.StatusNoContent)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin %q, want *", got)
	}
}
