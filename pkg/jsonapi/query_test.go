package jsonapi

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/listquery"
)

const coreID = "0195f3a4-6a1b-7c3d-8e9f-0123456789ab"

func coreSpec() *Spec {
	return &Spec{
		Filters: map[string]listquery.Field{
			"id":         {Column: "id", Kind: listquery.UUID},
			"code":       {Column: "code"},
			"name":       {Column: "name"},
			"archived":   {Column: "archived", Kind: listquery.Bool},
			"created_at": {Column: "created_at", Kind: listquery.Time},
			"version":    {Column: "version", Kind: listquery.Int},
		},
		Includes: []string{"children", "parents.project"},
		List:     true,
		Keyset:   "id",
		Extra:    []string{"verbose"},
	}
}

func coreParse(t *testing.T, raw string, spec *Spec) (*Query, error) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/x?"+raw, nil)
	return ParseQuery(r, spec)
}

func TestParseQueryPredicates(t *testing.T) {
	at := time.Date(2025, 4, 25, 6, 21, 23, 984222000, time.UTC)
	cases := []struct {
		raw    string
		pred   string
		column string
		values []any
	}{
		{"filter[code_eq]=opc", "eq", "code", []any{"opc"}},
		{"filter[code_not_eq]=opc", "not_eq", "code", []any{"opc"}},
		{"filter[code_lt]=m", "lt", "code", []any{"m"}},
		{"filter[code_lteq]=m", "lteq", "code", []any{"m"}},
		{"filter[code_gt]=m", "gt", "code", []any{"m"}},
		{"filter[code_gteq]=m", "gteq", "code", []any{"m"}},
		{"filter[code_in]=a,b", "in", "code", []any{"a", "b"}},
		{"filter[code_in][]=a&filter[code_in][]=b", "in", "code", []any{"a", "b"}},
		{"filter[name_in][]=a,b", "in", "name", []any{"a,b"}},
		{"filter[code_not_in][]=a&filter[code_not_in][]=b", "not_in", "code", []any{"a", "b"}},
		{"filter[code_start]=op", "start", "code", []any{"op"}},
		{"filter[code_end]=pc", "end", "code", []any{"pc"}},
		{"filter[code_cont]=p", "cont", "code", []any{"p"}},
		{"filter[code_not_cont]=p", "not_cont", "code", []any{"p"}},
		{"filter[name_null]=true", "null", "name", []any{true}},
		{"filter[name_not_null]=1", "not_null", "name", []any{true}},
		{"filter[archived_true]=true", "true", "archived", []any{true}},
		{"filter[archived_false]=1", "false", "archived", []any{true}},
		{"filter[archived_eq]=false", "eq", "archived", []any{false}},
		{"filter[created_at_lt]=2025-04-25T06:21:23.984222Z", "lt", "created_at", []any{at}},
		{"filter[created_at_gteq]=2025-04-25", "gteq", "created_at", []any{time.Date(2025, 4, 25, 0, 0, 0, 0, time.UTC)}},
		{"filter[version_gt]=3", "gt", "version", []any{int64(3)}},
		{"filter[id_eq]=" + coreID, "eq", "id", []any{coreID}},
		{"filter[id_start]=0195", "start", "id", []any{"0195"}},
	}
	for _, c := range cases {
		t.Run(c.raw, func(t *testing.T) {
			q, err := coreParse(t, c.raw, coreSpec())
			if err != nil {
				t.Fatalf("ParseQuery: %v", err)
			}
			if len(q.Filters) != 1 {
				t.Fatalf("got %d conditions, want 1", len(q.Filters))
			}
			got := q.Filters[0]
			if got.Predicate != c.pred || got.Field.Column != c.column || !reflect.DeepEqual(got.Values, c.values) {
				t.Fatalf("got %s %s %#v, want %s %s %#v", got.Field.Column, got.Predicate, got.Values, c.column, c.pred, c.values)
			}
		})
	}
}

func TestParseQueryOrAndSorts(t *testing.T) {
	cases := []struct {
		raw   string
		or    bool
		sorts []listquery.SortField
	}{
		{"filter[m]=or&filter[code_eq]=a&filter[name_eq]=b", true, nil},
		{"filter[m]=and&filter[code_eq]=a", false, nil},
		{"filter[sorts]=created_at+desc", false, []listquery.SortField{{Column: "created_at", Desc: true}}},
		{"filter[sorts]=created_at%20asc", false, []listquery.SortField{{Column: "created_at", Desc: false}}},
		{"filter[s]=name+desc,code", false, []listquery.SortField{{Column: "name", Desc: true}, {Column: "code", Desc: false}}},
		{"sort=-created_at", false, []listquery.SortField{{Column: "created_at", Desc: true}}},
		{"sort=name,-code", false, []listquery.SortField{{Column: "name", Desc: false}, {Column: "code", Desc: true}}},
	}
	for _, c := range cases {
		t.Run(c.raw, func(t *testing.T) {
			q, err := coreParse(t, c.raw, coreSpec())
			if err != nil {
				t.Fatalf("ParseQuery: %v", err)
			}
			if q.Or != c.or || !reflect.DeepEqual(q.Sorts, c.sorts) {
				t.Fatalf("or=%v sorts=%v, want or=%v sorts=%v", q.Or, q.Sorts, c.or, c.sorts)
			}
		})
	}
}

