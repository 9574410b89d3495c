package handler

import (
	"net/http"
	"strings"
)

// CORS: browsers on the configured origins (STEWARD_CORS_ORIGINS) may call
// the API. With none configured, the default, no CORS header is ever sent and
// browsers keep every other origin out. Credentials are bearer tokens a
// script sets itself, never cookies, so Access-Control-Allow-Credentials is
// not needed and not sent.
var (
	corsAllowMethods = "GET, HEAD, POST, PUT, PATCH, DELETE"
	// What a browser client sends beyond the CORS-safelisted headers.
	corsAllowHeaders = "Authorization, Content-Type, Accept, Idempotency-Key, Last-Event-ID, If-None-Match, X-Request-Id"
	// Response headers a script may read beyond the safelisted ones.
	corsExposeHeaders = "ETag, Location, Allow, Content-Disposition, WWW-Authenticate, X-Request-Id, " + ReplayedHeader
)

// corsMaxAge lets a browser reuse a preflight answer for ten minutes.
const corsMaxAge = "600"

// cors answers preflights from allowed origins itself (204, before
// negotiation, routing and authentication: a preflight carries no token)
// and marks other responses to them readable. A preflight from any other
// origin goes on as a plain OPTIONS request and gets no CORS header.
func (a *API) cors(next http.Handler) http.Handler {
	if len(a.CORSOrigins) == 0 {
		return next
	}
	anyOrigin := false
	allowed := make(map[string]bool, len(a.CORSOrigins))
	for _, o := range a.CORSOrigins {
		anyOrigin = anyOrigin || o == "*"
		allowed[strings.ToLower(o)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// The answer depends on Origin whenever CORS is on: caches must know.
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin == "" || !(anyOrigin || allowed[strings.ToLower(origin)]) {
			next.ServeHTTP(w, r)
			return
		}
		if anyOrigin {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		next.ServeHTTP(w, r)
	})
}
