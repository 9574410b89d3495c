package handler_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testutil"
	"github.com/stewardhq/steward/model"
)

const coreSQL = "'; DROP TABLE nodes; --"

// coreListTree creates five projects whose attributes exercise every predicate.
func coreListTree(t *testing.T) (*testutil.Server, map[string]*model.Node) {
	t.Helper()
	s := testutil.NewServer(t)
	projects := []map[string]any{
		{"code": "alpha", "name": "Alpha", "description": "first", "project_type": "Enterprise"},
		{"code": "beta", "name": "100% done"},
		{"code": "gamma", "name": "under_score", "description": "x"},
		{"code": "delta", "name": "underXscore", "description": "y"},
		{"code": "eps", "name": `Quote's "name"`, "description": coreSQL},
	}
	nodes := map[string]*model.Node{}
	for _, p := range projects {
		s.Post(t, "/api/projects", testutil.Attrs("project", p)).Expect(t, http.StatusCreated)
	}
	s.Delete(t, "/api/projects/delta").Expect(t, http.StatusNoContent)
	for _, p := range projects {
		code := p["code"].(string)
		n, err := s.Store.NodeByPath(context.Background(), "/projects/"+code)
		if err != nil {
			t.Fatal(err)
		}
		nodes[code] = n
	}
	return s, nodes
}

// coreCodes lists the codes of a list response, in order.
func coreCodes(t *testing.T, resp *testutil.Response) []string {
	t.Helper()
	out := []string{}
	for _, n := range testutil.ManyNodes(t, resp) {
		out = append(out, n.Code)
	}
	return out
}

func coreTimeParam(t time.Time) string { return url.QueryEscape(t.UTC().Format(time.RFC3339Nano)) }