func TestParseQueryAccepted(t *testing.T) {
	q, err := coreParse(t, "include=children,parents.project&fields[project]=name,code&limit=5&page[size]=3&page[after]="+
		EncodeCursor(coreID)+"&download=projects.csv&verbose=1", coreSpec())
	if err != nil {
		t.Fatalf("ParseQuery: %v", err)
	}
	switch {
	case !q.IncludeRequested() || !reflect.DeepEqual(q.Include, []string{"children", "parents.project"}):
		t.Errorf("include = %v", q.Include)
	case !q.Includes("parents"):
		t.Errorf("Includes(parents) is false for parents.project")
	case !reflect.DeepEqual(q.Fields["project"], []string{"name", "code"}):
		t.Errorf("fields = %v", q.Fields)
	case q.Limit != 5 || q.PageSize != 3 || q.PageAfter == "" || !q.Paged():
		t.Errorf("limit %d page size %d after %q", q.Limit, q.PageSize, q.PageAfter)
	case q.Download != "projects.csv" || q.Extra.Get("verbose") != "1":
		t.Errorf("download %q extra %v", q.Download, q.Extra)
	}

	q, err = coreParse(t, "download=step-1.txt", &Spec{List: true, DownloadExtensions: []string{"log", "txt"}})
	if err != nil || q.Download != "step-1.txt" {
		t.Fatalf("a log download: %v", err)
	}
	q, err = coreParse(t, "", coreSpec())
	if err != nil || q.Limit != 100 || q.IncludeRequested() || q.Paged() {
		t.Fatalf("defaults: %+v %v", q, err)
	}
	q, err = coreParse(t, "include=", coreSpec())
	if err != nil || !q.IncludeRequested() || len(q.Include) != 0 {
		t.Fatalf("empty include: %+v %v", q, err)
	}
	q, err = coreParse(t, "filter[code_in]="+strings.Repeat("a,", MaxListValues-1)+"a", coreSpec())
	if err != nil || len(q.Filters[0].Values) != MaxListValues {
		t.Fatalf("%d listed values must be accepted: %v", MaxListValues, err)
	}
	q, err = coreParse(t, "sort=-name", &Spec{List: true, Filters: map[string]listquery.Field{"name": {Column: "name", Nullable: true}}})
	if err != nil || !q.Sorts[0].Nullable {
		t.Fatalf("a nullable field sorts as nullable: %+v %v", q, err)
	}
	q, err = coreParse(t, "page[after]="+EncodeCursor(coreID)+"&limit=7", coreSpec())
	if err != nil || q.PageSize != 7 {
		t.Fatalf("page[after] alone pages by limit: %+v %v", q, err)
	}
}

