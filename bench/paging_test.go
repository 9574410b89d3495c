package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stewardhq/steward/model/run"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/jsonapi"
)

const pagingRows = 100_000

// BenchmarkEnvironmentPages compares the first page of a 100,000-environment
// project with a page 99,900 rows deep; keyset paging makes them cost the same.
// The dialect follows the test run (PostgreSQL when STEWARD_TEST_POSTGRES_URL is set).
func BenchmarkEnvironmentPages(b *testing.B) {
	s := testutil.NewServer(b)
	ctx := context.Background()
	project, err := s.Store.CreateNode(ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "big", Name: "Big"})
	if err != nil {
		b.Fatal(err)
	}
	ids := seedEnvironments(b, s.Store, project)
	deep := ids[pagingRows-100-1]
	pages := []struct{ name, query string }{
		{"first_page", "page[size]=100"},
		{"page_999", "page[size]=100&page[after]=" + jsonapi.EncodeCursor(deep)},
	}
	handler := s.API.Handler()
	for _, p := range pages {
		b.Run(string(testutil.Dialect())+"/"+p.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				req := httptest.NewRequest(http.MethodGet, "/api/projects/big/environments?"+p.query, nil)
				req.Header.Set("Authorization", "Bearer "+testutil.AdminToken)
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
				}
			}
		})
	}
}

// seedEnvironments inserts pagingRows environments directly (the API would
// take minutes) and returns their ids in creation order.
func seedEnvironments(b *testing.B, store *run.Store, project *model.Node) []string {
	return seedEnvironmentsN(b, store, project, pagingRows)
}

func seedEnvironmentsN(b *testing.B, store *run.Store, project *model.Node, n int) []string {
	b.Helper()
	start := time.Now()
	rows := make([]model.Node, 0, n)
	ids := make([]string, 0, n)
	now := store.Now()
	for i := 0; i < n; i++ {
		id := model.NewID()
		code := fmt.Sprintf("env%06d", i)
		rows = append(rows, model.Node{ID: id, Kind: model.KindEnvironment, Code: code, Name: code,
			ParentID: &project.ID, ProjectID: &project.ID, Path: project.Path + "/environments/" + code,
			PropertiesID: model.NewID(), SettingsID: model.NewID(), CreatedAt: now, UpdatedAt: now})
		ids = append(ids, id)
	}
	if err := store.DB.CreateInBatches(rows, 1000).Error; err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d environments in %v", n, time.Since(start))
	return ids
}