func TestListPredicates(t *testing.T) {
	t.Parallel()
	s, n := coreListTree(t)
	all := []string{"alpha", "beta", "gamma", "delta", "eps"}
	// Expected sets for time and id predicates come from the stored values.
	where := func(pred func(*model.Node) bool) []string {
		out := []string{}
		for _, c := range all {
			if pred(n[c]) {
				out = append(out, c)
			}
		}
		return out
	}
	gammaAt := n["gamma"].CreatedAt
	gammaPrefix := n["gamma"].ID[:13]
	cases := []struct {
		query string
		want  []string
	}{
		{"filter[code_eq]=alpha", []string{"alpha"}},
		{"filter[code_not_eq]=alpha", []string{"beta", "gamma", "delta", "eps"}},
		{"filter[code_lt]=c", []string{"alpha", "beta"}},
		{"filter[code_lteq]=beta", []string{"alpha", "beta"}},
		{"filter[code_gt]=delta", []string{"gamma", "eps"}},
		{"filter[code_gteq]=delta", []string{"gamma", "delta", "eps"}},
		{"filter[code_in][]=alpha&filter[code_in][]=gamma", []string{"alpha", "gamma"}},
		{"filter[code_in]=alpha,gamma", []string{"alpha", "gamma"}},
		{"filter[code_not_in][]=alpha&filter[code_not_in][]=eps", []string{"beta", "gamma", "delta"}},
		{"filter[code_start]=ga", []string{"gamma"}},
		{"filter[code_end]=ta", []string{"beta", "delta"}},
		{"filter[code_cont]=lt", []string{"delta"}},
		{"filter[code_not_cont]=a", []string{"eps"}},
		{"filter[name_cont]=ALPHA", []string{"alpha"}},
		{"filter[description_null]=true", []string{"beta"}},
		{"filter[description_null]=false", []string{"alpha", "gamma", "delta", "eps"}},
		{"filter[description_not_null]=true", []string{"alpha", "gamma", "delta", "eps"}},
		{"filter[description_not_eq]=x", []string{"alpha", "beta", "delta", "eps"}},
		{"filter[description_not_cont]=first", []string{"beta", "gamma", "delta", "eps"}},
		{"filter[archived_true]=true", []string{"delta"}},
		{"filter[archived_false]=true", []string{"alpha", "beta", "gamma", "eps"}},
		{"filter[archived_eq]=true", []string{"delta"}},
		{"filter[archived_not_eq]=true", []string{"alpha", "beta", "gamma", "eps"}},
		{"filter[project_type_eq]=Enterprise", []string{"alpha"}},
		{"filter[project_type_eq]=Standard", []string{"beta", "gamma", "delta", "eps"}},
		{"filter[m]=or&filter[code_eq]=alpha&filter[name_eq]=under_score", []string{"alpha", "gamma"}},
		{"filter[m]=and&filter[code_eq]=alpha&filter[name_eq]=under_score", []string{}},
		{"filter[code_start]=a&filter[archived_false]=1", []string{"alpha"}},
		// LIKE wildcards and SQL in values are data.
		{"filter[name_cont]=%25", []string{"beta"}},
		{"filter[name_cont]=_", []string{"gamma"}},
		{"filter[name_start]=under_", []string{"gamma"}},
		{"filter[name_end]=%25+done", []string{"beta"}},
		{"filter[name_cont]=%27", []string{"eps"}},
		{"filter[name_cont]=%22name%22", []string{"eps"}},
		{"filter[name_eq]=" + url.QueryEscape(coreSQL), []string{}},
		{"filter[description_eq]=" + url.QueryEscape(coreSQL), []string{"eps"}},
		{"filter[code_in][]=" + url.QueryEscape(coreSQL) + "&filter[code_in][]=beta", []string{"beta"}},
		{"filter[code_eq]=" + url.QueryEscape("alpha' OR '1'='1"), []string{}},
		{"filter[description_cont]=" + url.QueryEscape(`\`), []string{}},
		// Times and ids compare as times and ids on both databases.
		{"filter[created_at_lt]=" + coreTimeParam(gammaAt), where(func(x *model.Node) bool { return x.CreatedAt.Before(gammaAt) })},
		{"filter[created_at_lteq]=" + coreTimeParam(gammaAt), where(func(x *model.Node) bool { return !x.CreatedAt.After(gammaAt) })},
		{"filter[created_at_gt]=" + coreTimeParam(gammaAt), where(func(x *model.Node) bool { return x.CreatedAt.After(gammaAt) })},
		{"filter[created_at_gteq]=" + coreTimeParam(gammaAt), where(func(x *model.Node) bool { return !x.CreatedAt.Before(gammaAt) })},
		{"filter[created_at_eq]=" + coreTimeParam(gammaAt), where(func(x *model.Node) bool { return x.CreatedAt.Equal(gammaAt) })},
		{"filter[created_at_gt]=" + coreTimeParam(gammaAt.In(time.FixedZone("X", -5*3600))), where(func(x *model.Node) bool { return x.CreatedAt.After(gammaAt) })},
		{"filter[updated_at_gt]=" + coreTimeParam(n["eps"].UpdatedAt), []string{"delta"}},
		{"filter[created_at_gt]=2000-01-01", all},
		{"filter[id_eq]=" + n["beta"].ID, []string{"beta"}},
		{"filter[id_in][]=" + n["beta"].ID + "&filter[id_in][]=" + n["eps"].ID, []string{"beta", "eps"}},
		{"filter[id_not_in][]=" + n["beta"].ID, []string{"alpha", "gamma", "delta", "eps"}},
		{"filter[id_gt]=" + n["gamma"].ID, where(func(x *model.Node) bool { return x.ID > n["gamma"].ID })},
		{"filter[id_start]=" + gammaPrefix, where(func(x *model.Node) bool { return strings.HasPrefix(x.ID, gammaPrefix) })},
		{"filter[id_cont]=" + n["alpha"].ID[24:], []string{"alpha"}},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			before := coreCount(t, s)
			got := coreCodes(t, s.Get(t, "/api/projects?"+c.query).Expect(t, http.StatusOK))
			sort.Strings(got)
			want := append([]string{}, c.want...)
			sort.Strings(want)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("got %v, want %v", got, want)
			}
			before.unchanged(t, s, "a list")
		})
	}
	if !s.Store.DB.Migrator().HasTable("nodes") {
		t.Fatalf("the nodes table is gone")
	}
}

func TestListSortAndLimit(t *testing.T) {
	t.Parallel()
	s, _ := coreListTree(t)
	cases := []struct {
		query   string
		want    string
		partial any // meta.partial_response, nil when meta is absent
	}{
		{"", "alpha,beta,gamma,delta,eps", nil},
		{"sort=-created_at", "eps,delta,gamma,beta,alpha", nil},
		{"filter[sorts]=created_at+desc", "eps,delta,gamma,beta,alpha", nil},
		{"filter[sorts]=created_at+asc", "alpha,beta,gamma,delta,eps", nil},
		{"sort=-code", "gamma,eps,delta,beta,alpha", nil},
		{"filter[s]=code", "alpha,beta,delta,eps,gamma", nil},
		{"sort=archived,code", "alpha,beta,eps,gamma,delta", nil},
		{"sort=description", "beta,eps,alpha,gamma,delta", nil},
		{"sort=-description", "delta,gamma,alpha,eps,beta", nil},
		{"limit=2", "alpha,beta", true},
		{"limit=2&sort=-created_at", "eps,delta", true},
		{"limit=4", "alpha,beta,gamma,delta", true},
		{"limit=5", "alpha,beta,gamma,delta,eps", nil},
		{"limit=1000", "alpha,beta,gamma,delta,eps", nil},
		{"limit=1&filter[archived_true]=1", "delta", nil},
	}
	for _, c := range cases {
		doc := s.Get(t, "/api/projects?"+c.query).Expect(t, http.StatusOK)
		if got := strings.Join(coreCodes(t, doc), ","); got != c.want {
			t.Errorf("%s: got %s, want %s", c.query, got, c.want)
		}
		meta, _ := doc.JSON(t)["meta"].(map[string]any)
		if meta["partial_response"] != c.partial && !(c.partial == nil && meta["partial_response"] == false) {
			t.Errorf("%s: meta %v, want partial_response %v", c.query, meta, c.partial)
		}
	}
}

// coreInsertProjects writes n projects straight to the database (the HTTP
// path is proven elsewhere); ids and times rise with i.
func coreInsertProjects(t *testing.T, s *testutil.Server, parent *model.Node, kind string, n int) []string {
	t.Helper()
	base := time.Now().UTC().Truncate(time.Microsecond)
	rows := make([]model.Node, n)
	ids := make([]string, n)
	for i := range rows {
		code := fmt.Sprintf("n%04d", i)
		rows[i] = model.Node{ID: model.NewID(), Kind: kind, Code: code, Name: "Node " + code,
			PropertiesID: model.NewID(), SettingsID: model.NewID(), CreatedAt: base.Add(time.Duration(i) * time.Microsecond)}
		rows[i].UpdatedAt = rows[i].CreatedAt
		if parent == nil {
			rows[i].Path = model.NodePath(code, "", "")
		} else {
			rows[i].ParentID, rows[i].ProjectID = &parent.ID, &parent.ID
			rows[i].Path = parent.Path + "/" + model.Segment(kind) + "/" + code
		}
		ids[i] = rows[i].ID
	}
	if err := s.Store.DB.CreateInBatches(rows, 200).Error; err != nil {
		t.Fatalf("insert: %v", err)
	}
	return ids
}

// coreWalk follows links.next from first and returns every id in order.
func coreWalk(t *testing.T, s *testutil.Server, first string, size int) []string {
	t.Helper()
	var ids []string
	next := first
	for pages := 0; next != ""; pages++ {
		if pages > 1000 {
			t.Fatalf("links.next never ends")
		}
		resp := s.Get(t, next).Expect(t, http.StatusOK)
		doc := resp.JSON(t)
		data := doc["data"].([]any)
		links, _ := doc["links"].(map[string]any)
		next, _ = links["next"].(string)
		if len(data) > size || (next != "" && len(data) != size) {
			t.Fatalf("%s: %d rows on a page of %d (next %q)", first, len(data), size, next)
		}
		meta, _ := doc["meta"].(map[string]any)
		if (next != "") != (meta["partial_response"] == true) {
			t.Fatalf("page %d: links.next %q but meta %v", pages, next, meta)
		}
		ids = append(ids, testutil.IDs(testutil.ManyNodes(t, resp))...)
	}
	return ids
}

func TestListKeysetPagingAndDownload(t *testing.T) {
	t.Parallel()
	s := testutil.NewServer(t)
	ids := coreInsertProjects(t, s, nil, model.KindProject, 1000)
	other := coreCreate(t, s, "/api/projects", "project", "zz")
	all := append(append([]string{}, ids...), other.ID)
	reversed := make([]string, len(all))
	for i, id := range all {
		reversed[len(all)-1-i] = id
	}
	n0 := make([]string, 0)
	for i, id := range ids {
		if i >= 100 && i < 200 { // codes n0100..n0199
			n0 = append(n0, id)
		}
	}
	cases := []struct {
		first string
		size  int
		want  []string
	}{
		{"/api/projects?page[size]=150", 150, all},
		{"/api/projects?page[size]=1000", 1000, all},
		{"/api/projects?page[size]=300&sort=-created_at", 300, reversed},
		{"/api/projects?page[size]=250&filter[sorts]=created_at+desc", 250, reversed},
		{"/api/projects?page[size]=7&filter[code_start]=n01", 7, n0},
		{"/api/projects?page[size]=1000&include=children", 1000, all},
	}
	for _, c := range cases {
		got := coreWalk(t, s, c.first, c.size)
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: walked %d ids, want %d (first difference at %d)", c.first, len(got), len(c.want), coreFirstDiff(got, c.want))
		}
	}

	before := coreCount(t, s)
	downloads := []struct {
		query string
		want  []string
	}{
		{"download=projects.csv&limit=2", all},
		{"download=projects.csv&sort=-created_at", all},
		{"download=projects.csv&filter[code_start]=n01&limit=1", n0},
		{"download=none.csv&filter[code_eq]=nope", []string{}},
	}
	for _, d := range downloads {
		resp := s.Get(t, "/api/projects?"+d.query).Expect(t, http.StatusOK)
		name := strings.SplitN(strings.SplitN(d.query, "&", 2)[0], "=", 2)[1]
		if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, name) {
			t.Errorf("%s: Content-Disposition %q", d.query, cd)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Errorf("%s: Content-Type %q", d.query, ct)
		}
		records, err := csv.NewReader(strings.NewReader(string(resp.Body))).ReadAll()
		if err != nil || len(records) == 0 {
			t.Fatalf("%s: not CSV (%v): %.200s", d.query, err, resp.Body)
		}
		if strings.Join(records[0], ",") != "id,code,name,description,archived,project_type" {
			t.Errorf("%s: header %v", d.query, records[0])
		}
		got := []string{}
		for _, r := range records[1:] {
			got = append(got, r[0])
		}
		if strings.Join(got, ",") != strings.Join(d.want, ",") {
			t.Errorf("%s: %d rows, want %d oldest first (first difference at %d)", d.query, len(got), len(d.want), coreFirstDiff(got, d.want))
		}
	}
	before.unchanged(t, s, "downloads")
}

func coreFirstDiff(a, b []string) int {
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return len(a)
}

func TestListScopedToParent(t *testing.T) {
	t.Parallel()
	s := coreTree(t)
	coreCreate(t, s, "/api/projects", "project", "q")
	p, err := s.Store.NodeByPath(context.Background(), "/projects/p")
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.Store.NodeByPath(context.Background(), "/projects/q")
	if err != nil {
		t.Fatal(err)
	}
	mine := coreInsertProjects(t, s, p, model.KindEnvironment, 30)
	coreInsertProjects(t, s, q, model.KindEnvironment, 30)
	coreInsertProjects(t, s, p, model.KindAsset, 5)
	e, _ := s.Store.NodeByPath(context.Background(), "/projects/p/environments/e")
	want := append([]string{e.ID}, mine...)
	if got := coreWalk(t, s, "/api/projects/p/environments?page[size]=4", 4); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("walked %d environments of p, want %d", len(got), len(want))
	}
	if got := coreCodes(t, s.Get(t, "/api/projects/q/environments?filter[code_eq]=e").Expect(t, http.StatusOK)); len(got) != 0 {
		t.Fatalf("q lists p's environment: %v", got)
	}
	if n := len(testutil.ManyNodes(t, s.Get(t, "/api/projects/p/assets").Expect(t, http.StatusOK))); n != 5 {
		t.Fatalf("p lists %d assets, want 5", n)
	}
	resp := s.Get(t, "/api/projects/p/environments?download=envs.csv").Expect(t, http.StatusOK)
	if lines := strings.Count(string(resp.Body), "\n"); lines != 1+len(want) {
		t.Fatalf("download has %d lines, want %d", lines, 1+len(want))
	}
}