func TestParseQueryRejects(t *testing.T) {
	noList := &Spec{Includes: []string{"children"}}
	noKeyset := coreSpec()
	noKeyset.Keyset = ""
	cases := []struct {
		name  string
		raw   string
		spec  *Spec
		param string
		code  string
	}{
		{"unknown parameter", "foo=1", coreSpec(), "foo", "invalid_parameter"},
		{"unknown attribute", "filter[secret_eq]=x", coreSpec(), "filter[secret_eq]", "unsupported_filter"},
		{"unknown predicate", "filter[code_like]=x", coreSpec(), "filter[code_like]", "unsupported_filter"},
		{"bare attribute", "filter[code]=x", coreSpec(), "filter[code]", "unsupported_filter"},
		{"true on text", "filter[code_true]=1", coreSpec(), "filter[code_true]", "unsupported_filter"},
		{"cont on boolean", "filter[archived_cont]=t", coreSpec(), "filter[archived_cont]", "unsupported_filter"},
		{"cont on time", "filter[created_at_cont]=2025", coreSpec(), "filter[created_at_cont]", "unsupported_filter"},
		{"lt on boolean", "filter[archived_lt]=true", coreSpec(), "filter[archived_lt]", "unsupported_filter"},
		{"bad boolean", "filter[archived_eq]=maybe", coreSpec(), "filter[archived_eq]", "invalid_parameter"},
		{"bad null flag", "filter[name_null]=yes", coreSpec(), "filter[name_null]", "invalid_parameter"},
		{"bad time", "filter[created_at_gt]=yesterday", coreSpec(), "filter[created_at_gt]", "invalid_parameter"},
		{"bad integer", "filter[version_eq]=1.5", coreSpec(), "filter[version_eq]", "invalid_parameter"},
		{"bad id", "filter[id_eq]=1%3BDROP", coreSpec(), "filter[id_eq]", "invalid_parameter"},
		{"raw semicolon", "filter[name_eq]=';DROP", coreSpec(), "filter[name_eq]", "invalid_parameter"},
		{"broken escape", "filter[name_eq]=100%", coreSpec(), "filter[name_eq]", "invalid_parameter"},
		{"NUL in a value", "filter[name_eq]=a%00b", coreSpec(), "filter[name_eq]", "invalid_parameter"},
		{"invalid UTF-8 in a value", "filter[name_cont]=%FF%FE", coreSpec(), "filter[name_cont]", "invalid_parameter"},
		{"NUL in a key", "verbose%00=1", coreSpec(), "verbose", "invalid_parameter"},
		{"too many listed values", "filter[code_in]=" + strings.Repeat("a,", MaxListValues) + "a", coreSpec(), "filter[code_in]", "invalid_parameter"},
		{"bad id in list", "filter[id_in][]=" + coreID + "&filter[id_in][]=x", coreSpec(), "filter[id_in][]", "invalid_parameter"},
		{"bad filter[m]", "filter[m]=xor", coreSpec(), "filter[m]", "invalid_parameter"},
		{"unknown include", "include=secrets", coreSpec(), "include", "unsupported_include"},
		{"include prefix only", "include=parents", coreSpec(), "include", "unsupported_include"},
		{"include not offered", "include=children", &Spec{}, "include", "unsupported_include"},
		{"unknown sort", "sort=-password", coreSpec(), "sort", "unsupported_sort"},
		{"unknown ransack sort", "filter[sorts]=password+desc", coreSpec(), "filter[sorts]", "unsupported_sort"},
		{"bad sort direction", "filter[sorts]=code+sideways", coreSpec(), "filter[sorts]", "invalid_parameter"},
		{"sort with three words", "filter[sorts]=code+desc+now", coreSpec(), "filter[sorts]", "invalid_parameter"},
		{"non-numeric limit", "limit=ten", coreSpec(), "limit", "invalid_parameter"},
		{"zero limit", "limit=0", coreSpec(), "limit", "invalid_parameter"},
		{"negative limit", "limit=-1", coreSpec(), "limit", "invalid_parameter"},
		{"limit over max", "limit=1001", coreSpec(), "limit", "invalid_parameter"},
		{"huge limit", "limit=99999999999999999999", coreSpec(), "limit", "invalid_parameter"},
		{"page size over max", "page[size]=5000", coreSpec(), "page[size]", "invalid_parameter"},
		{"page size text", "page[size]=big", coreSpec(), "page[size]", "invalid_parameter"},
		{"page after garbage", "page[after]=garbage!", coreSpec(), "page[after]", "invalid_parameter"},
		{"page after base64 of non-id", "page[after]=" + EncodeCursor("'; DROP TABLE nodes; --"), coreSpec(), "page[after]", "invalid_parameter"},
		{"page after raw id", "page[after]=" + coreID, coreSpec(), "page[after]", "invalid_parameter"},
		{"paging with another sort", "page[size]=5&sort=name", coreSpec(), "page[size]", "invalid_parameter"},
		{"paging without keyset", "page[size]=5", noKeyset, "page[size]", "invalid_parameter"},
		{"download path", "download=../etc/passwd.csv", coreSpec(), "download", "invalid_parameter"},
		{"download without extension", "download=projects", coreSpec(), "download", "invalid_parameter"},
		{"download other extension", "download=projects.exe", coreSpec(), "download", "invalid_parameter"},
		{"download of a log from a list", "download=projects.log", coreSpec(), "download", "invalid_parameter"},
		{"download of a csv from a log", "download=step.csv", &Spec{List: true, DownloadExtensions: []string{"log", "txt"}}, "download", "invalid_parameter"},
		{"filter on a single resource", "filter[code_eq]=a", noList, "filter[code_eq]", "invalid_parameter"},
		{"limit on a single resource", "limit=1", noList, "limit", "invalid_parameter"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := coreParse(t, c.raw, c.spec)
			if err == nil {
				t.Fatalf("%s accepted", c.raw)
			}
			e := steward.AsError(err)
			if Status(err) != http.StatusBadRequest || e.Parameter != c.param || e.Code != c.code || e.Detail == "" {
				t.Fatalf("got %d %q parameter %q (%s), want 400 %q parameter %q", Status(err), e.Code, e.Parameter, e.Detail, c.code, c.param)
			}
		})
	}
}

func TestParseQueryReportsSameErrorEveryTime(t *testing.T) {
	raw := "zeta=1&alpha=2&filter[nope_eq]=3"
	for i := 0; i < 20; i++ {
		_, err := coreParse(t, raw, coreSpec())
		if p := steward.AsError(err).Parameter; p != "alpha" {
			t.Fatalf("first reported parameter %q, want alpha", p)
		}
	}
	if !strings.Contains(steward.AsError(func() error { _, e := coreParse(t, "filter[nope_eq]=3", coreSpec()); return e }()).Detail, "code") {
		t.Fatalf("unknown filter detail does not list the filterable attributes")
	}
}
