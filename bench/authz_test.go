package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
	"github.com/stewardhq/steward/pkg/authz"
)

// BenchmarkAuthorisedList is issue 11's figure: a page of 100 of a project's
// 10,000 environments read by a user whose 50 rules filter the list in SQL
// (a grant on the project, 49 denials on environments), against the admin
// reading the same page: the ratio of the two ns/op is the figure (target
// under 1.5).
func BenchmarkAuthorisedList(b *testing.B) {
	s := testutil.NewServer(b)
	ctx := context.Background()
	project, err := s.Store.CreateNode(ctx, model.SystemActor, nil, model.KindProject, model.NodeInput{Code: "big", Name: "Big"})
	if err != nil {
		b.Fatal(err)
	}
	seedEnvironmentsN(b, s.Store, project, 10_000)
	if _, err := s.Store.CreateUser(ctx, model.SystemActor, "reader", nil); err != nil {
		b.Fatal(err)
	}
	const readerToken = "stw_bench-reader-token-0123456789"
	if _, _, err := s.Store.CreateToken(ctx, model.SystemActor, "reader", "bench", 0, readerToken); err != nil {
		b.Fatal(err)
	}
	rules := []model.RuleAttributes{{Path: "/projects/big", Readable: true}}
	for i := 0; i < 49; i++ {
		rules = append(rules, model.RuleAttributes{Path: fmt.Sprintf("/projects/big/environments/env%06d", i*200)})
	}
	testutil.Grant(b, s.Store.Store, "reader", rules...)
	h := s.API.Handler()
	get := func(b *testing.B, token string) {
		for i := 0; i < b.N; i++ {
			req := httptest.NewRequest(http.MethodGet, "/api/projects/big/environments?limit=100", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
		}
	}
	b.Run(string(testutil.Dialect())+"/admin", func(b *testing.B) { get(b, testutil.AdminToken) })
	b.Run(string(testutil.Dialect())+"/user_50_rules", func(b *testing.B) { get(b, readerToken) })
}

// BenchmarkDecide is the decision's own cost per request: 50 rules, a path
// four segments deep.
func BenchmarkDecide(b *testing.B) {
	rules := []authz.Rule{{Path: "/projects/big", Readable: true}}
	for i := 0; i < 49; i++ {
		rules = append(rules, authz.Rule{Path: fmt.Sprintf("/projects/big/environments/env%06d", i)})
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !authz.Decide(rules, authz.Read, "/projects/big/environments/env999999/assets/db").Allowed {
			b.Fatal("denied")
		}
	}
}
