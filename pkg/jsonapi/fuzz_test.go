package jsonapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	steward "github.com/stewardhq/steward"
	"github.com/stewardhq/steward/pkg/converge"
	"github.com/stewardhq/steward/pkg/listquery"
)

// Fuzz targets: run their seeds with the other tests, and fuzz with
// scripts/fuzz (or go test ./pkg/jsonapi -run '^$' -fuzz '^FuzzParseQuery$').

func fuzzSpec() *Spec {
	s := coreSpec()
	s.Filters["description"] = listquery.Field{Column: "description", Nullable: true}
	s.DefaultLimit, s.MaxLimit = 10, 50
	return s
}

// checkClientError asserts what every error for bad input must be: a
// *model.Error of kind, never internal, whose rendering is a valid error
// object of bounded size (input is echoed only in part).
func checkClientError(t *testing.T, err error, kinds ...steward.Kind) {
	t.Helper()
	var e *steward.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not a *model.Error", err, err)
	}
	ok := false
	for _, k := range kinds {
		ok = ok || e.Kind == k
	}
	if !ok || e.Code == "" {
		t.Fatalf("error kind %q code %q (%v), want one of %v", e.Kind, e.Code, e, kinds)
	}
	obj := ErrorObjectOf(err)
	b, jerr := json.Marshal(obj)
	if jerr != nil || len(b) > 2048 {
		t.Fatalf("error object of %d bytes (%v): %.300s", len(b), jerr, b)
	}
	if obj.Status != strconv.Itoa(Status(err)) || obj.Detail == "" {
		t.Fatalf("error object %+v", obj)
	}
}

// FuzzParseQuery: any query string is either refused with a 400 naming the
// parameter, or parsed into conditions that only name the spec's columns,
// carry values of the column's type, render as SQL with one argument per
// placeholder, and print back into a query string that parses the same.
func FuzzParseQuery(f *testing.F) {
	for _, seed := range []string{
		"", "filter[code_eq]=opc", "filter[code_in][]=a&filter[code_in][]=b", "filter[code_in]=a,b",
		"filter[name_not_in][]=a,b", "filter[code_start]=o%25_", "filter[description_null]=true",
		"filter[archived_true]=1", "filter[version_gteq]=3&filter[m]=or", "filter[created_at_lt]=2025-04-25T06:21:23.984222Z",
		"filter[created_at_gt]=2025-04-25", "filter[id_eq]=" + strings.ToUpper(coreID), "filter[id_in]=" + coreID + "," + coreID,
		"filter[sorts]=created_at desc", "filter[s]=name asc,code", "sort=-created_at,name", "limit=5",
		"page[size]=3&page[after]=" + EncodeCursor(coreID), "include=children,parents.project", "fields[project]=code,name",
		"verbose=1", "download=all.csv", "filter[nope_eq]=x", "filter[code_true]=1", "a=%zz", "a;b=1", "limit=0",
		"filter[version_eq]=1e3", "filter[id_eq]=" + strings.Repeat("x", 300), "filter[code_eq]=%00", "filter[code_eq]=%ff",
		"sort=", "filter[code_in]=", "filter[version_in][]=1&filter[version_in][]=x",
	} {
		f.Add(seed)
	}
	spec := fuzzSpec()
	attrOf := map[string]string{}
	for name, field := range spec.Filters {
		attrOf[field.Column] = name
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/x", RawQuery: raw}}
		q, err := ParseQuery(r, spec)
		if err != nil {
			checkClientError(t, err, steward.KindBadRequest)
			return
		}
		checkQuery(t, q, spec, attrOf)
		// Print the query canonically and parse it again: the same query.
		again, err := ParseQuery(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/x", RawQuery: printQuery(q, attrOf)}}, spec)
		if err != nil {
			t.Fatalf("%q parsed, but its canonical form %q does not: %v", raw, printQuery(q, attrOf), err)
		}
		if a, b := describeQuery(q), describeQuery(again); a != b {
			t.Fatalf("%q: round trip changed the query:\n%s\n%s", raw, a, b)
		}
	})
}

