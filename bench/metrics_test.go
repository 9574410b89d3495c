package bench

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/metrics"
)

// BenchmarkObservabilityCost times GET of one project through the handler
// with metrics and the per-request info log line (as serve runs it, logging
// to a discarded JSON handler) and without either, alternating the two, and
// prints the ratio. Target: under 1.05.
func BenchmarkObservabilityCost(b *testing.B) {
	s := testutil.NewServer(b)
	if _, err := s.Store.CreateNode(context.Background(), model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "opc", Name: "OpsChain"}); err != nil {
		b.Fatal(err)
	}
	on := *s.API
	on.Metrics, on.Log = metrics.New(), slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	off := *s.API
	off.Metrics, off.Log = nil, slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	handlers := []http.Handler{on.Handler(), off.Handler()}
	var took [2]time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, h := range handlers {
			req := httptest.NewRequest(http.MethodGet, "/api/projects/opc", nil)
			req.Header.Set("Authorization", "Bearer "+testutil.AdminToken)
			rec := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(rec, req)
			took[j] += time.Since(start)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	}
	b.ReportMetric(float64(took[0].Microseconds())/float64(b.N), "µs/get-observed")
	b.ReportMetric(float64(took[1].Microseconds())/float64(b.N), "µs/get-bare")
	b.ReportMetric(float64(took[0])/float64(took[1]), "x-bare")
}
