package handler

import "testing"

// RouteTemplates is every route as "METHOD shape" -> its path template, for
// the external tests that walk the router.
func RouteTemplates(t *testing.T) map[string]string { return muxRoutes(t) }