func checkQuery(t *testing.T, q *Query, spec *Spec, attrOf map[string]string) {
	t.Helper()
	if q.Limit < 1 || q.Limit > spec.maxLimit() || q.PageSize < 0 || q.PageSize > spec.maxLimit() {
		t.Fatalf("limit %d, page size %d", q.Limit, q.PageSize)
	}
	for _, p := range q.Include {
		if !contains(spec.Includes, p) {
			t.Fatalf("include %q is not allowed", p)
		}
	}
	for _, s := range q.Sorts {
		if _, ok := attrOf[s.Column]; !ok {
			t.Fatalf("sort column %q is not the spec's", s.Column)
		}
	}
	for _, c := range q.Filters {
		if _, ok := attrOf[c.Field.Column]; !ok || !predicateApplies(c.Field.Kind, c.Predicate) {
			t.Fatalf("condition %+v", c)
		}
		if len(c.Values) == 0 || len(c.Values) > MaxListValues || (len(c.Values) > 1 && c.Predicate != "in" && c.Predicate != "not_in") {
			t.Fatalf("%s: %d values", c.Param, len(c.Values))
		}
		for _, v := range c.Values {
			checkValue(t, c, v)
		}
	}
}

func checkValue(t *testing.T, c listquery.Condition, v any) {
	t.Helper()
	switch c.Predicate {
	case "null", "not_null", "true", "false":
		if _, ok := v.(bool); !ok {
			t.Fatalf("%s: value %#v", c.Param, v)
		}
		return
	case "cont", "not_cont", "start", "end":
		if _, ok := v.(string); !ok {
			t.Fatalf("%s: value %#v", c.Param, v)
		}
		return
	}
	ok := false
	switch c.Field.Kind {
	case listquery.UUID:
		s, isString := v.(string)
		ok = isString && steward.IsID(s) // canonical: the same on both databases
	case listquery.Bool:
		_, ok = v.(bool)
	case listquery.Int:
		_, ok = v.(int64)
	case listquery.Time:
		tv, isTime := v.(time.Time)
		ok = isTime && tv.Location() == time.UTC
	case listquery.String:
		s, isString := v.(string)
		ok = isString && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
	}
	if !ok {
		t.Fatalf("%s: value %#v for a %s column", c.Param, v, kindNames[c.Field.Kind])
	}
}

// printQuery writes q in one canonical form: bracketed lists, JSON:API sort.
func printQuery(q *Query, attrOf map[string]string) string {
	v := url.Values{}
	for _, c := range q.Filters {
		key := "filter[" + attrOf[c.Field.Column] + "_" + c.Predicate + "]"
		if c.Predicate == "in" || c.Predicate == "not_in" {
			key += "[]"
		}
		for _, val := range c.Values {
			v.Add(key, printValue(val))
		}
	}
	if q.Or {
		v.Set("filter[m]", "or")
	}
	var sorts []string
	for _, s := range q.Sorts {
		sorts = append(sorts, map[bool]string{true: "-"}[s.Desc]+attrOf[s.Column])
	}
	if len(sorts) > 0 {
		v.Set("sort", strings.Join(sorts, ","))
	}
	v.Set("limit", strconv.Itoa(q.Limit))
	if q.PageAfter != "" {
		v.Set("page[after]", q.PageAfter)
	}
	if q.PageSize > 0 {
		v.Set("page[size]", strconv.Itoa(q.PageSize))
	}
	if q.IncludeRequested() {
		v.Set("include", strings.Join(q.Include, ","))
	}
	for typ, fields := range q.Fields {
		v.Set("fields["+typ+"]", strings.Join(fields, ","))
	}
	if q.Download != "" {
		v.Set("download", q.Download)
	}
	for k, vals := range q.Extra {
		v[k] = vals
	}
	return v.Encode()
}

