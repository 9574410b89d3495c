package handler

import (
	"net/http"
	"strings"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

// plainPaths answers 404 for request paths that do not name one resource
// plainly: an encoded separator (%2F, %5C) inside a segment, or a "." or ".."
// segment, encoded or not. The router never cleans or redirects paths
// (SkipClean), so such a path could otherwise reach another resource than
// the one its segments spell: DELETE /api/projects/x%2F..%2Fvictim must not
// become a redirect to /api/projects/victim that a client follows.
func plainPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := strings.ToLower(r.URL.EscapedPath())
		odd := strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c")
		for _, seg := range strings.Split(r.URL.Path, "/") {
			if seg == "." || seg == ".." {
				odd = true
			}
		}
		if odd {
			jsonapi.RenderError(w, r, &steward.Error{Kind: steward.KindNotFound, Code: "route_not_found",
				Detail: "no endpoint at this path: a path segment holds an encoded separator or is a dot-segment"})
			return
		}
		next.ServeHTTP(w, r)
	})
}
