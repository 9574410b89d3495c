package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

// BenchmarkReads is the in-process side of bench/blackbox's read figures:
// the handler's cost for one node and for a page of 100 with include, without
// the network. Profile it with -cpuprofile to see where a GET goes.
func BenchmarkReads(b *testing.B) {
	s := testutil.NewServer(b)
	ctx := context.Background()
	project, err := s.Store.CreateNode(ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "p", Name: "P"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Store.CreateNode(ctx, model.SystemActor, project, model.KindEnvironment, model.NodeInput{Code: "e", Name: "E"}); err != nil {
		b.Fatal(err)
	}
	handler := s.API.Handler()
	get := func(b *testing.B, path string) {
		// CPU per request, beside ns/op: on a shared machine wall time
		// measures the neighbours too.
		before := cpuTime()
		defer func() { b.ReportMetric(float64((cpuTime()-before).Microseconds())/float64(b.N), "cpu-µs/op") }()
		for i := 0; i < b.N; i++ {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("Authorization", "Bearer "+testutil.AdminToken)
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
		}
	}
	b.Run("project", func(b *testing.B) { get(b, "/api/projects/p") })
	b.Run("environment", func(b *testing.B) { get(b, "/api/projects/p/environments/e") })
	seedEnvironmentsN(b, s.Store, project, 99)
	b.Run("list_100_include", func(b *testing.B) { get(b, "/api/projects/p/environments?include=project&limit=100") })
}