func printValue(v any) string {
	switch x := v.(type) {
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// describeQuery is q as text, filters in order-independent form (the parser
// visits parameters in sorted order, so their order may change).
func describeQuery(q *Query) string {
	var filters []string
	for _, c := range q.Filters {
		var vals []string
		for _, v := range c.Values {
			vals = append(vals, printValue(v))
		}
		filters = append(filters, fmt.Sprintf("%s %s %q", c.Field.Column, c.Predicate, vals))
	}
	sortStrings(filters)
	fields := map[string][]string{}
	for k, v := range q.Fields {
		fields[k] = append([]string{}, v...)
	}
	return fmt.Sprintf("filters=%q or=%v sorts=%v limit=%d size=%d after=%q include=%v/%q fields=%v download=%q extra=%v",
		filters, q.Or, q.Sorts, q.Limit, q.PageSize, q.PageAfter, q.IncludeRequested(), q.Include, fields, q.Download, q.Extra)
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// FuzzDecodeBody: any request body is either refused with a client error
// (400, 409, 413 or 422; never a 500) or decoded into a document of the
// endpoint's type with only allowed attributes and no NUL anywhere, whose
// free-form values decode exactly and re-encode to themselves.
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{
		`{"data":{"type":"project","attributes":{"code":"opc","name":"OpsChain","description":null}}}`,
		`{"data":{"type":"project","id":"` + coreID + `","attributes":{"data":{"a":[1,2.50,{"b":123456789012345678901234567890}],"e":1e400}}}}`,
		`{"data":{"attributes":{"data":{"n":-0,"f":0.1,"big":1e200000}}}}`,
		`{"data":{"type":"environment"}}`, `{"data":null}`, `{"data":[]}`, `{}`, ``, `[`, `{"data":{}} x`,
		`{"data":{"attributes":{"name":"a\u0000b"}}}`, `{"data":{"attributes":{"data":{"k\u0000":1}}}}`,
		`{"data":{"attributes":{"password":"x"}}}`, `{"data":{"relationships":{"parent":{"data":{"type":"project","id":"x"}}},"meta":{"m":1}}}`,
		`{"data":{"attributes":{"count":"3","tags":["a",1],"archived":"yes"}}}`, `{"data":{"attributes":{"data":` + strings.Repeat(`[`, 200) + `]}}}`,
	} {
		f.Add([]byte(seed))
	}
	const limit = 64 << 10
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, allowed := range [][]string{coreAllowed, nil} {
			r := httptest.NewRequest(http.MethodPost, "/x", bytes.NewReader(body))
			r.Body = http.MaxBytesReader(nil, r.Body, limit)
			b, err := DecodeBody(r, "project", allowed)
			if err != nil {
				checkClientError(t, err, steward.KindBadRequest, steward.KindInvalid, steward.KindConflict, KindTooLarge)
				continue
			}
			if !json.Valid(body) || len(body) > limit {
				t.Fatalf("accepted a body that is not one JSON document: %q", body)
			}
			if b.Type != "project" {
				t.Fatalf("type %q", b.Type)
			}
			for k, raw := range b.Attributes() {
				if allowed != nil && !contains(allowed, k) {
					t.Fatalf("attribute %q is not allowed", k)
				}
				var v any
				if err := b.Value(k, &v); err != nil {
					checkClientError(t, err, steward.KindInvalid)
					if e := steward.AsError(err); e.Code != "invalid_number" || !strings.HasPrefix(pointerOf(e), Pointer(k)) {
						t.Fatalf("%s: %v at %s", k, err, pointerOf(e))
					}
					continue
				}
				if hasNUL(v) {
					t.Fatalf("%s holds a NUL: %q", k, raw)
				}
				// Exact values are a fixed point: encode, decode, the same.
				enc, err := json.Marshal(v)
				if err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				back, err := converge.Decode(enc)
				if err != nil || !reflect.DeepEqual(back, v) {
					t.Fatalf("%s: %s decodes to %#v (%v), not %#v", k, enc, back, err, v)
				}
				if enc2, _ := json.Marshal(back); !bytes.Equal(enc, enc2) {
					t.Fatalf("%s: %s re-encodes as %s", k, enc, enc2)
				}
				// The typed getters refuse or accept, never more.
				var s string
				var n int
				var m map[string]any
				for _, e := range []error{b.String(k, &s), b.Int(k, &n), b.Object(k, &m)} {
					if e != nil {
						checkClientError(t, e, steward.KindInvalid)
					}
				}
			}
			_ = b.CheckID(coreID)
		}
	})
}
