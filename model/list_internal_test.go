package model

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/stewardhq/steward/pkg/jsonapi"
	"github.com/stewardhq/steward/pkg/listquery"
)

// TestConditionClause: each predicate as SQL, with LIKE escaping and
// PostgreSQL's case-insensitive ILIKE.
func TestConditionClause(t *testing.T) {
	text := listquery.Field{Column: "name"}
	id := listquery.Field{Column: "id", Kind: listquery.UUID}
	cases := []struct {
		c        listquery.Condition
		postgres bool
		sql      string
		args     []any
	}{
		{listquery.Condition{Field: text, Predicate: "eq", Values: []any{"x"}}, false, "name = ?", []any{"x"}},
		{listquery.Condition{Field: text, Predicate: "not_eq", Values: []any{"x"}}, false, "(name <> ? OR name IS NULL)", []any{"x"}},
		{listquery.Condition{Field: text, Predicate: "in", Values: []any{"a", "b"}}, false, "name IN ?", []any{[]any{"a", "b"}}},
		{listquery.Condition{Field: text, Predicate: "cont", Values: []any{`50%_\`}}, false, `name LIKE ? ESCAPE '\'`, []any{`%50\%\_\\%`}},
		{listquery.Condition{Field: text, Predicate: "start", Values: []any{"a"}}, true, `name ILIKE ? ESCAPE '\'`, []any{"a%"}},
		{listquery.Condition{Field: text, Predicate: "end", Values: []any{"a"}}, false, `name LIKE ? ESCAPE '\'`, []any{"%a"}},
		{listquery.Condition{Field: text, Predicate: "not_cont", Values: []any{"a"}}, false, `(name NOT LIKE ? ESCAPE '\' OR name IS NULL)`, []any{"%a%"}},
		{listquery.Condition{Field: id, Predicate: "start", Values: []any{"0195"}}, true, `CAST(id AS text) ILIKE ? ESCAPE '\'`, []any{"0195%"}},
		{listquery.Condition{Field: id, Predicate: "start", Values: []any{"0195"}}, false, `id LIKE ? ESCAPE '\'`, []any{"0195%"}},
		{listquery.Condition{Field: text, Predicate: "null", Values: []any{false}}, false, "name IS NOT NULL", nil},
		{listquery.Condition{Field: text, Predicate: "not_null", Values: []any{false}}, false, "name IS NULL", nil},
		{listquery.Condition{Field: listquery.Field{Column: "archived", Kind: listquery.Bool}, Predicate: "false", Values: []any{true}}, false, "archived = ?", []any{false}},
	}
	for _, c := range cases {
		sql, args := conditionSQL(c.c, c.postgres)
		if sql != c.sql || !reflect.DeepEqual(args, c.args) {
			t.Errorf("%s %v (postgres %v): got %q %#v, want %q %#v", c.c.Predicate, c.c.Values, c.postgres, sql, args, c.sql, c.args)
		}
	}
}

// FuzzListSQL: whatever query string the JSON:API layer accepts becomes SQL
// with one argument per placeholder, naming only allow-listed columns.
func FuzzListSQL(f *testing.F) {
	for _, seed := range []string{"filter[code_eq]=a", "filter[code_in][]=a&filter[code_in][]=b", "filter[id_start]=0195",
		"filter[archived_true]=1", "filter[created_at_lt]=2025-04-25", "filter[description_null]=false", "filter[m]=or&filter[code_cont]=%25_"} {
		f.Add(seed)
	}
	spec := &jsonapi.Spec{List: true, Keyset: "id", Filters: map[string]listquery.Field{
		"id": {Column: "id", Kind: listquery.UUID}, "code": {Column: "code"}, "description": {Column: "description", Nullable: true},
		"archived": {Column: "archived", Kind: listquery.Bool}, "created_at": {Column: "created_at", Kind: listquery.Time},
		"version": {Column: "version", Kind: listquery.Int},
	}}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := jsonapi.ParseQuery(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/x", RawQuery: raw}}, spec)
		if err != nil {
			return
		}
		for _, c := range q.List().Filters {
			for _, pg := range []bool{false, true} {
				sql, args := conditionSQL(c, pg)
				if n := strings.Count(sql, "?"); n != len(args) {
					t.Fatalf("%s: %q has %d placeholders for %d arguments", c.Param, sql, n, len(args))
				}
				if !strings.Contains(sql, c.Field.Column) {
					t.Fatalf("%s: %q does not name column %s", c.Param, sql, c.Field.Column)
				}
			}
		}
	})
}
